/**
 * Shared by the learned-route unit tests: the kernel's learned routes of one table in
 * memory, keyed by prefix (what NLM_F_REPLACE and RTM_DELROUTE do to them), and a route
 * as a previous run left it there.
 */
import type { RouteTable } from '../../../src/learned/installer.js';
import type { LearnedKernelRoute } from '../../../src/learned/route-codec.js';

export class MemTable implements RouteTable {
  readonly routes = new Map<string, LearnedKernelRoute>();
  writes = 0;
  refuse: string | undefined;
  /** A next hop the kernel cannot reach: any route through it is refused, as Linux does. */
  unreachable: string | undefined;
  /** `links`: interface name -> ifindex, what ifindex() answers. */
  constructor(private readonly links: Readonly<Record<string, number>>) {}
  async replace(r: LearnedKernelRoute) {
    this.writes++;
    if (this.refuse) return this.refuse;
    if (r.nextHops.some((n) => n.gateway === this.unreachable)) return 'EHOSTUNREACH';
    this.routes.set(r.dst, r);
    return undefined;
  }
  async remove(r: { dst: string }) {
    return this.routes.delete(r.dst) ? undefined : 'ESRCH';
  }
  async list() {
    return [...this.routes.values()];
  }
  async ifindex(name: string) {
    return this.links[name];
  }
}

/** A route of the main table (254), metric 20, through `hops` ([gateway, ifindex]). */
export const kernelRoute = (dst: string, ...hops: [string, number][]): LearnedKernelRoute => ({
  family: dst.includes(':') ? 6 : 4,
  dst,
  table: 254,
  metric: 20,
  nextHops: hops.map(([gateway, ifindex]) => ({ gateway, ifindex })),
});

/** The gateways of `prefix` in `t` ([] when it is not there). */
export const gws = (t: MemTable, prefix: string): string[] => t.routes.get(prefix)?.nextHops.map((n) => n.gateway) ?? [];
