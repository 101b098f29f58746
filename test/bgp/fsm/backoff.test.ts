/** Idle-hold backoff (RFC 4271 8.1.2): 1 s doubling to the cap, jittered by [0.75, 1.0], reset once stable. */
import { describe, expect, it } from 'vitest';
import { idleHoldDelay, initialContext, transition } from '../../../bgp/fsm/index.js';
import type { FsmAction, FsmContext, FsmEvent, State } from '../../../bgp/fsm/index.js';

const cfg = { idleHoldInitial: 1, idleHoldMax: 120 };

function idleHoldOf(actions: readonly FsmAction[]): number | undefined {
  for (const a of actions) if (a.type === 'startTimer' && a.timer === 'idleHold') return a.seconds;
  return undefined;
}

describe('idleHoldDelay', () => {
  it('doubles from 1 s and caps at 120 s without jitter (random = 1)', () => {
    const delays = Array.from({ length: 10 }, (_, i) => idleHoldDelay(i + 1, cfg, () => 1));
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
  });

  it('applies jitter within [0.75, 1.0] of the base', () => {
    // 1 s * 0.75 would be below the floor of one attempt a second.
    expect(idleHoldDelay(1, cfg, () => 0)).toBe(1);
    expect(idleHoldDelay(2, cfg, () => 0)).toBe(1.5);
    expect(idleHoldDelay(3, cfg, () => 0.5)).toBe(3.5); // 4 * 0.875
    expect(idleHoldDelay(20, cfg, () => 0)).toBe(90);
    for (let n = 1; n < 40; n++) {
      const d = idleHoldDelay(n, cfg, () => 0.999);
      expect(d).toBeLessThanOrEqual(120);
      expect(d).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('FSM backoff sequence', () => {
  // Connect fails over and over: each failure goes to Idle with a longer idle hold, and
  // the IdleHoldTimer expiry starts the next attempt.
  function failures(n: number, random: () => number): number[] {
    let state: State = 'Idle';
    let ctx: FsmContext = initialContext();
    const step = (e: FsmEvent): readonly FsmAction[] => {
      const r = transition(state, e, ctx, { random });
      state = r.next;
      ctx = r.ctx;
      return r.actions;
    };
    step({ type: 'AutomaticStart' });
    const delays: number[] = [];
    for (let i = 0; i < n; i++) {
      expect(state).toBe('Connect');
      const d = idleHoldOf(step({ type: 'TcpConnectionFails' }));
      expect(state).toBe('Idle');
      expect(d).toBeDefined();
      delays.push(d!);
      // An automatic start while damping waits for the timer.
      expect(step({ type: 'AutomaticStart' })).toEqual([]);
      expect(state).toBe('Idle');
      step({ type: 'IdleHoldTimer_Expires' });
    }
    return delays;
  }

  it('1, 2, 4, … capped at the default 8 s with a fixed random, never below 1 s', () => {
    expect(failures(9, () => 1)).toEqual([1, 2, 4, 8, 8, 8, 8, 8, 8]);
    expect(failures(5, () => 0)).toEqual([1, 1.5, 3, 6, 6]);
  });

  it('starts over after the session stayed Established (IdleHoldResetTimer)', () => {
    let state: State = 'Idle';
    let ctx: FsmContext = { ...initialContext(), failures: 5 };
    const step = (e: FsmEvent): readonly FsmAction[] => {
      const r = transition(state, e, ctx, { random: () => 1 });
      state = r.next;
      ctx = r.ctx;
      return r.actions;
    };
    step({ type: 'AutomaticStart' });
    step({ type: 'Tcp_CR_Acked' });
    step({ type: 'BGPOpen', holdTime: 90 });
    const up = step({ type: 'KeepAliveMsg' });
    expect(state).toBe('Established');
    expect(up).toContainEqual({ type: 'startTimer', timer: 'idleHoldReset', seconds: 60 });
    // Went down before the reset timer: the backoff continues (6th failure -> 32 s, capped at 8).
    const saved = { state, ctx };
    expect(idleHoldOf(step({ type: 'HoldTimer_Expires' }))).toBe(8);
    ({ state, ctx } = saved);
    step({ type: 'IdleHoldResetTimer_Expires' });
    expect(ctx.failures).toBe(0);
    expect(idleHoldOf(step({ type: 'HoldTimer_Expires' }))).toBe(1);
  });

  it('ManualStop cancels a pending restart and forgets failures', () => {
    const r1 = transition('Connect', { type: 'TcpConnectionFails' }, initialContext(), { random: () => 1 });
    expect(r1.ctx.idleHoldRunning).toBe(true);
    const r2 = transition('Idle', { type: 'ManualStop' }, r1.ctx);
    expect(r2.actions).toEqual([{ type: 'stopTimer', timer: 'idleHold' }]);
    expect(r2.ctx.failures).toBe(0);
    // A stray expiry after the stop does not restart the session.
    expect(transition('Idle', { type: 'IdleHoldTimer_Expires' }, r2.ctx).next).toBe('Idle');
  });
});
