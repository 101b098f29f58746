/**
 * Graceful restart in the speaker, both roles (RFC 4724, RFC 8538), on a fake clock over
 * the in-memory network of the session tests. The speaker A (10.0.0.1, AS 65001) runs a
 * real Session and connects to a scripted peer B (10.0.0.2, AS 65002) that answers with
 * whatever OPEN the test gives it (graceful restart or not, N bit, F bits, families),
 * sends UPDATEs, End-of-RIB, NOTIFICATIONs, closes, or stays away, and records what A
 * sends it.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { BfdPeers } from '../../../bgp/bfd/index.js';
import { buildOpen, type LocalOpenParams } from '../../../bgp/fsm/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { PeerConfig, SpeakerConfig } from '../../../bgp/speaker/index.js';
import { encodeMessage } from '../../../bgp/wire/index.js';
import type { BgpMessage, Family, NotificationMessage, OpenMessage, UpdateMessage } from '../../../bgp/wire/index.js';
import { FakeClock, FakeNet, settle, type PipeEnd } from '../session/harness.js';
import { answerAsPeer, fakeDeps, speakerA } from './fake-peer.js';

const A_ADDR = '10.0.0.1';
const B_ADDR = '10.0.0.2';
const V4 = ['198.51.100.1/32', '198.51.100.2/32'];
const V6 = ['2001:db8:1::1/128'];

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

interface PeerOpen {
  /** Omit graceful restart from the OPEN altogether. */
  readonly noGr?: boolean;
  readonly restartTime?: number;
  readonly nBit?: boolean;
  readonly families?: readonly Family[];
  /** RFC 4724 F bit per family (default: all kept). */
  readonly forwardingKept?: readonly Family[];
  /** Leave IPv6 unicast out of the multiprotocol capabilities only (still listed for GR, F = 1). */
  readonly noMp6?: boolean;
  /** RFC 9494 long-lived graceful restart for both families: stale time (s), F bit (default set). */
  readonly llgr?: { readonly staleTime: number; readonly forwardingKept?: boolean };
}

function openOf(o: PeerOpen): OpenMessage {
  const params: LocalOpenParams = {
    asn: 65002,
    routerId: '192.0.2.2',
    holdTime: 90,
    families: o.families ?? ['ipv4-unicast', 'ipv6-unicast'],
    // B sets the N bit unless told not to, as FRR does.
    ...(o.noGr ? {} : { gracefulRestartTime: o.restartTime ?? 120, notification: o.nBit ?? true }),
    ...(o.forwardingKept ? { forwardingKept: o.forwardingKept } : {}),
  };
  const open = buildOpen(params);
  const caps = open.capabilities
    .filter((c) => !(o.noMp6 && c.kind === 'multiprotocol' && c.afi === 2));
  const llgr = o.llgr
    ? [{ kind: 'long-lived-graceful-restart' as const, families: [1, 2].map((afi) => ({ afi, safi: 1, forwardingState: o.llgr!.forwardingKept ?? true, staleTime: o.llgr!.staleTime })) }]
    : [];
  return { ...open, capabilities: [...caps, ...llgr] };
}

const update4 = (nlri: readonly string[]): UpdateMessage => ({
  type: 'UPDATE',
  withdrawn: [],
  attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65002] }], nextHop: B_ADDR },
  nlri,
  handling: 'none',
  errors: [],
});
const update6 = (nlri: readonly string[]): UpdateMessage => ({
  type: 'UPDATE',
  withdrawn: [],
  attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65002] }] },
  nlri: [],
  mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8:f::2'], nlri },
  handling: 'none',
  errors: [],
});
const eor4: UpdateMessage = { type: 'UPDATE', withdrawn: [], attributes: {}, nlri: [], handling: 'none', errors: [] };
const eor6: UpdateMessage = { ...eor4, mpUnreach: { afi: 2, safi: 1, withdrawn: [] } };

/** A 'ipv4-unicast' / 'ipv6-unicast' End-of-RIB as A sent it, or null. */
function eorFamily(m: BgpMessage): Family | null {
  if (m.type !== 'UPDATE' || m.nlri.length > 0 || m.withdrawn.length > 0 || m.mpReach) return null;
  if (m.mpUnreach) return m.mpUnreach.withdrawn.length === 0 && m.mpUnreach.afi === 2 ? 'ipv6-unicast' : null;
  return Object.keys(m.attributes).length === 0 ? 'ipv4-unicast' : null;
}

