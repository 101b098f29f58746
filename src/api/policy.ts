/**
 * The zone policy's API routes, added to the server's table by the agent:
 *   GET /v1/policy                                  zones, ranges, rules with counters, drops
 *   GET /v1/policy/check?src=&dst=&traffic=tcp/80   allow or deny, and the deciding rule
 * (`port` is accepted as a synonym of `traffic`). Query values are validated with zod here.
 */
import { z } from 'zod';
import { ApiError } from './errors.js';
import { defineRoute, type ApiRoute } from './server.js';
import type { PolicyCheckResponse, PolicyShowResponse } from './policy-types.js';

export interface PolicyApiHandlers {
  show(): Promise<PolicyShowResponse>;
  /** Throws ApiError (400 bad input, 404 unknown container, 409 no policy / ambiguous). */
  check(src: string, dst: string, traffic: string): Promise<PolicyCheckResponse> | PolicyCheckResponse;
}

const CheckQuerySchema = z
  .object({
    src: z.string().min(1, 'src is required (a container, an address or a zone)'),
    dst: z.string().min(1, 'dst is required (a container, an address or a zone)'),
    traffic: z.string().min(1).optional(),
    port: z.string().min(1).optional(),
  })
  .strict();

export function policyRoutes(h: PolicyApiHandlers): ApiRoute<unknown>[] {
  return [
    defineRoute({ method: 'GET', pattern: '/v1/policy', handle: () => h.show() }),
    defineRoute({
      method: 'GET',
      pattern: '/v1/policy/check',
      handle: ({ query }) => {
        const q = CheckQuerySchema.safeParse(Object.fromEntries(query));
        if (!q.success) throw new ApiError(400, 'bad_request', q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
        const traffic = q.data.traffic ?? q.data.port;
        if (traffic === undefined) throw new ApiError(400, 'bad_request', 'traffic is required: tcp/5432, udp/53 or icmp');
        return h.check(q.data.src, q.data.dst, traffic);
      },
    }),
  ];
}
