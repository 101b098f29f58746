/**
 * The container endpoints' API routes, added to the server's table by the agent when it
 * runs a container runtime: inspect one endpoint by name, id or id prefix, and pause or
 * resume the repair loop (POST /v1/reconcile {"paused": bool}, validated with zod).
 */
import { z } from 'zod';
import { ApiError } from './errors.js';
import { defineRoute, type ApiRoute } from './server.js';
import type { EndpointEntry, InspectResponse, ReconcileRequest, ReconcileResponse } from './types.js';
import { hostPrefix } from '../net.js';

export interface EndpointApiHandlers {
  /** Every endpoint the agent knows: wired, pending, and refused (state error). */
  endpoints(): readonly EndpointEntry[] | Promise<readonly EndpointEntry[]>;
  setRepairPaused(paused: boolean): ReconcileResponse | Promise<ReconcileResponse>;
}

export const ReconcileRequestSchema: z.ZodType<ReconcileRequest, z.ZodTypeDef, unknown> = z.object({ paused: z.boolean() }).strict();

/**
 * The endpoint a CLI argument means, as `docker` resolves names: an exact name, an exact
 * id, or a unique id prefix. Ambiguous prefixes and misses are 4xx errors in words.
 */
export function findEndpoint(all: readonly EndpointEntry[], key: string): EndpointEntry {
  const exact = all.find((e) => e.name === key || e.name === key.replace(/^\//, '') || e.id === key);
  if (exact) return exact;
  const byPrefix = /^[0-9a-f]+$/i.test(key) ? all.filter((e) => e.id.startsWith(key.toLowerCase())) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) {
    throw new ApiError(409, 'ambiguous', `${key} matches ${byPrefix.length} containers (${byPrefix.map((e) => e.name ?? e.id.slice(0, 12)).join(', ')}); give more of the id or the name`);
  }
  throw new ApiError(404, 'unknown_endpoint', `no container named or with id ${key} is known to routectl on this worker (see routectl endpoints)`);
}

export function inspectOf(e: EndpointEntry, ifName = 'eth0', hostMac: string | null = null): InspectResponse {
  return {
    container: { id: e.id, name: e.name, pid: e.pid },
    zone: e.zone,
    state: e.state,
    error: e.error,
    hwaddr: e.hwaddr,
    ipv4: e.ipv4 === null ? null : hostPrefix(e.ipv4),
    ipv6: e.ipv6 === null ? null : hostPrefix(e.ipv6),
    gateway: e.gateway,
    interface: ifName,
    hostVeth: e.hostVeth,
    hostMac: e.hostVeth === null ? null : hostMac,
    advertised: e.advertised,
    advertisedTo: e.advertisedTo,
    since: e.since,
  };
}

export function endpointRoutes(h: EndpointApiHandlers, opts: { hostMac?: string } = {}): ApiRoute<unknown>[] {
  return [
    defineRoute({
      method: 'GET',
      pattern: '/v1/endpoints/:idOrName',
      handle: async ({ params }) => inspectOf(findEndpoint(await h.endpoints(), params.idOrName ?? ''), 'eth0', opts.hostMac ?? null),
    }),
    defineRoute({ method: 'POST', pattern: '/v1/reconcile', body: ReconcileRequestSchema, handle: ({ body }) => h.setRepairPaused(body.paused) }),
  ];
}
