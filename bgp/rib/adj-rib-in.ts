/**
 * Adj-RIB-In of one peer: every route the peer sent, before and after the import
 * filter. A route is one Map entry, prefix -> Path, and the Path object (attributes +
 * next hops) is shared by all prefixes of the UPDATE that carried it, so memory per
 * route is the map entry and the prefix string. Filtered routes are kept in their own
 * map: they stay visible (with the reason), and a changed filter re-evaluates them
 * without asking the peer again (the effect of RFC 2918's soft reconfiguration).
 *
 * RFC 7606 handling arrives decoded on the UPDATE: 'treat-as-withdraw' withdraws every
 * NLRI of the message (2), 'afisafi-disable' drops the family's routes and ignores the
 * family until the session is reset (RFC 4760 7). Session-reset never reaches here.
 */
import { afiFamily } from '../wire/prefix.js';
import { LLGR_STALE, NO_LLGR } from '../wire/communities.js';
import { FAMILIES, type Family, type UpdateMessage } from '../wire/types.js';
import type { Path, PathSource } from './best-path.js';
import { toImportFilter, type ImportFilter, type ImportFilterSpec } from './prefix-list.js';

export interface FamilyCounts {
  readonly received: number;
  readonly accepted: number;
  readonly filtered: number;
}

export interface AdjRibInStats {
  readonly updates: number;
  readonly treatAsWithdraw: number;
  readonly attributeDiscards: number;
  readonly disabledFamilies: readonly Family[];
}

/** RFC 4486: the family that crossed the limit and the limit itself, for Cease 6/1 data. */
export interface MaxPrefixExceeded {
  readonly family: Family;
  readonly limit: number;
  readonly received: number;
}

export interface ReceivedRoute {
  readonly prefix: string;
  readonly family: Family;
  readonly path: Path;
  readonly accepted: boolean;
  /** Why it was not accepted (null when accepted). */
  readonly reason: string | null;
  /** Kept from before the peer's restart and not re-advertised yet (RFC 4724 4.2, RFC 7313 4.2). */
  readonly stale: boolean;
}

/** Called for every prefix whose accepted route appeared, changed or went away. */
export type ChangeListener = (prefix: string, family: Family) => void;

interface Table {
  readonly accepted: Map<string, Path>;
  readonly filtered: Map<string, Path>;
}

export interface AdjRibInOptions {
  readonly filter?: ImportFilterSpec;
  /** Routes received (accepted + filtered, all families) above which the peer is shut down. */
  readonly maxPrefixes?: number;
}

export class AdjRibIn implements PathSource {
  private readonly tables: Record<Family, Table> = {
    'ipv4-unicast': { accepted: new Map(), filtered: new Map() },
    'ipv6-unicast': { accepted: new Map(), filtered: new Map() },
  };
  private readonly disabled = new Set<Family>();
  private filter: ImportFilter;
  private stats = { updates: 0, treatAsWithdraw: 0, attributeDiscards: 0 };
  private exceededReported = false;
  /** RFC 7313 4.2: routes present at the peer's BoRR that it has not re-advertised yet. */
  private readonly stale = new Map<Family, Set<string>>();
  /** Set by the Loc-RIB that owns this table. */
  onChange: ChangeListener | null = null;
  /** The peer's BGP Identifier, known once the session is established. */
  routerId = '0.0.0.0';
  maxPrefixes: number | undefined;

  constructor(
    readonly address: string,
    /** The peer's AS; set once its OPEN says it, for a peer configured as 'external' / 'internal'. */
    public asn: number,
    readonly localAsn: number,
    opts: AdjRibInOptions = {},
  ) {
    this.filter = toImportFilter(opts.filter);
    this.maxPrefixes = opts.maxPrefixes;
  }

