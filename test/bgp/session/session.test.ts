/**
 * Sessions on a fake clock over in-memory connections: two Sessions talking to each
 * other, and a scripted raw peer for malformed input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../../bgp/session/index.js';
import type { DownReason, SessionConfig } from '../../../bgp/session/index.js';
import { buildOpen } from '../../../bgp/fsm/index.js';
import { MessageFramer, decodeMessage, encodeMessage } from '../../../bgp/wire/index.js';
import type { BgpMessage, NotificationMessage, UpdateMessage } from '../../../bgp/wire/index.js';
import { FakeClock, FakeNet, duplexPair, settle } from './harness.js';
import type { PipeEnd } from './harness.js';

const A_ADDR = '10.0.0.1';
const B_ADDR = '10.0.0.2';

const cfgA: SessionConfig = {
  localAsn: 65001,
  routerId: '192.0.2.1',
  peerAddress: B_ADDR,
  peerAsn: 65002,
  families: ['ipv4-unicast', 'ipv6-unicast'],
};
const cfgB: SessionConfig = {
  localAsn: 65002,
  routerId: '192.0.2.2',
  peerAddress: A_ADDR,
  peerAsn: 65001,
  families: ['ipv4-unicast', 'ipv6-unicast'],
};

const sessions: Session[] = [];

afterEach(() => {
  // Sessions of a failed test must not keep timers of the next one alive.
  for (const s of sessions.splice(0)) void s.stop();
});

function setup(a: Partial<SessionConfig> = {}, b: Partial<SessionConfig> = {}, random = () => 1) {
  const clock = new FakeClock();
  const net = new FakeNet();
  const A = new Session({ ...cfgA, ...a }, { clock, connect: net.connector(A_ADDR), random });
  const B = new Session({ ...cfgB, ...b }, { clock, connect: net.connector(B_ADDR), random });
  net.listeners.set(A_ADDR, A);
  net.listeners.set(B_ADDR, B);
  sessions.push(A, B);
  const downs: { A: DownReason[]; B: DownReason[] } = { A: [], B: [] };
  A.on('down', (r: DownReason) => downs.A.push(r));
  B.on('down', (r: DownReason) => downs.B.push(r));
  return { clock, net, A, B, downs };
}

/** Reads what a Session writes to a raw pipe end. */
function reader(end: PipeEnd): BgpMessage[] {
  const out: BgpMessage[] = [];
  const f = new MessageFramer(65535);
  end.on('data', (chunk: Buffer) => {
    for (const m of f.push(chunk)) out.push(decodeMessage(m, { asn4: true, extendedMessage: true }));
  });
  return out;
}

const notifications = (ms: BgpMessage[]): NotificationMessage[] => ms.filter((m): m is NotificationMessage => m.type === 'NOTIFICATION');

