/**
 * Prefix arithmetic for the RIB: parse "198.51.100.0/24" / "2001:db8::/32" into words,
 * canonical text (RFC 5952 for IPv6), containment and the prefix-length tests that
 * prefix lists need. Kept here, small and allocation-light, because the import filter
 * runs once per received prefix on the ingest path.
 */
import type { Family } from '../wire/types.js';
import { RibError } from './errors.js';

/** An address as 32-bit words, most significant first: 1 word for IPv4, 4 for IPv6. */
export interface ParsedPrefix {
  readonly family: Family;
  readonly words: readonly number[];
  readonly length: number;
}

/** Family from the text alone: IPv6 text always contains a colon. */
export function familyOf(prefix: string): Family {
  return prefix.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
}

function parseV4(s: string): number | null {
  let word = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet < 0 || dots === 3) return null;
      word = word * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // No leading zeros beyond a single "0" (they would read as octal elsewhere).
      if (octet === 0) return null;
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return null;
    } else {
      return null;
    }
  }
  if (dots !== 3 || octet < 0) return null;
  return (word * 256 + octet) >>> 0;
}

function parseV6(s: string): number[] | null {
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  let g: number[];
  if (dbl >= 0) {
    const head = groups(s.slice(0, dbl));
    const tail = groups(s.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return null;
    g = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groups(s);
    if (!all || all.length !== 8) return null;
    g = all;
  }
  return [
    ((g[0]! << 16) | g[1]!) >>> 0,
    ((g[2]! << 16) | g[3]!) >>> 0,
    ((g[4]! << 16) | g[5]!) >>> 0,
    ((g[6]! << 16) | g[7]!) >>> 0,
  ];
}

/** Parse an address ("198.51.100.1", "2001:db8::1") into words, or null. */
export function parseAddress(s: string): { family: Family; words: number[] } | null {
  if (s.includes(':')) {
    const w = parseV6(s);
    return w ? { family: 'ipv6-unicast', words: w } : null;
  }
  const v = parseV4(s);
  return v === null ? null : { family: 'ipv4-unicast', words: [v] };
}

/** Mask for the bits of word `i` that lie inside a prefix of `length`. */
function wordMask(i: number, length: number): number {
  const bits = Math.min(32, Math.max(0, length - i * 32));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parse "addr/len" strictly: host bits must be zero. Returns null when not a prefix. */
export function parsePrefix(s: string): ParsedPrefix | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = parseAddress(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return null;
  const length = Number(lenText);
  if (length > addr.words.length * 32) return null;
  for (let i = 0; i < addr.words.length; i++) {
    if ((addr.words[i]! & ~wordMask(i, length)) !== 0) return null;
  }
  return { family: addr.family, words: addr.words, length };
}

/** Parse or throw a RibError naming the bad text. */
export function mustParsePrefix(s: string, what = 'prefix'): ParsedPrefix {
  const p = parsePrefix(s);
  if (!p) throw new RibError(`${what} ${JSON.stringify(s)} is not a valid prefix (address/length with no host bits set)`);
  return p;
}

/** RFC 5952 4: lowercase, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatAddress(family: Family, words: readonly number[]): string {
  if (family === 'ipv4-unicast') {
    const w = words[0]!;
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  }
  const g: number[] = [];
  for (const w of words) g.push(w >>> 16, w & 0xffff);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Canonical text of a prefix; throws RibError on anything that is not one. */
export function canonicalPrefix(s: string): string {
  const p = mustParsePrefix(s);
  return `${formatAddress(p.family, p.words)}/${p.length}`;
}

/** True when `inner` lies inside `outer` (same family, inner at least as long). */
export function contains(outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  for (let i = 0; i < outer.words.length; i++) {
    const m = wordMask(i, outer.length);
    if (m === 0) break;
    if (((outer.words[i]! ^ inner.words[i]!) & m) !== 0) return false;
  }
  return true;
}

/** True when address `addr` (words) is inside the network `net`/`length`. */
export function addressInNetwork(addr: readonly number[], net: readonly number[], length: number): boolean {
  if (addr.length !== net.length) return false;
  for (let i = 0; i < addr.length; i++) {
    const m = wordMask(i, length);
    if (m === 0) break;
    if (((addr[i]! ^ net[i]!) & m) !== 0) return false;
  }
  return true;
}

/** A sortable key for an address: IPv4 sorts before IPv6, then numerically. */
export function addressSortKey(address: string): string {
  const a = parseAddress(address);
  if (!a) return `9${address}`;
  return (a.family === 'ipv4-unicast' ? '4' : '6') + a.words.map((w) => w.toString(16).padStart(8, '0')).join('');
}
