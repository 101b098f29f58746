/** One BFD session on a fake clock: handshake, slow then fast timers, Poll/Final, detection, jitter. */
import { describe, expect, it } from 'vitest';
import { decodeControl, encodeControl } from '../../../bgp/bfd/codec.js';
import { BfdScheduler } from '../../../bgp/bfd/scheduler.js';
import { BfdSession, type BfdTimers } from '../../../bgp/bfd/session.js';
import { Diag, type BfdState, type ControlPacket } from '../../../bgp/bfd/types.js';
import { FakeClock } from '../session/harness.js';

const frr: BfdTimers = { minTx: 300, minRx: 300, multiplier: 3 };

interface Side {
  s: BfdSession;
  sent: { at: number; p: ControlPacket }[];
  states: [BfdState, BfdState, number][];
}

/**
 * Two sessions joined by a link that can be cut (each direction on its own), on one
 * scheduler as a runner's sessions are.
 */
function pair(clock: FakeClock, ta: BfdTimers = frr, tb: BfdTimers = frr, random = () => 0.5) {
  const link = { ab: true, ba: true };
  const scheduler = new BfdScheduler(clock);
  const mk = (discr: number, t: BfdTimers, deliver: (b: Buffer) => void): Side => {
    const side: Side = { s: null as unknown as BfdSession, sent: [], states: [] };
    side.s = new BfdSession(discr, t, {
      clock,
      random,
      scheduler,
      send: (b) => {
        side.sent.push({ at: clock.now(), p: decodeControl(b) });
        // The session rewrites its buffer for the next packet; the link delivers a copy.
        deliver(Buffer.from(b));
      },
    });
    side.s.on('state', (from: BfdState, to: BfdState, diag: number) => side.states.push([from, to, diag]));
    return side;
  };
  // Delivery is asynchronous on a real link: model it as 1 ms on the fake clock.
  const lastRx = { a: 0, b: 0 };
  const a: Side = mk(0xa, ta, (buf) => link.ab && clock.setTimeout(() => ((lastRx.b = clock.now()), b.s.receive(decodeControl(buf))), 1));
  const b: Side = mk(0xb, tb, (buf) => link.ba && clock.setTimeout(() => ((lastRx.a = clock.now()), a.s.receive(decodeControl(buf))), 1));
  return { a, b, link, lastRx };
}

