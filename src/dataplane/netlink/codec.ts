/**
 * rtnetlink message bodies for the few objects the dataplane writes: routes, veth pairs,
 * link state. Layouts are the kernel's uapi structs (include/uapi/linux/rtnetlink.h,
 * if_link.h, veth.h); route messages are encoded by hand because they are the hot path
 * (tens of thousands per second), links go through the same small TLV writer.
 */
import { formatAddress, parseAddress } from '../../net.js';
import type { Family, KernelRoute, RouteSpec, RouteType } from '../kernel.js';

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWADDR = 20;
export const RTM_SETNEIGHTBL = 67;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

// rtmsg fields
const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
const RTN_BLACKHOLE = 6;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;
// route attributes
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_TABLE = 15;
// link attributes
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_NUM_TX_QUEUES = 31;
const IFLA_NUM_RX_QUEUES = 32;
const IFLA_LINK = 5;
const IFLA_LINK_NETNSID = 37;
const IFLA_TARGET_NETNSID = 46;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFF_UP = 0x1;
// per-family link settings (if_link.h): IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { devconf } }, AF_INET6 { ... } }
const IFLA_AF_SPEC = 26;
const IFLA_INET_CONF = 1;
const IPV4_DEVCONF_PROXY_ARP = 3;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
// neighbour table parameters (neighbour.h)
const NDTA_NAME = 1;
const NDTA_PARMS = 6;
const NDTPA_IFINDEX = 1;
const NDTPA_PROXY_DELAY = 13;
// addresses (if_addr.h)
const IFA_ADDRESS = 1;
const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;

const align4 = (n: number): number => (n + 3) & ~3;

/** One rtattr (or nlattr, the same layout): u16 len, u16 type, value, padded to 4. */
export function attr(type: number, value: Uint8Array): Buffer {
  const b = Buffer.alloc(align4(4 + value.length));
  b.writeUInt16LE(4 + value.length, 0);
  b.writeUInt16LE(type, 2);
  b.set(value, 4);
  return b;
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
export const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'latin1');

