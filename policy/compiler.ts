// policy/compiler.ts — model + host + local endpoints → `ipset restore` text and
// `iptables-restore` / `ip6tables-restore` text for the policy's own chains. Pure: no
// kernel access, same input → same bytes (golden-tested).
//
// Layout (filter table, per family):
//   FORWARD ─(one jump)→ ROUTECTL-FWD      gate: from a container veth, or to a zone → ZONES;
//                                          anything else (transit world→world) is not ours.
//   ROUTECTL-ZONES   1. from rtc+ → SPOOF (before conntrack: a forged source must not ride an
//                       existing flow; RFC 3704 2.1 ingress filtering comes before state)
//                    1b. from rtc+ to a fabric peer on BGP/BFD ports → deny (also before
//                       conntrack, so closing it by reload cuts sessions already open)
//                    2. ESTABLISHED,RELATED accept (replies, and ICMP errors for our flows)
//                    3. INVALID drop
//                    4. from rtc+ to the worker's own addresses → HOST
//                    5. source zone → ROUTECTL-FROM-<zone>, else ROUTECTL-FROM-world
//   ROUTECTL-FROM-*  per destination zone: intra accept, ingress accepts, (log), deny — the
//                    deny rule's counter is the drop count of that (from, to) pair;
//                    last: egress to world accept.
//   INPUT ─(one jump)→ ROUTECTL-INPUT      only packets from rtc+: SPOOF, IPv6 ND, conntrack,
//                                          then HOST (protected ports, echo, opened ports, deny).
//
// Classification is by ipset only: zone sets (hash:net) say which zone an address is in,
// and the endpoint set (hash:net,iface) holds (container address, host veth) pairs, so a
// container start or stop is one `ipset add`/`del` and never changes an iptables rule.
// IPv6 link-local sources must be the container's own too (its link-local is a member of
// rtc-ep-6 beside its global address): a forged one would make the worker create a
// neighbour entry for it (an NS or RS with a link-layer option, or any packet it answers).
//
// ARP never meets iptables: the nftables table `arp routectl` (renderArpTableText) accepts ARP
// on a container veth only with the container's own IPv4 address as sender, from a set of
// (veth, address) pairs filled per endpoint like rtc-ep-4, and ARP probes (sender 0.0.0.0)
// at a rate per veth; everything else from a container veth is dropped before the ARP code
// could create a neighbour entry for it.

import { familyBits, formatIp, parseCidr, parseIp, type Family } from './cidr.js';
import { WORLD, parsePortSpec, type PolicyModel, type PortSpec } from './model.js';
import {
  CHAIN_FWD, CHAIN_HOST, CHAIN_INPUT, CHAIN_SPOOF, CHAIN_ZONES, MARK, NFT_ARP_FAMILY, NFT_ARP_PROBE_SET, NFT_ARP_SET,
  NFT_ARP_TABLE, VETH_MATCH, VETH_PREFIX, allZonesSetName, endpointSetName, fromChain, hostSetName, peerSetName,
  tempSetName, zoneSetName, type Generation,
} from './names.js';
import { buildPlan, portSpecText } from './plan.js';

/** A container on this worker: its host-side veth and its addresses. */
export interface Endpoint {
  readonly hostVeth: string;
  readonly ipv4?: string | undefined;
  readonly ipv6?: string | undefined;
  /**
   * The container's IPv6 link-local address (the source of its neighbour discovery), the
   * second rtc-ep-6 member of its veth. Without it the container's ND to the worker is
   * dropped as forged (its global address still works as an ND source).
   */
  readonly linkLocal?: string | undefined;
}

/** What protects the worker itself from its containers. */
export interface HostPolicy {
  /** The worker's own addresses (or prefixes): from a container, forwarded packets to these are judged as host traffic too. */
  readonly addresses: readonly string[];
  /** Port specs never reachable from containers even when `open` covers them (BGP, metrics, API). */
  readonly protectedPorts: readonly string[];
  /** Port specs containers may reach on the worker. Default: none (ICMP echo and IPv6 ND always work). */
  readonly open: readonly string[];
  /**
   * The fabric's control plane: addresses (the configured BGP peers) that containers may
   * not reach on `fabricPorts`. Empty or absent: no such rule (the operator opened it).
   */
  readonly fabricPeers?: readonly string[] | undefined;
  /** Port specs of the fabric's control plane; default FABRIC_PORTS. */
  readonly fabricPorts?: readonly string[] | undefined;
}

