// policy/reload.ts — may a running worker swap its zone model for another one? Pure: the
// two models, the worker's running endpoints and its running pools in, the reasons to
// refuse out (none: the swap is safe).
//
// The rule: a reload never widens what reaches a running endpoint through the removal or
// shrinking of policy objects. Explicit widening (an ingress rule added, a zone grown, a
// zone made non-isolated) is the operator's intent and applies. Three ways a removal or
// shrink widens, each refused:
//
//   1. endpoint-reclassified: a running endpoint's address changes zone. Out of every zone
//      it is `world`, and traffic between two world addresses is transit the policy does not
//      judge (check.ts `not-ours`): the container would be open to everyone. Into another
//      zone it gets that zone's rules, which its label never asked for.
//   2. pool-orphaned: pools change only at a restart, so the running pools keep handing out
//      addresses. A running pool whose zone disappears or no longer contains it would wire
//      the next container straight into case 1.
//   3. source-widened: addresses that leave every zone become `world`. When a zone holding
//      running endpoints admits more from world than it admitted from the zone those
//      addresses left, hosts there (other workers' containers included) gain access.
//
// Addresses moved from one zone into another are case 1 when a running endpoint of this
// worker holds them; otherwise the move is an explicit growth of the other zone and applies.

import { cidrContains, cidrContainsAddr, cidrOverlaps, familyBits, formatCidr, mustCidr, parseIp, type Cidr } from './cidr.js';
import { WORLD, parsePortSpec, type PolicyModel, type PortSpec, type Zone } from './model.js';
import { portSpecText } from './plan.js';

/** A running endpoint of this worker: a name for messages and its addresses. */
export interface RunningEndpoint {
  readonly name: string;
  readonly addresses: readonly string[];
}

/** A pool of the running config (`where` names it for messages, e.g. `pools[1]`). */
export interface RunningPool {
  readonly where: string;
  readonly cidr: string;
  readonly zone: string;
}

export interface ReloadInUse {
  readonly endpoints: readonly RunningEndpoint[];
  readonly pools: readonly RunningPool[];
}

export type ReloadProblemKind = 'endpoint-reclassified' | 'pool-orphaned' | 'source-widened';

export interface ReloadProblem {
  readonly kind: ReloadProblemKind;
  /** The zone of the running model that the change takes something away from. */
  readonly zone: string;
  /** Running containers the problem is about (names). */
  readonly containers: readonly string[];
  readonly message: string;
  readonly fix: string;
}

const EMPTY: PolicyModel = { zones: [], policy: { defaultAction: 'drop', logDrops: false } };

/**
 * Why `next` must not replace `running` on this worker (empty: it may). A model of
 * undefined means no zones are configured.
 */
export function reloadProblems(running: PolicyModel | undefined, next: PolicyModel | undefined, inUse: ReloadInUse): ReloadProblem[] {
  const a = running ?? EMPTY;
  const b = next ?? EMPTY;
  return [...reclassified(a, b, inUse.endpoints), ...orphanedPools(b, inUse.pools), ...sourceWidened(a, b, inUse.endpoints)];
}

/** One problem in one line, for the log and the status view. */
export function reloadProblemText(p: ReloadProblem): string {
  return `${p.message} (fix: ${p.fix})`;
}

// ---- 1. endpoints that would change zone ----

function zoneOfAddress(model: PolicyModel, text: string): string {
  const ip = parseIp(text);
  if (!ip) return WORLD;
  for (const z of model.zones) if (z.cidrs.some((c) => cidrContainsAddr(mustCidr(c), ip.family, ip.addr))) return z.name;
  return WORLD;
}

