/**
 * Adj-RIB-Out of one peer, declarative (MetalLB style): it knows what was sent and what
 * is desired (a DesiredRoutes shared by all peers) and turns the difference into packed
 * UPDATEs. Changed prefixes are queued in a dirty set; `next()` takes a bounded batch,
 * compares desired with sent at that moment (so changes that cancel out send nothing),
 * groups prefixes by attributes and packs each group into as few messages as fit.
 * Bounded batches are what let 100k+ prefixes stream under the session's flow control
 * without holding every encoded message at once; a batch cut short holds its partly
 * filled last message back, so batching costs no extra UPDATEs.
 *
 * After a (re)connect, `start()` begins from an empty Adj-RIB-Out and sends the desired
 * end state, then End-of-RIB per family (RFC 4724 2). A route refresh request resends a
 * family (RFC 2918 4), bracketed by BoRR/EoRR when enhanced route refresh was
 * negotiated (RFC 7313 4).
 */
import type { PreparedAnnouncement } from '../wire/pack.js';
import type { CodecContext, Family, LargeCommunity, PathAttributes } from '../wire/types.js';
import type { DesiredRoutes, RouteGroup } from './desired.js';
import { prefixFamily } from '../wire/prefix.js';
import { GRACEFUL_SHUTDOWN } from '../wire/communities.js';

/** The encoding functions the Adj-RIB-Out needs (bgp/wire in production). */
export interface Packer {
  /** `counts`, when given, is filled with the number of prefixes in each message returned. */
  announce(family: Family, attrs: PathAttributes, nextHops: readonly string[], prefixes: readonly string[], ctx: CodecContext, counts?: number[]): Buffer[];
  /**
   * Optional, with announcePrepared: encode once what `announce` would encode for every
   * batch with these attributes and next hops; the Adj-RIB-Out keeps it for the session.
   */
  prepare?(family: Family, attrs: PathAttributes, nextHops: readonly string[], ctx: CodecContext): PreparedAnnouncement;
  announcePrepared?(prepared: PreparedAnnouncement, prefixes: readonly string[], counts?: number[]): Buffer[];
  withdraw(family: Family, prefixes: readonly string[], ctx: CodecContext, counts?: number[]): Buffer[];
  endOfRib(family: Family): Buffer;
  /** RFC 7313 3: subtype 1 BoRR, 2 EoRR. */
  routeRefresh(family: Family, subtype: 1 | 2): Buffer;
}

/** What the session negotiated, as far as exporting routes is concerned. */
export interface ExportContext {
  readonly localAsn: number;
  readonly peerAsn: number;
  /** Families negotiated on the session; routes of other families are not sent. */
  readonly families: readonly Family[];
  readonly codec: CodecContext;
  /** Next hops per family; a string says why the family cannot be advertised. */
  readonly nextHops: Readonly<Record<Family, readonly string[] | string>>;
}

export interface AdvertisedRoute {
  readonly prefix: string;
  readonly family: Family;
  readonly attributes: PathAttributes;
  readonly nextHops: readonly string[];
}

/** Default prefixes per batch: ~16k IPv6 /128s encode to ~300 KB. */
export const DEFAULT_BATCH_PREFIXES = 16384;

/**
 * What one peer gets on top of every route (the operator's per-peer export policy):
 * communities and large communities added to the route's own, its AS prepended `prepend`
 * more times (eBGP only: RFC 4271 5.1.2 puts our AS on the path towards external peers),
 * and a MULTI_EXIT_DISC (RFC 4271 5.1.4) that replaces the route's own.
 */
export interface PeerExport {
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly prepend?: number;
  readonly med?: number;
  /**
   * RFC 8326 graceful shutdown of this session (the speaker's drain): every route carries
   * GRACEFUL_SHUTDOWN (65535:0), and towards an internal peer LOCAL_PREF 0 as well (RFC
   * 8326 4.1), so the peer prefers any other path before ours is withdrawn.
   */
  readonly gracefulShutdown?: boolean;
}