  /**
   * Apply one decoded UPDATE. Returns what crossed the max-prefix limit (once per
   * session), or null. The caller (the speaker) sends Cease 6/1 and resets the session.
   */
  apply(u: UpdateMessage): MaxPrefixExceeded | null {
    this.stats.updates++;
    if (u.handling === 'attribute-discard') this.stats.attributeDiscards++;
    if (u.handling === 'afisafi-disable' && u.disabledFamily) {
      const f = afiFamily(u.disabledFamily.afi, u.disabledFamily.safi);
      if (f) this.disableFamily(f);
    }
    // Withdrawals apply whatever the handling: they are withdrawals anyway.
    for (const p of u.withdrawn) this.remove('ipv4-unicast', p);
    if (u.mpUnreach) {
      const f = afiFamily(u.mpUnreach.afi, u.mpUnreach.safi);
      if (f) for (const p of u.mpUnreach.withdrawn) this.remove(f, p);
    }
    const withdrawAll = u.handling === 'treat-as-withdraw';
    if (withdrawAll) this.stats.treatAsWithdraw++;
    let touched: Family | null = null;
    if (u.nlri.length > 0) {
      if (withdrawAll) for (const p of u.nlri) this.remove('ipv4-unicast', p);
      else if (u.attributes.nextHop !== undefined) {
        this.store('ipv4-unicast', u.nlri, Object.freeze({ attributes: u.attributes, nextHops: [u.attributes.nextHop] }));
        touched = 'ipv4-unicast';
      }
    }
    if (u.mpReach && u.mpReach.nlri.length > 0) {
      const f = afiFamily(u.mpReach.afi, u.mpReach.safi);
      if (f) {
        if (withdrawAll) for (const p of u.mpReach.nlri) this.remove(f, p);
        else {
          this.store(f, u.mpReach.nlri, Object.freeze({ attributes: u.attributes, nextHops: u.mpReach.nextHops }));
          touched = f;
        }
      }
    }
    if (touched && this.maxPrefixes !== undefined && !this.exceededReported) {
      const received = this.totalReceived();
      if (received > this.maxPrefixes) {
        this.exceededReported = true;
        return { family: touched, limit: this.maxPrefixes, received };
      }
    }
    return null;
  }

  /** RFC 4271 9.1.2: a route whose AS_PATH already holds our AS is a loop and never used. */
  private loops(path: Path): boolean {
    for (const seg of path.attributes.asPath ?? []) if (seg.asns.includes(this.localAsn)) return true;
    return false;
  }

  private reasonFor(prefix: string, path: Path): string {
    return this.loops(path) ? `AS path contains our AS ${this.localAsn} (loop, RFC 4271 9.1.2)` : this.filter.reason(prefix);
  }

  private store(f: Family, prefixes: readonly string[], path: Path): void {
    if (this.disabled.has(f)) return;
    const t = this.tables[f];
    const cb = this.onChange;
    const stale = this.stale.get(f);
    // Once per UPDATE, not per prefix: every prefix of it shares the path.
    const loop = this.loops(path);
    for (const p of prefixes) {
      if (stale) stale.delete(p);
      if (!loop && this.filter.accepts(p)) {
        t.accepted.set(p, path);
        if (t.filtered.size > 0) t.filtered.delete(p);
        if (cb) cb(p, f);
      } else {
        t.filtered.set(p, path);
        if (t.accepted.delete(p) && cb) cb(p, f);
      }
    }
  }

  private remove(f: Family, p: string): void {
    const t = this.tables[f];
    if (t.accepted.delete(p)) {
      if (this.onChange) this.onChange(p, f);
    } else t.filtered.delete(p);
  }

  /** RFC 7313 4.2: the peer sent BoRR; everything it has now is stale until re-advertised. */
  markStale(f: Family): void {
    const t = this.tables[f];
    this.stale.set(f, new Set([...t.accepted.keys(), ...t.filtered.keys()]));
  }

  /**
   * RFC 4724 4.2: the session of a graceful-restart peer went down. The routes of
   * `families` (those its capability listed) stay, marked stale until it re-advertises
   * them, sends End-of-RIB or runs out of time; every other family goes at once.
   */
  retainStale(families: readonly Family[]): void {
    for (const f of FAMILIES) {
      if (families.includes(f) && !this.disabled.has(f)) this.markStale(f);
      else {
        this.stale.delete(f);
        this.clearFamily(f);
      }
    }
    this.disabled.clear();
    this.exceededReported = false;
  }

  /** Families that still hold stale routes. */
  staleFamilies(): Family[] {
    return [...this.stale.keys()];
  }

  /** Stale routes still held, all families. */
  staleCount(): number {
    let n = 0;
    for (const [f, set] of this.stale) for (const p of set) if (this.lookup(f, p)) n++;
    return n;
  }

  isStale(f: Family, prefix: string): boolean {
    return this.stale.get(f)?.has(prefix) ?? false;
  }

  /**
   * RFC 9494 4.3: the peer's restart time is over and the family has a long-lived stale
   * time. Its stale routes stay, now carrying LLGR_STALE (which makes every other path
   * win over them); those marked NO_LLGR go. Returns how many stay and how many went.
   */
  keepLongLived(f: Family): { readonly kept: number; readonly dropped: number } {
    const stale = this.stale.get(f);
    if (!stale) return { kept: 0, dropped: 0 };
    const t = this.tables[f];
    let kept = 0;
    let dropped = 0;
    for (const p of [...stale]) {
      const where = t.accepted.has(p) ? t.accepted : t.filtered.has(p) ? t.filtered : null;
      const path = where?.get(p);
      if (!where || !path) continue;
      const cs = path.attributes.communities ?? [];
      if (cs.includes(NO_LLGR)) {
        stale.delete(p);
        this.remove(f, p);
        dropped++;
        continue;
      }
      kept++;
      if (cs.includes(LLGR_STALE)) continue;
      const communities = [...cs, LLGR_STALE].sort((a, b) => a - b);
      where.set(p, Object.freeze({ ...path, attributes: Object.freeze({ ...path.attributes, communities }) }));
      if (where === t.accepted && this.onChange) this.onChange(p, f);
    }
    return { kept, dropped };
  }

