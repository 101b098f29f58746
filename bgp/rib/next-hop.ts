/**
 * Next hops we advertise (docs/design.md: the worker's session address).
 *
 * IPv4 routes: the session's local IPv4 address; over an IPv6 session, an IPv4 address
 * of the interface that holds the local address, else an IPv6 next hop when the peer
 * negotiated extended next hop (RFC 8950 4).
 * IPv6 routes: a global IPv6 address (the local address itself on an IPv6 session, else
 * one on the same interface) plus the interface's link-local address as a second next
 * hop when the peer is on that link (RFC 2545 3). With no global address on an IPv4
 * session, the IPv4-mapped address (RFC 4291 2.5.5.2) stands in, as FRR does.
 *
 * The interface lookup is injected; the default, os.networkInterfaces(), reads the
 * network namespace the process runs in.
 */
import os from 'node:os';
import type { Family } from '../wire/types.js';
import { addressInNetwork, isLinkLocalV6, prefixFamily, sameAddress, unmapAddress } from '../wire/prefix.js';

export type InterfaceLookup = () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;

export interface NextHopQuery {
  readonly family: Family;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** RFC 8950 negotiated for IPv4 unicast (IPv6 next hop allowed). */
  readonly extendedNextHopV4: boolean;
}

export type NextHopResult = { readonly nextHops: readonly string[] } | { readonly error: string };

const isV6 = (a: string): boolean => prefixFamily(a) === 'ipv6-unicast';

function onLink(remote: string, addrs: readonly os.NetworkInterfaceInfo[]): boolean {
  return isLinkLocalV6(remote) || addrs.some((a) => a.cidr !== null && addressInNetwork(remote, a.cidr));
}

function v6NextHops(
  local: string,
  remote: string,
  addrs: readonly os.NetworkInterfaceInfo[],
): NextHopResult {
  const ll = addrs.find((a) => a.family === 'IPv6' && isLinkLocalV6(a.address))?.address;
  let global: string | undefined;
  if (isV6(local) && !isLinkLocalV6(local)) global = local;
  else global = addrs.find((a) => a.family === 'IPv6' && !isLinkLocalV6(a.address))?.address;
  if (!global) {
    if (!isV6(local)) global = `::ffff:${local}`;
    else if (ll) return { nextHops: [ll] };
    else return { error: `no IPv6 address to use as next hop for ${local}` };
  }
  return { nextHops: ll && onLink(remote, addrs) ? [global, ll] : [global] };
}

export function nextHopsFor(q: NextHopQuery, lookup: InterfaceLookup = os.networkInterfaces): NextHopResult {
  const local = unmapAddress(q.localAddress);
  const remote = unmapAddress(q.remoteAddress);
  const ifaces = lookup();
  let addrs: readonly os.NetworkInterfaceInfo[] = [];
  // A link-local session address names its interface (the zone): the same link-local
  // address may sit on several interfaces, so the zone decides, not the first match.
  const zone = /%(.+)$/.exec(q.localAddress)?.[1];
  const zoned = zone !== undefined ? ifaces[zone] : undefined;
  if (zoned) addrs = zoned;
  else for (const list of Object.values(ifaces)) {
    if (list?.some((a) => sameAddress(a.address, local))) {
      addrs = list;
      break;
    }
  }
  if (q.family === 'ipv4-unicast') {
    if (!isV6(local)) return { nextHops: [local] };
    const v4 = addrs.find((a) => a.family === 'IPv4')?.address;
    if (v4) return { nextHops: [v4] };
    if (q.extendedNextHopV4) return v6NextHops(local, remote, addrs);
    return {
      error: `no IPv4 address on the interface of ${local} for an IPv4 next hop, and the peer did not negotiate extended next hop (RFC 8950)`,
    };
  }
  return v6NextHops(local, remote, addrs);
}
