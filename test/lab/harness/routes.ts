/**
 * `kernelRoutes`: a namespace's FIB as typed records, parsed from `ip -j route`, with
 * destinations normalised to CIDR form ("default" → 0.0.0.0/0, a bare host → /32 or
 * /128) so they compare equal to the RIB's prefix strings.
 */
import type { Netns } from './netns.js';

export type IpFamily = 4 | 6 | 'ipv4' | 'ipv6';

export interface KernelRoute {
  readonly dst: string;
  /** Gateways (one per next hop for multipath routes; empty for connected/blackhole). */
  readonly via: readonly string[];
  readonly dev?: string;
  readonly protocol?: string;
  readonly type: string;
  readonly metric?: number;
}

interface IpRouteJson {
  dst: string;
  type?: string;
  gateway?: string;
  via?: { family: string; host: string };
  dev?: string;
  protocol?: string;
  metric?: number;
  nexthops?: { gateway?: string; via?: { host: string }; dev?: string }[];
}

export function normalizePrefix(dst: string, v6: boolean): string {
  if (dst === 'default') return v6 ? '::/0' : '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/${v6 ? 128 : 32}`;
}

export async function kernelRoutes(
  ns: Netns,
  family: IpFamily,
  opts: { proto?: string | number; table?: string | number } = {},
): Promise<KernelRoute[]> {
  const v6 = family === 6 || family === 'ipv6';
  const args = [v6 ? '-6' : '-4', 'route', 'show', 'table', String(opts.table ?? 'main')];
  if (opts.proto !== undefined) args.push('proto', String(opts.proto));
  const rows = await ns.ipJson<IpRouteJson[]>(args);
  return rows.map((r) => {
    const via: string[] = [];
    if (r.gateway) via.push(r.gateway);
    if (r.via?.host) via.push(r.via.host);
    for (const nh of r.nexthops ?? []) {
      const g = nh.gateway ?? nh.via?.host;
      if (g) via.push(g);
    }
    return {
      dst: normalizePrefix(r.dst, v6),
      via,
      ...(r.dev === undefined ? {} : { dev: r.dev }),
      ...(r.protocol === undefined ? {} : { protocol: r.protocol }),
      type: r.type ?? 'unicast',
      ...(r.metric === undefined ? {} : { metric: r.metric }),
    };
  });
}

/** Kernel routes as a map prefix → gateways, for set-like assertions. */
export async function kernelRouteMap(
  ns: Netns,
  family: IpFamily,
  opts: { proto?: string | number } = {},
): Promise<Map<string, readonly string[]>> {
  return new Map((await kernelRoutes(ns, family, opts)).map((r) => [r.dst, r.via]));
}
