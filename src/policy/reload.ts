/**
 * The agent's side of the reload rule (policy/reload.ts decides): what this worker has
 * running — the endpoints the controller knows and those the anti-spoofing set holds (the
 * previous run's, until adoption), and the running config's pools — and the verdict on a
 * config about to replace the running one.
 */
import { reloadProblems, type ReloadProblem, type RunningEndpoint } from '../../policy/reload.js';
import type { Config } from '../config/schema.js';
import { modelOf, type PolicyEndpoint } from './agent-policy.js';

/** A container as the endpoint controller lists it. */
export interface ListedEndpoint {
  readonly name: string | null;
  readonly id: string;
  readonly hostVeth: string | null;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

/**
 * Every local endpoint with an address, by name: the controller's (any state: one being
 * wired already has its address) and the policy's own list (by host veth when the
 * controller does not know it yet, e.g. right after a restart).
 */
export function runningEndpoints(listed: readonly ListedEndpoint[], policy: readonly Omit<PolicyEndpoint, 'id'>[]): RunningEndpoint[] {
  const out: RunningEndpoint[] = [];
  const seen = new Set<string>();
  for (const e of listed) {
    const addresses = [e.ipv4, e.ipv6].filter((a): a is string => a !== null);
    if (addresses.length === 0) continue;
    out.push({ name: e.name ?? e.id.slice(0, 12), addresses });
    if (e.hostVeth !== null) seen.add(e.hostVeth);
  }
  for (const p of policy) {
    if (seen.has(p.hostVeth)) continue;
    const addresses = [p.ipv4, p.ipv6].filter((a): a is string => a !== null);
    if (addresses.length > 0) out.push({ name: p.hostVeth, addresses });
  }
  return out;
}

/** Why `next` (zones and policy as they would apply; pools are the running ones) must not replace `running`. */
export function reloadVerdict(running: Config, next: Config, endpoints: readonly RunningEndpoint[]): ReloadProblem[] {
  return reloadProblems(modelOf(running), modelOf(next), {
    endpoints,
    pools: running.pools.map((p, i) => ({ where: `pools[${i}]`, cidr: p.cidr, zone: p.zone })),
  });
}
