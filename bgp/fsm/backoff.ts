/**
 * Idle-hold backoff (RFC 4271 8.1.2 DampPeerOscillations): after the n-th consecutive
 * failure the session waits initial * 2^(n-1) seconds, capped, before it starts again.
 */
import type { FsmConfig } from './types.js';

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
  return Math.round(Math.min(jittered, config.idleHoldMax) * 1000) / 1000;
}
