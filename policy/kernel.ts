// policy/kernel.ts — reading back what the kernel holds: `iptables-save -c -t filter` and
// `ipset save` parsed down to the policy's own objects (ROUTECTL-* chains, our jump rules,
// rtc-* sets), so the applier can compare them with what it rendered. Pure text parsing.

import { familyBits, formatIp, parseCidr, parseIp, type Family } from './cidr.js';
import { JUMPS, jumpRule } from './compiler.js';
import { MARK, isOwnChain, isOwnSet, type Generation } from './names.js';

export interface RuleCounters {
  readonly family: Family;
  readonly chain: string;
  /** The rule id: its comment without the `routectl:` mark. */
  readonly rule: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface TableState {
  /** Our chains (declared, even when empty) → their `-A` lines without counters, in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** How many copies of our jump rule each built-in chain holds. */
  readonly jumps: Readonly<Record<'FORWARD' | 'INPUT', number>>;
  readonly counters: readonly RuleCounters[];
  /** The set generation our rules reference, if any. */
  readonly generation: Generation | undefined;
}

const COUNTED = /^\[(\d+):(\d+)\] (-A .*)$/;

export function parseIptablesSave(text: string, family: Family): TableState {
  const chains = new Map<string, string[]>();
  const jumps = { FORWARD: 0, INPUT: 0 };
  const counters: RuleCounters[] = [];
  const gens = new Set<Generation>();
  const jumpLines = new Map<string, 'FORWARD' | 'INPUT'>(JUMPS.map((j) => [jumpRule(j.chain, j.target), j.chain]));
  let inFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) { inFilter = line === '*filter'; continue; }
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      if (isOwnChain(name) && !chains.has(name)) chains.set(name, []);
      continue;
    }
    let rule = line;
    let packets = 0;
    let bytes = 0;
    const m = COUNTED.exec(line);
    if (m) { packets = Number(m[1]); bytes = Number(m[2]); rule = m[3] ?? ''; }
    if (!rule.startsWith('-A ')) continue;
    const chain = rule.split(' ')[1] ?? '';
    const jump = jumpLines.get(rule);
    if (jump !== undefined && chain === jump) { jumps[jump]++; continue; }
    if (!isOwnChain(chain)) continue;
    const list = chains.get(chain) ?? [];
    list.push(rule);
    chains.set(chain, list);
    for (const g of rule.matchAll(/--match-set rtc-([ab])-/g)) gens.add(g[1] as Generation);
    const cm = /--comment (?:"([^"]*)"|(\S+))/.exec(rule);
    const id = cm?.[1] ?? cm?.[2];
    if (id?.startsWith(MARK)) counters.push({ family, chain, rule: id.slice(MARK.length), packets, bytes });
  }
  const generation = gens.size === 0 ? undefined : gens.has('a') ? 'a' : 'b';
  return { chains, jumps, counters, generation };
}

export interface SetState {
  readonly name: string;
  readonly type: string;
  readonly family: Family;
  readonly maxelem: number;
  readonly members: ReadonlySet<string>;
}

/** A set member in one canonical text (address canonical, host prefix length dropped), so kernel and render compare. */
export function canonicalMember(member: string): string {
  const [addrPart, ...rest] = member.split(',');
  const a = addrPart ?? '';
  let addr = a;
  const ip = parseIp(a);
  if (ip) addr = formatIp(ip.family, ip.addr);
  else {
    const p = parseCidr(a);
    if (p.ok) addr = p.cidr.len === familyBits(p.cidr.family) ? formatIp(p.cidr.family, p.cidr.addr) : p.canonical;
  }
  return [addr, ...rest].join(',');
}

/** Our sets from `ipset save` output; other software's sets are skipped unread. */
export function parseIpsetSave(text: string): Map<string, SetState> {
  const sets = new Map<string, { name: string; type: string; family: Family; maxelem: number; members: Set<string> }>();
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    const [verb, name] = parts;
    if (name === undefined || !isOwnSet(name)) continue;
    if (verb === 'create') {
      const opt = (k: string): string | undefined => { const i = parts.indexOf(k); return i >= 0 ? parts[i + 1] : undefined; };
      sets.set(name, {
        name,
        type: parts[2] ?? '',
        family: opt('family') === 'inet6' ? 6 : 4,
        maxelem: Number(opt('maxelem') ?? 65536),
        members: new Set(),
      });
    } else if (verb === 'add') {
      const member = parts[2];
      if (member !== undefined) sets.get(name)?.members.add(canonicalMember(member));
    }
  }
  return sets;
}
