/**
 * What the zone policy protects on the worker itself, derived from the agent's config
 * and the worker's interfaces: the worker's own addresses (os.networkInterfaces(), read
 * in the agent's network namespace, loopback and link-local left out) and the ports that
 * containers must never reach — the BGP listen port, the BFD ports and the metrics port.
 * The control API is a unix socket: no network packet can reach it, so it needs no port
 * rule. And the fabric's control plane: the configured BGP peers, which containers may not
 * reach on BGP and BFD ports unless `policy.openControlPlane` says so (docs/security.md).
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { FABRIC_PORTS, type HostPolicy } from '../../policy/compiler.js';
import type { Config } from '../config/schema.js';
import { parseListen } from '../metrics/server.js';

/** The worker's own unicast addresses: not loopback (internal) and not IPv6 link-local. */
export function hostAddresses(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  const out = new Set<string>();
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      // fe80::/10 never leaves the link (RFC 4291 2.5.6); the policy's ND rules cover it.
      if (a.family === 'IPv6' && /^fe[89ab]/i.test(a.address)) continue;
      out.add(a.address.replace(/%.*$/, ''));
    }
  }
  return [...out].sort();
}

/**
 * BFD's ports (RFC 5881 4: udp/3784 control, udp/3785 echo; RFC 5883 2: udp/4784 multihop),
 * tcp/<bgp listen port> (when listening) and tcp/<metrics port>. BFD's are protected
 * whether or not the agent runs BFD: nothing a container sends there is wanted.
 */
export function protectedPorts(cfg: Config): string[] {
  const ports = new Set<string>();
  if (cfg.bgp.listen.port !== 0) ports.add(`tcp/${cfg.bgp.listen.port}`);
  for (const p of FABRIC_PORTS) if (p.startsWith('udp/')) ports.add(p);
  try {
    const { port } = parseListen(cfg.metrics.listen);
    if (port > 0) ports.add(`tcp/${port}`);
  } catch {
    // An unparsable listen address is refused by the config and the metrics server; nothing to protect.
  }
  return [...ports];
}

/** The configured BGP peers' addresses, unless the operator opened the control plane to containers. */
export function fabricPeers(cfg: Config): string[] {
  if (cfg.policy?.openControlPlane === true) return [];
  // Unnumbered peers talk over link-local addresses, which no container can reach (they
  // are not routed off their link).
  return [...new Set(cfg.bgp.peers.flatMap((p) => (p.address !== undefined ? [p.address] : [])))];
}

export function hostPolicy(cfg: Config, addresses: readonly string[] = hostAddresses()): HostPolicy {
  return { addresses: [...addresses], protectedPorts: protectedPorts(cfg), open: [], fabricPeers: fabricPeers(cfg), fabricPorts: [...FABRIC_PORTS] };
}
