/**
 * rtnetlink bodies for learned routes: one route per prefix with one next hop
 * (RTA_GATEWAY, RTA_OIF) or several (RTA_MULTIPATH, a list of struct rtnexthop each
 * followed by its own RTA_GATEWAY; include/uapi/linux/rtnetlink.h). The kernel spreads
 * flows over a multipath route's next hops (ECMP). Pure: Buffer in, Buffer out.
 *
 * An IPv4 route with an IPv6 next hop (RFC 8950, unnumbered peers) has RTA_VIA (a
 * struct rtvia: the next hop's family, then its address) in place of RTA_GATEWAY, as
 * `ip route add 0.0.0.0/0 via inet6 fe80::1 dev eth1` sends it (Linux 5.2 and later).
 *
 * Learned routes carry the agent's protocol number like the container host routes, and
 * in addition their own metric (RTA_PRIORITY, LEARNED_METRIC): the container /32s have
 * none (metric 0), so the two sets never mix and each reconciler finds exactly its own.
 */
import { addressBytes, attr, bytesToAddress, AF_INET, AF_INET6 } from '../dataplane/netlink/codec.js';

import { LEARNED_METRIC } from '../dataplane/plumbing.js';

/** FRR installs BGP routes with metric 20; so do we (a distinct metric is also what marks them ours). */
export { LEARNED_METRIC };

const RTN_UNICAST = 1;
const RT_SCOPE_UNIVERSE = 0;
const RT_TABLE_COMPAT = 252;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
const RTA_VIA = 18;

export interface KernelNextHop {
  readonly gateway: string;
  /** Interface index; 0: let the kernel find it from the gateway (on-link global next hops). */
  readonly ifindex: number;
}

export interface LearnedKernelRoute {
  readonly family: 4 | 6;
  readonly dst: string;
  readonly table: number;
  readonly metric: number;
  readonly nextHops: readonly KernelNextHop[];
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};

function rtmsg(family: 4 | 6, len: number, table: number, protocol: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = family === 4 ? AF_INET : AF_INET6;
  b[1] = len;
  // Tables above 255 go in RTA_TABLE only (the header byte says "see the attribute").
  b[4] = table < 256 ? table : RT_TABLE_COMPAT;
  b[5] = protocol;
  b[6] = RT_SCOPE_UNIVERSE;
  b[7] = RTN_UNICAST;
  return b;
}

function head(r: Pick<LearnedKernelRoute, 'family' | 'dst' | 'table' | 'metric'>, protocol: number): Buffer[] {
  const slash = r.dst.indexOf('/');
  const len = Number(r.dst.slice(slash + 1));
  const parts = [rtmsg(r.family, len, r.table, protocol), attr(RTA_TABLE, u32(r.table)), attr(RTA_PRIORITY, u32(r.metric))];
  if (len > 0) parts.push(attr(RTA_DST, addressBytes(r.dst.slice(0, slash))));
  return parts;
}

/** RTA_GATEWAY for a next hop of the route's own family, else RTA_VIA (struct rtvia: u16 family, address). */
function gatewayAttr(family: 4 | 6, gateway: string): Buffer {
  const a = addressBytes(gateway);
  if ((a.length === 4) === (family === 4)) return attr(RTA_GATEWAY, a);
  const via = Buffer.alloc(2 + a.length);
  via.writeUInt16LE(a.length === 16 ? AF_INET6 : AF_INET, 0);
  a.copy(via, 2);
  return attr(RTA_VIA, via);
}

function viaAddress(v: Buffer): string | undefined {
  if (v.length < 2) return undefined;
  const fam = v.readUInt16LE(0);
  const a = v.subarray(2);
  if ((fam === AF_INET6 && a.length === 16) || (fam === AF_INET && a.length === 4)) return bytesToAddress(a);
  return undefined;
}

/** struct rtnexthop: u16 len, u8 flags, u8 hops (weight - 1), s32 ifindex, then attributes. */
function rtnexthop(family: 4 | 6, nh: KernelNextHop): Buffer {
  const gw = gatewayAttr(family, nh.gateway);
  const b = Buffer.alloc(8);
  b.writeUInt16LE(8 + gw.length, 0);
  b.writeInt32LE(nh.ifindex, 4);
  return Buffer.concat([b, gw]);
}