function union<T>(a: readonly T[] | undefined, b: readonly T[] | undefined, key: (x: T) => string, cmp: (x: T, y: T) => number): readonly T[] | undefined {
  if (!b || b.length === 0) return a;
  if (!a || a.length === 0) return b;
  return [...new Map([...a, ...b].map((x) => [key(x), x])).values()].sort(cmp);
}

const largeCmp = (x: LargeCommunity, y: LargeCommunity): number => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];

/** RFC 4271 5.1.5 / 5.1.2: what we attach to our own routes for this peer. */
export function exportAttributes(localAsn: number, peerAsn: number, g: RouteGroup, peer: PeerExport = {}): PathAttributes {
  const ibgp = localAsn === peerAsn;
  const added = peer.gracefulShutdown ? union(peer.communities, [GRACEFUL_SHUTDOWN], String, (x, y) => x - y) : peer.communities;
  const communities = union(g.communities, added, String, (x, y) => x - y);
  const large = union(g.largeCommunities, peer.largeCommunities, (l) => l.join(':'), largeCmp);
  const med = peer.med ?? g.med;
  return Object.freeze({
    origin: 0 as const, // IGP: the routes originate here
    asPath: ibgp ? [] : [{ type: 'sequence' as const, asns: new Array<number>(1 + (peer.prepend ?? 0)).fill(localAsn) }],
    ...(ibgp ? { localPref: peer.gracefulShutdown ? 0 : 100 } : {}),
    ...(med !== undefined ? { med } : {}),
    ...(communities ? { communities } : {}),
    ...(large ? { largeCommunities: large } : {}),
  });
}

export class AdjRibOut {
  private readonly sent = new Map<string, RouteGroup>();
  private readonly dirty = new Set<string>();
  private readonly sentCount: Record<Family, number> = { 'ipv4-unicast': 0, 'ipv6-unicast': 0 };
  /** Within one next(): what a prefix announced or withdrawn in this batch had been sent as, to undo a held-back message. */
  private readonly previouslySent = new Map<string, RouteGroup>();
  private readonly withdrawnWas = new Map<string, RouteGroup>();
  private ctx: ExportContext | null = null;
  private families = new Set<Family>();
  private readonly eorPending = new Set<Family>();
  private readonly borrPending: Family[] = [];
  private readonly eorrPending = new Set<Family>();
  private readonly attrCache = new Map<string, PathAttributes>();
  /** The packer's encoding of each attribute set, by the same key, for this session. */
  private readonly prepared = new Map<string, PreparedAnnouncement>();
  /** Families we could not advertise and why (no next hop). */
  readonly problems = new Map<Family, string>();
  /**
   * RFC 4724 4.1: while true, End-of-RIB stays owed: the restarting side sends it only
   * once its initial advertisement set is complete (the speaker's initialSyncDone).
   */
  holdEndOfRib = false;

  constructor(
    private readonly desired: DesiredRoutes,
    private readonly packer: Packer,
    private readonly batchPrefixes = DEFAULT_BATCH_PREFIXES,
    private peerExport: PeerExport = {},
  ) {}

  /**
   * A new per-peer export policy: every route the peer has is sent again with the new
   * attributes (an implicit withdraw-and-replace, RFC 4271 3.1), no session reset.
   */
  setExport(e: PeerExport): void {
    this.peerExport = e;
    this.attrCache.clear();
    this.prepared.clear();
    if (!this.ctx) return;
    for (const f of this.families) this.routeRefresh(f, false);
  }

  get active(): boolean {
    return this.ctx !== null;
  }

  /** Session established: fresh Adj-RIB-Out, the whole desired set queued, EoR owed. */
  start(ctx: ExportContext): void {
    this.ctx = ctx;
    this.families = new Set(ctx.families);
    this.resetState();
    for (const p of this.desired.prefixes()) this.dirty.add(p);
    for (const f of ctx.families) this.eorPending.add(f);
    this.problems.clear();
    for (const f of ctx.families) {
      const nh = ctx.nextHops[f];
      if (typeof nh === 'string') this.problems.set(f, nh);
    }
  }