/**
 * BGP (RFC 4271 8.2.1: TCP 179) and BFD: single-hop control 3784 and echo 3785 (RFC 5881
 * 4), multihop control 4784 (RFC 5883 2).
 */
export const FABRIC_PORTS: readonly string[] = ['tcp/179', 'udp/3784', 'udp/3785', 'udp/4784'];

export const DEFAULT_HOST: HostPolicy = { addresses: [], protectedPorts: [...FABRIC_PORTS], open: [] };

export interface CompileInput {
  readonly model: PolicyModel;
  readonly host?: HostPolicy | undefined;
  readonly endpoints: readonly Endpoint[];
  /** Which set generation the rules reference; the applier alternates on every change. */
  readonly generation?: Generation | undefined;
}

export type SetType = 'hash:net' | 'hash:net,iface';

export interface SetSpec {
  readonly name: string;
  readonly type: SetType;
  readonly family: Family;
  readonly maxelem: number;
  /** Members as `ipset save` prints them: bare address for a host prefix, else addr/len; `,iface` for endpoints. */
  readonly members: readonly string[];
}

export interface FamilyRules {
  /** Our chains, in declaration order. */
  readonly chains: readonly string[];
  /** `-A CHAIN …` lines, exactly as iptables-save prints them. */
  readonly rules: readonly string[];
}

/** The nftables side (ARP): the table as `nft list` prints it, and the script that installs it. */
export interface ArpTable {
  /** `nft list table arp routectl` text without set elements and with zeroed counters: what apply compares. */
  readonly listing: string;
  /** `nft -f` script replacing the whole table, elements included, in one transaction. */
  readonly script: string;
  /** Elements of the (veth, address) set, as `"rtcX" . 198.51.100.5`. */
  readonly members: readonly string[];
}

export interface Compiled {
  readonly ipsetRestore: string;
  readonly iptablesRestore: string;
  readonly ip6tablesRestore: string;
  readonly generation: Generation;
  readonly sets: readonly SetSpec[];
  readonly v4: FamilyRules;
  readonly v6: FamilyRules;
  readonly arp: ArpTable;
}

export class PolicyCompileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyCompileError';
  }
}

/** The jump rules from the built-in chains; the applier makes sure each exists exactly once. */
export const JUMPS = [
  { chain: 'FORWARD', target: CHAIN_FWD },
  { chain: 'INPUT', target: CHAIN_INPUT },
] as const;

export function jumpRule(chain: string, target: string): string {
  return `-A ${chain} -m comment --comment "${MARK}jump" -j ${target}`;
}

const ZONE_MAXELEM = 65536;
/** Packets from :: (DAD, MLD) from all container veths together; a container needs a handful at start. */
const DAD_LIMIT = '50/sec';
const DAD_BURST = 100;
/** ARP probes (sender 0.0.0.0) per container veth: RFC 5227 2.1.1 sends 3 probes and 2 announcements. */
const ARP_PROBE_RATE = '5/second burst 10 packets';
const EP_MAXELEM = 262144;
/** Drops are logged at most this often per (from, to) rule, so a flood cannot fill the log. */
const LOG_LIMIT = '10/min';
/** nf_log prefix limit: 29 characters plus NUL. */
const LOG_PREFIX_MAX = 29;

const c = (id: string): string => `-m comment --comment "${MARK}${id}"`;

/** A member in `ipset save` form: bare address for a host prefix, else canonical addr/len. */
function memberText(text: string): string {
  const p = parseCidr(text);
  if (p.ok) return p.cidr.len === familyBits(p.cidr.family) ? formatIp(p.cidr.family, p.cidr.addr) : p.canonical;
  throw new PolicyCompileError(`"${text}" is not a canonical prefix: ${p.message}`);
}

