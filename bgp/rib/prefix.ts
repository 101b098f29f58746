/**
 * Prefix arithmetic for the RIB: parse "198.51.100.0/24" / "2001:db8::/32" into words,
 * canonical text (RFC 5952 for IPv6), containment and the prefix-length tests that
 * prefix lists need. Kept here, small and allocation-light, because the import filter
 * runs once per received prefix on the ingest path.
 */
import type { Family } from '../wire/types.js';
import { formatIPv6 } from '../wire/prefix.js';
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

/** IPv6 text to 4 words, one pass over the characters (this runs per received prefix). */
function parseV6(s: string): number[] | null {
  const g: number[] = [];
  let gap = -1; // index in g where "::" stands
  let cur = -1; // current group value, -1 = no digits yet
  let digits = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c >= 65 && c <= 70) v = c - 55;
    else if (c === 58 /* : */) {
      if (cur < 0) {
        // Only a leading "::" starts without a group; "::" after a group is consumed below.
        if (i !== 0 || s.charCodeAt(1) !== 58) return null;
        gap = 0;
        i++;
        continue;
      }
      g.push(cur);
      cur = -1;
      digits = 0;
      if (s.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return null;
        gap = g.length;
        i++;
      } else if (i + 1 === n) return null;
      continue;
    } else if (c === 46 /* . */) {
      // Embedded IPv4 in the last 32 bits (RFC 4291 2.2 form 3).
      let start = i - 1;
      while (start > 0 && s.charCodeAt(start - 1) !== 58) start--;
      const v4 = parseV4(s.slice(start));
      if (v4 === null) return null;
      g.push(v4 >>> 16, v4 & 0xffff);
      cur = -1;
      i = n;
      break;
    } else return null;
    if (++digits > 4) return null;
    cur = cur < 0 ? v : cur * 16 + v;
  }
  if (cur >= 0) g.push(cur);
  if (gap >= 0) {
    if (g.length > 7) return null;
    g.splice(gap, 0, ...new Array<number>(8 - g.length).fill(0));
  } else if (g.length !== 8) return null;
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
  // One RFC 5952 formatter for the whole library (bgp/wire), so every view prints an
  // address the same way (including IPv4-mapped ones, RFC 5952 5).
  for (let i = 0; i < 4; i++) v6Scratch.writeUInt32BE(words[i]! >>> 0, 4 * i);
  return formatIPv6(v6Scratch, 0);
}

const v6Scratch = Buffer.alloc(16);

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
