/** Markdown tables and number formatting for benchmark reports. */

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const width = header.map((_, c) => Math.max(3, ...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string => `| ${width.map((w, c) => (r[c] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** Milliseconds as seconds with 2 decimals, or the reason there is no number. */
export function secs(ms: number | string | null | undefined): string {
  if (typeof ms === 'string') return ms;
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  return `${(ms / 1000).toFixed(2)} s`;
}

/** a / b as "0.93x", or n/a when either is missing. */
export function ratio(a: number | string | null | undefined, b: number | string | null | undefined): string {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}

export function thousands(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
