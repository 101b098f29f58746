// policy/cidr.ts — IPv4/IPv6 addresses and prefixes as bigints: parse, canonical text,
// containment and overlap. The policy model classifies packets by address alone, so
// zone ranges must be exact (canonical, no host bits) and must not overlap. Its address
// parsers and printers are also the config's (src/config/net.ts).
// Pure; no Node APIs beyond what the language gives.

export type Family = 4 | 6;

/** A parsed prefix: network address as an integer, its length and family. */
export interface Cidr {
  readonly family: Family;
  readonly addr: bigint;
  readonly len: number;
}

const V4_BITS = 32;
const V6_BITS = 128;

export function familyBits(f: Family): number {
  return f === 4 ? V4_BITS : V6_BITS;
}

/** Parses a dotted-quad IPv4 address; undefined when malformed (no leading zeros, 0–255). */
export function parseIpv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

/** Parses an IPv6 address (RFC 4291 2.2 text forms, including an embedded IPv4 tail). */
export function parseIpv6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45 || s.includes('%')) return undefined;
  const dbl = s.split('::');
  if (dbl.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i] ?? '';
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseIpv4(it);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(dbl[0] ?? '');
  const tail = dbl.length === 2 ? groups(dbl[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  let all: number[];
  if (dbl.length === 2) {
    const missing = 8 - head.length - tail.length;
    // RFC 4291 2.2: "::" stands for one or more groups of zeros.
    if (missing < 1) return undefined;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    all = head;
  }
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parses either family; undefined when it is neither. */
export function parseIp(s: string): { family: Family; addr: bigint } | undefined {
  if (s.includes(':')) {
    const a = parseIpv6(s);
    return a === undefined ? undefined : { family: 6, addr: a };
  }
  const a = parseIpv4(s);
  return a === undefined ? undefined : { family: 4, addr: a };
}

export function formatIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
}

/** RFC 5952 4: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as "::", first on ties. */
export function formatIpv6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  // RFC 5952 4.2.2: a single zero group is not shortened.
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(family: Family, addr: bigint): string {
  return family === 4 ? formatIpv4(addr) : formatIpv6(addr);
}

function hostMask(family: Family, len: number): bigint {
  return (1n << BigInt(familyBits(family) - len)) - 1n;
}

/** Result of parsing prefix text: the prefix, or why it is not acceptable and the canonical form to use. */
export type CidrParse =
  | { readonly ok: true; readonly cidr: Cidr; readonly canonical: string }
  | { readonly ok: false; readonly message: string; readonly fix: string };

/**
 * Parses "a.b.c.d/n" or "x::/n". Rejects host bits and non-canonical text, and says
 * which canonical prefix to write instead, so a config error can name the fix.
 */
export function parseCidr(s: string): CidrParse {
  const slash = s.indexOf('/');
  if (slash < 0) {
    const ip = parseIp(s);
    if (ip === undefined) return { ok: false, message: `"${s}" is not an IPv4 or IPv6 prefix`, fix: 'write a prefix such as 198.51.100.0/26 or 2001:db8:c:1::/64' };
    const full = `${formatIp(ip.family, ip.addr)}/${familyBits(ip.family)}`;
    return { ok: false, message: `"${s}" has no prefix length`, fix: `write "${full}" for a single address` };
  }
  const ip = parseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === undefined) return { ok: false, message: `"${s}" is not an IPv4 or IPv6 prefix`, fix: 'write a prefix such as 198.51.100.0/26 or 2001:db8:c:1::/64' };
  const bits = familyBits(ip.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > bits) {
    return { ok: false, message: `"${s}" has an invalid prefix length`, fix: `use a length from 0 to ${bits}` };
  }
  const len = Number(lenText);
  const net = ip.addr & ~hostMask(ip.family, len);
  const canonical = `${formatIp(ip.family, net)}/${len}`;
  if (net !== ip.addr) {
    return { ok: false, message: `"${s}" has host bits set`, fix: `write "${canonical}"` };
  }
  if (canonical !== s) {
    return { ok: false, message: `"${s}" is not in canonical form`, fix: `write "${canonical}"` };
  }
  return { ok: true, cidr: { family: ip.family, addr: net, len }, canonical };
}

/** Parses a prefix that is known to be valid (e.g. after model validation); throws otherwise. */
export function mustCidr(s: string): Cidr {
  const p = parseCidr(s);
  if (!p.ok) throw new RangeError(`${p.message}: ${p.fix}`);
  return p.cidr;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.addr)}/${c.len}`;
}

/** True when address `addr` of `family` lies inside `c`. */
export function cidrContainsAddr(c: Cidr, family: Family, addr: bigint): boolean {
  return c.family === family && (addr & ~hostMask(family, c.len)) === c.addr;
}

/** True when `inner` lies entirely inside `outer` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.len >= outer.len && cidrContainsAddr(outer, inner.family, inner.addr);
}

/** Two prefixes overlap exactly when one contains the other. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/**
 * The IPv6 link-local address the kernel gives an interface with this MAC (addr_gen_mode
 * eui64, the default): fe80::/64 plus the modified EUI-64 interface identifier (RFC 4291
 * 2.5.1 and appendix A: ff:fe in the middle, the universal/local bit inverted).
 * Undefined for text that is not a MAC.
 */
export function linkLocalFromMac(mac: string): string | undefined {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) return undefined;
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const eui = [(b[0] ?? 0) ^ 0x02, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0];
  let iid = 0n;
  for (const x of eui) iid = (iid << 8n) | BigInt(x);
  const v = (0xfe80n << 112n) | iid;
  return formatIpv6(v);
}
