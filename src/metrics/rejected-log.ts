/**
 * Log lines for BGP connections refused because they came from no configured peer, at
 * most one per source address per interval: a scanner or a misconfigured router retrying
 * every second must not flood the journal. The lines a source did not get are counted
 * and the next line for it says how many. The set of sources remembered is bounded; past
 * it, sources share one line ("other addresses") until old entries expire. The counts
 * themselves go to routectl_bgp_rejected_connections_total, by family only.
 */
import type { Logger } from '../log.js';

export const REJECTED_LOG_INTERVAL_MS = 60_000;
export const REJECTED_LOG_MAX_SOURCES = 1024;

/** Admits one event per key per interval; returns how many were held back before it. */
export class PerKeyRateLimit {
  private readonly seen = new Map<string, { last: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  /**
   * null: suppressed (counted). A number: log now, and that many were suppressed for this
   * key since its last line. `overflow` is the key used when maxKeys are tracked already.
   */
  admit(key: string, overflow: string): { key: string; suppressed: number } | null {
    const t = this.now();
    let k = key;
    if (!this.seen.has(k) && this.seen.size >= this.maxKeys) {
      this.prune(t);
      if (this.seen.size >= this.maxKeys) k = overflow;
    }
    const e = this.seen.get(k);
    if (e && t - e.last < this.intervalMs) {
      e.suppressed++;
      return null;
    }
    this.seen.set(k, { last: t, suppressed: 0 });
    return { key: k, suppressed: e?.suppressed ?? 0 };
  }

  /** Keys tracked now (for tests). */
  get size(): number {
    return this.seen.size;
  }

  /** Drops keys whose interval has passed; their held-back counts are lost with them (the metric has them). */
  private prune(t: number): void {
    for (const [k, e] of this.seen) if (t - e.last >= this.intervalMs) this.seen.delete(k);
  }
}

const OTHERS = 'other addresses';

/** The listener for the speaker's 'connectionRejected'(address, family) events. */
export function rejectedConnectionLogger(
  log: Logger,
  opts: { intervalMs?: number; maxSources?: number; now?: () => number } = {},
): (address: string, family: string) => void {
  const interval = opts.intervalMs ?? REJECTED_LOG_INTERVAL_MS;
  const limit = new PerKeyRateLimit(interval, opts.maxSources ?? REJECTED_LOG_MAX_SOURCES, opts.now ?? Date.now);
  return (address, family) => {
    const a = limit.admit(address, OTHERS);
    if (a === null) return;
    const from = a.key === OTHERS ? `${address} (lines for new sources merged: too many sources)` : address;
    const more = a.suppressed > 0 ? `; ${a.suppressed} more from ${a.key === OTHERS ? 'other addresses' : 'it'} not logged since the last line` : '';
    log.warn(
      { op: 'bgp.listen', event: 'connection-rejected', remote: address, family, suppressed: a.suppressed },
      `refused a BGP connection from ${from}: not a configured peer (Cease / Connection Rejected sent); at most one line per address per ${Math.round(interval / 1000)} s${more}`,
    );
  };
}
