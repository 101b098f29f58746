/**
 * One timer for every BFD session of a runner. Each session says when it next needs the
 * clock (`wakeAt`: its next periodic packet or the end of its detection time, RFC 5880
 * 6.8.7 and 6.8.4); the scheduler keeps a single timer armed at the earliest of those
 * times and, when it fires, lets every session act on the same clock reading (`tick`).
 * A session whose packet falls due a little later (within its slack, timers.ts) sends in
 * the same wake-up, so a hundred sessions at 300 ms wake the process a few dozen times a
 * second rather than once per packet, and a received packet only moves a number (the
 * detection deadline) instead of a timer.
 *
 * Pure apart from the injected clock: the session tests run it on the fake clock.
 */
import type { Clock } from '../session/types.js';

export interface Scheduled {
  /** Clock time (ms) this member next needs a tick; Infinity for none. */
  readonly wakeAt: number;
  /** Called on every wake-up of the scheduler with that wake-up's clock reading. */
  tick(now: number): void;
}

export class BfdScheduler {
  private readonly members = new Set<Scheduled>();
  private timer: unknown = null;
  /** When the armed timer fires (Infinity: none armed). */
  private armedAt = Infinity;
  private ticking = false;
  /** The earliest wake() asked for during a tick (a session that another one's event touched). */
  private askedDuringTick = Infinity;
  /** Wake-ups so far: what the shared timer saves is counted in tests. */
  wakeups = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.members.size;
  }

  add(m: Scheduled): void {
    this.members.add(m);
    this.wake(m.wakeAt);
  }

  /** The member leaves; the timer goes with the last one. */
  remove(m: Scheduled): void {
    if (!this.members.delete(m) || this.members.size > 0 || this.ticking) return;
    this.arm(Infinity);
  }

  /**
   * A member's wakeAt moved to `at`: the timer is re-armed only when that is earlier
   * than the armed one. A later time (the usual case: a packet pushed a detection
   * deadline out) costs one comparison; the timer then fires early, finds nothing due
   * and re-arms at the true earliest time.
   */
  wake(at: number): void {
    if (this.ticking) {
      if (at < this.askedDuringTick) this.askedDuringTick = at;
      return;
    }
    if (at < this.armedAt) this.arm(at);
  }

  private arm(at: number): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = at;
    if (at === Infinity) return;
    // Whole ms, rounded down: Node runs a timer on whole ms of its own clock, so a
    // fractional delay would fire up to a ms late, and a packet due at 100 % of its
    // interval would go after it. Early is harmless: a session sends within its slack
    // (never before 75 %), and a detection deadline not yet reached waits for the next.
    this.timer = this.clock.setTimeout(() => this.run(), Math.max(0, Math.floor(at - this.clock.now())));
  }

  private run(): void {
    this.timer = null;
    this.armedAt = Infinity;
    this.wakeups++;
    const now = this.clock.now();
    this.ticking = true;
    this.askedDuringTick = Infinity;
    let next = Infinity;
    let done = false;
    try {
      // One pass: each member acts, then says when it next needs the clock. A member
      // removed during the loop (a state listener stopping a session) is skipped by the
      // Set; one added or changed by another's event is caught by askedDuringTick.
      for (const m of this.members) {
        m.tick(now);
        const at = m.wakeAt;
        if (at < next) next = at;
      }
      done = true;
    } finally {
      this.ticking = false;
      // A listener threw: the members after it were not asked; ask them all.
      if (!done) for (const m of this.members) if (m.wakeAt < next) next = m.wakeAt;
      this.arm(Math.min(next, this.askedDuringTick));
    }
  }
}