/** B goes away (no answer, its side closed) and A sees the session end; resolves with A's clock then. */
async function peerGone(t: ReturnType<typeof setup>): Promise<number> {
  t.answer(null);
  t.close();
  await t.until('down', () => t.state() !== 'Established');
  return t.clock.now();
}

function setup(o: { speaker?: Partial<SpeakerConfig>; peer?: Partial<PeerConfig>; bfd?: BfdPeers } = {}) {
  const clock = new FakeClock();
  const net = new FakeNet();
  let peerOpen: OpenMessage = openOf({});
  let conn: PipeEnd | null = null;
  let seen: BgpMessage[] = [];
  const accept = (s: PipeEnd): void => {
    conn = s;
    const got: BgpMessage[] = [];
    seen = got;
    answerAsPeer(s, peerOpen, (m) => got.push(m));
  };
  const a = new Speaker(
    speakerA(A_ADDR, { address: B_ADDR, asn: 65002, families: ['ipv4-unicast', 'ipv6-unicast'], ...o.peer }, { importFilter: ['0.0.0.0/0 le 32', '::/0 le 128'], ...o.speaker }),
    { ...fakeDeps(clock, net, A_ADDR), ...(o.bfd ? { bfd: o.bfd } : {}) },
  );
  running.push(a);
  const t = {
    clock,
    a,
    /** B answers connections with this OPEN from now on (null: B is away, connections are refused). */
    answer(open: PeerOpen | null): void {
      if (open === null) net.raw.delete(B_ADDR);
      else {
        peerOpen = openOf(open);
        net.raw.set(B_ADDR, accept);
      }
    },
    send(...ms: BgpMessage[]): void {
      for (const m of ms) conn!.write(encodeMessage(m));
    },
    /** B's connection closes with no NOTIFICATION (a crashed or restarting bgpd). */
    close(): void {
      conn!.destroy();
    },
    /** What A sent on B's current connection. */
    seen: () => seen,
    state: () => a.peerStatus()[0]!.state,
    received: () =>
      a
        .routes({ view: 'received' })
        .map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`)
        .sort(),
    best: () =>
      a
        .routes({ view: 'best' })
        .map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`)
        .sort(),
    async until(what: string, cond: () => boolean, maxSeconds = 300): Promise<void> {
      for (let i = 0; i < maxSeconds && !cond(); i++) await clock.advance(1000);
      if (!cond()) throw new Error(`not within ${maxSeconds} s of fake time: ${what}`);
    },
  };
  return t;
}

type T = ReturnType<typeof setup>;

/** Established with B, B's routes learned (IPv4 and IPv6) and B's End-of-RIB for both. */
async function learned(t: T, open: PeerOpen = {}): Promise<void> {
  t.answer(open);
  await t.a.start();
  await t.until('Established', () => t.state() === 'Established');
  const fams = open.families ?? ['ipv4-unicast', 'ipv6-unicast'];
  if (fams.includes('ipv4-unicast')) t.send(update4(V4), eor4);
  if (fams.includes('ipv6-unicast')) t.send(update6(V6), eor6);
  await settle();
  expect(t.received()).toEqual([...(fams.includes('ipv4-unicast') ? V4 : []), ...(fams.includes('ipv6-unicast') ? V6 : [])].sort());
}

const stale = (ps: readonly string[]) => ps.map((p) => `${p} stale`);
const all = [...V4, ...V6].sort();

describe('End-of-RIB received', () => {
  it("is emitted as 'endOfRib' per peer and family, after the family's stale routes went", async () => {
    const t = setup();
    const seen: string[] = [];
    t.a.on('endOfRib', (peer: string, family: Family) => seen.push(`${peer} ${family} ${t.received().length}`));
    await learned(t);
    expect(seen).toEqual([`${B_ADDR} ipv4-unicast 2`, `${B_ADDR} ipv6-unicast 3`]);
  });
});