function cidrFamily(text: string): Family | undefined {
  const p = parseCidr(text);
  return p.ok ? p.cidr.family : undefined;
}

/** An address or a prefix of the host, as a set member, with its family. */
function hostMember(text: string): { family: Family; member: string } {
  const ip = parseIp(text);
  if (ip) return { family: ip.family, member: formatIp(ip.family, ip.addr) };
  const p = parseCidr(text);
  if (!p.ok) throw new PolicyCompileError(`host address "${text}": ${p.message} (${p.fix})`);
  return { family: p.cidr.family, member: memberText(text) };
}

/** `-p … --dport …` for a port spec, in iptables-save order. */
function protoMatch(spec: PortSpec | undefined, family: Family): string {
  if (spec === undefined || spec.proto === 'any') return '';
  if (spec.proto === 'icmp') return family === 4 ? '-p icmp ' : '-p ipv6-icmp ';
  if (spec.from === 1 && spec.to === 65535) return `-p ${spec.proto} `;
  const ports = spec.from === spec.to ? `${spec.from}` : `${spec.from}:${spec.to}`;
  return `-p ${spec.proto} -m ${spec.proto} --dport ${ports} `;
}

function denyTarget(model: PolicyModel, family: Family): string {
  if (model.policy.defaultAction === 'drop') return '-j DROP';
  return family === 4 ? '-j REJECT --reject-with icmp-admin-prohibited' : '-j REJECT --reject-with icmp6-adm-prohibited';
}

function logPrefix(from: string, to: string): string {
  const room = LOG_PREFIX_MAX - 'rtc-deny >: '.length;
  let f = from;
  let t = to;
  if (f.length + t.length > room) {
    const half = Math.floor(room / 2);
    f = f.slice(0, Math.max(half, room - t.length));
    t = t.slice(0, room - f.length);
  }
  return `rtc-deny ${f}>${t}: `;
}

/** The sets of one generation plus the endpoint sets. */
function buildSets(input: CompileInput, gen: Generation, host: HostPolicy): SetSpec[] {
  const sets: SetSpec[] = [];
  for (const family of [4, 6] as const) {
    const inet = (cidrs: readonly string[]): string[] => cidrs.filter((t) => cidrFamily(t) === family).map(memberText);
    const all: string[] = [];
    for (const zone of input.model.zones) {
      const members = inet(zone.cidrs);
      all.push(...members);
      sets.push({ name: zoneSetName(gen, zone.name, family), type: 'hash:net', family, maxelem: ZONE_MAXELEM, members });
    }
    sets.push({ name: allZonesSetName(gen, family), type: 'hash:net', family, maxelem: ZONE_MAXELEM, members: all });
    const hostMembers = host.addresses.map(hostMember).filter((h) => h.family === family).map((h) => h.member);
    sets.push({ name: hostSetName(gen, family), type: 'hash:net', family, maxelem: ZONE_MAXELEM, members: [...new Set(hostMembers)] });
    sets.push({ name: peerSetName(gen, family), type: 'hash:net', family, maxelem: ZONE_MAXELEM, members: fabricMembers(host, family) });
    const eps: string[] = [];
    for (const ep of input.endpoints) {
      for (const addr of endpointAddresses(ep, family)) eps.push(`${addr},${ep.hostVeth}`);
    }
    sets.push({ name: endpointSetName(family), type: 'hash:net,iface', family, maxelem: EP_MAXELEM, members: [...new Set(eps)] });
  }
  return sets;
}

/** The worker's fabric peers of one family, as set members (no duplicates). */
function fabricMembers(host: HostPolicy, family: Family): string[] {
  return [...new Set((host.fabricPeers ?? []).map(hostMember).filter((h) => h.family === family).map((h) => h.member))];
}

/**
 * An endpoint's rtc-ep-<family> addresses, canonical: its address, and for IPv6 its
 * link-local too. Throws PolicyCompileError on an address of the wrong family.
 */
