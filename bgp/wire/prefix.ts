/**
 * Prefixes and addresses, for the whole bgp/ library: parsing, the canonical text form
 * the RIB uses as map keys (IPv6 per RFC 5952), containment, and the NLRI wire encoding
 * (RFC 4271 4.3: a length octet, then the minimum number of octets holding the prefix).
 * Written for speed: the ingest path decodes and filters millions of NLRI, the packer
 * encodes hundreds of thousands.
 */
import { BgpNotification } from './errors.js';
import type { Family } from './types.js';

export interface ParsedPrefix {
  readonly afi: 1 | 2;
  /** The full address (4 or 16 octets). */
  readonly bytes: Buffer;
  readonly len: number;
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

/** Parses dotted-quad text; returns the address as an unsigned 32-bit number, or -1. */
export function ipv4ToNumber(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octet = -1;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet < 0) return -1;
      value = value * 256 + octet;
      octet = -1;
      digits = 0;
      if (++dots > 3) return -1;
    } else if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal in some parsers and decimal in others.
      if (digits > 0 && octet === 0) return -1;
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

const groupsScratch = new Int32Array(8);

/** Parses IPv6 text (RFC 4291 2.2) into out[off, off+16); false when invalid. Allocation-free. */
function parseIPv6Into(s: string, out: Uint8Array, off: number, start = 0, end = s.length): boolean {
  const n = end - start;
  if (n < 2 || n > 45) return false;
  const g = groupsScratch;
  let count = 0;
  let gap = -1;
  let i = start;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count >= 8) return false;
    let v = 0;
    let digits = 0;
    const groupStart = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      v = v * 16 + d;
      if (++digits > 4) return false;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // Embedded IPv4 in the last 32 bits (RFC 4291 2.2 form 3).
      if (count > 6) return false;
      const v4 = ipv4ToNumber(s, groupStart, end);
      if (v4 < 0) return false;
      g[count++] = Math.floor(v4 / 65536);
      g[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0) return false;
    g[count++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false; // a second "::"
      gap = count;
      i++;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const fill = 8 - count;
  let w = off;
  for (let k = 0; k <= count; k++) {
    if (k === gap) {
      for (let z = 0; z < fill; z++) {
        out[w++] = 0;
        out[w++] = 0;
      }
    }
    if (k < count) {
      out[w++] = g[k]! >> 8;
      out[w++] = g[k]! & 0xff;
    }
  }
  return true;
}

export function isIPv4(addr: string): boolean {
  return ipv4ToNumber(addr) >= 0;
}

export function isIPv6(addr: string): boolean {
  return parseIPv6Into(addr, Buffer.allocUnsafe(16), 0);
}

/** Address text to 4 or 16 octets; throws Error on anything else. */
export function parseAddress(addr: string): Buffer {
  const v4 = ipv4ToNumber(addr);
  if (v4 >= 0) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v4, 0);
    return b;
  }
  const b = Buffer.allocUnsafe(16);
  if (parseIPv6Into(addr, b, 0)) return b;
  throw new Error(`invalid IP address "${addr}"`);
}

export function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

const fmtGroups = new Int32Array(8);

/** RFC 5952 4: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::", first on ties. */
export function formatIPv6(b: Uint8Array, off = 0): string {
  const g = fmtGroups;
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
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
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    out += g[i]!.toString(16);
    if (i < 7) out += ':';
  }
  return out;
}

/** Canonical text of an address (4 or 16 octets). */
export function formatAddress(b: Uint8Array): string {
  return b.length === 4 ? formatIPv4(b) : formatIPv6(b);
}

/** Canonical form of an address string; throws Error when invalid. */
export function canonicalAddress(addr: string): string {
  return formatAddress(parseAddress(addr));
}

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) is the IPv4 address; a zone ("%eth0") goes. */
export function unmapAddress(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m ? m[1]! : a.replace(/%.*$/, '');
}

/** The same address, whatever the spelling (case, zero groups, IPv4-mapped); false for anything not an address. */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return canonicalAddress(unmapAddress(a)) === canonicalAddress(unmapAddress(b));
  } catch {
    return false;
  }
}

/** A sortable key for an address: IPv4 sorts before IPv6, then numerically. */
export function addressSortKey(address: string): string {
  let b: Buffer;
  try {
    b = parseAddress(address);
  } catch {
    return `9${address}`;
  }
  return (b.length === 4 ? '4' : '6') + b.toString('hex');
}

