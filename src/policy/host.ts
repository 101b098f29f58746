/**
 * What the zone policy protects on the worker itself, derived from the agent's config
 * and the worker's interfaces: the worker's own addresses (os.networkInterfaces(), read
 * in the agent's network namespace, loopback and link-local left out) and the ports that
 * containers must never reach — the BGP listen port and the metrics port. The control
 * API is a unix socket: no network packet can reach it, so it needs no port rule.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { HostPolicy } from '../../policy/compiler.js';
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

/** tcp/<bgp listen port> (when listening) and tcp/<metrics port>. */
export function protectedPorts(cfg: Config): string[] {
  const ports = new Set<string>();
  if (cfg.bgp.listen.port !== 0) ports.add(`tcp/${cfg.bgp.listen.port}`);
  try {
    const { port } = parseListen(cfg.metrics.listen);
    if (port > 0) ports.add(`tcp/${port}`);
  } catch {
    // An unparsable listen address is refused by the config and the metrics server; nothing to protect.
  }
  return [...ports];
}

export function hostPolicy(cfg: Config, addresses: readonly string[] = hostAddresses()): HostPolicy {
  return { addresses: [...addresses], protectedPorts: protectedPorts(cfg), open: [] };
}
