/**
 * The benchmark prefixes: IPv4 /32s counted up from 198.18.0.0 (RFC 2544 benchmarking
 * range, 2^17 addresses) and IPv6 /128s counted up from 2001:db8:1000:: (RFC 3849
 * documentation range). bench/bgp-advertise/gobgp-load/main.go generates the same ones.
 */

/** 198.18.0.0/15 holds 2^17 addresses. */
export const MAX_V4 = 1 << 17;
/** The /128s stay inside 2001:db8:1000::/96 (the counter fills the last 32 bits). */
export const MAX_V6 = 2 ** 32;

const V4_BASE = 0xc6120000; // 198.18.0.0

export function v4Address(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_V4) throw new RangeError(`IPv4 index ${i} outside 198.18.0.0/15`);
  const n = V4_BASE + i;
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function v6Address(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_V6) throw new RangeError(`IPv6 index ${i} outside 2001:db8:1000::/96`);
  const hi = Math.floor(i / 0x10000);
  const lo = i % 0x10000;
  // RFC 5952 form, the same text Go's net.IP.String() and the RIBs print.
  if (hi === 0) return lo === 0 ? '2001:db8:1000::' : `2001:db8:1000::${lo.toString(16)}`;
  return `2001:db8:1000::${hi.toString(16)}:${lo.toString(16)}`;
}

/** `n4` IPv4 /32 then `n6` IPv6 /128 prefixes, as text. */
export function benchPrefixes(n4: number, n6: number): string[] {
  if (n4 > MAX_V4) throw new RangeError(`at most ${MAX_V4} IPv4 /32s fit in 198.18.0.0/15`);
  const out = new Array<string>(n4 + n6);
  for (let i = 0; i < n4; i++) out[i] = `${v4Address(i)}/32`;
  for (let i = 0; i < n6; i++) out[n4 + i] = `${v6Address(i)}/128`;
  return out;
}
