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

/** 6.8.7: a periodic packet goes no sooner than 75 % of the interval after the previous one. */
export const MIN_TX_FRACTION = 0.75;

/**
 * How much sooner than its jittered time a packet may go, as a share of the interval:
 * the shared scheduler (scheduler.ts) sends every session whose packet is due within
 * this slack in one wake-up. 10 % (30 ms at 300 ms) moves a send time by at most 0.4 of
 * the 25 % jitter range, and never below MIN_TX_FRACTION: the send time stays random
 * within 6.8.7's 75-100 %.
 */
export const TX_SLACK_FRACTION = 0.1;