  /** RFC 7313 4.2: the peer sent EoRR; what it did not re-advertise is gone. Returns how many. */
  purgeStale(f: Family): number {
    const stale = this.stale.get(f);
    if (!stale) return 0;
    this.stale.delete(f);
    for (const p of stale) this.remove(f, p);
    return stale.size;
  }

  /** RFC 7606 / RFC 4760 7: forget the family and ignore it until the session resets. */
  disableFamily(f: Family): void {
    this.disabled.add(f);
    this.clearFamily(f);
  }

  private clearFamily(f: Family): void {
    const t = this.tables[f];
    const gone = [...t.accepted.keys()];
    t.accepted.clear();
    t.filtered.clear();
    if (this.onChange) for (const p of gone) this.onChange(p, f);
  }

  /** Session down: every route of this peer goes (RFC 4271 8: the Adj-RIB-In is deleted). */
  clear(): void {
    for (const f of FAMILIES) this.clearFamily(f);
    this.disabled.clear();
    this.stale.clear();
    this.exceededReported = false;
  }

  /** Replace the import filter and re-evaluate every stored route. */
  setFilter(spec: ImportFilterSpec): void {
    this.filter = toImportFilter(spec);
    for (const f of FAMILIES) {
      const t = this.tables[f];
      const all = [...t.accepted, ...t.filtered];
      t.accepted.clear();
      t.filtered.clear();
      const cb = this.onChange;
      this.onChange = null;
      const before = new Set(all.map(([p]) => p));
      for (const [p, path] of all) this.store(f, [p], path);
      this.onChange = cb;
      // Tell the Loc-RIB about every prefix whose acceptance may have changed.
      if (cb) for (const p of before) cb(p, f);
    }
  }

  accepted(f: Family): ReadonlyMap<string, Path> {
    return this.tables[f].accepted;
  }

  /** The accepted path for `prefix`, if any. */
  get(f: Family, prefix: string): Path | undefined {
    return this.tables[f].accepted.get(prefix);
  }

  /** Every received route of `f` (or all), accepted and filtered, with the reason. */
  *routes(f?: Family): Generator<ReceivedRoute> {
    for (const fam of f ? [f] : FAMILIES) {
      const t = this.tables[fam];
      const stale = this.stale.get(fam);
      for (const [prefix, path] of t.accepted) yield { prefix, family: fam, path, accepted: true, reason: null, stale: stale?.has(prefix) ?? false };
      for (const [prefix, path] of t.filtered)
        yield { prefix, family: fam, path, accepted: false, reason: this.reasonFor(prefix, path), stale: stale?.has(prefix) ?? false };
    }
  }

  /** The received route for one prefix, accepted or filtered. */
  lookup(f: Family, prefix: string): ReceivedRoute | undefined {
    const t = this.tables[f];
    const a = t.accepted.get(prefix);
    const stale = this.isStale(f, prefix);
    if (a) return { prefix, family: f, path: a, accepted: true, reason: null, stale };
    const x = t.filtered.get(prefix);
    return x ? { prefix, family: f, path: x, accepted: false, reason: this.reasonFor(prefix, x), stale } : undefined;
  }

  counts(f: Family): FamilyCounts {
    const t = this.tables[f];
    return { received: t.accepted.size + t.filtered.size, accepted: t.accepted.size, filtered: t.filtered.size };
  }

  totalReceived(): number {
    let n = 0;
    for (const f of FAMILIES) n += this.tables[f].accepted.size + this.tables[f].filtered.size;
    return n;
  }

  getStats(): AdjRibInStats {
    return { ...this.stats, disabledFamilies: [...this.disabled] };
  }
}

/** RFC 4486 4: Cease 6/1 data is AFI (2), SAFI (1) and the prefix upper bound (4). */
export function maxPrefixData(e: MaxPrefixExceeded): Buffer {
  const b = Buffer.alloc(7);
  b.writeUInt16BE(e.family === 'ipv4-unicast' ? 1 : 2, 0);
  b.writeUInt8(1, 2);
  b.writeUInt32BE(e.limit >>> 0, 3);
  return b;
}
