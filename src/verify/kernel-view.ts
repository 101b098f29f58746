/**
 * The agent's own kernel state (links `rtc…`, routes with protocol 88) as verify and
 * `routectl routes --kernel` need it. With a dataplane, `Dataplane.listOwn()` answers;
 * without one (speaker-only mode) the same filter runs over a NetlinkKernel opened for the
 * one query, so an operator still sees own routes left from an earlier run.
 */
import type { RouteEntry } from '../api/types.js';
import type { KernelLink, KernelRoute } from '../dataplane/kernel.js';
import { HOST_IF_PREFIX, isContainerRoute } from '../dataplane/plumbing.js';

export interface OwnKernelState {
  readonly links: readonly KernelLink[];
  readonly routes: readonly KernelRoute[];
}

/** Dataplane fits; so does `ownStateOf(kernel)`. */
export interface OwnStateSource {
  listOwn(): Promise<OwnKernelState>;
}

/** The own-objects filter of the dataplane, over any kernel that can list. */
export function ownStateOf(kernel: { listLinks(): Promise<KernelLink[]>; listRoutes(): Promise<KernelRoute[]> }): OwnStateSource {
  return {
    async listOwn() {
      const [links, routes] = await Promise.all([kernel.listLinks(), kernel.listRoutes()]);
      return { links: links.filter((l) => l.name.startsWith(HOST_IF_PREFIX)), routes: routes.filter(isContainerRoute) };
    },
  };
}

/** A NetlinkKernel of this process's namespace for one listing, closed afterwards. */
export function netlinkOwnState(): OwnStateSource {
  return {
    async listOwn() {
      const { NetlinkKernel } = await import('../dataplane/netlink-kernel.js');
      const k = new NetlinkKernel();
      try {
        return await ownStateOf(k).listOwn();
      } finally {
        k.close();
      }
    },
  };
}

/** Own routes as API route entries: next hop "dev rtc…" (or the gateway), "blackhole" for aggregates. */
export function kernelRouteEntries(own: OwnKernelState): RouteEntry[] {
  const names = new Map(own.links.map((l) => [l.index, l.name]));
  return [...own.routes]
    .sort((a, b) => a.family - b.family || a.dst.localeCompare(b.dst, 'en', { numeric: true }))
    .map((r) => ({
      prefix: r.dst,
      peer: null,
      nextHops:
        r.type === 'blackhole'
          ? ['blackhole']
          : [r.gateway ?? '', r.oif === undefined ? '' : `dev ${names.get(r.oif) ?? `#${r.oif}`}`].filter(Boolean),
      asPath: '',
      origin: null,
      med: null,
      localPref: null,
      communities: [],
      accepted: true,
      reason: null,
    }));
}

/** Own routes per family, for routectl_dataplane_routes. */
export function routeCountsByFamily(own: OwnKernelState): Record<'ipv4' | 'ipv6', number> {
  const out = { ipv4: 0, ipv6: 0 };
  for (const r of own.routes) out[r.family === 4 ? 'ipv4' : 'ipv6']++;
  return out;
}