describe('Session (fake clock, in-memory connections)', () => {
  it('reaches Established, negotiates, exchanges an UPDATE and stops without leaking timers', async () => {
    const { clock, A, B, net } = setup({}, { passive: true });
    const established: string[] = [];
    A.on('established', () => established.push('A'));
    B.on('established', () => established.push('B'));
    const states: string[] = [];
    A.on('state', (from: string, to: string) => states.push(`${from}->${to}`));
    B.start();
    A.start();
    expect(B.state).toBe('Active');
    await settle();
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
    expect(established.sort()).toEqual(['A', 'B']);
    expect(states).toEqual(['Idle->Connect', 'Connect->OpenSent', 'OpenSent->OpenConfirm', 'OpenConfirm->Established']);
    expect(net.live()).toHaveLength(1);
    expect(net.live()[0]!.client.noDelay).toBe(true);

    const ia = A.info();
    expect(ia.negotiated).toMatchObject({ peerAsn: 65002, holdTime: 90, keepalive: 30, families: ['ipv4-unicast', 'ipv6-unicast'], extendedMessage: true });
    expect(ia).toMatchObject({ localAddress: A_ADDR, remoteAddress: B_ADDR, holdTime: 90, keepalive: 30, connectRetry: 30, lastError: null });
    expect(ia.counters.in).toMatchObject({ open: 1, keepalive: 1 });
    expect(ia.counters.out).toMatchObject({ open: 1, keepalive: 1 });

    const got: UpdateMessage[] = [];
    B.on('update', (u: UpdateMessage) => got.push(u));
    const upd = encodeMessage(
      { type: 'UPDATE', withdrawn: [], attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], nextHop: A_ADDR }, nlri: ['198.51.100.7/32'], handling: 'none', errors: [] },
      { asn4: true, extendedMessage: true },
    );
    expect(A.sendUpdates([upd, upd])).toBe(true);
    await settle();
    expect(got).toHaveLength(2);
    expect(got[0]!.nlri).toEqual(['198.51.100.7/32']);
    expect(B.info().counters.in.update).toBe(2);
    // The same messages handed over joined in one buffer: one write, counted per message.
    expect(A.sendUpdates([upd, upd], Buffer.concat([upd, upd]))).toBe(true);
    await settle();
    expect(got).toHaveLength(4);
    expect(A.info().counters.out.update).toBe(4);
    expect(B.info().counters.in.update).toBe(4);

    await Promise.all([A.stop(), B.stop()]);
    await settle();
    expect([A.state, B.state]).toEqual(['Idle', 'Idle']);
    expect(clock.pending).toBe(0);
    expect(net.live()).toHaveLength(0);
  });

  it('sends KEEPALIVEs every hold/3 and stays up', async () => {
    const { clock, A, B } = setup({ holdTime: 9 }, { passive: true, holdTime: 30 });
    B.start();
    A.start();
    await settle();
    expect(A.info()).toMatchObject({ state: 'Established', holdTime: 9, keepalive: 3 });
    const before = A.info().counters.out.keepalive;
    await clock.advance(30_000);
    expect(A.info().counters.out.keepalive - before).toBe(10);
    expect(B.info().counters.out.keepalive).toBeGreaterThanOrEqual(10);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
  });

  it('hold time 0: no KEEPALIVEs, no hold timer', async () => {
    const { clock, A, B } = setup({ holdTime: 0 }, { passive: true });
    B.start();
    A.start();
    await settle();
    expect(A.info()).toMatchObject({ state: 'Established', holdTime: 0, keepalive: 0 });
    await clock.advance(3_600_000);
    // Only the KEEPALIVE that confirms the OPEN (RFC 4271 8.2.2 OpenSent).
    expect(A.info().counters.out.keepalive).toBe(1);
    expect(B.info().counters.out.keepalive).toBe(1);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
  });

  it('hold timer expiry: 4/0 sent and down with kind hold-timer-expired', async () => {
    const { clock, A, B, net, downs } = setup({}, { passive: true });
    B.start();
    A.start();
    await settle();
    expect(A.state).toBe('Established');
    const link = net.live()[0]!;
    const seenByB = reader(link.client); // B's end is the server end; tap what A writes
    link.server.blackhole = true; // B -> A goes silent
    await clock.advance(89_000);
    expect(A.state).toBe('Established');
    await clock.advance(1_000);
    expect(downs.A[0]).toMatchObject({ kind: 'hold-timer-expired', text: 'hold timer expired', code: 4, subcode: 0 });
    expect(A.info().lastNotificationSent).toMatchObject({ code: 4, subcode: 0, name: 'Hold Timer Expired' });
    expect(A.info().lastError).toBe('hold timer expired');
    expect(A.info().flaps).toBe(1);
    expect(A.state).toBe('Idle');
    void seenByB;
    // B was told why.
    expect(downs.B[0]).toMatchObject({ kind: 'notification-received', text: 'NOTIFICATION received: Hold Timer Expired' });
  });

  it("a peer's NOTIFICATION with an RFC 9003 message becomes the reason; stop() sends Cease / Administrative Shutdown", async () => {
    const { clock, A, B, downs } = setup({}, { passive: true });
    B.start();
    A.start();
    await settle();
    await B.stop('maintenance'); // hard, and no RFC 8538 N bit: Cease / Administrative Shutdown, no Hard Reset around it
    await settle();
    expect(downs.B[0]).toMatchObject({ kind: 'admin-stop', text: 'administratively stopped: "maintenance"' });
    expect(B.info().lastNotificationSent).toMatchObject({ code: 6, subcode: 2, name: 'Cease / Administrative Shutdown', text: 'maintenance' });
    expect(B.info().lastError).toBeNull();
    expect(downs.A[0]).toEqual({
      kind: 'notification-received',
      text: 'NOTIFICATION received: Cease / Administrative Shutdown: "maintenance"',
      code: 6,
      subcode: 2,
    });
    expect(A.info().lastNotificationReceived).toMatchObject({ code: 6, subcode: 2, text: 'maintenance' });
    // B stays down: no restart, and A's attempts are refused until B starts again.
    await clock.advance(300_000);
    expect(B.state).toBe('Idle');
    expect(A.state).not.toBe('Established');
    B.start();
    await clock.advance(130_000);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
  });

  it('backoff: connect failures retry after 1, 2, 4, … s capped at idleHoldMax, with jitter', async () => {
    for (const [random, expected] of [
      [() => 1, ['1', '2', '4', '8', '8', '8']],
      [() => 0, ['1', '1.5', '3', '6', '6', '6']],
    ] as const) {
      const clock = new FakeClock();
      const net = new FakeNet(); // nobody listens: ECONNREFUSED
      const A = new Session(cfgA, { clock, connect: net.connector(A_ADDR), random });
      sessions.push(A);
      const texts: string[] = [];
      A.on('down', (r: DownReason) => {
        expect(r.kind).toBe('connect-failed');
        texts.push(r.text);
      });
      A.start();
      await settle();
      // Each retry happens exactly after the announced delay.
      while (texts.length < expected.length) {
        const last = /retry in ([\d.]+) s$/.exec(texts.at(-1) ?? '');
        expect(last).not.toBeNull();
        await clock.advance(Number(last![1]) * 1000 - 1);
        expect(A.state).toBe('Idle');
        await clock.advance(1);
      }
      expect(texts).toEqual(expected.map((s) => `connect: ECONNREFUSED, retry in ${s} s`));
      expect(A.info().lastError).toBe(`connect: ECONNREFUSED, retry in ${expected.at(-1)} s`);
      await A.stop();
      expect(clock.pending).toBe(0);
    }
  });

  it('connection collision (both connect at once) resolves to one session, kept by the higher BGP identifier', async () => {
    for (const [idA, idB] of [
      ['192.0.2.1', '192.0.2.2'],
      ['192.0.2.9', '192.0.2.2'],
    ] as const) {
      const { clock, A, B, net } = setup({ routerId: idA }, { routerId: idB });
      net.hold = true;
      A.start();
      B.start();
      await settle();
      // Both TCP connections come up together: each side is in OpenSent on its own
      // connection when the peer's OPEN arrives on the other one.
      net.release();
      await settle();
      await clock.advance(1_000);
      expect([A.state, B.state]).toEqual(['Established', 'Established']);
      const live = net.live();
      expect(live).toHaveLength(2 - 1);
      // The surviving connection is the one the higher identifier initiated.
      const winner = idA > idB ? A_ADDR : B_ADDR;
      expect(live[0]!.from).toBe(winner);
      expect(net.links).toHaveLength(2);
      // Whoever had a connection dumped said why: Cease / Connection Collision Resolution.
      const sent = [A.info().lastNotificationSent, B.info().lastNotificationSent].filter((n) => n !== null);
      expect(sent.length).toBeGreaterThanOrEqual(1);
      for (const n of sent) expect(n).toMatchObject({ code: 6, subcode: 7 });
      // Still up after keepalives.
      await clock.advance(200_000);
      expect([A.state, B.state]).toEqual(['Established', 'Established']);
      await Promise.all([A.stop(), B.stop()]);
      expect(clock.pending).toBe(0);
    }
  });
});

