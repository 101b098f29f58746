/**
 * The BGP decision process (RFC 4271 9.1) over the candidates for one prefix, written
 * as elimination rounds like 9.1.2.2 itself: each step removes the candidates that lose
 * on that criterion, so the result does not depend on arrival order even though MED is
 * only comparable within one neighbor AS. Every removed candidate records the step and
 * the values that decided against it, which is what `explain()` shows the operator.
 *
 * IGP cost to the next hop (9.1.2.2 e) is skipped: this speaker does not resolve next
 * hops through an IGP; every next hop counts as reachable.
 */
import { ORIGIN_NAMES, type AsPathSegment, type PathAttributes } from '../wire/types.js';
import { addressSortKey } from '../wire/prefix.js';
import { GRACEFUL_SHUTDOWN, LLGR_STALE } from '../wire/communities.js';

/** One path as stored: the UPDATE's shared attributes and the next hop(s) for its family. */
export interface Path {
  readonly attributes: PathAttributes;
  /** IPv4 NEXT_HOP, or MP_REACH next hops (IPv6: global, then link-local; RFC 2545 3). */
  readonly nextHops: readonly string[];
}

/** What the decision process needs to know about the peer a path came from. */
export interface PathSource {
  readonly address: string;
  readonly asn: number;
  readonly localAsn: number;
  /** The peer's BGP Identifier from its OPEN. */
  readonly routerId: string;
}

export interface Candidate {
  readonly source: PathSource;
  readonly path: Path;
}

export type DecisionStep =
  | 'llgr-stale'
  | 'local-pref'
  | 'as-path-length'
  | 'origin'
  | 'med'
  | 'ebgp-over-ibgp'
  | 'router-id'
  | 'peer-address';

export const DECISION_STEPS: readonly DecisionStep[] = [
  'llgr-stale',
  'local-pref',
  'as-path-length',
  'origin',
  'med',
  'ebgp-over-ibgp',
  'router-id',
  'peer-address',
];

export interface Ranked {
  readonly candidate: Candidate;
  readonly best: boolean;
  /** The step that removed this candidate (null for the best one). */
  readonly step: DecisionStep | null;
  readonly why: string;
}

export interface Decision {
  readonly best: Candidate | null;
  /** Every candidate: the best first, then the others in the order they were removed. */
  readonly ranked: readonly Ranked[];
}

/** RFC 4271 5.1.5: LOCAL_PREF from an external peer is ignored; 100 is the customary default. */
export const DEFAULT_LOCAL_PREF = 100;

export const isIbgp = (s: PathSource): boolean => s.asn === s.localAsn;

/** RFC 9494 4.3: the path was kept past its peer's restart time (LLGR_STALE). */
export const llgrStale = (c: Candidate): boolean => c.path.attributes.communities?.includes(LLGR_STALE) ?? false;

/** The path carries RFC 8326 GRACEFUL_SHUTDOWN: its sender is about to take it away. */
export const inGracefulShutdown = (c: Candidate): boolean => c.path.attributes.communities?.includes(GRACEFUL_SHUTDOWN) ?? false;

/**
 * The LOCAL_PREF the decision uses. RFC 8326 4.2: a path with GRACEFUL_SHUTDOWN gets
 * LOCAL_PREF 0 (as FRR does on receipt), so any other path wins over it while one is
 * there, and traffic moves before the withdrawal comes.
 */
export function effectiveLocalPref(c: Candidate): number {
  if (inGracefulShutdown(c)) return 0;
  return isIbgp(c.source) ? (c.path.attributes.localPref ?? DEFAULT_LOCAL_PREF) : DEFAULT_LOCAL_PREF;
}

/** RFC 4271 9.1.2.2 a: an AS_SET counts as 1; RFC 5065 5.3: confederation segments count 0. */
export function asPathLength(path: readonly AsPathSegment[] | undefined): number {
  let n = 0;
  for (const seg of path ?? []) {
    if (seg.type === 'sequence') n += seg.asns.length;
    else if (seg.type === 'set') n += 1;
  }
  return n;
}