  /** Session down: nothing is sent any more and nothing is known to be at the peer. */
  stop(): void {
    this.ctx = null;
    this.resetState();
  }

  private resetState(): void {
    this.sent.clear();
    this.dirty.clear();
    this.sentCount['ipv4-unicast'] = 0;
    this.sentCount['ipv6-unicast'] = 0;
    this.eorPending.clear();
    this.borrPending.length = 0;
    this.eorrPending.clear();
    this.attrCache.clear();
    this.prepared.clear();
  }

  /** The desired set changed at these prefixes. */
  changed(prefixes: Iterable<string>): void {
    if (!this.ctx) return;
    for (const p of prefixes) this.dirty.add(p);
  }

  /** Compare the whole desired set with what was sent (after an external replace). */
  resync(): void {
    if (!this.ctx) return;
    for (const [p, g] of this.desired.entries()) if (this.sent.get(p) !== g) this.dirty.add(p);
    for (const p of this.sent.keys()) if (!this.desired.has(p)) this.dirty.add(p);
  }

  /** RFC 2918 4 / RFC 7313 4: resend the family's whole Adj-RIB-Out. */
  routeRefresh(family: Family, enhanced: boolean): void {
    if (!this.ctx || !this.families.has(family)) return;
    for (const [p, g] of this.sent) {
      if (prefixFamily(p) !== family) continue;
      // Forget it was sent so the next batch announces it again.
      if (this.desired.get(p) === g) {
        this.sent.delete(p);
        this.sentCount[family]--;
      }
      this.dirty.add(p);
    }
    if (enhanced) {
      this.borrPending.push(family);
      this.eorrPending.add(family);
    }
  }

  /** True while something (updates, markers, End-of-RIB) is waiting to be sent. */
  get pending(): boolean {
    return this.ctx !== null && (this.dirty.size > 0 || (this.eorPending.size > 0 && !this.holdEndOfRib) || this.borrPending.length > 0 || this.eorrPending.size > 0);
  }

  private attributesFor(f: Family, g: RouteGroup): PathAttributes {
    const k = `${f}|${g.key}`;
    let a = this.attrCache.get(k);
    if (!a) {
      a = exportAttributes(this.ctx!.localAsn, this.ctx!.peerAsn, g, this.peerExport);
      this.attrCache.set(k, a);
    }
    return a;
  }

  /** Announcement UPDATEs for `prefixes` of one family and group. */
  private announce(f: Family, g: RouteGroup, prefixes: readonly string[], counts: number[]): Buffer[] {
    const ctx = this.ctx!;
    const nh = ctx.nextHops[f] as readonly string[];
    const { prepare, announcePrepared } = this.packer;
    if (!prepare || !announcePrepared) return this.packer.announce(f, this.attributesFor(f, g), nh, prefixes, ctx.codec, counts);
    const k = `${f}|${g.key}`;
    let p = this.prepared.get(k);
    if (!p) {
      p = prepare(f, this.attributesFor(f, g), nh, ctx.codec);
      this.prepared.set(k, p);
    }
    return announcePrepared(p, prefixes, counts);
  }