describe('BfdSession', () => {
  it('comes Up through the three-way handshake, sending once a second until Up', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock);
    a.s.start();
    clock.advanceSync(2);
    // b is still AdminDown: it discards a's packets (6.8.6).
    expect(a.s.current).toBe('Down');
    expect(b.s.current).toBe('AdminDown');
    b.s.start();
    clock.advanceSync(5);
    expect(a.s.current).toBe('Up');
    expect(b.s.current).toBe('Up');
    // b says Down, a answers Init, b goes Up and says so, a goes Up.
    expect(a.states.map(([, to]) => to)).toEqual(['Down', 'Init', 'Up']);
    expect(b.states.map(([, to]) => to)).toEqual(['Down', 'Up']);
    // Before Up every packet advertised at least 1 s (6.8.3).
    for (const x of a.sent.filter((x) => x.p.state !== 'Up')) expect(x.p.desiredMinTx).toBe(1_000_000);
  });

  it('after Up, a Poll announces 300 ms; the Final ends it; then packets come every 225-300 ms', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock, frr, frr, Math.random);
    a.s.start();
    b.s.start();
    clock.advanceSync(20);
    expect(a.s.current).toBe('Up');
    const polls = a.sent.filter((x) => x.p.poll);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls[0]!.p.desiredMinTx).toBe(300_000);
    expect(b.sent.some((x) => x.p.final)).toBe(true);
    clock.advanceSync(10_000);
    // The Poll sequence ended: no more P bits.
    const late = a.sent.filter((x) => x.at > clock.now() - 5000);
    expect(late.every((x) => !x.p.poll && !x.p.final)).toBe(true);
    const gaps = late.slice(1).map((x, i) => x.at - late[i]!.at);
    expect(gaps.length).toBeGreaterThan(15);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(225);
      expect(g).toBeLessThanOrEqual(300);
    }
    expect(a.s.info().txIntervalUs).toBe(300_000);
    expect(a.s.info().detectTimeUs).toBe(900_000);
  });

  it('transmits no faster than the peer asks (its Required Min RX)', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock, { minTx: 50, minRx: 50, multiplier: 3 }, { minTx: 1000, minRx: 1000, multiplier: 3 }, () => 0.999999);
    a.s.start();
    b.s.start();
    clock.advanceSync(5000);
    expect(a.s.current).toBe('Up');
    expect(a.s.info().txIntervalUs).toBe(1_000_000);
    const late = a.sent.filter((x) => x.at > clock.now() - 3000 && !x.p.final);
    // 75-100 % of 1 s (never our own 50 ms).
    for (let i = 1; i < late.length; i++) {
      expect(late[i]!.at - late[i - 1]!.at).toBeGreaterThanOrEqual(750);
      expect(late[i]!.at - late[i - 1]!.at).toBeLessThanOrEqual(1000);
    }
    // Detection time uses the peer's multiplier and the larger of our RX and its TX.
    expect(a.s.info().detectTimeUs).toBe(3_000_000);
  });

  it('goes Down with diag 1 when the detection time passes without packets', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b, link, lastRx } = pair(clock);
    a.s.start();
    b.s.start();
    clock.advanceSync(3000);
    expect(a.s.current).toBe('Up');
    link.ba = false; // b's packets no longer reach a
    clock.advanceSync(2); // one in flight may still land
    const last = lastRx.a;
    clock.advanceSync(last + 899 - clock.now());
    expect(a.s.current).toBe('Up');
    clock.advanceSync(1);
    expect(a.s.current).toBe('Down');
    const down = a.states.at(-1)!;
    expect(down).toEqual(['Up', 'Down', Diag.ControlDetectionTimeExpired]);
    expect(a.s.info().since).toBe(last + 900);
    // a now tells b Down with diag 1, so b goes Down with Neighbor Signaled Session Down.
    clock.advanceSync(1100);
    expect(b.s.current).not.toBe('Up');
    expect(b.states.find(([from]) => from === 'Up')).toEqual(['Up', 'Down', Diag.NeighborSignaledSessionDown]);
    // The remote discriminator was forgotten (6.8.1): packets say Your Discriminator 0.
    expect(a.sent.at(-1)!.p.yourDiscr).toBe(0);
    // Slow again: at least 1 s while not Up.
    expect(a.sent.at(-1)!.p.desiredMinTx).toBe(1_000_000);
  });

  it('comes back Up when the link heals', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b, link } = pair(clock);
    a.s.start();
    b.s.start();
    clock.advanceSync(3000);
    link.ab = link.ba = false;
    clock.advanceSync(3000);
    expect([a.s.current, b.s.current]).toEqual(['Down', 'Down']);
    link.ab = link.ba = true;
    clock.advanceSync(5000);
    expect([a.s.current, b.s.current]).toEqual(['Up', 'Up']);
    expect(a.s.info().localDiag).toBe(Diag.None);
    expect(a.states.map(([, to]) => to).filter((x) => x === 'Up')).toHaveLength(2);
    expect(a.s.info().transitions).toBe(a.states.length);
  });

  it('answers a Poll with a Final at once, never both bits', () => {
    const clock = new FakeClock(1_000_000);
    const sent: ControlPacket[] = [];
    const s = new BfdSession(7, frr, { clock, random: () => 0.5, send: (b) => void sent.push(decodeControl(b)) });
    s.start();
    clock.advanceSync(1);
    const base: ControlPacket = {
      diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 3,
      myDiscr: 99, yourDiscr: 0, desiredMinTx: 1_000_000, requiredMinRx: 300_000, requiredMinEchoRx: 0,
    };
    s.receive({ ...base, poll: true });
    expect(s.current).toBe('Init');
    const last = sent.at(-1)!;
    expect(last.final).toBe(true);
    expect(last.poll).toBe(false);
    expect(last.yourDiscr).toBe(99);
    expect(last.state).toBe('Init');
    // Init: Up answered with Up, then a Poll for the faster interval (6.8.3).
    s.receive({ ...base, state: 'Up', yourDiscr: 7 });
    expect(s.current).toBe('Up');
    expect(sent.at(-1)!.poll).toBe(true);
    expect(sent.at(-1)!.desiredMinTx).toBe(300_000);
    // While polling, a Poll from the peer is answered with F only.
    s.receive({ ...base, state: 'Up', yourDiscr: 7, poll: true });
    expect(sent.at(-1)!.final).toBe(true);
    expect(sent.at(-1)!.poll).toBe(false);
    s.receive({ ...base, state: 'Up', yourDiscr: 7, final: true });
    clock.advanceSync(400);
    expect(sent.at(-1)!.poll).toBe(false);
  });

  it('paces by the Required Min RX of a Poll at once (a peer going from 1 s to 300 ms)', () => {
    // FRR asks for 1 s until Up, then announces 300 ms in a Poll. Our next packet must
    // come within 300 ms, or its 900 ms detection time can run out before it.
    const clock = new FakeClock(1_000_000);
    const sent: { at: number; p: ControlPacket }[] = [];
    const s = new BfdSession(7, frr, { clock, random: () => 0.999, send: (b) => void sent.push({ at: clock.now(), p: decodeControl(b) }) });
    s.start();
    const peer: ControlPacket = {
      diag: 0, state: 'Init', poll: false, final: false, cpi: false, demand: false, detectMult: 3,
      myDiscr: 99, yourDiscr: 7, desiredMinTx: 1_000_000, requiredMinRx: 1_000_000, requiredMinEchoRx: 0,
    };
    s.receive(peer);
    expect(s.current).toBe('Up');
    s.receive({ ...peer, state: 'Up', final: true });
    expect(s.info().txIntervalUs).toBe(1_000_000);
    clock.advanceSync(100);
    s.receive({ ...peer, state: 'Up', poll: true, desiredMinTx: 300_000, requiredMinRx: 300_000 });
    const t = clock.now();
    expect(sent.at(-1)!.p.final).toBe(true);
    clock.advanceSync(300);
    const next = sent.filter((x) => x.at > t && !x.p.final);
    expect(next.length).toBeGreaterThan(0);
    expect(next[0]!.at - t).toBeLessThanOrEqual(300);
  });

  it('new timers while Up are announced with a Poll, and the peer paces by them', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock);
    a.s.start();
    b.s.start();
    clock.advanceSync(3000);
    const n = a.sent.length;
    a.s.setTimers({ minTx: 300, minRx: 600, multiplier: 3 });
    expect(a.sent.length).toBe(n + 1);
    expect(a.sent.at(-1)!.p).toMatchObject({ poll: true, requiredMinRx: 600_000 });
    clock.advanceSync(10);
    expect(b.sent.some((x, i) => i > 0 && x.p.final)).toBe(true);
    clock.advanceSync(3000);
    expect(b.s.info().txIntervalUs).toBe(600_000);
    expect(a.s.info().detectTimeUs).toBe(1_800_000);
    expect(a.s.current).toBe('Up');
    expect(a.sent.at(-1)!.p.poll).toBe(false);
  });

  it('AdminDown from the peer takes an Up session Down with diag 3', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock);
    a.s.start();
    b.s.start();
    clock.advanceSync(3000);
    b.s.stop();
    clock.advanceSync(5);
    expect(b.s.current).toBe('AdminDown');
    expect(a.s.current).toBe('Down');
    expect(a.states.at(-1)![2]).toBe(Diag.NeighborSignaledSessionDown);
    expect(b.sent.at(-1)!.p.state).toBe('AdminDown');
    expect(b.sent.at(-1)!.p.diag).toBe(Diag.AdministrativelyDown);
  });

  it('leaves no timer armed once stopped', () => {
    const clock = new FakeClock(1_000_000);
    const { a, b } = pair(clock);
    a.s.start();
    b.s.start();
    clock.advanceSync(3000);
    a.s.stop();
    b.s.stop();
    clock.advanceSync(10);
    expect(clock.pending).toBe(0);
  });

  it('refuses discriminator 0', () => {
    expect(() => new BfdSession(0, frr, { clock: new FakeClock(1_000_000), random: Math.random, send: () => undefined })).toThrow(/discriminator/);
  });

  it('rewrites one buffer for its packets, and takes a new one when the transport keeps it', () => {
    const clock = new FakeClock(1_000_000);
    const seen: Buffer[] = [];
    let keep = false;
    const s = new BfdSession(5, frr, { clock, random: () => 0.5, send: (b) => (seen.push(b), keep) });
    s.start();
    clock.advanceSync(3000);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen).size).toBe(1);
    keep = true; // a queued send: the next packet must go in another buffer
    clock.advanceSync(1000);
    keep = false;
    clock.advanceSync(2000);
    const [first, kept, next] = [seen[0]!, seen.at(-3)!, seen.at(-1)!];
    expect(kept).toBe(first);
    expect(next).not.toBe(first);
    expect(decodeControl(kept)).toMatchObject({ state: 'Down', myDiscr: 5 });
  });

  it('encodes what it means to send', () => {
    const s = new BfdSession(5, frr, { clock: new FakeClock(1_000_000), random: Math.random, send: () => undefined });
    expect(decodeControl(encodeControl(s.packet()))).toMatchObject({ state: 'AdminDown', myDiscr: 5, detectMult: 3, requiredMinRx: 300_000 });
  });
});