export function endpointAddresses(ep: Endpoint, family: Family): string[] {
  const out: string[] = [];
  const texts = family === 4 ? [ep.ipv4] : [ep.ipv6, ep.linkLocal];
  texts.forEach((addr, i) => {
    if (addr === undefined) return;
    const ip = parseIp(addr);
    if (!ip || ip.family !== family) throw new PolicyCompileError(`endpoint ${ep.hostVeth}: "${addr}" is not an IPv${family} address`);
    // RFC 4291 2.5.6: fe80::/10.
    if (i === 1 && ip.addr >> 118n !== 0x3fan) throw new PolicyCompileError(`endpoint ${ep.hostVeth}: link-local "${addr}" is not in fe80::/10`);
    out.push(formatIp(family, ip.addr));
  });
  return out;
}

/** `create` line for a set (the parameters must stay the same across renders: `-exist` only ignores an identical set). */
export function createLine(s: { name: string; type: SetType; family: Family; maxelem: number }, name = s.name): string {
  return `create ${name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'} maxelem ${s.maxelem} -exist`;
}

/**
 * ipset restore text that replaces each set's contents atomically: fill a temporary set,
 * `swap` it with the live one (iptables rules refer to sets by index, so they see the new
 * contents at once), destroy the temporary.
 */
export function renderIpsetRestore(sets: readonly SetSpec[]): string {
  const out: string[] = [];
  for (const s of sets) {
    const tmp = tempSetName(s.name);
    out.push(createLine(s), createLine(s, tmp), `flush ${tmp}`);
    for (const m of s.members) out.push(`add ${tmp} ${m}`);
    out.push(`swap ${tmp} ${s.name}`, `destroy ${tmp}`);
  }
  return out.join('\n') + '\n';
}