function listed(names: readonly string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

function reclassified(a: PolicyModel, b: PolicyModel, eps: readonly RunningEndpoint[]): ReloadProblem[] {
  // (old zone, new zone) → the containers (with the addresses that move).
  const moves = new Map<string, { from: string; to: string; who: string[] }>();
  for (const e of eps) {
    const moved: string[] = [];
    let from = '';
    let to = '';
    for (const addr of e.addresses) {
      const za = zoneOfAddress(a, addr);
      const zb = zoneOfAddress(b, addr);
      // An endpoint outside every zone in the running model has nothing to lose.
      if (za === WORLD || za === zb) continue;
      moved.push(addr);
      from = za;
      to = zb;
    }
    if (moved.length === 0) continue;
    const key = `${from}\u0000${to}`;
    const m = moves.get(key) ?? { from, to, who: [] };
    m.who.push(`${e.name} (${moved.join(', ')})`);
    moves.set(key, m);
  }
  return [...moves.values()].map(({ from, to, who }) => {
    const gone = !b.zones.some((z) => z.name === from);
    const change = gone ? `the new config removes zone "${from}"` : `the new ranges of zone "${from}" (${zoneByName(b, from)?.cidrs.join(', ')}) no longer hold their addresses`;
    const effect = to === WORLD
      ? 'they would be in no zone (world), where the policy judges nothing: open to every address'
      : `they would be judged as zone "${to}", which their label did not ask for`;
    return {
      kind: 'endpoint-reclassified' as const,
      zone: from,
      containers: who.map((w) => w.replace(/ \(.*$/, '')),
      message: `zone "${from}" still holds running containers ${listed(who)}: ${change}, so ${effect}`,
      fix: `stop those containers first, or keep their addresses inside zone "${from}"`,
    };
  });
}

function zoneByName(m: PolicyModel, name: string): Zone | undefined {
  return m.zones.find((z) => z.name === name);
}

// ---- 2. running pools whose zone would not hold them ----

function orphanedPools(b: PolicyModel, pools: readonly RunningPool[]): ReloadProblem[] {
  const out: ReloadProblem[] = [];
  for (const p of pools) {
    const zone = zoneByName(b, p.zone);
    const cidr = mustCidr(p.cidr);
    if (zone && zone.cidrs.some((c) => cidrContains(mustCidr(c), cidr))) continue;
    const why = zone === undefined ? `the new config has no zone "${p.zone}"` : `the new ranges of zone "${p.zone}" (${zone.cidrs.join(', ')}) do not contain it`;
    out.push({
      kind: 'pool-orphaned',
      zone: p.zone,
      containers: [],
      message: `${p.where} (${p.cidr}) gives addresses to zone "${p.zone}" until a restart (pools change only at restart), but ${why}: the next container started in it would be in no zone`,
      fix: `keep zone "${p.zone}" with a range holding ${p.cidr} in this reload; to remove or move the pool, change pools and zones together and restart the agent`,
    });
  }
  return out;
}

// ---- 3. addresses that leave every zone, and what world may reach ----

/** The parts of `c` that no prefix in `cover` holds (the fewest prefixes that say so). */
export function uncovered(c: Cidr, cover: readonly Cidr[]): Cidr[] {
  const near = cover.filter((x) => cidrOverlaps(x, c));
  if (near.length === 0) return [c];
  if (near.some((x) => cidrContains(x, c))) return [];
  // Some prefix lies strictly inside c: split c in halves (each recursion goes one bit
  // deeper along a covering prefix, so the work is bounded by cover × address bits).
  const len = c.len + 1;
  const bit = 1n << BigInt(familyBits(c.family) - len);
  return [...uncovered({ family: c.family, addr: c.addr, len }, near), ...uncovered({ family: c.family, addr: c.addr | bit, len }, near)];
}

/** Ports as sets: `any`, ICMP, and TCP/UDP intervals. */
interface PortSet {
  any: boolean;
  icmp: boolean;
  tcp: [number, number][];
  udp: [number, number][];
}

const ANY: PortSet = { any: true, icmp: true, tcp: [[1, 65535]], udp: [[1, 65535]] };

/** What zone `to` admits from `from` (a zone name or world). */
function admitted(from: string, to: Zone): { set: PortSet; specs: PortSpec[] } {
  if (from === to.name && !to.isolated) return { set: ANY, specs: [{ proto: 'any' }] };
  const set: PortSet = { any: false, icmp: false, tcp: [], udp: [] };
  const specs: PortSpec[] = [];
  for (const r of to.ingress) {
    if (r.from !== from) continue;
    for (const text of r.ports) {
      const p = parsePortSpec(text);
      if (!p.ok) continue; // the model validated already
      specs.push(p.spec);
      if (p.spec.proto === 'any') Object.assign(set, { ...ANY, tcp: [...ANY.tcp], udp: [...ANY.udp] });
      else if (p.spec.proto === 'icmp') set.icmp = true;
      else set[p.spec.proto].push([p.spec.from, p.spec.to]);
    }
  }
  return { set, specs };
}

function intervalCovered([lo, hi]: [number, number], by: readonly [number, number][]): boolean {
  let reach = lo - 1;
  for (const [a, b] of [...by].sort((x, y) => x[0] - y[0])) {
    if (a > reach + 1) break;
    reach = Math.max(reach, b);
    if (reach >= hi) return true;
  }
  return reach >= hi;
}

function specCovered(s: PortSpec, by: PortSet): boolean {
  if (by.any) return true;
  if (s.proto === 'any') return false;
  if (s.proto === 'icmp') return by.icmp;
  return intervalCovered([s.from, s.to], by[s.proto]);
}

function sourceWidened(a: PolicyModel, b: PolicyModel, eps: readonly RunningEndpoint[]): ReloadProblem[] {
  const newRanges = b.zones.flatMap((z) => z.cidrs.map(mustCidr));
  // Destination zones (of the next model) that hold running endpoints, with their names.
  const holders = new Map<string, string[]>();
  for (const e of eps) {
    for (const addr of e.addresses) {
      const z = zoneOfAddress(b, addr);
      if (z === WORLD) continue;
      const names = holders.get(z) ?? [];
      if (!names.includes(e.name)) names.push(e.name);
      holders.set(z, names);
    }
  }
  const out: ReloadProblem[] = [];
  for (const zo of a.zones) {
    const leaving = zo.cidrs.flatMap((c) => uncovered(mustCidr(c), newRanges));
    if (leaving.length === 0) continue;
    for (const [dName, names] of holders) {
      const dNew = zoneByName(b, dName);
      const dOld = zoneByName(a, dName);
      if (!dNew) continue;
      const before = dOld ? admitted(zo.name, dOld).set : { any: false, icmp: false, tcp: [], udp: [] };
      const extra = admitted(WORLD, dNew).specs.filter((s) => !specCovered(s, before));
      if (extra.length === 0) continue;
      const ranges = leaving.map(formatCidr);
      const gone = !b.zones.some((z) => z.name === zo.name);
      const ports = [...new Set(extra.map(portSpecText))].join(', ');
      out.push({
        kind: 'source-widened',
        zone: zo.name,
        containers: names,
        message: `${gone ? 'removing' : 'shrinking'} zone "${zo.name}" leaves ${listed(ranges, 4)} in no zone (world), and zone "${dName}" admits ${ports} from world, which it did not admit from zone "${zo.name}": its running containers ${listed(names)} would become reachable from those addresses`,
        fix: `keep those addresses in a zone, or narrow zone "${dName}"'s ingress from world in the same change`,
      });
    }
  }
  return out;
}