describe('graceful restart helper (RFC 4724 4.2, RFC 8538 4)', () => {
  it("a GR peer's connection closing keeps its routes, stale, in the Adj-RIB-In and the Loc-RIB", async () => {
    const t = setup();
    await learned(t);
    await peerGone(t);
    expect(t.received()).toEqual(stale(all).sort());
    expect(t.best()).toEqual(stale(all).sort());
    expect(t.a.peerStatus()[0]!.staleRoutes).toBe(3);
  });

  it('stale routes of a family go on its End-of-RIB after the restart, those re-sent stay, not stale', async () => {
    const t = setup();
    await learned(t);
    t.close();
    // B is back at once (same OPEN, F = 1 for both families) and re-sends one IPv4 route.
    await t.until('Established again', () => t.state() !== 'Established');
    await t.until('Established again', () => t.state() === 'Established');
    expect(t.received()).toEqual(stale(all).sort());
    t.send(update4([V4[0]!]));
    await settle();
    expect(t.received()).toEqual([V4[0]!, `${V4[1]!} stale`, `${V6[0]!} stale`].sort());
    t.send(eor4);
    await settle();
    // IPv4 swept (the route not re-sent is gone), IPv6 still waits for its own End-of-RIB.
    expect(t.received()).toEqual([V4[0]!, `${V6[0]!} stale`].sort());
    t.send(update6(V6), eor6);
    await settle();
    expect(t.received()).toEqual([V4[0]!, V6[0]!].sort());
    expect(t.a.peerStatus()[0]!.staleRoutes).toBe(0);
  });

  it('the stale routes go when the restart time runs out and the peer has not come back', async () => {
    const t = setup();
    await learned(t, { restartTime: 60 });
    const downAt = await peerGone(t);
    await t.clock.advance(59_000);
    expect(t.received()).toEqual(stale(all).sort());
    await t.until('swept', () => t.received().length === 0);
    expect(t.clock.now() - downAt).toBe(60_000);
    expect(t.best()).toEqual([]);
  });

  it('stale routes of a peer that is back but sends no End-of-RIB go after the stale-path time', async () => {
    const t = setup();
    await learned(t, { restartTime: 60 });
    t.close();
    await t.until('down', () => t.state() !== 'Established');
    await t.until('Established again', () => t.state() === 'Established');
    // Keep the session up: B's keepalives every 30 s, no End-of-RIB.
    const backAt = t.clock.now();
    for (let s = 0; s < 359; s += 30) {
      await t.clock.advance(30_000);
      t.send({ type: 'KEEPALIVE' });
    }
    expect(t.state()).toBe('Established');
    expect(t.received()).toEqual([]);
    expect(t.clock.now() - backAt).toBeGreaterThanOrEqual(360_000);
  });

  it('a family the peer comes back without, or with F = 0, is purged at once; the other waits', async () => {
    const t = setup();
    await learned(t);
    t.answer({ families: ['ipv4-unicast'] }); // IPv6 left out of the new session
    t.close();
    await t.until('down', () => t.state() !== 'Established');
    await t.until('Established again', () => t.state() === 'Established');
    expect(t.received()).toEqual(stale(V4).sort());

    const u = setup();
    await learned(u);
    u.answer({ forwardingKept: ['ipv6-unicast'] }); // IPv4 listed, but F = 0
    u.close();
    await u.until('down', () => u.state() !== 'Established');
    await u.until('Established again', () => u.state() === 'Established');
    expect(u.received()).toEqual(stale(V6));

    // IPv6 still in the graceful restart capability with F = 1, but not negotiated.
    const w = setup();
    await learned(w);
    w.answer({ noMp6: true });
    w.close();
    await w.until('down', () => w.state() !== 'Established');
    await w.until('Established again', () => w.state() === 'Established');
    expect(w.a.peerStatus()[0]!.families).toEqual(['ipv4-unicast']);
    expect(w.received()).toEqual(stale(V4).sort());
  });

  it('a peer back without graceful restart loses every stale route at once', async () => {
    const t = setup();
    await learned(t);
    t.answer({ noGr: true });
    t.close();
    await t.until('down', () => t.state() !== 'Established');
    expect(t.received()).toEqual(stale(all).sort());
    await t.until('Established again', () => t.state() === 'Established');
    expect(t.received()).toEqual([]);
  });

  it('a peer without graceful restart loses its routes as soon as its session goes', async () => {
    const t = setup();
    await learned(t, { noGr: true });
    await peerGone(t);
    expect(t.received()).toEqual([]);
    expect(t.best()).toEqual([]);
  });

  it('with the N bit on both sides a hold timer expiry keeps the routes; without it they go', async () => {
    // ours: A sets N (gracefulRestartNotification); theirs: B does.
    const cases = [
      { ours: true, theirs: true, keeps: true },
      { ours: true, theirs: false, keeps: false },
      { ours: false, theirs: true, keeps: false },
    ];
    for (const c of cases) {
      const t = setup({ speaker: { gracefulRestartNotification: c.ours } });
      await learned(t, { nBit: c.theirs });
      t.answer(null);
      // B stops talking: A's hold timer (90 s) expires.
      await t.until('hold timer expiry', () => t.state() !== 'Established', 200);
      expect(t.a.peerStatus()[0]!.lastNotificationSent).toMatchObject({ code: 4 });
      expect({ ...c, received: t.received() }).toEqual({ ...c, received: c.keeps ? stale(all).sort() : [] });
    }
  });

  it('announces no N bit unless configured: a silent link is not taken for a restart', async () => {
    for (const ours of [undefined, true]) {
      const t = setup(ours === undefined ? {} : { speaker: { gracefulRestartNotification: ours } });
      t.answer({});
      await t.a.start();
      await t.until('Established', () => t.state() === 'Established');
      const open = t.seen().find((m): m is OpenMessage => m.type === 'OPEN')!;
      const gr = open.capabilities.find((x) => x.kind === 'graceful-restart');
      expect({ ours, gr }).toMatchObject({ ours, gr: { notification: ours === true } });
    }
  });

  it('with the N bit a NOTIFICATION other than Cease / Hard Reset keeps the routes; Hard Reset does not', async () => {
    // Both sides set N where nBit (the speaker is configured for it).
    const cases: { n: NotificationMessage; nBit: boolean; keeps: boolean }[] = [
      { n: { type: 'NOTIFICATION', code: 6, subcode: 2, data: Buffer.alloc(0) }, nBit: true, keeps: true },
      { n: { type: 'NOTIFICATION', code: 3, subcode: 1, data: Buffer.alloc(0) }, nBit: true, keeps: true },
      { n: { type: 'NOTIFICATION', code: 6, subcode: 9, data: Buffer.from([2]) }, nBit: true, keeps: false },
      { n: { type: 'NOTIFICATION', code: 6, subcode: 2, data: Buffer.alloc(0) }, nBit: false, keeps: false },
    ];
    for (const c of cases) {
      const t = setup({ speaker: { gracefulRestartNotification: c.nBit } });
      await learned(t, { nBit: c.nBit });
      t.answer(null);
      t.send(c.n);
      await t.until('down', () => t.state() !== 'Established');
      expect({ ...c, received: t.received() }).toEqual({ ...c, received: c.keeps ? stale(all).sort() : [] });
    }
  });

  it('a session BFD took down keeps nothing', async () => {
    const bfd = Object.assign(new EventEmitter(), {
      set: async () => undefined,
      status: () => null,
      close: async () => undefined,
    }) as unknown as BfdPeers;
    const t = setup({ peer: { bfd: { minRx: 300, minTx: 300, multiplier: 3 } }, bfd });
    await learned(t);
    bfd.emit('down', B_ADDR, 1);
    await t.until('down', () => t.state() !== 'Established');
    expect(t.received()).toEqual([]);
    expect(t.best()).toEqual([]);
  });
});