export function addressBytes(text: string): Buffer {
  // Fast path for dotted quads: route programming encodes tens of thousands per second.
  const q = text.split('.');
  if (q.length === 4) {
    const b = Buffer.allocUnsafe(4);
    for (let i = 0; i < 4; i++) {
      const p = q[i]!;
      const n = Number(p);
      if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || n > 255) throw new RangeError(`not an address: ${text}`);
      b[i] = n;
    }
    return b;
  }
  const a = parseAddress(text);
  if (a === null) throw new RangeError(`not an address: ${text}`);
  const n = a.family === 4 ? 4 : 16;
  const b = Buffer.alloc(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

export function bytesToAddress(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return formatAddress(6, v);
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`not a MAC: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** struct rtmsg + RTA_TABLE/RTA_DST/RTA_OIF, for RTM_NEWROUTE and RTM_DELROUTE. */
export function encodeRoute(r: RouteSpec, protocol: number): Buffer {
  const slash = r.dst.indexOf('/');
  const dst = addressBytes(r.dst.slice(0, slash));
  const len = Number(r.dst.slice(slash + 1));
  const withOif = r.type === 'unicast' && r.oif !== undefined;
  const b = Buffer.alloc(12 + 8 + 4 + dst.length + (withOif ? 8 : 0));
  b[0] = r.family === 4 ? AF_INET : AF_INET6;
  b[1] = len;
  b[4] = RT_TABLE_MAIN;
  b[5] = protocol;
  // On-link host route: scope link for IPv4 (`ip route add X dev Y scope link`); a
  // blackhole is scope universe; IPv6 ignores scope.
  b[6] = r.type === 'unicast' && r.family === 4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  b[7] = r.type === 'blackhole' ? RTN_BLACKHOLE : RTN_UNICAST;
  let o = 12;
  b.writeUInt16LE(8, o);
  b.writeUInt16LE(RTA_TABLE, o + 2);
  b.writeUInt32LE(RT_TABLE_MAIN, o + 4);
  o += 8;
  b.writeUInt16LE(4 + dst.length, o);
  b.writeUInt16LE(RTA_DST, o + 2);
  b.set(dst, o + 4);
  o += 4 + dst.length;
  if (withOif) {
    b.writeUInt16LE(8, o);
    b.writeUInt16LE(RTA_OIF, o + 2);
    b.writeUInt32LE(r.oif!, o + 4);
  }
  return b;
}

export function encodeRouteDumpRequest(): Buffer {
  return Buffer.alloc(12); // rtmsg, family AF_UNSPEC: both families
}

/** Parses an RTM_NEWROUTE/RTM_DELROUTE body; undefined for routes outside the main table or of other types. */
export function decodeRoute(data: Buffer): KernelRoute | undefined {
  if (data.length < 12) return undefined;
  const familyByte = data[0];
  const family: Family | undefined = familyByte === AF_INET ? 4 : familyByte === AF_INET6 ? 6 : undefined;
  if (family === undefined) return undefined;
  const dstLen = data[1]!;
  let table = data[4]!;
  const protocol = data[5]!;
  const scopeByte = data[6]!;
  const typeByte = data[7]!;
  const type: RouteType | undefined = typeByte === RTN_UNICAST ? 'unicast' : typeByte === RTN_BLACKHOLE ? 'blackhole' : undefined;
  let dst: string | undefined;
  let oif: number | undefined;
  let gateway: string | undefined;
  let metric: number | undefined;
  for (let o = 12; o + 4 <= data.length; ) {
    const len = data.readUInt16LE(o);
    const t = data.readUInt16LE(o + 2) & 0x3fff;
    if (len < 4) break;
    const v = data.subarray(o + 4, o + len);
    if (t === RTA_DST) dst = bytesToAddress(v);
    else if (t === RTA_OIF && v.length >= 4) oif = v.readUInt32LE(0);
    else if (t === RTA_TABLE && v.length >= 4) table = v.readUInt32LE(0);
    else if (t === RTA_GATEWAY) gateway = bytesToAddress(v);
    else if (t === RTA_PRIORITY && v.length >= 4) metric = v.readUInt32LE(0);
    o += align4(len);
  }
  if (type === undefined || table !== RT_TABLE_MAIN) return undefined;
  dst ??= family === 4 ? '0.0.0.0' : '::';
  const scope = scopeByte === RT_SCOPE_LINK ? 'link' : scopeByte === RT_SCOPE_UNIVERSE ? 'universe' : scopeByte === RT_SCOPE_HOST ? 'host' : 'other';
  const route: { -readonly [K in keyof KernelRoute]: KernelRoute[K] } = { family, dst: `${dst}/${dstLen}`, type, protocol, scope };
  if (oif !== undefined) route.oif = oif;
  if (gateway !== undefined) route.gateway = gateway;
  if (metric !== undefined) route.metric = metric;
  return route;
}

/** struct ifinfomsg (16 bytes). */
function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/**
 * RTM_NEWLINK for a veth pair. IFLA_LINKINFO { KIND "veth", DATA { VETH_INFO_PEER:
 * ifinfomsg + the peer's own attributes } } (drivers/net/veth.c veth_newlink). The peer's
 * IFLA_NET_NS_FD makes the kernel create it straight inside the container's namespace,
 * so it never appears in ours and its name (eth0) cannot clash with a worker link.
 *
 * One TX and one RX queue for each end, asked for at creation (`ip link add … numtxqueues
 * 1 numrxqueues 1`). Without them the kernel gives each end one queue per possible CPU
 * and then, still inside the request, cuts them down to one: shrinking the TX queues
 * waits for an expedited RCU grace period (netif_set_real_num_tx_queues → synchronize_net),
 * once per end, while it holds the rtnl lock. During a burst of container start-ups,
 * whose mounts wait for the same grace periods, that made each creation hold the lock for
 * milliseconds (370 ms in all for 100 containers, up to 32 ms for one end), and every other
 * netlink request on the host waited behind it.
 */
export function encodeNewVeth(spec: {
  hostName: string;
  hostMac: string;
  peerName: string;
  peerMac?: string;
  peerNetnsFd: number;
}): Buffer {
  const queues = [attr(IFLA_NUM_TX_QUEUES, u32(1)), attr(IFLA_NUM_RX_QUEUES, u32(1))];
  const peerAttrs = [attr(IFLA_IFNAME, cstr(spec.peerName)), attr(IFLA_NET_NS_FD, u32(spec.peerNetnsFd)), ...queues];
  if (spec.peerMac !== undefined) peerAttrs.push(attr(IFLA_ADDRESS, macBytes(spec.peerMac)));
  const peer = attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(0), ...peerAttrs]));
  const linkinfo = attr(IFLA_LINKINFO, Buffer.concat([attr(IFLA_INFO_KIND, cstr('veth')), attr(IFLA_INFO_DATA, peer)]));
  return Buffer.concat([
    ifinfomsg(0),
    attr(IFLA_IFNAME, cstr(spec.hostName)),
    attr(IFLA_ADDRESS, macBytes(spec.hostMac)),
    ...queues,
    linkinfo,
  ]);
}

export function encodeLinkUp(index: number): Buffer {
  return ifinfomsg(index, IFF_UP, IFF_UP);
}

/**
 * RTM_NEWLINK (as setlink) on an existing link: proxy ARP on, and for IPv6 no automatic
 * link-local address (the caller adds its fixed one without DAD). Sent while the link is
 * still down: the kernel applies IFLA_AF_SPEC after a flags change in the same message,
 * so "up" must come in a later one or the link-local would be generated first.
 */
export function encodeHostLinkSettings(index: number, opts: { ipv6: boolean }): Buffer {
  const inet = attr(AF_INET, attr(IFLA_INET_CONF, attr(IPV4_DEVCONF_PROXY_ARP, u32(1))));
  const parts = [inet];
  if (opts.ipv6) parts.push(attr(AF_INET6, attr(IFLA_INET6_ADDR_GEN_MODE, Buffer.from([IN6_ADDR_GEN_MODE_NONE]))));
  return Buffer.concat([ifinfomsg(index), attr(IFLA_AF_SPEC, Buffer.concat(parts))]);
}

/** RTM_SETNEIGHTBL: the ARP table's proxy_delay (ms) for one interface (neightbl_set). */
export function encodeProxyDelay(index: number, delayMs: number): Buffer {
  const ndtmsg = Buffer.alloc(4);
  ndtmsg[0] = AF_INET;
  const delay = Buffer.alloc(8);
  delay.writeBigUInt64LE(BigInt(delayMs));
  const parms = attr(NDTA_PARMS, Buffer.concat([attr(NDTPA_IFINDEX, u32(index)), attr(NDTPA_PROXY_DELAY, delay)]));
  return Buffer.concat([ndtmsg, attr(NDTA_NAME, cstr('arp_cache')), parms]);
}

/** RTM_NEWADDR: struct ifaddrmsg + IFA_ADDRESS + IFA_FLAGS. */
export function encodeAddress(a: { index: number; family: Family; address: string; prefixLength: number; scope: 'link' | 'universe'; flags: number }): Buffer {
  const m = Buffer.alloc(8);
  m[0] = a.family === 4 ? AF_INET : AF_INET6;
  m[1] = a.prefixLength;
  m[2] = a.flags & 0xff;
  m[3] = a.scope === 'link' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  m.writeUInt32LE(a.index, 4);
  return Buffer.concat([m, attr(IFA_ADDRESS, addressBytes(a.address)), attr(IFA_FLAGS, u32(a.flags))]);
}

export function encodeLinkIndex(index: number): Buffer {
  return ifinfomsg(index);
}

/** RTM_GETLINK by name (ifindex 0 + IFLA_IFNAME). */
export function encodeLinkByName(name: string): Buffer {
  return Buffer.concat([ifinfomsg(0), attr(IFLA_IFNAME, cstr(name))]);
}

/**
 * RTM_GETLINK by index; with `netnsId`, of the link with that index in the namespace the
 * requester knows by that id (IFLA_TARGET_NETNSID: a veth's peer, by its IFLA_LINK and
 * IFLA_LINK_NETNSID).
 */
export function encodeGetLink(index: number, netnsId?: number): Buffer {
  if (netnsId === undefined) return ifinfomsg(index);
  const id = Buffer.alloc(4);
  id.writeInt32LE(netnsId);
  return Buffer.concat([ifinfomsg(index), attr(IFLA_TARGET_NETNSID, id)]);
}

export function encodeLinkDumpRequest(): Buffer {
  return ifinfomsg(0);
}

/** A veth's other end, as its link message names it: index and namespace id. */
export interface LinkPeer {
  readonly index: number;
  /** The peer's namespace as this one knows it (IFLA_LINK_NETNSID); absent when it is this one. */
  readonly netnsId?: number;
}

/** Parses RTM_NEWLINK/RTM_DELLINK: index, name, MAC, up, and the link's peer (IFLA_LINK) if any. */
export function decodeLink(data: Buffer): { index: number; name: string; mac?: string; up: boolean; peer?: LinkPeer } | undefined {
  if (data.length < 16) return undefined;
  const index = data.readInt32LE(4);
  const flags = data.readUInt32LE(8);
  let name: string | undefined;
  let mac: string | undefined;
  let peerIndex: number | undefined;
  let peerNetnsId: number | undefined;
  for (let o = 16; o + 4 <= data.length; ) {
    const len = data.readUInt16LE(o);
    const t = data.readUInt16LE(o + 2) & 0x3fff;
    if (len < 4) break;
    const v = data.subarray(o + 4, o + len);
    if (t === IFLA_IFNAME) name = v.toString('latin1').replace(/\0.*$/s, '');
    else if (t === IFLA_ADDRESS && v.length === 6) mac = formatMac(v);
    else if (t === IFLA_LINK && v.length >= 4) peerIndex = v.readUInt32LE(0);
    else if (t === IFLA_LINK_NETNSID && v.length >= 4) peerNetnsId = v.readInt32LE(0);
    o += align4(len);
  }
  if (name === undefined) return undefined;
  const up = (flags & IFF_UP) !== 0;
  // IFLA_LINK is the link's own index for links without a peer.
  const peer = peerIndex !== undefined && (peerIndex !== index || peerNetnsId !== undefined) && peerIndex > 0
    ? { index: peerIndex, ...(peerNetnsId !== undefined && peerNetnsId >= 0 ? { netnsId: peerNetnsId } : {}) }
    : undefined;
  return { index, name, ...(mac === undefined ? {} : { mac }), up, ...(peer ? { peer } : {}) };
}
