/**
 * The import filter: a prefix list with the semantics routers use (Cisco/FRR
 * `ip prefix-list`, BIRD `[ net{a,b} ]`). An entry "P" matches exactly P; "P le N"
 * matches P and every more-specific prefix inside P up to length N; "P ge N" matches
 * prefixes inside P of length N up to the family maximum; "P ge N le M" both bounds.
 * An empty list accepts nothing: routes from peers are opt-in (issue 2, `bgp.import`).
 */
import { contains, familyAfi, parsePrefix, prefixFamily, type ParsedPrefix } from '../wire/prefix.js';
import { RibError } from './errors.js';

/** What the Adj-RIB-In needs from an import filter. */
export interface ImportFilter {
  accepts(prefix: string): boolean;
  /** Why `prefix` is not accepted (only asked for prefixes that `accepts` rejected). */
  reason(prefix: string): string;
}

/** A filter given as entries, a predicate, or a ready ImportFilter. */
export type ImportFilterSpec = readonly string[] | ((prefix: string) => boolean) | ImportFilter;

export interface PrefixListEntry {
  readonly text: string;
  readonly prefix: ParsedPrefix;
  readonly ge: number;
  readonly le: number;
}

const maxLength = (afi: 1 | 2): number => (afi === 1 ? 32 : 128);

/** Parse one entry, e.g. "198.51.100.0/24 le 32"; throws RibError with the fix. */
export function parsePrefixListEntry(text: string): PrefixListEntry {
  const parts = text.trim().split(/\s+/);
  let prefix: ParsedPrefix;
  try {
    prefix = parsePrefix(parts[0] ?? '');
  } catch (err) {
    throw new RibError(`prefix-list entry ${JSON.stringify(text)}: ${(err as Error).message}`, { cause: err });
  }
  const max = maxLength(prefix.afi);
  let ge: number | undefined;
  let le: number | undefined;
  for (let i = 1; i < parts.length; i += 2) {
    const kw = parts[i];
    const n = Number(parts[i + 1]);
    if ((kw !== 'le' && kw !== 'ge') || !Number.isInteger(n) || parts[i + 1] === undefined) {
      throw new RibError(`prefix-list entry ${JSON.stringify(text)}: expected "PREFIX [ge N] [le M]"`);
    }
    if (kw === 'ge') {
      if (ge !== undefined || le !== undefined) throw new RibError(`prefix-list entry ${JSON.stringify(text)}: write ge before le, once each`);
      ge = n;
    } else {
      if (le !== undefined) throw new RibError(`prefix-list entry ${JSON.stringify(text)}: le given twice`);
      le = n;
    }
  }
  // Same rule as FRR/Cisco: len < ge <= le <= max (ge equal to len is accepted as a no-op).
  const lo = ge ?? prefix.len;
  const hi = le ?? (ge !== undefined ? max : prefix.len);
  if (lo < prefix.len || hi < lo || hi > max) {
    throw new RibError(
      `prefix-list entry ${JSON.stringify(text)}: lengths must satisfy ${prefix.len} <= ge <= le <= ${max}`,
    );
  }
  return { text: text.trim(), prefix, ge: lo, le: hi };
}

export class PrefixList implements ImportFilter {
  readonly entries: readonly PrefixListEntry[];
  /** AFIs an entry accepts whole ("0.0.0.0/0 le 32"): no parsing needed for them. */
  private readonly whole = new Set<number>();
  constructor(entries: readonly string[]) {
    this.entries = entries.map(parsePrefixListEntry);
    for (const e of this.entries) {
      if (e.prefix.len === 0 && e.ge === 0 && e.le === maxLength(e.prefix.afi)) this.whole.add(e.prefix.afi);
    }
  }

  /** The entry that matches `prefix`, or undefined. */
  match(prefix: string): PrefixListEntry | undefined {
    let p: ParsedPrefix;
    try {
      p = parsePrefix(prefix);
    } catch {
      return undefined;
    }
    for (const e of this.entries) {
      if (p.len >= e.ge && p.len <= e.le && contains(e.prefix, p)) return e;
    }
    return undefined;
  }

  accepts(prefix: string): boolean {
    if (this.whole.size > 0 && this.whole.has(familyAfi(prefixFamily(prefix)))) {
      return true; // prefixes arrive decoded by the codec, so they are well formed
    }
    return this.entries.length > 0 && this.match(prefix) !== undefined;
  }

  reason(prefix: string): string {
    if (this.entries.length === 0) return 'import filter is empty: no route from peers is accepted';
    return `no import entry matches ${prefix} (import: ${this.entries.map((e) => e.text).join(', ')})`;
  }
}

class PredicateFilter implements ImportFilter {
  constructor(private readonly fn: (prefix: string) => boolean) {}
  accepts(prefix: string): boolean {
    return this.fn(prefix);
  }
  reason(prefix: string): string {
    return `rejected by import filter: ${prefix}`;
  }
}

export function toImportFilter(spec: ImportFilterSpec | undefined): ImportFilter {
  if (spec === undefined) return new PrefixList([]);
  if (typeof spec === 'function') return new PredicateFilter(spec);
  if (Array.isArray(spec)) return new PrefixList(spec as readonly string[]);
  return spec as ImportFilter;
}
