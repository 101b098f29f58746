/**
 * Loc-RIB: the best accepted route per prefix over every peer's Adj-RIB-In (RFC 4271
 * 3.2, 9.1). It holds one Map entry per prefix pointing at the winning peer's table,
 * so the path itself is never copied. Each change in an Adj-RIB-In re-runs the
 * decision process for that one prefix (RFC 4271 9.1.2: only the affected routes).
 */
import { FAMILIES, type Family } from '../wire/types.js';
import type { AdjRibIn, ReceivedRoute } from './adj-rib-in.js';
import { decide, multipathSet, type Candidate, type Decision, type DecisionStep, type MultipathOptions, type Path } from './best-path.js';
import { prefixFamily } from '../wire/prefix.js';

export interface BestRoute {
  readonly prefix: string;
  readonly family: Family;
  /** Address of the peer the best path came from. */
  readonly peer: string;
  readonly path: Path;
}

export type BestChangedListener = (prefix: string, family: Family, best: BestRoute | null) => void;

export interface ExplainEntry {
  readonly peer: string;
  readonly path: Path;
  readonly status: 'best' | 'lost' | 'filtered';
  readonly step: DecisionStep | 'import-filter' | null;
  readonly why: string;
}

export interface Explanation {
  readonly prefix: string;
  readonly best: BestRoute | null;
  /** The best first, then each losing candidate with the step that removed it, then filtered ones. */
  readonly candidates: readonly ExplainEntry[];
}

export class LocRib {
  private readonly peers: AdjRibIn[] = [];
  private readonly best: Record<Family, Map<string, AdjRibIn>> = {
    'ipv4-unicast': new Map(),
    'ipv6-unicast': new Map(),
  };
  onBestChanged: BestChangedListener | null = null;
  /**
   * Called after every re-run of selection for a prefix, whether or not the best path
   * changed: a path equal to the best one (multipath) may have come or gone.
   */
  onPrefixChanged: ((prefix: string, family: Family) => void) | null = null;

  /** Take part in best-path selection; the table reports its changes from now on. */
  addPeer(rin: AdjRibIn): void {
    if (this.peers.includes(rin)) return;
    this.peers.push(rin);
    rin.onChange = (p, f) => this.recompute(p, f, rin);
    for (const f of FAMILIES) for (const p of rin.accepted(f).keys()) this.recompute(p, f, rin);
  }

  /** Leave selection: its routes go first (each recomputed), then the table detaches. */
  removePeer(rin: AdjRibIn): void {
    const i = this.peers.indexOf(rin);
    if (i < 0) return;
    this.peers.splice(i, 1);
    rin.onChange = null;
    for (const f of FAMILIES) for (const p of rin.accepted(f).keys()) this.recompute(p, f, rin);
  }

  private candidates(prefix: string, f: Family): Candidate[] {
    const out: Candidate[] = [];
    for (const rin of this.peers) {
      const path = rin.get(f, prefix);
      if (path) out.push({ source: rin, path });
    }
    return out;
  }

  /**
   * Re-run selection for one prefix after `changed` (a peer's table) changed it; notify
   * when the winner changed, or when the winner is the peer whose path just changed.
   */
  recompute(prefix: string, f: Family, changed: AdjRibIn | null): void {
    const map = this.best[f];
    const prev = map.get(prefix);
    let winner: AdjRibIn | undefined;
    if (this.peers.length === 1) {
      winner = this.peers[0]!.get(f, prefix) ? this.peers[0] : undefined;
    } else {
      const c = this.candidates(prefix, f);
      winner = c.length === 0 ? undefined : c.length === 1 ? (c[0]!.source as AdjRibIn) : (decide(c).best!.source as AdjRibIn);
    }
    if (winner) map.set(prefix, winner);
    else map.delete(prefix);
    this.onPrefixChanged?.(prefix, f);
    const cb = this.onBestChanged;
    if (!cb) return;
    if (!winner) {
      if (prev) cb(prefix, f, null);
      return;
    }
    if (winner !== prev || winner === changed) {
      cb(prefix, f, { prefix, family: f, peer: winner.address, path: winner.get(f, prefix)! });
    }
  }

  get(prefix: string): BestRoute | null {
    const f = prefixFamily(prefix);
    const rin = this.best[f].get(prefix);
    const path = rin?.get(f, prefix);
    return rin && path ? { prefix, family: f, peer: rin.address, path } : null;
  }

  /** The best route and every route multipath-equal to it (best-path.ts multipathSet); empty when none. */
  multipath(prefix: string, f: Family, opts: MultipathOptions = {}): BestRoute[] {
    return multipathSet(this.candidates(prefix, f), opts).map((c) => ({ prefix, family: f, peer: c.source.address, path: c.path }));
  }

  size(f: Family): number {
    return this.best[f].size;
  }

  *routes(f?: Family): Generator<BestRoute> {
    for (const fam of f ? [f] : FAMILIES) {
      for (const [prefix, rin] of this.best[fam]) {
        const path = rin.get(fam, prefix);
        if (path) yield { prefix, family: fam, peer: rin.address, path };
      }
    }
  }

  /** Every candidate for `prefix` and why it lost; filtered routes are listed too. */
  explain(prefix: string): Explanation {
    const f = prefixFamily(prefix);
    const d: Decision = decide(this.candidates(prefix, f));
    const candidates: ExplainEntry[] = d.ranked.map((r) => ({
      peer: r.candidate.source.address,
      path: r.candidate.path,
      status: r.best ? 'best' : 'lost',
      step: r.step,
      why: r.why,
    }));
    for (const rin of this.peers) {
      const r: ReceivedRoute | undefined = rin.lookup(f, prefix);
      if (r && !r.accepted) {
        candidates.push({ peer: rin.address, path: r.path, status: 'filtered', step: 'import-filter', why: r.reason ?? 'filtered' });
      }
    }
    const best = d.best ? { prefix, family: f, peer: d.best.source.address, path: d.best.path } : null;
    return { prefix, best, candidates };
  }
}