/** RFC 4271 9.1.2.2 c: the neighbor AS is the first AS of the path; local routes use our ASN. */
export function neighborAs(c: Candidate): number {
  const first = c.path.attributes.asPath?.find((s) => s.type === 'sequence' && s.asns.length > 0);
  return first ? first.asns[0]! : c.source.localAsn;
}

function routerIdNumber(id: string): number {
  const p = id.split('.').map(Number);
  return p.length === 4 ? (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0) : Number.MAX_SAFE_INTEGER;
}

interface Criterion {
  /** Lower is better. */
  key(c: Candidate): number | string;
  show(c: Candidate): string;
  why(loser: string, winner: string): string;
}

const CRITERIA: Readonly<Record<Exclude<DecisionStep, 'med'>, Criterion>> = {
  // RFC 9494 4.3: a long-lived stale path is the least preferred, before any other step.
  'llgr-stale': {
    key: (c) => (llgrStale(c) ? 1 : 0),
    show: (c) => (llgrStale(c) ? 'LLGR_STALE' : 'not stale'),
    why: () => 'long-lived stale (LLGR_STALE, RFC 9494 4.3): kept past its peer\'s restart time, any other path wins',
  },
  'local-pref': {
    key: (c) => -effectiveLocalPref(c),
    show: (c) => (inGracefulShutdown(c) ? '0 (graceful-shutdown, RFC 8326)' : String(effectiveLocalPref(c))),
    why: (l, w) => `LOCAL_PREF ${l} is lower than ${w} (RFC 4271 9.1.1)`,
  },
  'as-path-length': {
    key: (c) => asPathLength(c.path.attributes.asPath),
    show: (c) => String(asPathLength(c.path.attributes.asPath)),
    why: (l, w) => `AS_PATH length ${l} is longer than ${w} (RFC 4271 9.1.2.2 a)`,
  },
  origin: {
    key: (c) => c.path.attributes.origin ?? 2,
    show: (c) => ORIGIN_NAMES[c.path.attributes.origin ?? 2],
    why: (l, w) => `ORIGIN ${l} is worse than ${w} (RFC 4271 9.1.2.2 b)`,
  },
  'ebgp-over-ibgp': {
    key: (c) => (isIbgp(c.source) ? 1 : 0),
    show: (c) => (isIbgp(c.source) ? 'iBGP' : 'eBGP'),
    why: (l, w) => `learned over ${l}; an ${w} route is preferred (RFC 4271 9.1.2.2 d)`,
  },
  'router-id': {
    key: (c) => routerIdNumber(c.source.routerId),
    show: (c) => c.source.routerId,
    why: (l, w) => `BGP Identifier ${l} is higher than ${w} (RFC 4271 9.1.2.2 f)`,
  },
  'peer-address': {
    key: (c) => addressSortKey(c.source.address),
    show: (c) => c.source.address,
    why: (l, w) => `peer address ${l} is higher than ${w} (RFC 4271 9.1.2.2 g)`,
  },
};

/** RFC 4271 9.1.2.2 c: a missing MED counts as the lowest value, 0. */
const medOf = (c: Candidate): number => c.path.attributes.med ?? 0;