function familyRules(input: CompileInput, gen: Generation, host: HostPolicy, family: Family): FamilyRules {
  const { model } = input;
  const deny = denyTarget(model, family);
  const plan = buildPlan(model);
  const chains = [CHAIN_FWD, CHAIN_ZONES, CHAIN_SPOOF, CHAIN_INPUT, CHAIN_HOST, ...plan.map((p) => fromChain(p.from))];
  const r: string[] = [];
  const A = (chain: string, body: string): void => { r.push(`-A ${chain} ${body}`); };

  // Gate: only traffic that concerns a container or a zone is ours to judge.
  A(CHAIN_FWD, `-i ${VETH_MATCH} ${c('from-container')} -g ${CHAIN_ZONES}`);
  A(CHAIN_FWD, `-m set --match-set ${allZonesSetName(gen, family)} dst ${c('to-zone')} -g ${CHAIN_ZONES}`);

  A(CHAIN_ZONES, `-i ${VETH_MATCH} ${c('spoof-check')} -j ${CHAIN_SPOOF}`);
  // The fabric's control plane (BGP, BFD on the configured peers) is the worker's business,
  // never a container's: a container could otherwise open a session with, or disturb, the ToR.
  if (fabricMembers(host, family).length > 0) {
    for (const text of host.fabricPorts ?? FABRIC_PORTS) {
      const pm = protoMatch(mustSpec(text, 'host.fabricPorts'), family);
      const proto = pm.startsWith('-p ') ? pm.split(' ').slice(0, 2).join(' ') + ' ' : '';
      A(CHAIN_ZONES, `-i ${VETH_MATCH} ${proto}${pm.slice(proto.length)}-m set --match-set ${peerSetName(gen, family)} dst ${c(`fabric ${text}`)} ${deny}`);
    }
  }
  A(CHAIN_ZONES, `-m conntrack --ctstate RELATED,ESTABLISHED ${c('ct-established')} -j ACCEPT`);
  A(CHAIN_ZONES, `-m conntrack --ctstate INVALID ${c('ct-invalid')} -j DROP`);
  A(CHAIN_ZONES, `-i ${VETH_MATCH} -m set --match-set ${hostSetName(gen, family)} dst ${c('to-host')} -g ${CHAIN_HOST}`);
  for (const zone of model.zones) {
    A(CHAIN_ZONES, `-m set --match-set ${zoneSetName(gen, zone.name, family)} src ${c(`from ${zone.name}`)} -g ${fromChain(zone.name)}`);
  }
  A(CHAIN_ZONES, `${c(`from ${WORLD}`)} -g ${fromChain(WORLD)}`);

  // Anti-spoofing: the (source address, in-interface) pair must be a known endpoint.
  if (family === 6) {
    // DAD probes and early MLD reports come from :: (RFC 4862 5.4.2, RFC 3810 5.2.13) and
    // make no neighbour entry; rate-limited, as they are not checked against the set. A
    // container's own link-local (its ND source) is in rtc-ep-6 with its veth: any other
    // link-local source is forged and would make the worker create a neighbour entry.
    A(CHAIN_SPOOF, `-s ::/128 -p ipv6-icmp -m limit --limit ${DAD_LIMIT} --limit-burst ${DAD_BURST} ${c('spoof-dad')} -j RETURN`);
  }
  A(CHAIN_SPOOF, `-m set --match-set ${endpointSetName(family)} src,src ${c('spoof-ok')} -j RETURN`);
  A(CHAIN_SPOOF, `${c('spoof-drop')} -j DROP`);

  // Host protection: everything from a container to the worker itself.
  A(CHAIN_INPUT, `! -i ${VETH_MATCH} ${c('input-not-container')} -j RETURN`);
  A(CHAIN_INPUT, `${c('spoof-check')} -j ${CHAIN_SPOOF}`);
  if (family === 6) {
    // RFC 4861 6.1.1/7.1.1: valid RS/NS/NA carry hop limit 255, so off-link forgeries are excluded.
    for (const [type, name] of [[133, 'router-solicitation'], [135, 'neighbour-solicitation'], [136, 'neighbour-advertisement']] as const) {
      A(CHAIN_INPUT, `-p ipv6-icmp -m icmp6 --icmpv6-type ${type} -m hl --hl-eq 255 ${c(`host nd ${name}`)} -j ACCEPT`);
    }
  }
  A(CHAIN_INPUT, `-m conntrack --ctstate RELATED,ESTABLISHED ${c('ct-established')} -j ACCEPT`);
  A(CHAIN_INPUT, `-m conntrack --ctstate INVALID ${c('ct-invalid')} -j DROP`);
  A(CHAIN_INPUT, `${c('to-host')} -g ${CHAIN_HOST}`);

  for (const text of host.protectedPorts) {
    A(CHAIN_HOST, `${protoMatch(mustSpec(text, 'host.protectedPorts'), family)}${c(`host protected ${text}`)} ${deny}`);
  }
  A(CHAIN_HOST, family === 4
    ? `-p icmp -m icmp --icmp-type 8 ${c('host echo')} -j ACCEPT`
    : `-p ipv6-icmp -m icmp6 --icmpv6-type 128 ${c('host echo')} -j ACCEPT`);
  for (const text of host.open) {
    A(CHAIN_HOST, `${protoMatch(mustSpec(text, 'host.open'), family)}${c(`host open ${text}`)} -j ACCEPT`);
  }
  if (model.policy.logDrops) {
    A(CHAIN_HOST, `-m limit --limit ${LOG_LIMIT} ${c('log host')} -j LOG --log-prefix "${logPrefix('ctr', 'host')}"`);
  }
  A(CHAIN_HOST, `${c('host deny')} ${deny}`);

  for (const src of plan) {
    const chain = fromChain(src.from);
    for (const rule of src.rules) {
      const dst = rule.to === undefined ? '' : `-m set --match-set ${zoneSetName(gen, rule.to, family)} dst `;
      if (rule.action === 'accept') {
        // iptables-save prints `-p` first, then the matches in the order given.
        const pm = protoMatch(rule.spec, family);
        const proto = pm.startsWith('-p ') ? pm.split(' ').slice(0, 2).join(' ') + ' ' : '';
        const portPart = pm.slice(proto.length);
        A(chain, `${proto}${dst}${portPart}${c(rule.id)} -j ACCEPT`);
      } else {
        if (model.policy.logDrops && rule.to !== undefined) {
          A(chain, `${dst}-m limit --limit ${LOG_LIMIT} ${c(`log ${src.from}->${rule.to}`)} -j LOG --log-prefix "${logPrefix(src.from, rule.to)}"`);
        }
        A(chain, `${dst}${c(rule.id)} ${deny}`);
      }
    }
  }
  return { chains, rules: r };
}

