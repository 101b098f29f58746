/**
 * RFC 8326 graceful shutdown in the speaker's drain, on a fake clock over the in-memory
 * network of the session tests: the speaker A (10.0.0.1, AS 65001) advertises two
 * prefixes to a scripted peer B (10.0.0.2, external AS 65002 or internal AS 65001) and
 * drains; B records what A sends and when.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildOpen } from '../../../bgp/fsm/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { BgpMessage, UpdateMessage } from '../../../bgp/wire/index.js';
import { FakeClock, FakeNet, type PipeEnd } from '../session/harness.js';
import { answerAsPeer, fakeDeps, speakerA } from './fake-peer.js';

const A_ADDR = '10.0.0.1';
const B_ADDR = '10.0.0.2';
const GSHUT = 0xffff0000;
const PREFIXES = ['198.51.100.1/32', '198.51.100.2/32'];

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

async function setup(peerAsn: number) {
  const clock = new FakeClock();
  const net = new FakeNet();
  const seen: { at: number; m: BgpMessage }[] = [];
  const open = buildOpen({ asn: peerAsn, routerId: '192.0.2.2', holdTime: 90, families: ['ipv4-unicast'], gracefulRestartTime: 120 });
  net.raw.set(B_ADDR, (s: PipeEnd) => answerAsPeer(s, open, (m) => seen.push({ at: clock.now(), m })));
  const a = new Speaker(
    speakerA(A_ADDR, { address: B_ADDR, asn: peerAsn, families: ['ipv4-unicast'] }),
    fakeDeps(clock, net, A_ADDR),
  );
  running.push(a);
  a.setAdvertisements(PREFIXES.map((prefix) => ({ prefix, communities: ['65001:7'] })));
  await a.start();
  for (let i = 0; i < 10 && a.peerStatus()[0]!.state !== 'Established'; i++) await clock.advance(1000);
  await clock.advance(100);
  expect(a.peerStatus()[0]!.state).toBe('Established');
  return { clock, a, seen };
}

const updates = (seen: readonly { at: number; m: BgpMessage }[]) =>
  seen.filter((x): x is { at: number; m: UpdateMessage } => x.m.type === 'UPDATE');
const announced = (u: UpdateMessage) => u.nlri.length > 0;
const withdrew = (u: UpdateMessage) => u.withdrawn.length > 0;

async function runDrain(t: Awaited<ReturnType<typeof setup>>, gshutMs: number) {
  const start = t.clock.now();
  let done = false;
  let beforeStop: { at: number; state: string; seen: number } | null = null;
  const hook = () => (beforeStop = { at: t.clock.now(), state: t.a.peerStatus()[0]!.state, seen: t.seen.length });
  const p = t.a.drain('maintenance', 5000, gshutMs, hook).then((r) => ((done = true), r));
  for (let i = 0; i < 400 && !done; i++) await t.clock.advance(100);
  expect(done).toBe(true);
  return { start, result: await p, beforeStop: beforeStop as { at: number; state: string; seen: number } | null };
}

describe('drain with graceful shutdown (RFC 8326)', () => {
  it('eBGP: re-advertises every route with GRACEFUL_SHUTDOWN, waits, then withdraws and stops', async () => {
    const t = await setup(65002);
    const before = updates(t.seen).length;
    const { start, result, beforeStop } = await runDrain(t, 10_000);
    expect(result).toEqual({ flushed: 1, peers: 1 });
    // beforeStop runs after the wait, while the session is still up (the agent stops following learned routes there).
    expect(beforeStop).not.toBeNull();
    expect(beforeStop!.at - start).toBeGreaterThanOrEqual(10_000);
    expect(beforeStop!.state).toBe('Established');
    expect(t.seen.slice(beforeStop!.seen).some((x) => x.m.type === 'NOTIFICATION')).toBe(true);
    const after = updates(t.seen).slice(before);
    const marked = after.filter((x) => announced(x.m));
    expect(marked.flatMap((x) => x.m.nlri).sort()).toEqual(PREFIXES);
    for (const x of marked) {
      // Added to the route's own communities; no LOCAL_PREF towards an external peer.
      expect(x.m.attributes.communities).toEqual([65001 * 65536 + 7, GSHUT].sort((p, q) => p - q));
      expect(x.m.attributes.localPref).toBeUndefined();
      expect(x.at - start).toBeLessThan(1_000);
    }
    const gone = after.filter((x) => withdrew(x.m));
    expect(gone.flatMap((x) => x.m.withdrawn).sort()).toEqual(PREFIXES);
    // The withdrawal waits out the graceful shutdown time, then the session ends.
    for (const x of gone) expect(x.at - start).toBeGreaterThanOrEqual(10_000);
    const last = t.seen.at(-1)!.m;
    expect(last.type).toBe('NOTIFICATION');
    expect(t.a.peerStatus()[0]!.state).toBe('Idle');
  });

  it('iBGP: LOCAL_PREF 0 as well (RFC 8326 4.1)', async () => {
    const t = await setup(65001);
    const before = updates(t.seen);
    expect(before.filter((x) => announced(x.m)).every((x) => x.m.attributes.localPref === 100)).toBe(true);
    const n = before.length;
    await runDrain(t, 2_000);
    const marked = updates(t.seen).slice(n).filter((x) => announced(x.m));
    expect(marked.length).toBeGreaterThan(0);
    for (const x of marked) {
      expect(x.m.attributes.localPref).toBe(0);
      expect(x.m.attributes.communities).toContain(GSHUT);
    }
  });

  it('without it (the default), drain withdraws at once and nothing is marked', async () => {
    const t = await setup(65002);
    const n = updates(t.seen).length;
    const { start } = await runDrain(t, 0);
    const after = updates(t.seen).slice(n);
    expect(after.filter((x) => announced(x.m))).toEqual([]);
    const gone = after.filter((x) => withdrew(x.m));
    expect(gone.flatMap((x) => x.m.withdrawn).sort()).toEqual(PREFIXES);
    for (const x of gone) expect(x.at - start).toBeLessThan(1_000);
  });

  it('gracefulShutdown(true) sends every route again marked; off sends them again unmarked', async () => {
    const t = await setup(65002);
    t.a.gracefulShutdown(true);
    expect(t.a.inGracefulShutdown).toBe(true);
    await t.clock.advance(100);
    const marked = updates(t.seen).filter((x) => announced(x.m) && x.m.attributes.communities?.includes(GSHUT));
    expect(marked.flatMap((x) => x.m.nlri).sort()).toEqual(PREFIXES);
    const n = t.seen.length;
    t.a.gracefulShutdown(false);
    await t.clock.advance(100);
    const back = updates(t.seen.slice(n)).filter((x) => announced(x.m));
    expect(back.flatMap((x) => x.m.nlri).sort()).toEqual(PREFIXES);
    for (const x of back) expect(x.m.attributes.communities).not.toContain(GSHUT);
  });
});
