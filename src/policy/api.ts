/**
 * The policy API's handlers (src/api/policy.ts routes) over the agent's AgentPolicy:
 * `show` answers "disabled" without zones; `check` maps lookup failures to API errors
 * (400 bad input, 404 unknown container or name, 409 ambiguous or no policy).
 */
import { ApiError } from '../api/errors.js';
import type { PolicyApiHandlers } from '../api/policy.js';
import { disabledPolicyView, PolicyLookupError, type AgentPolicy, type NamedEndpoint } from './agent-policy.js';

export function policyHandlers(policy: AgentPolicy | undefined, containers: () => readonly NamedEndpoint[]): PolicyApiHandlers {
  return {
    show: () => (policy ? policy.show() : Promise.resolve(disabledPolicyView())),
    check(src, dst, traffic) {
      if (!policy?.enabled) throw new ApiError(409, 'no_policy', 'no zone policy is enforced on this worker (no zones configured)');
      try {
        return policy.check(src, dst, traffic, containers());
      } catch (err) {
        if (err instanceof PolicyLookupError) throw new ApiError(err.status, err.status === 404 ? 'unknown' : err.status === 409 ? 'conflict' : 'bad_request', err.message);
        throw err;
      }
    },
  };
}