/** RTM_NEWROUTE body (sent with NLM_F_CREATE | NLM_F_REPLACE: the whole next-hop set at once). */
export function encodeLearnedRoute(r: LearnedKernelRoute, protocol: number): Buffer {
  const parts = head(r, protocol);
  if (r.nextHops.length === 1) {
    const nh = r.nextHops[0]!;
    parts.push(gatewayAttr(r.family, nh.gateway));
    if (nh.ifindex > 0) parts.push(attr(RTA_OIF, u32(nh.ifindex)));
  } else {
    parts.push(attr(RTA_MULTIPATH, Buffer.concat(r.nextHops.map((nh) => rtnexthop(r.family, nh)))));
  }
  return Buffer.concat(parts);
}

/** RTM_DELROUTE body: prefix, table, protocol and metric match only our route (all its next hops). */
export function encodeLearnedDelete(r: Pick<LearnedKernelRoute, 'family' | 'dst' | 'table' | 'metric'>, protocol: number): Buffer {
  return Buffer.concat(head(r, protocol));
}

/** A route from a dump, with what identifies ours; undefined for non-unicast or unknown families. */
export interface DumpedRoute extends LearnedKernelRoute {
  readonly protocol: number;
}

function* attrs(data: Buffer, start: number, end: number): Generator<[number, Buffer]> {
  for (let o = start; o + 4 <= end; ) {
    const len = data.readUInt16LE(o);
    if (len < 4 || o + len > end) return;
    yield [data.readUInt16LE(o + 2) & 0x3fff, data.subarray(o + 4, o + len)];
    o += (len + 3) & ~3;
  }
}

/**
 * Parses an RTM_NEWROUTE body with its next hops; IPv6 multipath routes come as one
 * message per next hop in dumps (older kernels) or one with RTA_MULTIPATH: the caller
 * merges by (table, dst, metric).
 */
export function decodeLearnedRoute(data: Buffer): DumpedRoute | undefined {
  if (data.length < 12) return undefined;
  const family = data[0] === AF_INET ? 4 : data[0] === AF_INET6 ? 6 : undefined;
  if (family === undefined || data[7] !== RTN_UNICAST) return undefined;
  const len = data[1]!;
  let table = data[4]!;
  const protocol = data[5]!;
  let dst: string | undefined;
  let metric = 0;
  let gateway: string | undefined;
  let oif = 0;
  const hops: KernelNextHop[] = [];
  for (const [t, v] of attrs(data, 12, data.length)) {
    if (t === RTA_DST) dst = bytesToAddress(v);
    else if (t === RTA_TABLE && v.length >= 4) table = v.readUInt32LE(0);
    else if (t === RTA_PRIORITY && v.length >= 4) metric = v.readUInt32LE(0);
    else if (t === RTA_GATEWAY) gateway = bytesToAddress(v);
    else if (t === RTA_VIA) gateway = viaAddress(v) ?? gateway;
    else if (t === RTA_OIF && v.length >= 4) oif = v.readUInt32LE(0);
    else if (t === RTA_MULTIPATH) {
      for (let o = 0; o + 8 <= v.length; ) {
        const l = v.readUInt16LE(o);
        if (l < 8 || o + l > v.length) break;
        const ifindex = v.readInt32LE(o + 4);
        let gw: string | undefined;
        for (const [at, av] of attrs(v, o + 8, o + l)) {
          if (at === RTA_GATEWAY) gw = bytesToAddress(av);
          else if (at === RTA_VIA) gw = viaAddress(av) ?? gw;
        }
        if (gw !== undefined) hops.push({ gateway: gw, ifindex });
        o += (l + 3) & ~3;
      }
    }
  }
  if (gateway !== undefined) hops.push({ gateway, ifindex: oif });
  dst ??= family === 4 ? '0.0.0.0' : '::';
  return { family, dst: `${dst}/${len}`, table, metric, protocol, nextHops: hops };
}
