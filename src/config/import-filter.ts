/**
 * `bgp.import` as a prefix list: a received prefix is accepted when any entry matches.
 * Semantics are those of FRR/Cisco `ip prefix-list … permit`: "0.0.0.0/0" matches only
 * the default route; "10.0.0.0/8 le 32" matches 10.0.0.0/8 and anything inside it up to
 * /32; "P ge G [le L]" matches prefixes inside P of length G..L. An empty list accepts
 * nothing (the default: a worker has no use for the fabric's routes unless asked).
 */
import { maxLength, parsePrefix, prefixContains, type ParsedPrefix } from '../net.js';

export interface ImportRule {
  readonly prefix: ParsedPrefix;
  /** Accepted prefix lengths, inclusive. */
  readonly minLength: number;
  readonly maxLength: number;
}

/** Parses a canonical rule as the config produces it ("P", "P le L", "P ge G", "P ge G le L"). */
export function parseImportRule(text: string): ImportRule {
  const m = /^(\S+)(?:\s+ge\s+(\d+))?(?:\s+le\s+(\d+))?$/.exec(text.trim());
  const p = m ? parsePrefix(m[1] ?? '') : null;
  if (m === null || p === null) throw new TypeError(`not a prefix-list entry: ${text}`);
  const ge = m[2] === undefined ? undefined : Number(m[2]);
  const le = m[3] === undefined ? undefined : Number(m[3]);
  const lo = ge ?? p.length;
  const hi = le ?? (ge === undefined ? p.length : maxLength(p.family));
  return { prefix: p, minLength: lo, maxLength: hi };
}

export function compileImportFilter(rules: readonly string[]): (prefix: string) => boolean {
  const parsed = rules.map(parseImportRule);
  return (prefix: string): boolean => {
    const p = parsePrefix(prefix);
    if (p === null) return false;
    return parsed.some((r) => p.length >= r.minLength && p.length <= r.maxLength && prefixContains(r.prefix, p));
  };
}
