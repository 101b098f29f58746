// policy/plan.ts — the model turned into ordered decision lists, one per source zone
// (plus `world`). The compiler renders exactly these lists as iptables rules, and
// check() walks exactly these lists, so `routectl policy check` can never disagree with
// what the kernel was given. Each rule's id is the text after "routectl:" in its
// iptables comment, so a check answer names the rule whose counter moves.

import { WORLD, parsePortSpec, type PolicyModel, type PortSpec } from './model.js';

export interface PlanRule {
  /** Unique within the plan; the iptables comment is `routectl:<id>`. */
  readonly id: string;
  /** Destination zone, or undefined for "any address in no zone" (world). */
  readonly to: string | undefined;
  /** What traffic the rule matches; undefined matches everything. */
  readonly spec: PortSpec | undefined;
  readonly action: 'accept' | 'deny';
  /** Why the rule exists, in model terms, for explanations. */
  readonly reason: string;
}

export interface SourcePlan {
  /** Source zone name, or `world`. */
  readonly from: string;
  readonly rules: readonly PlanRule[];
}

export function portSpecText(spec: PortSpec | undefined): string {
  if (spec === undefined || spec.proto === 'any') return 'any';
  if (spec.proto === 'icmp') return 'icmp';
  if (spec.from === 1 && spec.to === 65535) return spec.proto;
  return spec.from === spec.to ? `${spec.proto}/${spec.from}` : `${spec.proto}/${spec.from}-${spec.to}`;
}

/**
 * Per source (every zone in model order, then world): for each destination zone in model
 * order, intra-zone accept (unless isolated), the destination's ingress rules naming this
 * source, then the (from, to) deny — so every pair has its own countable deny rule. Last,
 * traffic to world (no zone) is accepted: zones restrict what enters them, not egress.
 */
export function buildPlan(model: PolicyModel): SourcePlan[] {
  const sources = [...model.zones.map((z) => z.name), WORLD];
  return sources.map((from) => {
    const rules: PlanRule[] = [];
    for (const [zi, dst] of model.zones.entries()) {
      if (dst.name === from && !dst.isolated) {
        // Everything inside the zone is accepted: its own ingress rules and a deny would be dead rules.
        rules.push({ id: `intra ${from}`, to: dst.name, spec: undefined, action: 'accept', reason: `traffic inside zone "${from}" is allowed (the zone is not isolated)` });
        continue;
      }
      for (const [ri, rule] of dst.ingress.entries()) {
        if (rule.from !== from) continue;
        for (const port of rule.ports) {
          const p = parsePortSpec(port);
          if (!p.ok) throw new RangeError(`zones[${zi}].ingress[${ri}]: ${p.message} (validate the model first)`);
          const where = `zones[${zi}].ingress[${ri}]`;
          rules.push({
            id: `allow ${from}->${dst.name} ${portSpecText(p.spec)} ${where}`,
            to: dst.name,
            spec: p.spec,
            action: 'accept',
            reason: `zone "${dst.name}" accepts ${portSpecText(p.spec)} from ${from === WORLD ? 'world (addresses in no zone)' : `zone "${from}"`} (${where})`,
          });
        }
      }
      rules.push({
        id: `deny ${from}->${dst.name}`,
        to: dst.name,
        spec: undefined,
        action: 'deny',
        reason: dst.name === from
          ? `zone "${from}" is isolated and no ingress rule of it names itself for this traffic`
          : `no ingress rule of zone "${dst.name}" admits this traffic from ${from === WORLD ? 'world' : `zone "${from}"`}; default ${model.policy.defaultAction}`,
      });
    }
    rules.push({ id: `egress ${from}->world`, to: undefined, spec: undefined, action: 'accept', reason: 'the destination is in no zone: zones filter what enters them, traffic to world is not filtered' });
    return { from, rules };
  });
}