function mustSpec(text: string, where: string): PortSpec {
  const p = parsePortSpec(text);
  if (!p.ok) throw new PolicyCompileError(`${where}: ${p.message} (${p.fix})`);
  return p.spec;
}

export interface RestoreOptions {
  /** How many of our jump rules each built-in chain holds now; the text makes it exactly one. */
  readonly jumps?: Readonly<Partial<Record<'FORWARD' | 'INPUT', number>>>;
  /** Our chains that exist in the kernel but are no longer wanted: flushed and deleted in the same transaction. */
  readonly staleChains?: readonly string[];
}

/**
 * One `iptables-restore --noflush` transaction: declaring a chain that exists flushes it,
 * so our chains are rebuilt and nothing else is touched; stale chains of ours go in the
 * same commit; the jump from FORWARD/INPUT is inserted first in the chain when missing and
 * extra copies are deleted.
 */
export function renderIptablesRestore(rules: FamilyRules, opts: RestoreOptions = {}): string {
  const out = ['*filter'];
  const stale = opts.staleChains ?? [];
  for (const ch of [...rules.chains, ...stale]) out.push(`:${ch} - [0:0]`);
  out.push(...rules.rules);
  for (const ch of stale) out.push(`-X ${ch}`);
  for (const j of JUMPS) {
    const have = opts.jumps?.[j.chain] ?? 0;
    const rule = jumpRule(j.chain, j.target).slice(`-A ${j.chain} `.length);
    if (have === 0) out.push(`-I ${j.chain} 1 ${rule}`);
    for (let i = 1; i < have; i++) out.push(`-D ${j.chain} ${rule}`);
  }
  out.push('COMMIT');
  return out.join('\n') + '\n';
}

/** One element of the ARP sender set: `"rtcX" . 198.51.100.5`. */
export function arpMember(hostVeth: string, ipv4: string): string {
  return `"${hostVeth}" . ${ipv4}`;
}

/** The ARP sender set's elements of these endpoints, sorted (set order is the kernel's). */
export function arpMembers(endpoints: readonly Endpoint[]): string[] {
  const out = new Set<string>();
  for (const ep of endpoints) for (const a of endpointAddresses(ep, 4)) out.add(arpMember(ep.hostVeth, a));
  return [...out].sort();
}

const ARP_SET_MAXELEM = 262144;
const ARP_PROBE_MAXELEM = 65536;

/**
 * The `arp routectl` table as `nft list table` prints it (tabs, a blank line between
 * objects), `elements` given or not. Hook `input` of family arp runs in arp_rcv before
 * arp_process, the code that creates a neighbour entry for the sender of a request it
 * answers (which proxy ARP makes every request on a veth); the kernel has already
 * dropped frames whose address lengths are not Ethernet/IPv4 (ar_hln, ar_pln), so
 * `arp saddr ip` reads the sender address.
 */
