/**
 * Reconnect delays: exponential (initial, doubling, capped) with jitter, so that many
 * agents whose dockerd restarted at the same moment do not all knock at once. Pure:
 * the random source is a parameter.
 */

export interface BackoffOptions {
  /** First delay, ms. Default 500. */
  readonly initialMs?: number;
  /** Cap, ms. Default 30 000. */
  readonly maxMs?: number;
  /** Each delay is scaled by a factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  readonly jitter?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

/** The delay before retry number `attempt` (0 = first retry). Never above maxMs. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const o = { ...DEFAULT_BACKOFF, ...opts };
  const base = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  const jittered = base * (1 - o.jitter + 2 * o.jitter * random());
  return Math.max(0, Math.min(o.maxMs, Math.round(jittered)));
}