describe('Session: UPDATE flow', () => {
  const v4Update = (prefix: string): Buffer =>
    encodeMessage(
      { type: 'UPDATE', withdrawn: [], attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], nextHop: A_ADDR }, nlri: [prefix], handling: 'none', errors: [] },
      { asn4: true, extendedMessage: true },
    );

  async function up() {
    const t = setup({}, { passive: true });
    t.B.start();
    t.A.start();
    await settle();
    expect([t.A.state, t.B.state]).toEqual(['Established', 'Established']);
    return t;
  }

  it("a write past the socket's buffer returns false and 'drain' follows; every UPDATE arrives", async () => {
    const { A, B } = await up();
    const got: UpdateMessage[] = [];
    B.on('update', (u: UpdateMessage) => got.push(u));
    let drained = 0;
    A.on('drain', () => drained++);
    const batch = Array.from({ length: 600 }, (_, i) => v4Update(`198.18.${i >> 8}.${i & 255}/32`));
    expect(batch.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(16 * 1024);
    expect(A.sendUpdates(batch)).toBe(false);
    await settle();
    expect(drained).toBe(1);
    expect(got).toHaveLength(600);
    expect(A.info().counters.out.update).toBe(600);
  });

  it('an UPDATE with an RFC 7606 treat-as-withdraw finding is emitted as is, the session stays up', async () => {
    const { A, B, net } = await up();
    const got: UpdateMessage[] = [];
    B.on('update', (u: UpdateMessage) => got.push(u));
    const buf = Buffer.from(v4Update('198.51.100.9/32'));
    const at = buf.indexOf(Buffer.from([0x40, 0x01, 0x01, 0x00])); // ORIGIN IGP
    expect(at).toBeGreaterThan(0);
    buf[at + 3] = 5; // undefined ORIGIN value: treat-as-withdraw (RFC 7606 7.1)
    net.live()[0]!.client.write(buf); // raw, straight onto A's connection to B
    await settle();
    expect(got).toHaveLength(1);
    expect(got[0]!.handling).toBe('treat-as-withdraw');
    expect(got[0]!.nlri).toEqual(['198.51.100.9/32']);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
  });

  it('ROUTE-REFRESH goes out for a negotiated family and is emitted on the other side', async () => {
    const { A, B } = await up();
    const rr: unknown[] = [];
    B.on('routeRefresh', (x: unknown) => rr.push(x));
    A.sendRouteRefresh('ipv6-unicast');
    await settle();
    expect(rr).toEqual([{ afi: 2, safi: 1, subtype: 0 }]);
    expect(A.info().counters.out.routeRefresh).toBe(1);
    expect(B.info().counters.in.routeRefresh).toBe(1);
  });
});