/** fe80::/10 (RFC 4291 2.5.6). Accepts text or 16 octets. */
export function isLinkLocalV6(addr: string | Uint8Array): boolean {
  const b = typeof addr === 'string' ? (isIPv6(addr) ? parseAddress(addr) : undefined) : addr;
  if (!b || b.length !== 16) return false;
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

// ---------------------------------------------------------------------------
// Prefixes
// ---------------------------------------------------------------------------

function prefixError(s: string, why: string): Error {
  return new Error(`invalid prefix "${s}": ${why}`);
}

/** Parses "addr/len"; throws Error with the reason (including host bits set). */
export function parsePrefix(s: string): ParsedPrefix {
  if (typeof s !== 'string') throw prefixError(String(s), 'not a string');
  const slash = s.indexOf('/');
  if (slash < 0) throw prefixError(s, 'missing "/length" (write a host as /32 or /128)');
  const lenText = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) throw prefixError(s, `bad length "${lenText}"`);
  const len = Number(lenText);
  const addr = s.slice(0, slash);
  let bytes: Buffer;
  let afi: 1 | 2;
  const v4 = ipv4ToNumber(addr);
  if (v4 >= 0) {
    afi = 1;
    bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32BE(v4, 0);
  } else {
    afi = 2;
    bytes = Buffer.allocUnsafe(16);
    if (!parseIPv6Into(addr, bytes, 0)) throw prefixError(s, `"${addr}" is not an IPv4 or IPv6 address`);
  }
  const max = afi === 1 ? 32 : 128;
  if (len > max) throw prefixError(s, `length ${len} is longer than ${max}`);
  if (!hostBitsClear(bytes, len)) {
    const masked = Buffer.from(bytes);
    maskInPlace(masked, len);
    throw prefixError(s, `host bits set (did you mean ${formatAddress(masked)}/${len}?)`);
  }
  return { afi, bytes, len };
}

