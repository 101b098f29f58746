/**
 * Idle-hold backoff (RFC 4271 8.1.2 DampPeerOscillations): after the n-th consecutive
 * failure the session waits initial * 2^(n-1) seconds, capped, before it starts again.
 *
 * The cap (idleHoldMax, default 8 s) is what bounds how late a session comes back after
 * its peer was away: a ToR back from an outage of any length is tried again within the
 * cap (plus the connect itself). A longer cap only spares a dead peer a few SYNs, which
 * cost nothing; a 120 s cap made a ToR back from a 60 s outage wait 38 s. The floor
 * (MIN_IDLE_HOLD) keeps jitter from going below one attempt a second.
 */
import type { FsmConfig } from './types.js';

/** Seconds: the shortest wait between two automatic starts of one peer. */
export const MIN_IDLE_HOLD = 1;

/**
 * Delay in seconds (millisecond precision) before the next automatic start after
 * `failures` consecutive failures (>= 1). RFC 4271 10: timers get jitter by multiplying
 * by a random factor in [0.75, 1.0], so peers that failed together do not retry together.
 */
export function idleHoldDelay(failures: number, config: Pick<FsmConfig, 'idleHoldInitial' | 'idleHoldMax'>, random: () => number): number {
  const n = Math.max(1, failures);
  // 2^(n-1) overflows to Infinity for huge n, which min() caps anyway.
  const base = Math.min(config.idleHoldMax, config.idleHoldInitial * 2 ** (n - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = base * (0.75 + 0.25 * r);
  // Never more than one attempt a second per peer, whatever the jitter does to 1 s.
  return Math.round(Math.max(MIN_IDLE_HOLD, Math.min(jittered, config.idleHoldMax)) * 1000) / 1000;
}