describe('Session: connection handling', () => {
  it('a connect that hangs is retried when the ConnectRetryTimer expires, and the old attempt is dropped', async () => {
    const clock = new FakeClock();
    const net = new FakeNet();
    net.hold = true; // SYNs into the void
    const attempts: PipeEnd[] = [];
    const connect = net.connector(A_ADDR);
    const A = new Session({ ...cfgA, connectRetryTime: 30 }, { clock, connect: (o) => { const s = connect(o); attempts.push(s as PipeEnd); return s; }, random: () => 1 });
    sessions.push(A);
    A.start();
    await settle();
    expect(A.state).toBe('Connect');
    await clock.advance(29_999);
    expect(attempts).toHaveLength(1);
    await clock.advance(1);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.destroyed).toBe(true);
    expect(A.state).toBe('Connect');
    await A.stop();
    expect(clock.pending).toBe(0);
  });

  it('cease(1) sends Cease / Maximum Number of Prefixes Reached and restarts after the idle hold', async () => {
    const { clock, A, B, downs } = setup({}, { passive: true });
    B.start();
    A.start();
    await settle();
    A.cease(1, Buffer.from([0, 1, 1, 0, 0, 0, 0x64]));
    await settle();
    expect(downs.A[0]).toMatchObject({ kind: 'admin-stop', text: 'automatic stop, NOTIFICATION sent: Cease / Maximum Number of Prefixes Reached (IPv4 unicast, limit 100)', code: 6, subcode: 1 });
    expect(downs.B[0]).toMatchObject({ kind: 'notification-received', code: 6, subcode: 1 });
    expect(downs.B[0]!.text).toMatch(/^NOTIFICATION received: Cease \/ Maximum Number of Prefixes Reached/);
    expect(A.state).toBe('Idle');
    // Both back off 1 s; A may hit B before B listens again (refused, 2 s more).
    await clock.advance(5_000);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
  });

  it('a connection while stopped is refused with Cease / Connection Rejected', async () => {
    const clock = new FakeClock();
    const B = new Session(cfgB, { clock });
    const [peer, mine] = duplexPair(A_ADDR, B_ADDR);
    const seen = reader(peer);
    B.acceptIncoming(mine);
    await settle();
    expect(notifications(seen).map((n) => [n.code, n.subcode])).toEqual([[6, 5]]);
    expect(mine.writableEnded).toBe(true);
    expect(B.state).toBe('Idle');
  });
});