  /**
   * The next batch of messages to send, in order, or null when there is nothing to send.
   * What it returns is recorded as sent: hand it to the session before asking again.
   */
  next(): Buffer[] | null {
    const ctx = this.ctx;
    if (!ctx) return null;
    const borr = this.borrPending.shift();
    if (borr) return [this.packer.routeRefresh(borr, 1)];
    while (this.dirty.size > 0) {
      const withdraw: Record<Family, string[]> = { 'ipv4-unicast': [], 'ipv6-unicast': [] };
      const announce = new Map<string, { family: Family; group: RouteGroup; prefixes: string[] }>();
      let n = 0;
      for (const p of this.dirty) {
        this.dirty.delete(p);
        const f = prefixFamily(p);
        if (!this.families.has(f) || typeof ctx.nextHops[f] === 'string') continue;
        const want = this.desired.get(p);
        const have = this.sent.get(p);
        if (want === have) continue;
        if (want) {
          const k = `${f}|${want.key}`;
          let b = announce.get(k);
          if (!b) announce.set(k, (b = { family: f, group: want, prefixes: [] }));
          b.prefixes.push(p);
          if (have) this.previouslySent.set(p, have);
          this.sent.set(p, want);
          if (!have) this.sentCount[f]++;
        } else {
          withdraw[f].push(p);
          this.withdrawnWas.set(p, have!);
          this.sent.delete(p);
          this.sentCount[f]--;
        }
        if (++n >= this.batchPrefixes) break;
      }
      // A batch cut short leaves more to send: a group that filled two or more messages
      // keeps its last, partly filled one back (its prefixes go back in the queue) so it
      // fills up in the next batch — as few UPDATEs as fit overall. A group with a single
      // message sends it, so every batch makes progress.
      const cutShort = this.dirty.size > 0;
      const out: Buffer[] = [];
      const emit = (msgs: Buffer[], counts: number[], prefixes: readonly string[], undo: (p: string) => void): void => {
        if (cutShort && msgs.length >= 2 && counts.length === msgs.length) {
          const held = counts[counts.length - 1]!;
          for (const p of prefixes.slice(prefixes.length - held)) {
            undo(p);
            this.dirty.add(p);
          }
          msgs.pop();
        }
        out.push(...msgs);
      };
      for (const f of ['ipv4-unicast', 'ipv6-unicast'] as const) {
        if (withdraw[f].length === 0) continue;
        const counts: number[] = [];
        const msgs = this.packer.withdraw(f, withdraw[f], ctx.codec, counts);
        emit(msgs, counts, withdraw[f], (p) => {
          // Still withdrawn as far as the peer knows: it is sent with the next batch.
          const have = this.withdrawnWas.get(p);
          if (have) {
            this.sent.set(p, have);
            this.sentCount[f]++;
          }
        });
      }
      for (const b of announce.values()) {
        const counts: number[] = [];
        const msgs = this.announce(b.family, b.group, b.prefixes, counts);
        emit(msgs, counts, b.prefixes, (p) => {
          const before = this.previouslySent.get(p);
          if (before) this.sent.set(p, before);
          else {
            this.sent.delete(p);
            this.sentCount[b.family]--;
          }
        });
      }
      this.withdrawnWas.clear();
      this.previouslySent.clear();
      if (out.length > 0) return out;
    }
    if (this.eorrPending.size > 0) {
      const out = [...this.eorrPending].map((f) => this.packer.routeRefresh(f, 2));
      this.eorrPending.clear();
      return out;
    }
    if (this.eorPending.size > 0 && !this.holdEndOfRib) {
      const out = [...this.eorPending].map((f) => this.packer.endOfRib(f));
      this.eorPending.clear();
      return out;
    }
    return null;
  }

  /** Prefixes currently advertised to the peer in `f`. */
  count(f: Family): number {
    return this.sentCount[f];
  }

  /** What the peer has from us, with the attributes as sent. */
  *advertised(f?: Family): Generator<AdvertisedRoute> {
    const ctx = this.ctx;
    if (!ctx) return;
    for (const [prefix, g] of this.sent) {
      const family = prefixFamily(prefix);
      if (f && family !== f) continue;
      yield { prefix, family, attributes: this.attributesFor(family, g), nextHops: ctx.nextHops[family] as readonly string[] };
    }
  }

  /** The sent state as prefix -> group key, for tests and `routectl verify`. */
  snapshot(): Map<string, string> {
    return new Map([...this.sent].map(([p, g]) => [p, g.key]));
  }
}