function hostBitsClear(b: Uint8Array, len: number): boolean {
  const full = len >> 3;
  const rem = len & 7;
  let i = full;
  if (rem !== 0) {
    if ((b[i]! & (0xff >> rem)) !== 0) return false;
    i++;
  }
  for (; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function maskInPlace(b: Buffer, len: number): void {
  const full = len >> 3;
  const rem = len & 7;
  let i = full;
  if (rem !== 0) {
    b[i] = b[i]! & (0xff << (8 - rem));
    i++;
  }
  b.fill(0, i);
}

/** The canonical text of a prefix; throws Error on invalid input or host bits set. */
export function canonicalPrefix(s: string): string {
  const p = parsePrefix(s);
  return `${formatAddress(p.bytes)}/${p.len}`;
}

/** The family of a prefix or address from its text alone: IPv6 text always holds a colon. */
export function prefixFamily(p: string): Family {
  return p.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
}

export function familyAfi(f: Family): 1 | 2 {
  return f === 'ipv4-unicast' ? 1 : 2;
}

export function afiFamily(afi: number, safi: number): Family | undefined {
  if (safi !== 1) return undefined;
  return afi === 1 ? 'ipv4-unicast' : afi === 2 ? 'ipv6-unicast' : undefined;
}

/** Whether `inner` lies within `outer` (same family, at least as long). */
export function prefixContains(outer: string, inner: string): boolean {
  return contains(parsePrefix(outer), parsePrefix(inner));
}

/** `contains` for prefixes already parsed (the import filter's per-prefix test). */
export function contains(o: ParsedPrefix, i: ParsedPrefix): boolean {
  return o.afi === i.afi && i.len >= o.len && sameLeadingBits(o.bytes, i.bytes, o.len);
}

/** Whether an address lies in the network of an interface address ("192.0.2.5/24": host bits allowed). */
export function addressInNetwork(address: string, cidr: string): boolean {
  const slash = cidr.lastIndexOf('/');
  const len = Number(cidr.slice(slash + 1));
  let a: Buffer;
  let n: Buffer;
  try {
    a = parseAddress(address);
    n = parseAddress(cidr.slice(0, slash));
  } catch {
    return false;
  }
  return slash > 0 && a.length === n.length && Number.isInteger(len) && len <= a.length * 8 && sameLeadingBits(a, n, len);
}

function sameLeadingBits(a: Uint8Array, b: Uint8Array, len: number): boolean {
  const full = len >> 3;
  for (let k = 0; k < full; k++) if (a[k] !== b[k]) return false;
  const rem = len & 7;
  if (rem === 0) return true;
  const mask = 0xff << (8 - rem);
  return ((a[full]! ^ b[full]!) & mask) === 0;
}

// ---------------------------------------------------------------------------
// NLRI (RFC 4271 4.3, RFC 4760 5)
// ---------------------------------------------------------------------------

/** The encoded size of one prefix in NLRI form. */
export function nlriSize(len: number): number {
  return 1 + ((len + 7) >> 3);
}

/**
 * Writes one prefix (text) in NLRI form at `off`; returns the new offset. Fast path for
 * the packer: IPv4 is parsed without allocating.
 */
export function writeNlri(s: string, afi: number, out: Buffer, off: number): number {
  const slash = s.indexOf('/');
  if (afi === 1 && slash > 0) {
    const v4 = ipv4ToNumber(s, 0, slash);
    const len = slash > 0 ? parseLen(s, slash + 1, 32) : -1;
    if (v4 >= 0 && len >= 0) {
      const nb = (len + 7) >> 3;
      const masked = len === 0 ? 0 : (v4 >>> (32 - len)) << (32 - len) >>> 0;
      if (masked !== v4) throw prefixError(s, 'host bits set');
      out[off++] = len;
      for (let k = 0; k < nb; k++) out[off++] = (v4 >>> (24 - 8 * k)) & 0xff;
      return off;
    }
  }
  if (afi === 2 && slash > 0) {
    const len = parseLen(s, slash + 1, 128);
    if (len >= 0 && parseIPv6Into(s, v6Scratch, 0, 0, slash)) {
      if (!hostBitsClear(v6Scratch, len)) throw prefixError(s, 'host bits set');
      out[off++] = len;
      const nb = (len + 7) >> 3;
      for (let k = 0; k < nb; k++) out[off++] = v6Scratch[k]!;
      return off;
    }
  }
  const p = parsePrefix(s);
  if (p.afi !== afi) throw prefixError(s, `not an ${afi === 1 ? 'IPv4' : 'IPv6'} prefix`);
  out[off++] = p.len;
  const nb = (p.len + 7) >> 3;
  p.bytes.copy(out, off, 0, nb);
  return off + nb;
}

const v6Scratch = new Uint8Array(16);

function parseLen(s: string, start: number, max: number): number {
  const n = s.length - start;
  if (n < 1 || n > 3) return -1;
  let v = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  if (n > 1 && s.charCodeAt(start) === 48) return -1;
  return v <= max ? v : -1;
}

/** Encodes prefixes (all of the family of `afi`) as an NLRI field. Throws Error on invalid prefixes. */
export function encodeNlri(prefixes: readonly string[], afi: number): Buffer {
  const out = Buffer.allocUnsafe(prefixes.length * (afi === 1 ? 5 : 17));
  let off = 0;
  for (const p of prefixes) off = writeNlri(p, afi, out, off);
  return out.subarray(0, off);
}

/**
 * Decodes an NLRI field; a malformed one throws BgpNotification with the given
 * code/subcode (default UPDATE Message Error / Invalid Network Field, RFC 4271 6.3).
 */
export function decodeNlri(buf: Buffer, afi: number, start = 0, end = buf.length, subcode = 10, data?: Buffer): string[] {
  if (start >= end) return [];
  return afi === 1 ? decodeNlriV4(buf, start, end, subcode, data) : decodeNlriV6(buf, start, end, subcode, data);
}

function nlriError(len: number, max: number, subcode: number, data?: Buffer): BgpNotification {
  return new BgpNotification(
    3,
    subcode,
    data ?? Buffer.alloc(0),
    len > max ? `NLRI prefix length ${len} exceeds ${max}` : `NLRI prefix /${len} overruns the field`,
  );
}

let textScratch = Buffer.allocUnsafe(65536);

/**
 * IPv4 NLRI to text. The ingest path decodes millions of these, so the dotted quads
 * are written as ASCII into one buffer and split once: far fewer intermediate strings
 * than building each with a template.
 */
function decodeNlriV4(buf: Buffer, start: number, end: number, subcode: number, data?: Buffer): string[] {
  // At most 19 characters per prefix ("255.255.255.255/32\n") and at least 1 octet each.
  const need = (end - start) * 19;
  const t = need <= textScratch.length ? textScratch : (textScratch = Buffer.allocUnsafe(Math.max(need, 2 * textScratch.length)));
  let w = 0;
  let i = start;
  while (i < end) {
    const len = buf[i++]!;
    const nb = (len + 7) >> 3;
    if (len > 32 || i + nb > end) throw nlriError(len, 32, subcode, data);
    // RFC 4271 4.3: trailing bits after the prefix length are irrelevant; mask them.
    const rem = len & 7;
    const lastMask = rem === 0 ? 0xff : (0xff << (8 - rem)) & 0xff;
    for (let k = 0; k < 4; k++) {
      let v = k < nb ? buf[i + k]! : 0;
      if (k === nb - 1) v &= lastMask;
      if (v >= 100) {
        t[w++] = 48 + ((v / 100) | 0);
        t[w++] = 48 + (((v / 10) | 0) % 10);
        t[w++] = 48 + (v % 10);
      } else if (v >= 10) {
        t[w++] = 48 + ((v / 10) | 0);
        t[w++] = 48 + (v % 10);
      } else {
        t[w++] = 48 + v;
      }
      t[w++] = k < 3 ? 46 /* . */ : 47 /* / */;
    }
    if (len >= 10) {
      t[w++] = 48 + ((len / 10) | 0);
      t[w++] = 48 + (len % 10);
    } else {
      t[w++] = 48 + len;
    }
    t[w++] = 10;
    i += nb;
  }
  return t.toString('latin1', 0, w - 1).split('\n');
}

function decodeNlriV6(buf: Buffer, start: number, end: number, subcode: number, data?: Buffer): string[] {
  const out: string[] = [];
  const v6 = Buffer.alloc(16);
  let i = start;
  while (i < end) {
    const len = buf[i++]!;
    const nb = (len + 7) >> 3;
    if (len > 128 || i + nb > end) throw nlriError(len, 128, subcode, data);
    const rem = len & 7;
    v6.fill(0);
    buf.copy(v6, 0, i, i + nb);
    if (nb > 0 && rem !== 0) v6[nb - 1] = v6[nb - 1]! & ((0xff << (8 - rem)) & 0xff);
    out.push(`${formatIPv6(v6)}/${len}`);
    i += nb;
  }
  return out;
}