describe('Session: a peer that comes back during the idle hold', () => {
  it('its connection is taken at once (Idle -> OpenSent), not refused until our backoff ends', async () => {
    const clock = new FakeClock();
    const net = new FakeNet();
    const A = new Session(cfgA, { clock, connect: net.connector(A_ADDR), random: () => 1 });
    const B = new Session(cfgB, { clock, connect: net.connector(B_ADDR), random: () => 1 });
    sessions.push(A, B);
    net.listeners.set(A_ADDR, A);
    const states: string[] = [];
    A.on('state', (from, to) => states.push(`${from}->${to}`));
    A.start();
    // B is away: A's attempts fail and its idle hold grows to the 8 s cap (1, 2, 4, 8 s).
    for (let i = 0; i < 16; i++) await clock.advance(1_000);
    expect(states.filter((x) => x === 'Connect->Idle').length).toBeGreaterThanOrEqual(4);
    expect(A.state).toBe('Idle');
    expect(Math.max(...clock.pendingDelays())).toBeGreaterThan(5_000);
    states.length = 0;
    // B is back and connects first: A takes the connection without waiting out its hold.
    net.listeners.set(B_ADDR, B);
    B.start();
    await settle();
    await clock.advance(0);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
    expect(states).toEqual(['Idle->OpenSent', 'OpenSent->OpenConfirm', 'OpenConfirm->Established']);
    // The idle hold was stopped: no attempt of A's own follows.
    const links = net.links.length;
    await clock.advance(10_000);
    expect(net.links.length).toBe(links);
    expect(A.state).toBe('Established');
  });

  it('a session held down (stopped) still refuses it', async () => {
    const { clock, A, B } = setup();
    A.start();
    B.start();
    await settle();
    await clock.advance(1_000);
    expect(A.state).toBe('Established');
    await A.stop('maintenance');
    expect(A.state).toBe('Idle');
    const [peer, mine] = duplexPair(B_ADDR, A_ADDR);
    const seen = reader(peer);
    A.acceptIncoming(mine);
    await settle();
    expect(notifications(seen).map((n) => [n.code, n.subcode])).toEqual([[6, 5]]);
    expect(A.state).toBe('Idle');
  });
});

describe('Session: staggered simultaneous start', () => {
  it('the side whose own connect has not completed adopts the peer connection', async () => {
    const { clock, A, B, net } = setup();
    A.start();
    B.start();
    await settle();
    await clock.advance(1_000);
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
    expect(net.live()).toHaveLength(1);
    await Promise.all([A.stop(), B.stop()]);
    expect(clock.pending).toBe(0);
  });
});

