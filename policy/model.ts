// policy/model.ts — the zone policy model: zod schemas for the `zones:` and `policy:`
// sections of agent.yaml (the edge), the cross-field checks zod cannot express
// (validateModel), and the Readonly domain types the compiler, applier and check use.
//
// A zone owns address ranges (IPv4 and IPv6); a packet's zones are known from its
// addresses alone. Traffic inside a zone is allowed unless the zone is isolated; traffic
// into a zone is allowed only by its `ingress` rules; `world` is every address in no zone.

import { z } from 'zod';
import { parseCidr, cidrOverlaps, mustCidr, type Cidr } from './cidr.js';

/** The pseudo-zone of every address that lies in no zone. */
export const WORLD = 'world';

/** Zone names end up in chain names, set names, comments and log prefixes: keep them plain. */
const ZONE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const CidrText = z.string().superRefine((s, ctx) => {
  const p = parseCidr(s);
  if (!p.ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${p.message}; fix: ${p.fix}` });
});

const ZoneName = z
  .string()
  .regex(ZONE_NAME, 'zone name must be lowercase letters, digits, "-" or "_", starting with a letter, at most 63 characters')
  .refine((s) => s !== WORLD, `"${WORLD}" is reserved (it means every address in no zone); fix: pick another name`);

export const IngressRuleSchema = z
  .object({
    /** A zone name or `world`. Checked against the zone list in validateModel. */
    from: z.string().min(1),
    /** "tcp/80", "udp/53", "tcp/8000-8100", "tcp" (every port), "icmp", "any". Parsed in validateModel. */
    ports: z.array(z.string().min(1)).min(1),
  })
  .strict();

export const ZoneSchema = z
  .object({
    name: ZoneName,
    cidrs: z.array(CidrText).min(1),
    ingress: z.array(IngressRuleSchema).default([]),
    isolated: z.boolean().default(false),
  })
  .strict();

export const ZonesSchema = z.array(ZoneSchema);

export const PolicySchema = z
  .object({
    defaultAction: z.enum(['drop', 'reject']).default('drop'),
    logDrops: z.boolean().default(false),
  })
  .strict();

// ---- domain types (what inner modules get; never `unknown`) ----

export type Proto = 'tcp' | 'udp' | 'icmp' | 'any';

/** A parsed port spec. `icmp` means ICMP for IPv4 and ICMPv6 for IPv6; tcp 1-65535 means every TCP port. */
export type PortSpec =
  | { readonly proto: 'tcp' | 'udp'; readonly from: number; readonly to: number }
  | { readonly proto: 'icmp' }
  | { readonly proto: 'any' };

export interface IngressRule {
  readonly from: string;
  readonly ports: readonly string[];
}

export interface Zone {
  readonly name: string;
  readonly cidrs: readonly string[];
  readonly ingress: readonly IngressRule[];
  readonly isolated: boolean;
}

export interface Policy {
  readonly defaultAction: 'drop' | 'reject';
  readonly logDrops: boolean;
}

export interface PolicyModel {
  readonly zones: readonly Zone[];
  readonly policy: Policy;
}

/** One validation finding: where (dotted path from the config root), what, and how to fix it. */
export interface Problem {
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}

/** Thrown by `buildModel` when the model does not validate; carries every problem. */
export class PolicyModelError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(`invalid policy model:\n${problems.map((p) => `  ${p.path}: ${p.message} (fix: ${p.fix})`).join('\n')}`);
    this.name = 'PolicyModelError';
  }
}

/**
 * Parses one port spec. Returns the spec, or a message and fix.
 * Accepted: tcp/N, udp/N, tcp/N-M, udp/N-M (1 ≤ N ≤ M ≤ 65535), tcp, udp, icmp, any.
 */
export function parsePortSpec(s: string): { ok: true; spec: PortSpec } | { ok: false; message: string; fix: string } {
  const fix = 'write "tcp/80", "udp/53", "tcp/8000-8100", "tcp" (every TCP port), "icmp" or "any"';
  if (s === 'icmp') return { ok: true, spec: { proto: 'icmp' } };
  if (s === 'any') return { ok: true, spec: { proto: 'any' } };
  if (s === 'tcp' || s === 'udp') return { ok: true, spec: { proto: s, from: 1, to: 65535 } };
  const m = /^(tcp|udp)\/(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/.exec(s);
  if (!m) return { ok: false, message: `bad port spec "${s}"`, fix };
  const proto = m[1] as 'tcp' | 'udp';
  const lo = Number(m[2]);
  const hi = m[3] === undefined ? lo : Number(m[3]);
  if (lo < 1 || hi > 65535) return { ok: false, message: `port out of range in "${s}"`, fix: 'ports are 1 to 65535' };
  if (lo > hi) return { ok: false, message: `empty port range in "${s}"`, fix: `write "${proto}/${hi}-${lo}"` };
  return { ok: true, spec: { proto, from: lo, to: hi } };
}

/**
 * The checks across fields that the schemas cannot make. `zones` and `policy` are the
 * parsed (zod output) values. Paths are relative to the config root (`zones[1].ingress[0].from`).
 * An empty result means the model is valid.
 */
export function validateModel(zones: readonly Zone[], policy: Policy): Problem[] {
  void policy; // every policy field is fully checked by PolicySchema; kept for a stable signature.
  const problems: Problem[] = [];
  const names = new Map<string, number>();
  zones.forEach((zone, i) => {
    const prev = names.get(zone.name);
    if (prev !== undefined) {
      problems.push({ path: `zones[${i}].name`, message: `duplicate zone name "${zone.name}" (also zones[${prev}])`, fix: 'give every zone a unique name, or merge the two entries' });
    } else {
      names.set(zone.name, i);
    }
  });
  // Overlapping ranges would make a packet's zone ambiguous (and the ipsets disagree with check()).
  const ranges: { zone: number; idx: number; name: string; text: string; cidr: Cidr }[] = [];
  zones.forEach((zone, i) => {
    zone.cidrs.forEach((text, j) => {
      const p = parseCidr(text);
      if (!p.ok) {
        problems.push({ path: `zones[${i}].cidrs[${j}]`, message: p.message, fix: p.fix });
        return;
      }
      // hash:net sets cannot hold a /0; "every address" is what `world` already means.
      if (p.cidr.len === 0) {
        problems.push({ path: `zones[${i}].cidrs[${j}]`, message: `${text} covers every address`, fix: `use "${WORLD}" in ingress rules for any address, or list narrower ranges` });
        return;
      }
      for (const r of ranges) {
        if (cidrOverlaps(r.cidr, p.cidr)) {
          const where = r.zone === i ? `another range of zone "${zone.name}"` : `zone "${r.name}" (zones[${r.zone}].cidrs[${r.idx}])`;
          problems.push({
            path: `zones[${i}].cidrs[${j}]`,
            message: `${text} overlaps ${r.text} of ${where}`,
            fix: r.zone === i ? `remove the narrower of ${text} and ${r.text}` : 'a range belongs to one zone only: split or shrink one of the two ranges',
          });
        }
      }
      ranges.push({ zone: i, idx: j, name: zone.name, text, cidr: p.cidr });
    });
  });
  zones.forEach((zone, i) => {
    zone.ingress.forEach((rule, k) => {
      if (rule.from !== WORLD && !names.has(rule.from)) {
        const known = [...names.keys(), WORLD].join(', ');
        problems.push({ path: `zones[${i}].ingress[${k}].from`, message: `unknown zone "${rule.from}"`, fix: `use one of: ${known}` });
      }
      rule.ports.forEach((port, p) => {
        const r = parsePortSpec(port);
        if (!r.ok) problems.push({ path: `zones[${i}].ingress[${k}].ports[${p}]`, message: r.message, fix: r.fix });
      });
    });
  });
  return problems;
}

/** Zod output types, for edges that parse config themselves. */
export type ZoneInput = z.input<typeof ZoneSchema>;
export type PolicyInput = z.input<typeof PolicySchema>;

/**
 * Edge helper: parses raw `zones` and `policy` values with the schemas, runs
 * validateModel, and returns the domain model — or throws PolicyModelError with every problem.
 */
export function buildModel(rawZones: unknown, rawPolicy: unknown): PolicyModel {
  const problems: Problem[] = [];
  const zr = ZonesSchema.safeParse(rawZones);
  const pr = PolicySchema.safeParse(rawPolicy ?? {});
  for (const [res, root] of [[zr, 'zones'], [pr, 'policy']] as const) {
    if (!res.success) {
      for (const issue of res.error.issues) {
        const path = issue.path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : `${acc}.${seg}`), root);
        const [message, fix] = issue.message.split('; fix: ');
        problems.push({ path, message: message ?? issue.message, fix: fix ?? 'see docs/policy.md for the model' });
      }
    }
  }
  if (!zr.success || !pr.success) throw new PolicyModelError(problems);
  const model: PolicyModel = { zones: zr.data, policy: pr.data };
  const more = validateModel(model.zones, model.policy);
  if (more.length > 0) throw new PolicyModelError(more);
  return model;
}

/** The parsed ranges of a zone (valid model assumed). */
export function zoneCidrs(zone: Zone): Cidr[] {
  return zone.cidrs.map(mustCidr);
}
