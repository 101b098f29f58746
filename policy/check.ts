// policy/check.ts — `routectl policy check SRC DST PROTO/PORT`: a pure evaluation of a new
// connection against the same ordered plan the compiler renders (policy/plan.ts), so the
// answer names the very rule — by the id in its iptables comment — whose counter will move.
// SRC and DST are addresses or zone names (`world` included); the CLI resolves container
// names to addresses before calling this.

import { cidrContainsAddr, parseIp, type Family } from './cidr.js';
import { WORLD, zoneCidrs, type PolicyModel, type PortSpec } from './model.js';
import { buildPlan, type PlanRule } from './plan.js';

export interface CheckResult {
  readonly verdict: 'allow' | 'deny';
  /** The deciding rule's id, i.e. its iptables comment without `routectl:`. */
  readonly rule: string;
  readonly reason: string;
  /** Source and destination zones as classified (`world` for no zone). */
  readonly from: string;
  readonly to: string;
}

export class PolicyCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyCheckError';
  }
}

interface Traffic {
  readonly proto: 'tcp' | 'udp' | 'icmp';
  readonly port: number | undefined;
}

/** "tcp/5432", "udp/53", "icmp". */
export function parseTraffic(text: string): Traffic {
  if (text === 'icmp') return { proto: 'icmp', port: undefined };
  const m = /^(tcp|udp)\/([1-9][0-9]{0,4})$/.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || port > 65535) throw new PolicyCheckError(`"${text}" is not a protocol and port: write tcp/5432, udp/53 or icmp`);
  return { proto: m[1] as 'tcp' | 'udp', port };
}

/** The zone of an address, or `world` when it is in none. */
export function zoneOf(model: PolicyModel, family: Family, addr: bigint): string {
  for (const z of model.zones) {
    if (zoneCidrs(z).some((c) => cidrContainsAddr(c, family, addr))) return z.name;
  }
  return WORLD;
}

interface Endpoint {
  readonly zone: string;
  readonly family: Family | undefined;
  readonly text: string;
}

function resolve(model: PolicyModel, what: string, role: 'source' | 'destination'): Endpoint {
  const ip = parseIp(what);
  if (ip) return { zone: zoneOf(model, ip.family, ip.addr), family: ip.family, text: what };
  if (what === WORLD || model.zones.some((z) => z.name === what)) return { zone: what, family: undefined, text: what };
  throw new PolicyCheckError(`${role} "${what}" is neither an address nor a zone (zones: ${[...model.zones.map((z) => z.name), WORLD].join(', ')})`);
}

/** "dmz" for a zone given by name, "198.51.100.5 (dmz)" for an address. */
function describe(e: Endpoint): string {
  return e.family === undefined ? e.zone : `${e.text} (${e.zone})`;
}

function specMatches(spec: PortSpec | undefined, t: Traffic): boolean {
  if (spec === undefined || spec.proto === 'any') return true;
  if (spec.proto === 'icmp') return t.proto === 'icmp';
  return spec.proto === t.proto && t.port !== undefined && t.port >= spec.from && t.port <= spec.to;
}

function ruleMatches(rule: PlanRule, to: string, t: Traffic): boolean {
  const dstOk = rule.to === undefined ? to === WORLD : rule.to === to;
  return dstOk && specMatches(rule.spec, t);
}

/**
 * Would a new connection from `src` to `dst` with `traffic` ("tcp/80", "udp/53", "icmp")
 * be allowed? Replies of allowed connections always pass (conntrack), so they are not asked.
 */
export function check(model: PolicyModel, src: string, dst: string, traffic: string): CheckResult {
  const t = parseTraffic(traffic);
  const s = resolve(model, src, 'source');
  const d = resolve(model, dst, 'destination');
  if (s.family !== undefined && d.family !== undefined && s.family !== d.family) {
    throw new PolicyCheckError(`${src} and ${dst} are of different address families`);
  }
  if (s.zone === WORLD && d.zone === WORLD) {
    return { verdict: 'allow', rule: 'not-ours', reason: 'neither address is in a zone: transit traffic the policy does not judge', from: WORLD, to: WORLD };
  }
  const plan = buildPlan(model).find((p) => p.from === s.zone);
  if (!plan) throw new PolicyCheckError(`no plan for source zone ${s.zone}`);
  for (const rule of plan.rules) {
    if (!ruleMatches(rule, d.zone, t)) continue;
    const verdict = rule.action === 'accept' ? 'allow' : 'deny';
    return { verdict, rule: rule.id, reason: `${describe(s)} -> ${describe(d)}: ${rule.reason}`, from: s.zone, to: d.zone };
  }
  // buildPlan ends every list with a catch-all for each zone and for world.
  throw new PolicyCheckError(`no rule decides ${s.zone} -> ${d.zone} ${traffic}`);
}
