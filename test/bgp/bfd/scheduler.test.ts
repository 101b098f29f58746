/**
 * The shared BFD scheduler on the fake clock: one timer at the earliest deadline of its
 * members; and a hundred sessions on it, as a runner has them: 6.8.7's 75-100 % per
 * packet, few wake-ups, and each session's detection time to the millisecond.
 */
import { describe, expect, it } from 'vitest';
import { decodeControl } from '../../../bgp/bfd/codec.js';
import { BfdScheduler, type Scheduled } from '../../../bgp/bfd/scheduler.js';
import { BfdSession, type BfdTimers } from '../../../bgp/bfd/session.js';
import { Diag, type BfdState } from '../../../bgp/bfd/types.js';
import { FakeClock } from '../session/harness.js';

/** A member that needs the clock at the times it is given, and records its ticks. */
class Member implements Scheduled {
  ticks: number[] = [];
  constructor(public wakeAt: number) {}
  tick(now: number): void {
    this.ticks.push(now);
    if (now >= this.wakeAt) this.wakeAt = Infinity;
  }
}

describe('BfdScheduler', () => {
  it('keeps one timer, armed at the earliest deadline of its members', () => {
    const clock = new FakeClock(1000);
    const s = new BfdScheduler(clock);
    const a = new Member(1300);
    const b = new Member(1100);
    s.add(a);
    s.add(b);
    expect(clock.pendingDelays()).toEqual([100]);
    clock.advanceSync(100);
    // Every member is ticked at every wake-up, with the same clock reading.
    expect(b.ticks).toEqual([1100]);
    expect(a.ticks).toEqual([1100]);
    expect(clock.pendingDelays()).toEqual([200]);
    clock.advanceSync(200);
    expect(a.ticks).toEqual([1100, 1300]);
    expect(clock.pending).toBe(0);
    expect(s.wakeups).toBe(2);
  });

  it('re-arms for an earlier deadline only; a later one waits for the timer', () => {
    const clock = new FakeClock(0);
    const s = new BfdScheduler(clock);
    const a = new Member(500);
    s.add(a);
    // Later (a packet pushed a detection deadline out): nothing changes until the timer fires.
    a.wakeAt = 900;
    s.wake(900);
    expect(clock.pendingDelays()).toEqual([500]);
    clock.advanceSync(500);
    expect(a.ticks).toEqual([500]);
    expect(clock.pendingDelays()).toEqual([400]);
    // Earlier: re-armed at once.
    a.wakeAt = 600;
    s.wake(600);
    expect(clock.pendingDelays()).toEqual([100]);
  });

  it('takes its timer away with the last member', () => {
    const clock = new FakeClock(0);
    const s = new BfdScheduler(clock);
    const a = new Member(100);
    const b = new Member(200);
    s.add(a);
    s.add(b);
    s.remove(a);
    expect(clock.pending).toBe(1);
    s.remove(b);
    expect(clock.pending).toBe(0);
    expect(s.size).toBe(0);
  });

  it('catches a deadline another member sets during a wake-up', () => {
    const clock = new FakeClock(0);
    const s = new BfdScheduler(clock);
    const b = new Member(Infinity);
    // a's tick moves b (as a state listener retiming another session would).
    const a: Scheduled = {
      wakeAt: 100,
      tick(now) {
        this.wakeAt = Infinity;
        b.wakeAt = now + 50;
        s.wake(b.wakeAt);
      },
    } as Scheduled & { wakeAt: number };
    s.add(b);
    s.add(a);
    clock.advanceSync(100);
    expect(clock.pendingDelays()).toEqual([50]);
    clock.advanceSync(50);
    expect(b.ticks).toEqual([100, 150]);
  });
});

