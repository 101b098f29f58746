/**
 * Wire types of the policy API (GET /v1/policy, GET /v1/policy/check), shared by the
 * agent (src/policy), the routes (src/api/policy.ts) and the CLI (src/cli/policy.ts).
 */

export interface PacketCount {
  readonly packets: number;
  readonly bytes: number;
}

/** One rule of the zone plan, with its kernel counters summed over IPv4 and IPv6. */
export interface PolicyRuleEntry extends PacketCount {
  /** The id in the rule's iptables comment (`routectl:<id>`), as `policy check` names it. */
  readonly id: string;
  /** Source zone, or `world`. */
  readonly from: string;
  /** Destination zone, or `world` (addresses in no zone). */
  readonly to: string;
  /** "tcp/8080", "any", … */
  readonly ports: string;
  readonly action: 'accept' | 'deny';
  readonly reason: string;
  readonly ipv4: PacketCount;
  readonly ipv6: PacketCount;
}

/** A rule outside the zone plan (anti-spoofing, conntrack, host protection), per chain. */
export interface PolicySystemRuleEntry extends PacketCount {
  readonly chain: string;
  readonly id: string;
}

export interface PolicyZoneEntry {
  readonly name: string;
  readonly cidrs: readonly string[];
  readonly isolated: boolean;
  readonly ingress: readonly { readonly from: string; readonly ports: readonly string[] }[];
}

export interface PolicyApplyEntry {
  /** ISO time of the last apply or reconcile pass. */
  readonly at: string;
  readonly changed: boolean;
  /** What differed before the pass (empty: nothing to repair). */
  readonly drift: readonly string[];
  readonly generation: string | null;
  readonly durationMs: number;
  /** The failure in words, when the pass failed. */
  readonly error: string | null;
}

export interface PolicyShowResponse {
  /** False when no zones are configured: nothing policy-related is installed. */
  readonly enabled: boolean;
  readonly defaultAction: 'drop' | 'reject';
  readonly logDrops: boolean;
  readonly host: { readonly addresses: readonly string[]; readonly protectedPorts: readonly string[]; readonly open: readonly string[] };
  /** Local endpoints in the anti-spoofing set. */
  readonly endpoints: number;
  readonly zones: readonly PolicyZoneEntry[];
  readonly rules: readonly PolicyRuleEntry[];
  readonly system: readonly PolicySystemRuleEntry[];
  /** Denied new connections per (from zone, to zone): the deny rules' counters. */
  readonly drops: readonly (PacketCount & { readonly from: string; readonly to: string })[];
  readonly lastApply: PolicyApplyEntry | null;
}

/** How one side of a check was understood. */
export interface PolicyCheckSide {
  /** What was asked (a container, an address, a zone). */
  readonly input: string;
  readonly kind: 'address' | 'zone' | 'container';
  /** The address judged (a container's address), or null for a zone. */
  readonly address: string | null;
  readonly container: { readonly id: string; readonly name: string | null } | null;
  readonly zone: string;
}

export interface PolicyCheckResponse {
  readonly verdict: 'allow' | 'deny';
  /** The deciding rule's id (its iptables comment without `routectl:`). */
  readonly rule: string;
  readonly reason: string;
  readonly from: string;
  readonly to: string;
  readonly traffic: string;
  readonly src: PolicyCheckSide;
  readonly dst: PolicyCheckSide;
}
