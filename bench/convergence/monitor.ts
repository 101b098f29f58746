/**
 * Reading `ip -ts -4 monitor route` output (run with TZ=UTC): one line per route change,
 * `[2026-11-22T20:54:32.608301] 198.51.100.1 dev rtc0123 proto 88 scope link`. The kernel
 * sends the notification when the route is in the FIB, and `ip` stamps it with the wall
 * clock as it reads it (microseconds), so a line's time is when that route became usable
 * in that namespace, give or take `ip`'s own scheduling.
 */

export interface RouteAdd {
  /** Host address of the /32 (no prefix length: `ip` prints host routes bare). */
  readonly addr: string;
  /** Wall-clock milliseconds (with microsecond fraction). */
  readonly atMs: number;
  readonly line: string;
}

const LINE = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (?:unicast )?(\d+\.\d+\.\d+\.\d+)(?:\/32)? /;

/** The first addition of each IPv4 /32 in monitor output (deletions and wider prefixes skipped). */
export function firstAdds(text: string, filter: (line: string) => boolean = () => true): Map<string, RouteAdd> {
  const out = new Map<string, RouteAdd>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || !filter(line)) continue;
    const [, secs, micros, addr] = m as unknown as [string, string, string, string];
    if (out.has(addr)) continue;
    out.set(addr, { addr, atMs: Date.parse(`${secs}Z`) + Number(micros) / 1000, line });
  }
  return out;
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}
