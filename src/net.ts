/**
 * The agent's address and prefix library: strict IPv4/IPv6 text to numbers and back to
 * one canonical spelling (IPv4 dotted quad; IPv6 per RFC 5952), containment and overlap,
 * and the host prefix (/32, /128) of an address. The config checks, IPAM, the
 * dataplane, the endpoint controller, verify and the API all use this one module.
 *
 * Both families are held as bigint so one set of arithmetic serves both. The text forms
 * themselves are parsed and printed by policy/cidr.ts, the one place that does it for
 * the config, the dataplane and the zone policy alike.
 */
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../policy/cidr.js';

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

/** Parses an IPv4 or IPv6 address; null when it is neither. */
export function parseAddress(s: string): ParsedAddress | null {
  if (s.includes(':')) {
    const v = parseIpv6(s);
    return v === undefined ? null : { family: 6, value: v };
  }
  const v = parseIpv4(s);
  return v === undefined ? null : { family: 4, value: v };
}

/** Canonical text: dotted quad; IPv6 per RFC 5952 (lowercase, longest zero run as ::). */
export function formatAddress(family: IpFamily, value: bigint): string {
  return family === 4 ? formatIpv4(value) : formatIpv6(value);
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

/**
 * 4 or 6 from text already known to be an address (an IPv6 address always holds a ':');
 * parseAddress is the check for text from outside.
 */
export const familyOf = (address: string): IpFamily => (address.includes(':') ? 6 : 4);

/** An address's host prefix, `<address>/32` or `/128`, spelt as the address is. */
export const hostPrefix = (address: string): string => `${address}/${maxLength(familyOf(address))}`;

/** The canonical host prefix of an address, or null when the text is not one. */
export function canonicalHostPrefix(address: string): string | null {
  const a = parseAddress(address);
  return a === null ? null : formatPrefix({ family: a.family, value: a.value, length: maxLength(a.family) });
}

/** True when address `a` lies in prefix `block` (false when either text is not valid). */
export function addressInPrefix(a: string, block: string): boolean {
  const outer = parsePrefix(block);
  const inner = parseAddress(a);
  return outer !== null && inner !== null && prefixContains(outer, { ...inner, length: maxLength(inner.family) });
}