describe('a hundred BFD sessions on one scheduler', () => {
  const frr: BfdTimers = { minTx: 300, minRx: 300, multiplier: 3 };

  /** n sessions here, n peers there (on a scheduler of their own), 1 ms apart; links can be cut. */
  function fabric(clock: FakeClock, n: number) {
    const ours = new BfdScheduler(clock);
    const theirs = new BfdScheduler(clock);
    const cut = new Set<number>();
    const sent: { at: number; final: boolean; poll: boolean }[][] = [];
    const lastRx: number[] = [];
    const states: [BfdState, BfdState, number][][] = [];
    const a: BfdSession[] = [];
    const b: BfdSession[] = [];
    for (let i = 0; i < n; i++) {
      sent.push([]);
      states.push([]);
      lastRx.push(0);
      a.push(
        new BfdSession(1 + i, frr, {
          clock,
          random: Math.random,
          scheduler: ours,
          send: (buf) => {
            const p = decodeControl(buf);
            sent[i]!.push({ at: clock.now(), final: p.final, poll: p.poll });
            clock.setTimeout(() => b[i]!.receive(p), 1);
          },
        }),
      );
      b.push(
        new BfdSession(1001 + i, frr, {
          clock,
          random: Math.random,
          scheduler: theirs,
          send: (buf) => {
            const p = decodeControl(buf);
            if (cut.has(i)) return;
            clock.setTimeout(() => ((lastRx[i] = clock.now()), a[i]!.receive(p)), 1);
          },
        }),
      );
      a[i]!.on('state', (from: BfdState, to: BfdState, diag: number) => states[i]!.push([from, to, diag]));
    }
    for (const s of [...a, ...b]) s.start();
    return { a, b, ours, cut, sent, lastRx, states };
  }

  it('sends each within 75-100 % of 300 ms, jittered, in far fewer wake-ups than packets', () => {
    const clock = new FakeClock(1_000_000);
    const { a, ours, sent } = fabric(clock, 100);
    clock.advanceSync(5000);
    expect(a.every((s) => s.current === 'Up' && s.info().txIntervalUs === 300_000)).toBe(true);
    const t0 = clock.now();
    const w0 = ours.wakeups;
    clock.advanceSync(10_000);
    const gaps: number[] = [];
    let packets = 0;
    for (const list of sent) {
      const periodic = list.filter((x) => x.at > t0 && !x.final && !x.poll);
      packets += periodic.length;
      for (let k = 1; k < periodic.length; k++) gaps.push(periodic[k]!.at - periodic[k - 1]!.at);
    }
    expect(gaps.length).toBeGreaterThan(3000);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(225);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(300);
    // Still jittered per packet: the gaps spread over the 75-100 % range.
    const mean = gaps.reduce((x, y) => x + y, 0) / gaps.length;
    expect(mean).toBeGreaterThan(240);
    expect(mean).toBeLessThan(290);
    expect(new Set(gaps.map((g) => Math.floor(g / 10))).size).toBeGreaterThanOrEqual(7);
    // A wake-up serves several sessions: about 380 packets a second in well under 100 wake-ups.
    const wakeups = ours.wakeups - w0;
    expect(wakeups).toBeLessThan(packets / 4);
  });

  it('detects each session on its own, to the millisecond', () => {
    const clock = new FakeClock(1_000_000);
    const { a, cut, lastRx, states } = fabric(clock, 100);
    clock.advanceSync(5000);
    expect(a.every((s) => s.current === 'Up')).toBe(true);
    cut.add(17);
    cut.add(60);
    clock.advanceSync(2); // what was in flight has landed
    const last17 = lastRx[17]!;
    const last60 = lastRx[60]!;
    const until = Math.min(last17, last60) + 899;
    clock.advanceSync(until - clock.now());
    expect(a[17]!.current).toBe('Up');
    expect(a[60]!.current).toBe('Up');
    clock.advanceSync(Math.max(last17, last60) + 900 - clock.now());
    for (const [i, last] of [[17, last17], [60, last60]] as const) {
      expect(a[i]!.current).toBe('Down');
      expect(states[i]!.at(-1)).toEqual(['Up', 'Down', Diag.ControlDetectionTimeExpired]);
      expect(a[i]!.info().since).toBe(last + 900);
    }
    clock.advanceSync(3000);
    expect(a.filter((s) => s.current !== 'Up').map((s) => s.localDiscr - 1)).toEqual([17, 60]);
  });
});