describe('Session against a scripted peer (malformed input)', () => {
  function scripted(
    peerOpen: BgpMessage = buildOpen({ asn: 65002, routerId: '192.0.2.2', holdTime: 90, families: ['ipv4-unicast'], extendedMessage: false }),
  ) {
    const clock = new FakeClock();
    const net = new FakeNet();
    let server: PipeEnd | undefined;
    let seen: BgpMessage[] = [];
    net.raw.set(B_ADDR, (s) => {
      server = s;
      seen = reader(s);
      s.write(encodeMessage(peerOpen));
    });
    const A = new Session(cfgA, { clock, connect: net.connector(A_ADDR), random: () => 1 });
    sessions.push(A);
    const downs: DownReason[] = [];
    A.on('down', (r: DownReason) => downs.push(r));
    return {
      clock,
      A,
      downs,
      server: () => server!,
      seen: () => seen,
    };
  }

  it('reaches Established with a scripted peer (sanity for the cases below)', async () => {
    const t = scripted();
    t.A.start();
    await settle();
    t.server().write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    expect(t.A.state).toBe('Established');
    expect(t.A.info().negotiated?.families).toEqual(['ipv4-unicast']);
  });

  it('malformed header -> 1/2 Bad Message Length with the length as data', async () => {
    const t = scripted();
    t.A.start();
    await settle();
    t.server().write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    expect(t.A.state).toBe('Established');
    const bad = Buffer.alloc(19, 0xff);
    bad.writeUInt16BE(5000, 16); // > 4096: extended messages not negotiated (peer did not offer them)
    bad[18] = 2;
    t.server().write(bad);
    await settle();
    const n = notifications(t.seen());
    expect(n).toHaveLength(1);
    expect([n[0]!.code, n[0]!.subcode, n[0]!.data.toString('hex')]).toEqual([1, 2, '1388']);
    expect(t.downs[0]).toMatchObject({ kind: 'notification-sent', code: 1, subcode: 2 });
    expect(t.downs[0]!.text).toMatch(/^NOTIFICATION sent: Message Header Error \/ Bad Message Length/);
    expect(t.A.state).toBe('Idle');
  });

  it('bad peer AS in OPEN -> 2/2 and down with kind open-error', async () => {
    const t = scripted(buildOpen({ asn: 65099, routerId: '192.0.2.2', holdTime: 90, families: ['ipv4-unicast'] }));
    t.A.start();
    await settle();
    const n = notifications(t.seen());
    expect(n.map((x) => [x.code, x.subcode])).toEqual([[2, 2]]);
    expect(t.downs[0]).toMatchObject({ kind: 'open-error', code: 2, subcode: 2 });
    expect(t.downs[0]!.text).toContain('peer AS 65099, expected 65002');
    expect(t.A.state).toBe('Idle');
    expect(t.A.info().lastNotificationSent).toMatchObject({ code: 2, subcode: 2, name: 'OPEN Message Error / Bad Peer AS' });
  });

  it('a malformed UPDATE never throws out of the session: the exact NOTIFICATION is sent', async () => {
    const t = scripted();
    t.A.start();
    await settle();
    t.server().write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    // UPDATE whose withdrawn-routes length runs past the message (RFC 4271 6.3: 3/1).
    const body = Buffer.from([0x00, 0x40, 0x00, 0x00]);
    const hdr = Buffer.alloc(19, 0xff);
    hdr.writeUInt16BE(19 + body.length, 16);
    hdr[18] = 2;
    t.server().write(Buffer.concat([hdr, body]));
    await settle();
    const n = notifications(t.seen());
    expect(n).toHaveLength(1);
    expect(n[0]!.code).toBe(3);
    expect(t.downs[0]).toMatchObject({ kind: 'notification-sent', code: 3 });
  });
});

