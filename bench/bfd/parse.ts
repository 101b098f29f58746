/** Pure pieces of bench/bfd: percentiles, and FRR bfdd's state-change log lines. */

/** Nearest-rank percentile (p in 0-100) of a non-empty list; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Times (epoch ms, local time zone as bfdd writes it) of bfdd's "up -> down" state changes
 * for one peer, from its log with `log timestamp precision 3` and `debug bfd peer`:
 * `2026/12/06 03:51:38.787 BFD: [SEY1D-NT8EQ] state-change: [mhop:no peer:203.0.113.2 …] up -> down reason:control-expired`.
 */
export function frrBfdDowns(logText: string, peer: string): number[] {
  const out: number[] = [];
  for (const line of logText.split('\n')) {
    if (!line.includes('state-change') || !line.includes(`peer:${peer} `) || !/ up -> down/.test(line)) continue;
    const m = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(line);
    if (!m) continue;
    const [y, mo, d, h, mi, s, msec] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
    out.push(new Date(y, mo - 1, d, h, mi, s, msec).getTime());
  }
  return out;
}