function renderArpTableText(members: readonly string[] | undefined): string {
  const T = '\t';
  const elements = members !== undefined && members.length > 0 ? [`${T}${T}elements = { ${members.join(`,\n${T}${T}${T}     `)} }`] : [];
  const lines = [
    `table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} {`,
    `${T}comment "${MARK}ARP from container veths: own sender addresses only"`,
    `${T}set ${NFT_ARP_SET} {`,
    `${T}${T}type ifname . ipv4_addr`,
    `${T}${T}size ${ARP_SET_MAXELEM}`,
    `${T}${T}comment "${MARK}(host veth, container IPv4 address)"`,
    ...elements,
    `${T}}`,
    '',
    `${T}set ${NFT_ARP_PROBE_SET} {`,
    `${T}${T}type ifname`,
    `${T}${T}size ${ARP_PROBE_MAXELEM}`,
    `${T}${T}flags dynamic,timeout`,
    `${T}${T}timeout 1m`,
    `${T}${T}comment "${MARK}ARP probe rate per host veth"`,
    `${T}}`,
    '',
    `${T}chain input {`,
    `${T}${T}type filter hook input priority filter; policy accept;`,
    `${T}${T}iifname != "${VETH_PREFIX}*" accept comment "${MARK}not-container"`,
    `${T}${T}iifname . arp saddr ip @${NFT_ARP_SET} accept comment "${MARK}arp-own"`,
    // RFC 5227 2.1.1: probes carry sender 0.0.0.0 and make no neighbour entry.
    `${T}${T}arp saddr ip 0.0.0.0 update @${NFT_ARP_PROBE_SET} { iifname limit rate ${ARP_PROBE_RATE} } counter packets 0 bytes 0 accept comment "${MARK}arp-probe"`,
    `${T}${T}counter packets 0 bytes 0 drop comment "${MARK}arp-drop"`,
    `${T}}`,
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** `nft list table arp routectl` text compared without set elements and counter values. */
export function normalizeArpListing(text: string): string {
  const out: string[] = [];
  let inElements = false;
  for (const line of text.split('\n')) {
    if (!inElements && /^\s*elements = \{/.test(line)) inElements = true;
    if (inElements) {
      if (line.trimEnd().endsWith('}')) inElements = false;
      continue;
    }
    out.push(line.replace(/counter packets \d+ bytes \d+/, 'counter packets 0 bytes 0'));
  }
  return out.join('\n').trimEnd() + '\n';
}

/** The `nft -f` script that installs exactly this table: declare (so delete cannot fail), delete, create; one transaction. */
export function renderArpScript(members: readonly string[]): string {
  return `table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} {}\ndelete table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE}\n${renderArpTableText(members)}`;
}

/** The `nft -f` script that removes the table (declared first, so it succeeds when absent). */
export function renderArpRemove(): string {
  return `table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} {}\ndelete table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE}\n`;
}

/**
 * Element changes in one `nft -f` transaction. A delete is preceded by an add of the same
 * element, so deleting what is already gone succeeds (nft 1.0.6 has no `destroy`).
 */
export function renderArpElementOps(ops: readonly { readonly verb: 'add' | 'del'; readonly member: string }[]): string {
  const el = (m: string): string => `${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} ${NFT_ARP_SET} { ${m} }`;
  return ops.map((o) => (o.verb === 'add' ? `add element ${el(o.member)}` : `add element ${el(o.member)}\ndelete element ${el(o.member)}`)).join('\n') + '\n';
}

function buildArp(endpoints: readonly Endpoint[]): ArpTable {
  const members = arpMembers(endpoints);
  return { listing: normalizeArpListing(renderArpTableText(undefined)), script: renderArpScript(members), members };
}

/** Compiles the model for this worker. Throws PolicyCompileError on an input the model checks do not cover. */
export function compile(input: CompileInput): Compiled {
  const gen = input.generation ?? 'a';
  const host = input.host ?? DEFAULT_HOST;
  for (const ep of input.endpoints) {
    // The anti-spoofing and host rules match `rtc+`; a veth outside that prefix would bypass them.
    if (!ep.hostVeth.startsWith(VETH_PREFIX) || ep.hostVeth.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(ep.hostVeth)) {
      throw new PolicyCompileError(`endpoint host veth "${ep.hostVeth}" must start with "${VETH_PREFIX}" and fit 15 characters`);
    }
  }
  const sets = buildSets(input, gen, host);
  const names = new Set<string>();
  for (const s of sets) {
    if (names.has(s.name)) throw new PolicyCompileError(`two zones map to the same set name ${s.name}; rename one`);
    names.add(s.name);
  }
  const v4 = familyRules(input, gen, host, 4);
  const v6 = familyRules(input, gen, host, 6);
  if (new Set(v4.chains).size !== v4.chains.length) throw new PolicyCompileError('two zones map to the same chain name; rename one');
  return {
    ipsetRestore: renderIpsetRestore(sets),
    iptablesRestore: renderIptablesRestore(v4),
    ip6tablesRestore: renderIptablesRestore(v6),
    generation: gen,
    sets,
    v4,
    v6,
    arp: buildArp(input.endpoints),
  };
}

export { portSpecText };
