/**
 * Export and receive attributes at the speaker: the RFC 4271 6.3 first-AS check (eBGP
 * only, off with `enforceFirstAs: false`) treats the routes as withdrawn (RFC 7606 7.2)
 * and says so in an 'updateError' event and the peer's counters; a changed per-peer
 * `export` reaches the peer without a session reset; a changed per-route tag (the zone's
 * communities) is re-sent by setAdvertisements. Real Sessions on a fake clock over the
 * in-memory network of the session tests. The sender of a hand-made UPDATE is a bare
 * Session, so the AS_PATH can be one a Speaker would never send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../../bgp/session/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { PeerConfig, RouteView, UpdateErrorEvent } from '../../../bgp/speaker/index.js';
import { encodeMessage, type CodecContext } from '../../../bgp/wire/index.js';
import { FakeClock, FakeNet } from '../session/harness.js';
import { nextHops } from './tcp-helpers.js';

const running: { stop: (why: string) => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

const A = '10.0.0.1';
const B = '10.0.0.2';

function world() {
  const clock = new FakeClock();
  const net = new FakeNet();
  const timers = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
  };
  const speaker = (self: string, asn: number, peer: PeerConfig): Speaker => {
    const s = new Speaker(
      { asn, routerId: self, listen: null, holdTime: 90, connectRetryTime: 5, peers: [peer], importFilter: ['0.0.0.0/0 le 32'] },
      {
        ...timers,
        nextHops,
        createSession: (c) => {
          const session = new Session(c, { clock, connect: net.connector(self), random: () => 0.5 });
          net.listeners.set(self, session);
          return session;
        },
      },
    );
    running.push(s);
    return s;
  };
  /** A bare Session at B that connects to A: the test writes its UPDATEs by hand. */
  const bare = (localAsn: number, peerAsn: number): Session => {
    const s = new Session(
      { localAsn, routerId: B, peerAddress: A, peerAsn, holdTime: 90, connectRetryTime: 5, passive: false, families: ['ipv4-unicast'] },
      { clock, connect: net.connector(B), random: () => 0.5 },
    );
    net.listeners.set(B, s);
    running.push({ stop: async () => s.stop() });
    return s;
  };
  return { clock, speaker, bare };
}

/** Advances the fake clock a second at a time until `cond` holds (at most `maxSeconds`). */
async function advanceUntil(clock: FakeClock, what: string, cond: () => boolean, maxSeconds = 300): Promise<void> {
  for (let i = 0; i < maxSeconds && !cond(); i++) await clock.advance(1000);
  if (!cond()) throw new Error(`not within ${maxSeconds} s of fake time: ${what}`);
}

function updateWithPath(asns: number[], prefix: string, internal: boolean): Buffer {
  const ctx: CodecContext = { asn4: true, extendedMessage: false, internal };
  return encodeMessage(
    {
      type: 'UPDATE',
      withdrawn: [],
      nlri: [prefix],
      attributes: {
        origin: 0,
        asPath: asns.length ? [{ type: 'sequence', asns }] : [],
        nextHop: '203.0.113.2',
        ...(internal ? { localPref: 100 } : {}),
      },
      handling: 'none',
      errors: [],
    },
    ctx,
  );
}

const received = (s: Speaker): RouteView[] => s.routes({ view: 'received' });

/** A Speaker at A (AS 65001) and a bare Session at B, Established; A's 'updateError' events collected. */
async function withBarePeer(peerAsn: number, peer: Partial<PeerConfig> = {}) {
  const w = world();
  const a = w.speaker(A, 65001, { address: B, asn: peerAsn, passive: true, ...peer });
  const events: UpdateErrorEvent[] = [];
  a.on('updateError', (e: UpdateErrorEvent) => events.push(e));
  const b = w.bare(peerAsn, 65001);
  await a.start();
  b.start();
  await advanceUntil(w.clock, 'Established', () => a.peerStatus()[0]?.state === 'Established' && b.state === 'Established');
  /** Sends the UPDATE and lets the fake network deliver it. */
  const send = async (msg: Buffer): Promise<void> => {
    expect(b.sendUpdates([msg])).toBe(true);
    await w.clock.advance(10);
  };
  return { ...w, a, b, events, send };
}

