/**
 * What the lab tests look at on a worker and its ToR, written once: the agent's own
 * kernel state (links named rtc…, routes of protocol 88), the ToR's FIB, and whether a
 * container answers ping and HTTP from a namespace (busybox: the host has no ping binary,
 * and the static busybox's wget crashes in its resolver here, so HTTP goes over nc).
 */
import type { EndpointEntry, RouteEntry, RoutesResponse } from '../../src/api/types.js';
import type { LabAgent } from './agent-helper.js';
import type { Netns } from './harness/netns.js';
import { LEARNED_METRIC } from '../../src/dataplane/plumbing.js';
import { kernelRouteMap, kernelRoutes } from './harness/routes.js';

/** `routectl endpoints --json` of a lab agent. */
export async function endpointsOf(agent: LabAgent): Promise<EndpointEntry[]> {
  const r = await agent.cli<{ endpoints: EndpointEntry[] }>(['endpoints', '--json']);
  if (r.code !== 0) throw new Error(`routectl endpoints: ${r.stderr}`);
  return r.json.endpoints;
}

/** What the agent received from `peer` (`routectl routes --received --json`), by prefix. */
export async function receivedFrom(agent: LabAgent, peer: string): Promise<Map<string, RouteEntry>> {
  const r = await agent.cli<RoutesResponse>(['routes', '--received', '--json']);
  return new Map(r.json.routes.filter((x) => x.peer === peer).map((x) => [x.prefix, x]));
}

/** Every destination in a namespace's FIB, both families. */
export async function fibPrefixes(ns: Netns): Promise<Set<string>> {
  const [v4, v6] = await Promise.all([kernelRouteMap(ns, 4), kernelRouteMap(ns, 6)]);
  return new Set([...v4.keys(), ...v6.keys()]);
}

/**
 * The agent's own container host routes (protocol 88), both families, sorted. Routes it
 * learned from its peers share the protocol but carry metric 20 (src/dataplane/plumbing.ts
 * LEARNED_METRIC): they are left out here, see learnedRoutes().
 */
export async function ownRoutes(ns: Netns): Promise<string[]> {
  return (await proto88(ns)).filter((r) => r.metric !== LEARNED_METRIC).map((r) => r.dst).sort();
}

/** Routes the agent learned from its peers and installed (protocol 88, metric 20), sorted. */
export async function learnedRoutes(ns: Netns): Promise<string[]> {
  return (await proto88(ns)).filter((r) => r.metric === LEARNED_METRIC).map((r) => r.dst).sort();
}

/**
 * The gateways of the agent's learned route for `dst` in `ns` (protocol 88, metric 20;
 * the first protocol 88 route for it when none has that metric), sorted; [] when there is none.
 */
export async function learnedGateways(ns: Netns, v: 4 | 6, dst: string): Promise<string[]> {
  const routes = await ns.ipJson<{ metric?: number; gateway?: string; nexthops?: { gateway: string }[] }[]>([`-${v}`, 'route', 'show', dst, 'proto', '88']);
  const r = routes.find((x) => x.metric === LEARNED_METRIC) ?? routes[0];
  if (!r) return [];
  return (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : []).sort();
}

async function proto88(ns: Netns): Promise<{ dst: string; metric?: number }[]> {
  return (await Promise.all([kernelRoutes(ns, 4, { proto: 88 }), kernelRoutes(ns, 6, { proto: 88 })])).flat();
}

/** The agent's own routes and links (host veths are named rtc…), sorted. */
export async function ownState(ns: Netns): Promise<{ routes: string[]; links: string[] }> {
  const links = (await ns.ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname).filter((n) => n.startsWith('rtc'));
  return { routes: await ownRoutes(ns), links: links.sort() };
}

/** One ping (v4 or v6 by the address) from `from`. */
export async function ping(from: Netns, addr: string): Promise<boolean> {
  const r = await from.exec(['busybox', addr.includes(':') ? 'ping6' : 'ping', '-c', '1', '-W', '2', addr], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** An HTTP GET over TCP to port 80 of `addr` from `from`; the body, or what went wrong. */
export async function httpGet(from: Netns, addr: string): Promise<string> {
  const r = await from.exec(['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${addr} 80`], { timeoutMs: 10_000 });
  if (r.code !== 0) return `failed (${r.code}): ${r.stderr.trim()}`;
  const body = r.stdout.split('\r\n\r\n')[1];
  return r.stdout.startsWith('HTTP/1.') && body !== undefined ? body.trim() : `unexpected answer: ${r.stdout.slice(0, 200)}`;
}
