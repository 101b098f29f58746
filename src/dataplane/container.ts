/**
 * The container side, configured from inside the container's network namespace.
 *
 * A netlink socket talks to the namespace it was created in, and Node cannot setns(2)
 * (and must not: the agent's own thread would leave the worker namespace). So the
 * container side is one short-lived helper per container:
 *   nsenter --net=<netns> sh -c '<sysctls>; exec ip -batch -'
 * with the commands on stdin — one process per container, never one per route, and the
 * per-route hot path (host routes) stays on the agent's own netlink socket. IPv6 sysctls
 * cannot be set over netlink, and /proc/sys/net always shows the namespace of the process
 * that opens it (not that of /proc/<pid>/…), hence the shell inside the namespace.
 *
 * What it sets (Calico's layout; see docs/design.md "Decisions"):
 *   eth0 up; the /32; 169.254.1.1 on-link; default via 169.254.1.1 — the host veth
 *   answers ARP for 169.254.1.1 by proxy ARP, so no address is needed on the host side.
 *   IPv6: disable_ipv6=0 first (`--net none` Docker containers start with IPv6 off),
 *   the /128 with nodad (no duplicate can exist: IPAM owns it), default via the host
 *   veth's link-local address, which is fixed because its MAC is.
 */
import type { ContainerSide } from './kernel.js';

export const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Shell text for the sysctls; `ifName` must match IFNAME_RE (checked by the caller). */
export function containerSysctls(side: ContainerSide): string[] {
  if (side.ipv6 === undefined) return [];
  return ['all', 'default', side.ifName].map((c) => `echo 0 > /proc/sys/net/ipv6/conf/${c}/disable_ipv6`);
}

/** `ip -batch` input. */
export function containerBatch(side: ContainerSide): string {
  const dev = side.ifName;
  const lines = [`link set dev ${dev} up`];
  if (side.ipv4 !== undefined) {
    lines.push(
      `address add ${side.ipv4}/32 dev ${dev}`,
      `route add ${side.gateway4}/32 dev ${dev} scope link`,
      `route add 0.0.0.0/0 via ${side.gateway4} dev ${dev}`,
    );
  }
  if (side.ipv6 !== undefined) {
    lines.push(`address add ${side.ipv6}/128 dev ${dev} nodad`, `route add ::/0 via ${side.gateway6} dev ${dev}`);
  }
  return lines.join('\n') + '\n';
}

export function nsenterArgv(netnsPath: string, side: ContainerSide): string[] {
  const script = ['set -e', ...containerSysctls(side), 'exec ip -batch -'].join('; ');
  return ['nsenter', `--net=${netnsPath}`, '--', 'sh', '-c', script];
}