describe('Session: connection collision with a scripted peer (RFC 4271 6.8)', () => {
  /** A is in OpenSent on its own connection when the peer's connection comes in as well. */
  async function collided() {
    const clock = new FakeClock();
    const net = new FakeNet();
    let first: PipeEnd | undefined;
    let firstSeen: BgpMessage[] = [];
    net.raw.set(B_ADDR, (s) => {
      first = s;
      firstSeen = reader(s);
    });
    const A = new Session(cfgA, { clock, connect: net.connector(A_ADDR), random: () => 1 });
    sessions.push(A);
    const states: string[] = [];
    A.on('state', (from, to) => states.push(`${from}->${to}`));
    const downs: DownReason[] = [];
    A.on('down', (r) => downs.push(r));
    A.start();
    await settle();
    expect(A.state).toBe('OpenSent');
    const [peerEnd, ourEnd] = duplexPair(B_ADDR, A_ADDR);
    const secondSeen = reader(peerEnd);
    A.acceptIncoming(ourEnd);
    await settle();
    return { A, states, downs, first: first!, firstSeen: () => firstSeen, peerEnd, secondSeen };
  }
  const openFrom = (routerId: string): Buffer =>
    encodeMessage(buildOpen({ asn: 65002, routerId, holdTime: 90, families: ['ipv4-unicast'], extendedMessage: false }));
  const codes = (ms: BgpMessage[]): number[][] => notifications(ms).map((n) => [n.code, n.subcode]);

  it("a higher identifier's connection stays: the FSM dumps ours with 6/7 and goes on with the peer's", async () => {
    const t = await collided();
    t.peerEnd.write(openFrom('192.0.2.9'));
    await settle();
    expect(codes(t.firstSeen())).toEqual([[6, 7]]);
    expect(t.states).toEqual(['Idle->Connect', 'Connect->OpenSent', 'OpenSent->Active', 'Active->OpenSent', 'OpenSent->OpenConfirm']);
    expect(t.downs.map((d) => [d.kind, d.code, d.subcode])).toEqual([['collision', 6, 7]]);
    expect(t.secondSeen.map((m) => m.type)).toEqual(['OPEN', 'KEEPALIVE']);
    t.peerEnd.write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    expect(t.A.state).toBe('Established');
    expect(t.first.readableEnded).toBe(true); // our end of the dumped connection is closed
  });

  it("a lower identifier's connection is closed with 6/7 and ours stays", async () => {
    const t = await collided();
    t.peerEnd.write(openFrom('10.0.0.1'));
    await settle();
    expect(codes(t.secondSeen)).toEqual([[6, 7]]);
    expect(t.secondSeen.some((m) => m.type === 'OPEN')).toBe(false);
    expect(t.states).toEqual(['Idle->Connect', 'Connect->OpenSent']);
    expect(codes(t.firstSeen())).toEqual([]);
    expect(t.downs).toEqual([]);
  });

  it('a peer that dumps our connection first (6/7) gets no NOTIFICATION back, and its own connection is taken', async () => {
    const t = await collided();
    t.first.write(encodeMessage({ type: 'NOTIFICATION', code: 6, subcode: 7, data: Buffer.alloc(0) }));
    await settle();
    expect(t.A.state).toBe('Active');
    expect(codes(t.firstSeen())).toEqual([]);
    expect(t.A.info().lastNotificationSent).toBeNull();
    t.peerEnd.write(openFrom('192.0.2.9'));
    await settle();
    expect(t.states).toEqual(['Idle->Connect', 'Connect->OpenSent', 'OpenSent->Active', 'Active->OpenSent', 'OpenSent->OpenConfirm']);
    t.peerEnd.write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    expect(t.A.state).toBe('Established');
  });

  it('a second connection whose first message is not an OPEN is closed; the session is untouched', async () => {
    const t = await collided();
    t.peerEnd.write(encodeMessage({ type: 'KEEPALIVE' }));
    await settle();
    expect(t.peerEnd.readableEnded || t.peerEnd.destroyed).toBe(true);
    expect(t.A.state).toBe('OpenSent');
    expect(t.states).toEqual(['Idle->Connect', 'Connect->OpenSent']);
  });
});