describe('graceful restart, restarting side (RFC 4724 4.1, RFC 8538 3/4)', () => {
  it('End-of-RIB waits for initialSyncDone(), then follows per family', async () => {
    const t = setup({ speaker: { endOfRibDeferral: 60_000, restarting: true } });
    t.a.setAdvertisements([{ prefix: '198.51.100.10/32' }, { prefix: '2001:db8:2::10/128' }]);
    t.answer({});
    await t.a.start();
    await t.until('Established', () => t.state() === 'Established');
    await t.clock.advance(5_000);
    const before = t.seen().filter((m) => m.type === 'UPDATE');
    expect(before.length).toBeGreaterThan(0); // the routes went out
    expect(before.map(eorFamily).filter((f) => f !== null)).toEqual([]);
    t.a.initialSyncDone();
    await settle();
    expect(t.seen().map(eorFamily).filter((f) => f !== null).sort()).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    // The End-of-RIBs come after the routes of their family.
    const ups = t.seen().filter((m): m is UpdateMessage => m.type === 'UPDATE');
    const at4 = ups.findIndex((m) => eorFamily(m) === 'ipv4-unicast');
    expect(ups.findIndex((m) => m.nlri.includes('198.51.100.10/32'))).toBeLessThan(at4);
  });

  it('sets the R bit in OPENs until initialSyncDone(), not in those after it', async () => {
    const rBit = (t: T): boolean | undefined => {
      const open = t.seen().find((m): m is OpenMessage => m.type === 'OPEN');
      const gr = open?.capabilities.find((x) => x.kind === 'graceful-restart');
      return gr?.kind === 'graceful-restart' ? gr.restartState : undefined;
    };
    const t = setup({ speaker: { endOfRibDeferral: 60_000, restarting: true } });
    t.answer({});
    await t.a.start();
    await t.until('Established', () => t.state() === 'Established');
    expect(rBit(t)).toBe(true);
    t.a.initialSyncDone();
    await settle();
    // B restarts: A's next OPEN says A is not restarting, so B waits for A's End-of-RIB
    // before it drops what it kept of A's routes.
    t.close();
    await t.until('down', () => t.state() !== 'Established');
    await t.until('Established again', () => t.state() === 'Established');
    expect(rBit(t)).toBe(false);
    // Not restarting at all: never set.
    const u = setup();
    u.answer({});
    await u.a.start();
    await u.until('Established', () => u.state() === 'Established');
    expect(rBit(u)).toBe(false);
  });

  it('without initialSyncDone() End-of-RIB goes when the deferral runs out', async () => {
    const t = setup({ speaker: { endOfRibDeferral: 30_000 } });
    t.a.setAdvertisements([{ prefix: '198.51.100.10/32' }]);
    t.answer({});
    await t.a.start();
    const startedAt = t.clock.now();
    await t.until('Established', () => t.state() === 'Established');
    await t.clock.advance(startedAt + 29_000 - t.clock.now());
    t.send({ type: 'KEEPALIVE' });
    expect(t.seen().map(eorFamily).filter((f) => f !== null)).toEqual([]);
    await t.clock.advance(1_000);
    expect(t.seen().map(eorFamily).filter((f) => f !== null).sort()).toEqual(['ipv4-unicast', 'ipv6-unicast']);
  });

  it('with no deferral End-of-RIB follows the first updates at once', async () => {
    const t = setup();
    t.a.setAdvertisements([{ prefix: '198.51.100.10/32' }]);
    t.answer({});
    await t.a.start();
    await t.until('Established', () => t.state() === 'Established');
    await settle();
    expect(t.seen().map(eorFamily).filter((f) => f !== null).sort()).toEqual(['ipv4-unicast', 'ipv6-unicast']);
  });

  const stopCases: { mode: 'hard' | 'graceful'; nBit: boolean; sent: { code: number; subcode: number } | null }[] = [
    { mode: 'graceful', nBit: true, sent: { code: 6, subcode: 2 } },
    { mode: 'graceful', nBit: false, sent: null },
    { mode: 'hard', nBit: true, sent: { code: 6, subcode: 9 } },
    { mode: 'hard', nBit: false, sent: { code: 6, subcode: 2 } },
  ];
  for (const c of stopCases) {
    it(`stop ${c.mode} with the N bit ${c.nBit ? '' : 'not '}negotiated sends ${c.sent ? `Cease ${c.sent.code}/${c.sent.subcode}` : 'no NOTIFICATION'}`, async () => {
      const t = setup({ speaker: { gracefulRestartNotification: c.nBit } });
      t.answer({ nBit: c.nBit });
      await t.a.start();
      await t.until('Established', () => t.state() === 'Established');
      const seen = t.seen();
      running.splice(running.indexOf(t.a), 1);
      await t.a.stop('upgrade', c.mode);
      await settle();
      const sent = seen.filter((m): m is NotificationMessage => m.type === 'NOTIFICATION').map((m) => ({ code: m.code, subcode: m.subcode }));
      expect(sent).toEqual(c.sent ? [c.sent] : []);
      if (c.sent?.subcode === 9) {
        // RFC 8538 3: Hard Reset's data is the code and subcode of the NOTIFICATION it
        // wraps (Cease / Administrative Shutdown), then that one's data (the stop text).
        const n = seen.find((m): m is NotificationMessage => m.type === 'NOTIFICATION')!;
        expect([n.data[0], n.data[1]]).toEqual([6, 2]);
        expect(n.shutdownMessage).toBe('upgrade');
      }
    });
  }
});

