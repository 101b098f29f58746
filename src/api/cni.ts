/**
 * The CNI routes of the control API, for the routectl-cni plugin: POST /v1/cni/add, /del,
 * /check, /gc and GET /v1/cni/status. Bodies are zod-validated (the plugin checks its
 * input too, but the socket is an edge of its own). Every route answers HTTP 200 with
 * `{ok: true, result}` or `{ok: false, error: <CNI error JSON>}`, which the plugin prints
 * as it is: the agent decides the CNI error code, the plugin only relays it.
 */
import { z } from 'zod';
import { CniCode, CniError, SUPPORTED_VERSIONS, type CniAddRequest, type CniAnswer, type CniCheckRequest, type CniDelRequest, type CniGcRequest, type CniGcResult, type CniResult } from '../cni/types.js';
import { defineRoute, type ApiRoute } from './server.js';

export interface CniApiHandlers {
  add(req: CniAddRequest): Promise<CniResult>;
  del(req: CniDelRequest): Promise<void>;
  check(req: CniCheckRequest): Promise<void>;
  gc(req: CniGcRequest): Promise<CniGcResult>;
  /** Throws a CniError (code 50/51) when not ready. */
  status(): Promise<void> | void;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const version = z.enum(SUPPORTED_VERSIONS);
const network = z.string().regex(NAME_RE, 'a network name: alphanumeric first, then [A-Za-z0-9_.-]').max(200);
const containerId = z.string().regex(NAME_RE, 'a container id: alphanumeric first, then [A-Za-z0-9_.-]').max(255);
const ifName = z.string().regex(IFNAME_RE, 'an interface name: 1-15 of [A-Za-z0-9_.-]');
const netns = z.string().startsWith('/', 'an absolute path').max(4096);
const dns = z
  .object({
    nameservers: z.array(z.string()).optional(),
    domain: z.string().optional(),
    search: z.array(z.string()).optional(),
    options: z.array(z.string()).optional(),
  })
  .strict();
const key = { cniVersion: version, network, containerId, ifName };

export const CniAddSchema: z.ZodType<CniAddRequest, z.ZodTypeDef, unknown> = z
  .object({ ...key, netns, zone: z.string().min(1), podName: z.string().max(253).optional(), podNamespace: z.string().max(253).optional(), dns: dns.optional() })
  .strict();
export const CniDelSchema: z.ZodType<CniDelRequest, z.ZodTypeDef, unknown> = z.object({ ...key, netns: netns.optional() }).strict();
const resultSchema = z.object({
  cniVersion: z.string(),
  interfaces: z.array(z.object({ name: z.string(), mac: z.string().optional(), sandbox: z.string().optional() })).default([]),
  ips: z
    .array(z.object({ version: z.enum(['4', '6']).optional(), address: z.string(), gateway: z.string().optional(), interface: z.number().int().optional() }))
    .default([]),
  routes: z.array(z.object({ dst: z.string(), gw: z.string().optional() })).default([]),
  dns: dns.default({}),
});
export const CniCheckSchema: z.ZodType<CniCheckRequest, z.ZodTypeDef, unknown> = z.object({ ...key, netns, prevResult: resultSchema }).strict();
export const CniGcSchema: z.ZodType<CniGcRequest, z.ZodTypeDef, unknown> = z
  .object({ cniVersion: version, network, validAttachments: z.array(z.object({ containerID: z.string(), ifname: z.string() })) })
  .strict();

async function answer<T>(cniVersion: string, fn: () => Promise<T> | T): Promise<CniAnswer<T>> {
  try {
    return { ok: true, result: await fn() };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CniCode.IoFailure, `routectl agent: ${(err as Error).message}`);
    return { ok: false, error: e.body(cniVersion) };
  }
}

export function cniRoutes(h: CniApiHandlers): ApiRoute<unknown>[] {
  return [
    defineRoute({ method: 'POST', pattern: '/v1/cni/add', body: CniAddSchema, handle: ({ body }) => answer(body.cniVersion, () => h.add(body)) }),
    defineRoute({ method: 'POST', pattern: '/v1/cni/del', body: CniDelSchema, handle: ({ body }) => answer(body.cniVersion, async () => (await h.del(body), {})) }),
    defineRoute({ method: 'POST', pattern: '/v1/cni/check', body: CniCheckSchema, handle: ({ body }) => answer(body.cniVersion, async () => (await h.check(body), {})) }),
    defineRoute({ method: 'POST', pattern: '/v1/cni/gc', body: CniGcSchema, handle: ({ body }) => answer(body.cniVersion, () => h.gc(body)) }),
    defineRoute({ method: 'GET', pattern: '/v1/cni/status', handle: () => answer('1.1.0', async () => (await h.status(), {})) }),
  ];
}