describe('first-AS check at the speaker (RFC 4271 6.3, RFC 7606 7.2)', () => {
  it('an eBGP route whose AS_PATH begins with another AS is treated as withdrawn; the session stays up', async () => {
    const { a, events, send } = await withBarePeer(65002);
    await send(updateWithPath([65002, 65009], '198.51.100.1/32', false));
    expect(received(a).map((r) => r.prefix)).toEqual(['198.51.100.1/32']);
    expect(events).toEqual([]);

    // The same prefix again with a path that does not begin with 65002: the route goes.
    await send(updateWithPath([65009], '198.51.100.1/32', false));
    expect(received(a)).toEqual([]);
    expect(events).toEqual([
      { peer: B, action: 'treat-as-withdraw', attribute: 'AS_PATH', reason: expect.stringMatching(/begins with AS 65009, not the peer's AS 65002/) },
    ]);
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Established', updateErrors: { 'treat-as-withdraw': 1, 'attribute-discard': 0 } });

    // An empty AS_PATH from an external peer is in error too.
    await send(updateWithPath([], '198.51.100.2/32', false));
    expect(received(a)).toEqual([]);
    expect(events[1]).toMatchObject({ action: 'treat-as-withdraw', attribute: 'AS_PATH', reason: expect.stringMatching(/empty or starts with a set/) });
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Established', updateErrors: { 'treat-as-withdraw': 2 } });
  });

  it('with enforceFirstAs: false the route is kept and nothing is reported', async () => {
    const { a, events, send } = await withBarePeer(65002, { enforceFirstAs: false });
    await send(updateWithPath([65009], '198.51.100.1/32', false));
    expect(received(a).map((r) => [r.prefix, r.accepted])).toEqual([['198.51.100.1/32', true]]);
    expect(events).toEqual([]);
    expect(a.peerStatus()[0]?.updateErrors['treat-as-withdraw']).toBe(0);
  });

  it('an iBGP peer is not checked', async () => {
    const { a, events, send } = await withBarePeer(65001);
    await send(updateWithPath([65009], '198.51.100.1/32', true));
    expect(received(a).map((r) => r.prefix)).toEqual(['198.51.100.1/32']);
    expect(events).toEqual([]);
  });
});

describe('RFC 7606 findings at the speaker', () => {
  it("a malformed attribute emits 'updateError' with its action and is counted per action", async () => {
    const { a, events, send } = await withBarePeer(65002);
    const good = updateWithPath([65002], '198.51.100.1/32', false);
    // Append an ATOMIC_AGGREGATE of length 1 (RFC 7606 7.6: attribute-discard) to the path attributes.
    const bad = Buffer.concat([good.subarray(0, good.length - 5), Buffer.from('40060100', 'hex'), good.subarray(good.length - 5)]);
    bad.writeUInt16BE(bad.length, 16);
    bad.writeUInt16BE(bad.readUInt16BE(21) + 4, 21);
    await send(bad);
    expect(events).toEqual([{ peer: B, action: 'attribute-discard', attribute: 'ATOMIC_AGGREGATE', reason: expect.any(String) }]);
    // Discarded: the route stays, without the attribute.
    const r = received(a);
    expect(r.map((x) => x.prefix)).toEqual(['198.51.100.1/32']);
    expect(r[0]?.attributes.atomicAggregate).toBeUndefined();
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Established', updateErrors: { 'attribute-discard': 1, 'treat-as-withdraw': 0 } });
  });
});

describe('export attributes without a session reset', () => {
  async function pair(exportA: PeerConfig['export']) {
    const w = world();
    const a = w.speaker(A, 65001, { address: B, asn: 65002, passive: true, ...(exportA ? { export: exportA } : {}) });
    const b = w.speaker(B, 65002, { address: A, asn: 65001 });
    const states: string[] = [];
    a.on('peerState', (_p: string, _from: string, to: string) => states.push(to));
    await a.start();
    await b.start();
    await advanceUntil(w.clock, 'Established', () => a.peerStatus()[0]?.state === 'Established' && b.peerStatus()[0]?.state === 'Established');
    states.length = 0;
    return { ...w, a, b, states };
  }
  const at = (s: Speaker, prefix: string) => received(s).find((r) => r.prefix === prefix)?.attributes;

  it('setPeers with a changed export re-sends the routes with the new attributes; the session stays', async () => {
    const { clock, a, b, states } = await pair({ communities: ['65001:1'], med: 10 });
    a.setAdvertisements([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32', communities: ['65000:100'] }]);
    await advanceUntil(clock, 'routes at B', () => received(b).length === 2);
    expect(at(b, '198.51.100.1/32')).toMatchObject({ communities: [0xfde90001], med: 10, asPath: [{ type: 'sequence', asns: [65001] }] });
    expect(at(b, '198.51.100.2/32')?.communities).toEqual([0xfde80064, 0xfde90001]);

    await a.setPeers([{ address: B, asn: 65002, passive: true, export: { largeCommunities: ['65001:7:8'], prepend: 2, med: 20 } }]);
    await advanceUntil(clock, 'new attributes at B', () => at(b, '198.51.100.1/32')?.med === 20 && at(b, '198.51.100.2/32')?.med === 20);
    expect(at(b, '198.51.100.1/32')).toMatchObject({ largeCommunities: [[65001, 7, 8]], asPath: [{ type: 'sequence', asns: [65001, 65001, 65001] }] });
    expect(at(b, '198.51.100.1/32')?.communities).toBeUndefined();
    // The route's own tag stays; the peer's community is gone.
    expect(at(b, '198.51.100.2/32')?.communities).toEqual([0xfde80064]);
    expect(states).toEqual([]);
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Established', flaps: 0 });
    expect(b.peerStatus()[0]).toMatchObject({ state: 'Established', flaps: 0 });

    // The same export again sends nothing more.
    const before = a.peerStatus()[0]!.messages.out.update;
    await a.setPeers([{ address: B, asn: 65002, passive: true, export: { largeCommunities: ['65001:7:8'], prepend: 2, med: 20 } }]);
    await clock.advance(5000);
    expect(a.peerStatus()[0]!.messages.out.update).toBe(before);
  });

  it("setAdvertisements with a route's changed tags (a zone's communities) re-sends it", async () => {
    const { clock, a, b, states } = await pair(undefined);
    a.setAdvertisements([
      { prefix: '198.51.100.1/32', communities: ['65000:100'], largeCommunities: ['65000:1:100'] },
      { prefix: '198.51.100.2/32', communities: ['65000:200'] },
    ]);
    await advanceUntil(clock, 'routes at B', () => received(b).length === 2);
    expect(at(b, '198.51.100.1/32')).toMatchObject({ communities: [0xfde80064], largeCommunities: [[65000, 1, 100]] });

    // The container moves from zone dmz (65000:100) to zone internal (65000:300).
    a.setAdvertisements([
      { prefix: '198.51.100.1/32', communities: ['65000:300'] },
      { prefix: '198.51.100.2/32', communities: ['65000:200'] },
    ]);
    await advanceUntil(clock, 'the new tag at B', () => at(b, '198.51.100.1/32')?.communities?.[0] === 0xfde8012c);
    expect(at(b, '198.51.100.1/32')?.largeCommunities).toBeUndefined();
    expect(at(b, '198.51.100.2/32')?.communities).toEqual([0xfde800c8]);
    expect(states).toEqual([]);
  });
});
