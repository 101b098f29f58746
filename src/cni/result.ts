/**
 * The ADD result (CNI spec 1.1.0 "Success" result) for one routed endpoint: the host
 * veth (no sandbox) and the container interface (with its netns path as sandbox), the
 * /32 and /128 on the container interface with their gateways, default routes through
 * them, and the network's DNS settings as configured. 0.4.0 results carry each IP's
 * "version"; 1.0.0 removed it.
 */
import type { CniDns, CniInterface, CniIp, CniResult, CniRoute } from './types.js';

export interface RoutedAttachment {
  readonly hostVeth: string;
  readonly hostMac: string;
  readonly ifName: string;
  readonly mac: string;
  readonly netns: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  readonly gateway4: string;
  readonly gateway6: string;
}

export function buildResult(cniVersion: string, a: RoutedAttachment, dns: CniDns = {}): CniResult {
  const legacy = cniVersion.startsWith('0.');
  const interfaces: CniInterface[] = [
    { name: a.hostVeth, mac: a.hostMac },
    { name: a.ifName, mac: a.mac, sandbox: a.netns },
  ];
  const ips: CniIp[] = [];
  const routes: CniRoute[] = [];
  if (a.ipv4 !== null) {
    ips.push({ ...(legacy ? { version: '4' as const } : {}), address: `${a.ipv4}/32`, gateway: a.gateway4, interface: 1 });
    routes.push({ dst: '0.0.0.0/0', gw: a.gateway4 });
  }
  if (a.ipv6 !== null) {
    ips.push({ ...(legacy ? { version: '6' as const } : {}), address: `${a.ipv6}/128`, gateway: a.gateway6, interface: 1 });
    routes.push({ dst: '::/0', gw: a.gateway6 });
  }
  return { cniVersion, interfaces, ips, routes, dns };
}