/** Run the decision process over `candidates` and say why each one lost. */
export function decide(candidates: readonly Candidate[]): Decision {
  if (candidates.length === 0) return { best: null, ranked: [] };
  let remaining = [...candidates];
  const removed: Ranked[] = [];
  let decidedAt: DecisionStep | null = null;
  for (const step of DECISION_STEPS) {
    if (remaining.length <= 1) break;
    const keep: Candidate[] = [];
    if (step === 'med') {
      const minByAs = new Map<number, Candidate>();
      for (const c of remaining) {
        const m = minByAs.get(neighborAs(c));
        if (!m || medOf(c) < medOf(m)) minByAs.set(neighborAs(c), c);
      }
      for (const c of remaining) {
        const w = minByAs.get(neighborAs(c))!;
        if (medOf(c) > medOf(w)) {
          removed.push({
            candidate: c,
            best: false,
            step,
            why: `MED ${medOf(c)} is higher than ${medOf(w)} (via ${w.source.address}) from the same neighbor AS ${neighborAs(c)} (RFC 4271 9.1.2.2 c)`,
          });
        } else keep.push(c);
      }
    } else {
      const crit = CRITERIA[step];
      let min = remaining[0]!;
      for (const c of remaining) if (crit.key(c) < crit.key(min)) min = c;
      for (const c of remaining) {
        if (crit.key(c) > crit.key(min)) {
          removed.push({
            candidate: c,
            best: false,
            step,
            why: `${crit.why(crit.show(c), crit.show(min))} (best via ${min.source.address})`,
          });
        } else keep.push(c);
      }
    }
    if (keep.length < remaining.length) decidedAt = step;
    remaining = keep;
  }
  // Equal on every step (the same peer twice cannot happen): the first stays best.
  const best = remaining[0]!;
  for (const c of remaining.slice(1)) {
    removed.push({ candidate: c, best: false, step: 'peer-address', why: 'identical to the best path on every step' });
  }
  const why =
    candidates.length === 1 ? 'only candidate' : `best; the last step that decided was ${decidedAt ?? 'none'}`;
  return { best, ranked: [{ candidate: best, best: true, step: null, why }, ...removed] };
}

/** The winner only; the common one-candidate case allocates nothing. */
export function selectBest(candidates: readonly Candidate[]): Candidate | null {
  if (candidates.length <= 1) return candidates[0] ?? null;
  return decide(candidates).best;
}

/**
 * Multipath (ECMP): which candidates are as good as the best one, to be installed
 * together. There is no RFC for it; this is FRR's rule for eBGP multipath
 * (`maximum-paths`, bgp_path_info_cmp's "multipath" outcome): equal on LOCAL_PREF,
 * AS_PATH length, ORIGIN and MED, the same kind of session (eBGP or iBGP), and unless
 * `relaxAsPath` (FRR's `bgp bestpath as-path multipath-relax`) the same neighbouring AS.
 * Router ID and peer address, the tie-breakers, do not count: they only choose which of
 * the equal paths is "best" for the Loc-RIB and for `explain`.
 *
 * MED is compared between every candidate here (not only within a neighbour AS as in
 * 9.1.2.2 c): two ToRs of different AS with different MEDs are then not multipath,
 * which is the conservative choice (FRR compares MED only within an AS by default, but
 * then also requires the same neighbour AS unless relaxed).
 */
export interface MultipathOptions {
  /** Paths with different neighbouring AS (two ToRs in two AS) may be multipath. */
  readonly relaxAsPath?: boolean;
}

export function multipathEqual(best: Candidate, other: Candidate, opts: MultipathOptions = {}): boolean {
  if (llgrStale(best) !== llgrStale(other)) return false;
  if (effectiveLocalPref(best) !== effectiveLocalPref(other)) return false;
  if (asPathLength(best.path.attributes.asPath) !== asPathLength(other.path.attributes.asPath)) return false;
  if ((best.path.attributes.origin ?? 2) !== (other.path.attributes.origin ?? 2)) return false;
  if (medOf(best) !== medOf(other)) return false;
  if (isIbgp(best.source) !== isIbgp(other.source)) return false;
  if (!opts.relaxAsPath && neighborAs(best) !== neighborAs(other)) return false;
  return true;
}

/** The best candidate first, then every other candidate that is multipath-equal to it. */
export function multipathSet(candidates: readonly Candidate[], opts: MultipathOptions = {}): Candidate[] {
  const best = selectBest(candidates);
  if (!best) return [];
  return [best, ...candidates.filter((c) => c !== best && multipathEqual(best, c, opts))];
}