describe('long-lived graceful restart helper (RFC 9494)', () => {
  const LLGR_STALE = 0xffff0006;
  const NO_LLGR = 0xffff0007;
  const withCommunities = (u: UpdateMessage, communities: number[]): UpdateMessage => ({ ...u, attributes: { ...u.attributes, communities } });
  const communitiesOf = (t: T, prefix: string) => t.a.routes({ view: 'received' }).find((r) => r.prefix === prefix)?.attributes.communities ?? [];

  it('after the restart time the routes stay for the long-lived stale time, marked LLGR_STALE; NO_LLGR ones go', async () => {
    const t = setup();
    t.answer({ restartTime: 60, llgr: { staleTime: 600 } });
    await t.a.start();
    await t.until('Established', () => t.state() === 'Established');
    expect(t.a.peerStatus()[0]!.capabilities).toContain('long-lived-graceful-restart');
    t.send(update4([V4[0]!]), withCommunities(update4([V4[1]!]), [NO_LLGR]), eor4, update6(V6), eor6);
    await settle();
    expect(t.received()).toEqual(all);
    const downAt = await peerGone(t);
    await t.clock.advance(59_000);
    expect(t.received()).toEqual(stale(all).sort());
    expect(communitiesOf(t, V4[0]!)).toEqual([]);
    await t.clock.advance(1_000);
    // The restart time is over: long-lived stale, the NO_LLGR route gone.
    expect(t.received()).toEqual(stale([V4[0]!, V6[0]!]).sort());
    expect(communitiesOf(t, V4[0]!)).toEqual([LLGR_STALE]);
    expect(communitiesOf(t, V6[0]!)).toEqual([LLGR_STALE]);
    expect(t.best()).toEqual(stale([V4[0]!, V6[0]!]).sort());
    await t.clock.advance(599_000);
    expect(t.received()).toHaveLength(2);
    await t.until('long-lived stale time over', () => t.received().length === 0);
    expect(t.clock.now() - downAt).toBe(660_000);
  });

  it('a long-lived stale path loses to any other, and the peer back with F = 1 refreshes it on End-of-RIB', async () => {
    const t = setup();
    await learned(t, { restartTime: 5, llgr: { staleTime: 3600 } });
    t.close();
    await t.until('down', () => t.state() !== 'Established');
    t.answer(null);
    await t.until('long-lived stale', () => communitiesOf(t, V4[0]!).includes(LLGR_STALE));
    const why = t.a.explain(V4[0]!);
    expect(why.candidates[0]?.status).toBe('best'); // the only path: still used
    // Back, F = 1 in both capabilities: stale until End-of-RIB; a re-sent route drops the mark.
    t.answer({ restartTime: 5, llgr: { staleTime: 3600 } });
    await t.until('Established again', () => t.state() === 'Established');
    expect(t.received()).toEqual(stale(all).sort());
    t.send(update4([V4[0]!]), eor4, eor6);
    await settle();
    expect(t.received()).toEqual([V4[0]!]);
    expect(communitiesOf(t, V4[0]!)).toEqual([]);
  });

  it('restart time 0 with a long-lived stale time: straight to long-lived stale; without one nothing is kept', async () => {
    const t = setup();
    await learned(t, { restartTime: 0, llgr: { staleTime: 100 } });
    t.answer(null);
    t.close();
    await t.until('long-lived stale', () => communitiesOf(t, V4[0]!).includes(LLGR_STALE), 5);
    expect(t.received()).toEqual(stale(all).sort());
    await t.until('gone', () => t.received().length === 0, 200);

    const u = setup();
    await learned(u, { restartTime: 0, llgr: { staleTime: 0 } });
    u.answer(null);
    u.close();
    await u.until('down', () => u.state() !== 'Established');
    expect(u.received()).toEqual([]);
  });
});
