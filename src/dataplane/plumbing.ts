/**
 * What an endpoint looks like in the kernel, as data: names, the fixed MAC, the routes,
 * the sysctls. Pure functions, shared by the reconciler and its tests.
 */
import { createHash } from 'node:crypto';
import { formatPrefix, hostPrefix, parseAddress, parsePrefix } from '../net.js';
import { IFNAME_RE } from './container.js';
import { EndpointSpecError } from './errors.js';
import type { NetnsRef, RouteSpec } from './kernel.js';

/**
 * The agent's routing-protocol number (rtm_protocol) on every route it installs, so it
 * finds, repairs and removes exactly its own routes and nothing else. Values up to
 * RTPROT_STATIC (4) mean something to the kernel, and iproute2's rt_protos
 * (/etc/iproute2/rt_protos, /usr/share/iproute2/rt_protos on newer systems) names the
 * numbers routing daemons use (zebra 11, bird 12, dhcp 16, keepalived 18, babel 42,
 * openr 99, bgp 186, isis 187, ospf 188, rip 189, eigrp 192): 88 is none of them.
 * `ip route show proto 88` lists the agent's routes.
 */
export const RTPROT_ROUTECTL = 88;

/**
 * The metric of the routes learned from BGP peers (src/learned), as FRR gives its BGP
 * routes. They carry RTPROT_ROUTECTL too; this metric is what keeps the container
 * reconciler (whose host routes have none: 0, or IPv6's default 1024) off them.
 */
export const LEARNED_METRIC = 20;

/** One of the container side's own routes: protocol 88 and not a learned route. */
export const isContainerRoute = (r: { readonly protocol: number; readonly metric?: number }): boolean =>
  r.protocol === RTPROT_ROUTECTL && r.metric !== LEARNED_METRIC;

/** Every host-side veth name starts with this; nothing else in the worker may. */
export const HOST_IF_PREFIX = 'rtc';

/**
 * One MAC for every host veth. The container only ever talks to its gateway through it,
 * so it need not be unique across veths; being fixed, it makes the host side's IPv6
 * link-local address (EUI-64, RFC 4291 2.5.1) a constant the container can route to.
 */
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
export const HOST_VETH_LINK_LOCAL = 'fe80::ecee:eeff:feee:eeee';

/** The container's IPv4 gateway: link-local, never on the wire, answered by proxy ARP. */
export const GATEWAY_V4 = '169.254.1.1';

export interface EndpointPlumbing {
  readonly id: string;
  readonly hostIfName: string;
  readonly containerNetns: NetnsRef;
  /** the container side's name, usually eth0 (or the CNI ifname) */
  readonly ifName: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** the container side's MAC; random when absent */
  readonly mac?: string;
}

/** `rtc` + the first 11 hex characters of the id (15 = IFNAMSIZ - 1); ids that are not hex are hashed first. */
export function hostIfNameFor(id: string): string {
  const hex = /^[0-9a-fA-F]{11}/.test(id) ? id.toLowerCase() : createHash('sha256').update(id).digest('hex');
  return HOST_IF_PREFIX + hex.slice(0, 11);
}

export function validateEndpoint(e: EndpointPlumbing): void {
  const fail = (msg: string): never => {
    throw new EndpointSpecError(`endpoint ${e.id}: ${msg}`);
  };
  if (!e.id) fail('empty id');
  if (!IFNAME_RE.test(e.hostIfName) || !e.hostIfName.startsWith(HOST_IF_PREFIX)) {
    fail(`hostIfName ${JSON.stringify(e.hostIfName)} must be ${HOST_IF_PREFIX} + up to 12 characters [A-Za-z0-9_.-]`);
  }
  if (!IFNAME_RE.test(e.ifName)) fail(`ifName ${JSON.stringify(e.ifName)} is not an interface name (1-15 of [A-Za-z0-9_.-])`);
  if (e.containerNetns.pid === undefined && e.containerNetns.path === undefined) fail('containerNetns needs a pid or a path');
  if (e.containerNetns.pid !== undefined && !(Number.isInteger(e.containerNetns.pid) && e.containerNetns.pid > 0)) fail('bad pid');
  if (e.ipv4 !== undefined && parseAddress(e.ipv4)?.family !== 4) fail(`ipv4 ${JSON.stringify(e.ipv4)} is not an IPv4 address`);
  if (e.ipv6 !== undefined && parseAddress(e.ipv6)?.family !== 6) fail(`ipv6 ${JSON.stringify(e.ipv6)} is not an IPv6 address`);
  if (e.ipv4 === undefined && e.ipv6 === undefined) fail('neither ipv4 nor ipv6');
  if (e.mac !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(e.mac)) fail(`mac ${JSON.stringify(e.mac)} is not a MAC address`);
}

/** Canonical text, so that desired and kernel routes compare as strings. */
export function canonicalPrefix(text: string): string {
  const p = parsePrefix(text);
  if (p === null) throw new EndpointSpecError(`not a prefix: ${text}`);
  return formatPrefix(p);
}

export function hostRoutes(e: EndpointPlumbing, oif: number): RouteSpec[] {
  const out: RouteSpec[] = [];
  if (e.ipv4 !== undefined) out.push({ family: 4, dst: canonicalPrefix(hostPrefix(e.ipv4)), type: 'unicast', oif });
  if (e.ipv6 !== undefined) out.push({ family: 6, dst: canonicalPrefix(hostPrefix(e.ipv6)), type: 'unicast', oif });
  return out;
}

export function blackholeRoute(prefix: string): RouteSpec {
  const p = parsePrefix(prefix);
  if (p === null) throw new EndpointSpecError(`blackhole: not a prefix: ${prefix}`);
  return { family: p.family, dst: formatPrefix(p), type: 'blackhole' };
}

/** Identity of a route for the diff: a blackhole has no device; a host route's device matters. */
export function routeKey(r: { family: number; type: string; dst: string; oif?: number }): string {
  return r.type === 'unicast' ? `${r.family} ${r.dst} dev ${r.oif ?? '?'}` : `${r.family} ${r.type} ${r.dst}`;
}

/** Worker-namespace sysctls (the agent's own namespace — never the root one in tests). */
export const WORKER_SYSCTLS: readonly (readonly [string, string])[] = [
  ['net/ipv4/ip_forward', '1'],
  ['net/ipv6/conf/all/forwarding', '1'],
];

/**
 * Host-veth sysctls, written while the link is still down:
 * - proxy_arp=1: the host answers the container's ARP for 169.254.1.1 (any address it
 *   has a route to) with the veth's MAC; proxy_delay=0 answers at once instead of after
 *   a random delay of up to 0.8 s (the default proxy_delay).
 * - IPv6: the host is the router, so no router advertisements are accepted (accept_ra=0),
 *   and DAD is skipped for its link-local (accept_dad=0) so that address answers neighbour
 *   solicitations as soon as the link is up rather than ~1 s later.
 */
export function hostSysctls(e: EndpointPlumbing): [string, string][] {
  const i = e.hostIfName;
  const out: [string, string][] = [
    [`net/ipv4/conf/${i}/proxy_arp`, '1'],
    [`net/ipv4/neigh/${i}/proxy_delay`, '0'],
  ];
  if (e.ipv6 !== undefined) {
    out.push([`net/ipv6/conf/${i}/disable_ipv6`, '0'], [`net/ipv6/conf/${i}/accept_ra`, '0'], [`net/ipv6/conf/${i}/accept_dad`, '0']);
  }
  return out;
}
