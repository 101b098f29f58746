/**
 * Address and prefix parsing for the config edge: strict IPv4/IPv6 text to numbers and
 * back to one canonical spelling (IPv4 dotted quad; IPv6 per RFC 5952), plus the
 * containment and overlap tests the cross-field checks need.
 *
 * Both families are held as bigint so one set of arithmetic serves both.
 */

export type IpFamily = 4 | 6;

export interface ParsedAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

export interface ParsedPrefix {
  readonly family: IpFamily;
  /** The network address as given (host bits may be set; see hasHostBits). */
  readonly value: bigint;
  readonly length: number;
}

export const maxLength = (family: IpFamily): number => (family === 4 ? 32 : 128);

function parseIPv4Value(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIPv6Value(s: string): bigint | null {
  if (s.includes('%')) return null; // zone ids are not addresses the config can use
  let text = s;
  // RFC 4291 2.2 form 3: the low 32 bits may be written as a dotted quad; turn it into
  // two hex groups so one parser serves both spellings.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4Value(text.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const want = 8;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (h: string): string[] | null => (h === '' ? [] : h.split(':'));
  const head = groupsOf(halves[0] ?? '');
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  let groups: string[];
  if (halves.length === 2) {
    const fill = want - head.length - rest.length;
    if (fill < 1) return null;
    groups = [...head, ...Array<string>(fill).fill('0'), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== want) return null;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** Parses an IPv4 or IPv6 address; null when it is neither. */
export function parseAddress(s: string): ParsedAddress | null {
  if (s.includes(':')) {
    const v = parseIPv6Value(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseIPv4Value(s);
  return v === null ? null : { family: 4, value: v };
}

export function formatAddress(family: IpFamily, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((value >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 4.3: lowercase, no leading zeros.
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The canonical spelling of an address, or null when the text is not one. */
export function canonicalAddress(s: string): string | null {
  const a = parseAddress(s);
  return a === null ? null : formatAddress(a.family, a.value);
}

export function parsePrefix(s: string): ParsedPrefix | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = parseAddress(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (addr === null || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
  const length = Number(lenText);
  if (length > maxLength(addr.family)) return null;
  return { family: addr.family, value: addr.value, length };
}

function hostMask(p: { family: IpFamily; length: number }): bigint {
  return (1n << BigInt(maxLength(p.family) - p.length)) - 1n;
}

export function hasHostBits(p: ParsedPrefix): boolean {
  return (p.value & hostMask(p)) !== 0n;
}

/** The prefix with its host bits cleared, e.g. to suggest as a fix. */
export function networkOf(p: ParsedPrefix): ParsedPrefix {
  return { family: p.family, value: p.value & ~hostMask(p), length: p.length };
}

export function formatPrefix(p: ParsedPrefix): string {
  return `${formatAddress(p.family, p.value)}/${p.length}`;
}

/** True when `inner` lies entirely inside `outer` (same family, at least as long). */
export function prefixContains(outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  return (inner.value & ~hostMask(outer)) === (outer.value & ~hostMask(outer));
}

export function prefixesOverlap(a: ParsedPrefix, b: ParsedPrefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}
