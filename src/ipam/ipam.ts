/**
 * IPAM: one IPv4 and one IPv6 address per endpoint from this worker's pools for the
 * endpoint's zone, kept in the Store.
 *
 * State is one document per worker: its endpoints' allocations, its claimed blocks, and a
 * next-fit cursor per pool, stored as one key or, in cluster mode, as a head and a key per
 * endpoint (layout.ts). Every change is a read-modify-write of that document guarded by
 * compare-and-swap on the document's (head's) revision, so an allocation of both
 * families is all-or-nothing, two concurrent allocations can never hand out the same
 * address, and the same code works against etcd. Changes that queue while a write is in
 * flight share the next write (group commit: one fsync'd rewrite per burst, see mutate).
 *
 * Cluster mode (a store shared by several workers, i.e. etcd): blocks are claimed for the
 * whole cluster before they are used. The claim is a create-only write (compare-and-swap
 * with "must not exist") of `ipam/blocks/<block>` naming the worker; only then does the
 * block enter this worker's document, and addresses come only from blocks in it. So two
 * workers never allocate from the same block, and each writes only its own document. The
 * next block is claimed ahead of need, in the background, once a quarter of a block or
 * less is free (prefetchIfLow), so that an allocation normally finds its address in a
 * held block; a full set of blocks still asks for another one (allocate catches
 * NeedBlock, claims, retries);
 * the search for a free block starts at a hash of the node name, so workers racing for
 * blocks start apart instead of all fighting over the lowest one. A block left empty for
 * the grace time is given back (releaseEmptyBlocks). A block the registry says is ours but
 * our document lacks (a claim whose second step failed) is adopted at the next claim.
 *
 * Allocation is next-fit (like CNI host-local): the search starts after the address
 * handed out last, so an address just released is not reused at once while the fabric
 * may still hold its old route or a peer its old neighbour entry.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CasConflictError, casUpdate, hasTransactions, type Store } from '../store/store.js';
import {
  AddressOutsidePoolsError,
  BlockOwnedError,
  AddressTakenError,
  AllocationConflictError,
  InvalidAddressError,
  IpamError,
  PoolExhaustedError,
  UnknownZoneError,
} from './errors.js';
import { emptyDoc, KeyPerEndpoint, OneDocument, type DocLayout, type HostDoc, type StoredDoc } from './layout.js';
import {
  blockBase,
  blockCidr,
  blockCount,
  blockIndexOf,
  blockSizeOf,
  formatAddress,
  parseAddress,
  parsePools,
  poolContains,
  type Block,
  type IpFamily,
  type Pool,
  type PoolConfig,
} from './pools.js';

export interface Allocation {
  readonly endpointId: string;
  readonly zone: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface AddressRequest {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** A change waiting for the write that will carry it. */
interface PendingChange {
  readonly fn: (doc: HostDoc) => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (err: unknown) => void;
  /** Told the change's result as soon as it is computed, before it is durable (once). */
  readonly announce?: (v: unknown) => void;
  /** The announced result (JSON): a re-application after a CAS conflict must give it again. */
  announced?: string;
}

export interface AllocateOptions {
  /**
   * Called once with the addresses as soon as they are chosen, before the write that makes
   * them durable has finished: the caller may start using them (plumbing) while the store
   * syncs, and must still wait for allocate()'s promise before it acknowledges anything. If
   * that promise rejects, nothing was stored and the caller undoes what it did with them.
   */
  readonly onChosen?: (a: Allocation) => void;
}

export interface ClusterOptions {
  /** Milliseconds a block must stay empty before releaseEmptyBlocks gives it back. */
  readonly blockGraceMs: number;
  /** Injected clock (ms). */
  readonly now?: () => number;
}

/** The registry entry of a claimed block. */
const BlockClaimSchema = z.object({ node: z.string(), pool: z.string() });
export type BlockClaim = z.infer<typeof BlockClaimSchema>;

export const BLOCKS_PREFIX = 'ipam/blocks/';
/** `198.51.100.64/26` -> `ipam/blocks/198.51.100.64-26` (a key segment has no '/'). */
export const blockKey = (cidr: string): string => BLOCKS_PREFIX + cidr.replace('/', '-');
export const blockOfKey = (key: string): string => {
  const seg = key.slice(BLOCKS_PREFIX.length);
  const i = seg.lastIndexOf('-');
  return `${seg.slice(0, i)}/${seg.slice(i + 1)}`;
};

/** Thrown inside a change: the change needs a block this worker has not claimed yet. */
class NeedBlock extends Error {
  constructor(
    readonly family: IpFamily,
    readonly pools: readonly Pool[],
    /** How many blocks of these pools the document held when the change failed. */
    readonly held: number,
    /** A fixed address's block (its pool is pools[0]); otherwise any free block. */
    readonly index?: bigint,
    readonly address?: string,
  ) {
    super('internal: a block must be claimed first');
  }
}

/** Where a worker's block search starts in a pool: a hash of its name (spreads racing workers). */
export function blockSearchStart(node: string, count: bigint): bigint {
  const h = createHash('sha256').update(node).digest();
  return h.readBigUInt64BE(0) % count;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly err: unknown };

const famKey = (f: IpFamily): 'ipv4' | 'ipv6' => (f === 4 ? 'ipv4' : 'ipv6');

export class Ipam {
  readonly pools: readonly Pool[];
  /** Changes waiting for the next write (group commit, see mutate). */
  private pending: PendingChange[] = [];
  /** A batch is being written; new changes wait for the next one. */
  private writing = false;
  /** The document once every change accepted so far is written (see mutate); unknown before the first write. */
  private projected: HostDoc | undefined;
  /** What this Ipam last wrote (or found unchanged), at which store revision: not parsed again. */
  private written: StoredDoc | undefined;
  /** How the document is stored: one document (local store) or a key per endpoint (cluster mode). */
  private readonly layout: DocLayout;

  /** Block claims in flight, one at a time (a burst of starts claims one block, not fifty). */
  private claiming: Promise<unknown> = Promise.resolve();
  /** Cluster mode: when each of our blocks was first seen empty. */
  private readonly emptySince = new Map<string, number>();
  /** Block claims that lost a compare-and-swap race (another worker took it first). */
  casRetries = 0;
  /** Blocks claimed ahead of need (prefetch), and prefetches that failed (the allocation that needs the block then claims it itself). */
  prefetched = 0;
  prefetchFailures = 0;
  /** Zone/family whose prefetch is queued or running (one per zone and family). */
  private readonly prefetching = new Set<string>();
  /** Cluster mode: when a block of each pool was last given back (prefetch holds off for a grace time after). */
  private readonly gaveBack = new Map<string, number>();
  /** Told of blocks that entered this worker's document ahead of need (prefetch). */
  private readonly claimListeners: ((cidrs: readonly string[]) => void)[] = [];
  /**
   * Cluster mode: why allocation must wait or fail now (the pools not yet checked against
   * the cluster's, because etcd did not answer at start); undefined when it may go on.
   */
  gate: (() => Error | undefined) | undefined;
  /** Told of blocks leaving this worker, before they are given back (onBlocksReleased). */
  private readonly releaseListeners: ((cidrs: readonly string[]) => Promise<void>)[] = [];

  constructor(
    private readonly store: Store,
    readonly node: string,
    pools: readonly PoolConfig[],
    readonly cluster?: ClusterOptions,
  ) {
    this.pools = parsePools(pools);
    if (cluster === undefined) this.layout = new OneDocument(store, node);
    else if (hasTransactions(store)) this.layout = new KeyPerEndpoint(store, node);
    else throw new IpamError('cluster mode needs a store with transactions (etcd)');
  }

  /** The worker's document's key (its head in cluster mode). */
  get key(): string {
    return this.layout.key;
  }

  zones(): string[] {
    return [...new Set(this.pools.map((p) => p.zone))];
  }

  private async read(): Promise<HostDoc> {
    return (await this.layout.read())?.value ?? emptyDoc();
  }

  /**
   * Read-modify-write under CAS; `fn` mutates a fresh copy and returns its result.
   *
   * Group commit: changes that arrive while a write is in flight wait, and the next write
   * carries all of them — one document rewrite (one temp write, fsync, rename, dir fsync
   * in the LocalStore) for a burst of container starts instead of one per container. Each
   * change is applied to its own copy of the document in arrival order, so one that throws
   * (pool exhausted, address taken) is rejected alone and leaves nothing half-done, while
   * the others go in. Every caller resolves only after the write holding its change has
   * resolved, i.e. is durable: nothing is acknowledged before its fsync.
   *
   * `announce` (see AllocateOptions.onChosen) is told the change's result as soon as it is
   * known, without waiting for the write in flight: each change is also applied, when it
   * arrives, to the projection — the document as it will be once every change accepted so
   * far is written (this Ipam is the document's only writer in normal operation). When
   * its write comes, the change is applied again to the document read then; allocate pins
   * the addresses it announced, so the result is the same, or the change fails (another
   * writer took them meanwhile) and its caller undoes what it did with them.
   */
  private mutate<T>(fn: (doc: HostDoc) => T, announce?: (v: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const c: PendingChange = { fn, resolve: resolve as (v: unknown) => void, reject, ...(announce ? { announce: announce as (v: unknown) => void } : {}) };
      this.pending.push(c);
      this.project(c);
      if (this.writing) return;
      this.writing = true;
      // Start once the code running now and what it set off has had its turn: calls made
      // meanwhile (Promise.all of many allocations) share the first write instead of
      // leaving it to the second one, and a caller told its addresses (announce) goes on
      // with them before the write's own work (reading and checking the document).
      setImmediate(() => void this.drain());
    });
  }

  /**
   * Applies a change to the projection (when there is one) and announces its result. A
   * change that fails here is left to fail for real when it is written.
   */
  private project(c: PendingChange): void {
    if (this.projected === undefined) return;
    const draft = cloneDoc(this.projected);
    let value: unknown;
    try {
      value = c.fn(draft);
    } catch {
      return;
    }
    this.projected = draft;
    if (c.announce && c.announced === undefined) {
      c.announced = JSON.stringify(value);
      const told = c.announce;
      queueMicrotask(() => told(value));
    }
  }

  /** Writes batches until nothing is pending; one at a time (CAS guards other writers). */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.commit(batch);
      }
    } finally {
      this.writing = false;
    }
  }

  private async commit(batch: readonly PendingChange[]): Promise<void> {
    let outcomes: Outcome[] = [];
    let written: HostDoc | undefined;
    let stored: StoredDoc | undefined;
    try {
      // This Ipam is its document's only writer in normal operation: the first attempt
      // starts from what it wrote last (known), guarded by that revision, without reading
      // it back (one store round trip per batch, the durable write itself); a conflict
      // reads and calls this again, every change re-applied to the fresh document.
      stored = await casUpdate(
        this.layout,
        (cur) => {
          let doc = cur?.value ?? emptyDoc();
          const announcements: (() => void)[] = [];
          outcomes = batch.map((c): Outcome => {
            const draft = cloneDoc(doc);
            try {
              const value = c.fn(draft);
              if (c.announce) {
                const json = JSON.stringify(value);
                if (c.announced === undefined) {
                  c.announced = json;
                  announcements.push(() => c.announce?.(value));
                } else if (json !== c.announced) {
                  // Someone else wrote the document meanwhile and this change now comes out
                  // differently from what its caller was told and is already using.
                  throw new IpamError(`the allocation changed while it was being written (store written concurrently): was ${c.announced}, now ${json}`);
                }
              }
              doc = draft;
              return { ok: true, value };
            } catch (err) {
              return { ok: false, err };
            }
          });
          // Told once the changes are computed, while the write runs.
          if (announcements.length > 0) queueMicrotask(() => announcements.forEach((a) => a()));
          written = doc;
          // Nothing changed (repeated requests, every change rejected): no write; what the
          // store holds is what it last made durable, so the callers may resolve.
          if (cur === undefined) return outcomes.some((o) => o.ok) ? doc : undefined;
          return sameDoc(doc, cur.value) ? cur.value : doc;
        },
        10,
        this.written,
      );
    } catch (err) {
      // The write failed (or CAS retries ran out): none of the changes is in the store.
      // The projection counted them: it is rebuilt from the next document read.
      this.projected = undefined;
      for (const c of batch) c.reject(err);
      return;
    }
    if (stored !== undefined) this.written = stored;
    // The projection from here: what was just written, plus what queued meanwhile (already
    // announced changes come out the same, their addresses pinned).
    this.projected = written;
    for (const c of this.pending) this.project(c);
    batch.forEach((c, i) => {
      const o = outcomes[i];
      if (o === undefined) c.reject(new IpamError('internal: change missing from its batch'));
      else if (o.ok) c.resolve(o.value);
      else c.reject(o.err);
    });
  }

  /**
   * Addresses for `endpointId` in `zone`: one per family the zone has pools for, or the
   * fixed ones requested. Idempotent: asking again for the same endpoint returns what it
   * already holds (a retried CNI ADD), unless the request contradicts it.
   */
  async allocate(endpointId: string, zone: string, req: AddressRequest = {}, opts: AllocateOptions = {}): Promise<Allocation> {
    if (this.cluster === undefined) return this.allocateOnce(endpointId, zone, req, opts);
    // Cluster mode: not before this worker's pools were checked against the cluster's.
    const closed = this.gate?.();
    if (closed !== undefined) throw closed;
    for (let attempt = 1; ; attempt++) {
      try {
        // The change is projected when allocateOnce returns its promise: the prefetch check
        // sees this allocation and the rest of the burst queued with it.
        const pending = this.allocateOnce(endpointId, zone, req, opts);
        this.prefetchIfLow(zone);
        return await pending;
      } catch (err) {
        if (!(err instanceof NeedBlock) || attempt >= 20) throw err;
        await this.claimFor(err, zone);
      }
    }
  }

  private async allocateOnce(endpointId: string, zone: string, req: AddressRequest, opts: AllocateOptions): Promise<Allocation> {
    const zonePools = this.pools.filter((p) => p.zone === zone);
    if (zonePools.length === 0) throw new UnknownZoneError(zone, this.zones());
    const fixed = new Map<IpFamily, bigint>();
    for (const f of [4, 6] as const) {
      const text = req[famKey(f)];
      if (text === undefined) continue;
      const a = parseAddress(text);
      if (a === null || a.family !== f) throw new InvalidAddressError(famKey(f), text);
      fixed.set(f, a.value);
    }
    // Addresses already handed to onChosen are kept when the change is applied again after
    // a CAS conflict (another writer on the store): asked for as fixed ones, so the
    // allocation fails if the other writer took them meanwhile, and is never a different one.
    let told: Allocation | undefined;
    return this.mutate((doc) => {
      const pinned = told;
      const existing = doc.endpoints[endpointId];
      if (existing !== undefined) {
        if (existing.zone !== zone) {
          throw new AllocationConflictError(endpointId, `it is in zone ${existing.zone}, not ${zone}`);
        }
        for (const [f, v] of fixed) {
          const want = formatAddress(f, v);
          if (existing[famKey(f)] !== want) {
            throw new AllocationConflictError(endpointId, `it holds ${existing[famKey(f)] ?? 'no ' + famKey(f)}, not ${want}`);
          }
        }
        return { endpointId, ...existing };
      }
      const owners = ownersOf(doc);
      const alloc: { endpointId: string; zone: string; ipv4?: string; ipv6?: string } = { endpointId, zone };
      for (const f of [4, 6] as const) {
        const pools = zonePools.filter((p) => p.family === f);
        const pinnedText = pinned?.[famKey(f)];
        const want = fixed.get(f) ?? (pinnedText !== undefined ? parseAddress(pinnedText)?.value : undefined);
        if (want !== undefined) {
          const text = formatAddress(f, want);
          const pool = pools.find((p) => poolContains(p, f, want));
          if (pool === undefined) throw new AddressOutsidePoolsError(text, zone, pools.map((p) => p.cidr));
          const owner = owners.get(text);
          if (owner !== undefined) throw new AddressTakenError(text, owner);
          const index = blockIndexOf(pool, want);
          if (this.cluster !== undefined && !claimedIndexes(doc, pool).includes(index)) throw new NeedBlock(f, [pool], heldBlocks(doc, [pool]), index, text);
          claim(doc, pool, index);
          // A pinned next-fit choice moves the cursor as the first choice did.
          if (!fixed.has(f)) doc.cursors[pool.cidr] = text;
          alloc[famKey(f)] = text;
          continue;
        }
        if (pools.length === 0) continue;
        const got = nextFree(doc, pools, owners, this.cluster === undefined);
        if (got === undefined) {
          if (this.cluster !== undefined) throw new NeedBlock(f, pools, heldBlocks(doc, pools));
          throw new PoolExhaustedError(zone, f, pools.map((p) => p.cidr));
        }
        alloc[famKey(f)] = got;
      }
      doc.endpoints[endpointId] = stripId(alloc);
      if (opts.onChosen) told ??= alloc;
      return alloc;
    }, opts.onChosen);
  }

  /** Frees the endpoint's addresses; "not allocated" is success (returns undefined). */
  async release(endpointId: string): Promise<Allocation | undefined> {
    // No read first: an endpoint that holds nothing leaves the document as it is, and the
    // write is then skipped (after a read, when the document was not read yet).
    return this.mutate((d) => {
      const e = d.endpoints[endpointId];
      if (e === undefined) return undefined;
      delete d.endpoints[endpointId];
      return { endpointId, ...e };
    });
  }

  async get(endpointId: string): Promise<Allocation | undefined> {
    const e = (await this.read()).endpoints[endpointId];
    return e && { endpointId, ...e };
  }

  async list(): Promise<Allocation[]> {
    const doc = await this.read();
    return Object.entries(doc.endpoints)
      .map(([endpointId, e]) => ({ endpointId, ...e }))
      .sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1));
  }

  /** Frees every allocation whose endpoint is not live (leaks: died while we were down). */
  async reconcile(liveEndpointIds: Iterable<string>): Promise<Allocation[]> {
    const live = new Set(liveEndpointIds);
    const doc = await this.read();
    if (Object.keys(doc.endpoints).every((id) => live.has(id))) return [];
    return this.mutate((d) => {
      const freed: Allocation[] = [];
      for (const [id, e] of Object.entries(d.endpoints)) {
        if (live.has(id)) continue;
        delete d.endpoints[id];
        freed.push({ endpointId: id, ...e });
      }
      return freed;
    });
  }

  /** This worker's claimed blocks (what an aggregated pool advertises and blackholes). */
  async blocks(): Promise<Block[]> {
    const doc = await this.read();
    const out: Block[] = [];
    for (const p of this.pools) {
      for (const cidr of doc.blocks[p.cidr] ?? []) {
        out.push({ cidr, pool: p.cidr, zone: p.zone, family: p.family, aggregate: p.aggregate });
      }
    }
    return out;
  }

  /**
   * Cluster mode: claims a block for a change that needs one (one claim at a time; a
   * change that waited for another's claim just retries, the new block may serve it).
   */
  private claimFor(need: NeedBlock, zone: string): Promise<void> {
    const run = this.claiming.then(async () => {
      await this.claimBlock(need, zone);
    });
    this.claiming = run.catch(() => undefined);
    return run;
  }

  private async claimBlock(need: NeedBlock, zone: string): Promise<string[]> {
    // A claim before this one (a prefetch, another change's) may have served this change
    // already: it retries at once, without a store call. This Ipam is its document's only
    // writer in normal operation, so what it wrote last says so; the read below checks.
    const known = this.projected ?? this.written?.value;
    if (need.index === undefined && known !== undefined && heldBlocks(known, need.pools) > need.held) return [];
    const doc = await this.read();
    const claims = await this.registry();
    // Adopt what the registry says is ours and our document lacks (a claim cut short).
    const adopted = await this.adoptOrphans(doc, need.pools, claims);
    if (adopted.length > 0) return adopted;
    if (need.index !== undefined) {
      const pool = need.pools[0];
      if (pool === undefined) return [];
      const cidr = blockCidr(pool, need.index);
      const owner = claims.get(cidr)?.owner;
      if (owner !== undefined && owner !== this.node) throw new BlockOwnedError(need.address ?? cidr, cidr, owner);
      if (await this.tryClaim(pool, need.index)) return [cidr];
      const now = BlockClaimSchema.safeParse((await this.store.get(blockKey(cidr)))?.value);
      throw new BlockOwnedError(need.address ?? cidr, cidr, now.success ? now.data.node : 'another worker');
    }
    // A claim in flight before ours may have served this change already: it retries first.
    if (heldBlocks(doc, need.pools) > need.held) return [];
    const got = await this.createFree(need.pools, claims);
    if (got !== undefined) {
      await this.mutate((d) => claim(d, got.pool, got.index));
      return [blockCidr(got.pool, got.index)];
    }
    const pools = this.pools.filter((p) => p.zone === zone && p.family === need.family).map((p) => p.cidr);
    throw new PoolExhaustedError(zone, need.family, pools);
  }

  /** The block registry: block cidr -> owner and revision. */
  private async registry(): Promise<Map<string, { owner: string; revision: number }>> {
    const claims = new Map<string, { owner: string; revision: number }>();
    for (const e of await this.store.list(BLOCKS_PREFIX)) {
      const c = BlockClaimSchema.safeParse(e.value);
      claims.set(blockOfKey(e.key), { owner: c.success ? c.data.node : '(unreadable entry)', revision: e.revision });
    }
    return claims;
  }

  /** Blocks of `pools` the registry gives to this worker and `doc` lacks: written into the document. */
  private async adoptOrphans(doc: HostDoc, pools: readonly Pool[], claims: ReadonlyMap<string, { owner: string }>): Promise<string[]> {
    const orphans: { pool: Pool; cidr: string }[] = [];
    for (const p of pools) {
      for (const [cidr, c] of claims) {
        if (c.owner !== this.node || (doc.blocks[p.cidr] ?? []).includes(cidr)) continue;
        const a = parseAddress(cidr.slice(0, cidr.indexOf('/')));
        if (a !== null && poolContains(p, a.family, a.value) && cidr.endsWith(`/${p.blockLength}`)) orphans.push({ pool: p, cidr });
      }
    }
    if (orphans.length === 0) return [];
    await this.mutate((d) => {
      for (const o of orphans) claim(d, o.pool, blockIndexOf(o.pool, parseAddress(o.cidr.slice(0, o.cidr.indexOf('/')))?.value ?? o.pool.base));
    });
    return orphans.map((o) => o.cidr);
  }

  /**
   * Walks the pools' blocks from this worker's search start and takes the first free one
   * with a create-only write of its registry entry (a lost race moves on to the next).
   * The block is not in this worker's document yet: the caller writes it there. Undefined:
   * no block of these pools is free.
   */
  private async createFree(pools: readonly Pool[], claims: ReadonlyMap<string, unknown>): Promise<{ pool: Pool; index: bigint } | undefined> {
    for (const p of pools) {
      const count = blockCount(p);
      const start = blockSearchStart(this.node, count);
      let free = count - BigInt([...claims.keys()].filter((c) => c.endsWith(`/${p.blockLength}`) && poolContains(p, p.family, parseAddress(c.slice(0, c.indexOf('/')))?.value ?? -1n)).length);
      for (let k = 0n; k < count && free > 0n; k++) {
        const i = (start + k) % count;
        if (claims.has(blockCidr(p, i))) continue;
        if (await this.create(p, i)) return { pool: p, index: i };
        free--;
      }
    }
    return undefined;
  }

  /**
   * Cluster mode: claims the next block of a zone's family before an allocation needs it,
   * so that an allocation normally finds a free address in a block already held and its
   * cost stays one write of this worker's document (a claim adds a list of the registry,
   * a create-only write and a document write). Asked after each allocation is projected:
   * when the free addresses left across the held blocks of the zone's pools of a family
   * (counted on the projection, so a burst already queued is counted as used, and an
   * empty spare block as free) are at most a quarter of a block, one claim is queued
   * behind any claim in flight (the same `claiming` chain, one claim at a time), in the
   * background: one list of the registry, a create-only write per family that runs low
   * (at once), then one write of the document with all of them (it shares the group commit with the
   * allocations in flight). A claim that fails here (pool exhausted, etcd not answering) is left to
   * the allocation that needs the block: it claims for itself and reports that error.
   * For a grace time after a block of those pools was given back, nothing is prefetched:
   * the worker showed it did not need the spare, and claiming it again at once would only
   * make it be given back again after its grace.
   */
  private prefetchIfLow(zone: string): void {
    const doc = this.projected ?? this.written?.value;
    if (this.cluster === undefined || doc === undefined || this.prefetching.has(zone)) return;
    const families = [4, 6].map((f) => this.pools.filter((p) => p.zone === zone && p.family === f)).filter((pools) => pools.length > 0);
    if (!families.some((pools) => this.lowOn(doc, pools))) return;
    this.prefetching.add(zone);
    const run = this.claiming.then(async () => {
      // Looked at again now that the claims before it are done. The projection counts the
      // allocations still being written (this worker is its document's only writer).
      const now = this.projected ?? (await this.read());
      const low = families.filter((pools) => this.lowOn(now, pools));
      if (low.length === 0) return;
      const claims = await this.registry();
      const adopted = await this.adoptOrphans(now, low.flat(), claims);
      if (adopted.length > 0) {
        this.prefetched += adopted.length;
        for (const l of this.claimListeners) l(adopted);
        return;
      }
      // Every low family's block in the registry first (the families at once), then all of
      // them in one write of the document.
      const found = await Promise.all(low.map((pools) => this.createFree(pools, claims)));
      const got = found.filter((b): b is { pool: Pool; index: bigint } => b !== undefined);
      this.prefetchFailures += found.length - got.length; // exhausted: the allocation that needs a block says so
      if (got.length === 0) return;
      await this.mutate((d) => got.forEach((b) => claim(d, b.pool, b.index)));
      const cidrs = got.map((b) => blockCidr(b.pool, b.index));
      this.prefetched += cidrs.length;
      for (const l of this.claimListeners) l(cidrs);
    });
    this.claiming = run.catch(() => undefined);
    void run
      .catch(() => {
        this.prefetchFailures++;
      })
      .finally(() => this.prefetching.delete(zone));
  }

  /** Resolves once no block claim (prefetch or on demand) is queued or running. */
  async claimsSettled(): Promise<void> {
    for (let c = this.claiming; ; c = this.claiming) {
      await c;
      if (c === this.claiming && this.prefetching.size === 0) return;
    }
  }

  /** At most a quarter of a block free across the held blocks of `pools` (one family, at least one block held), and no recent give-back. */
  private lowOn(doc: HostDoc, pools: readonly Pool[]): boolean {
    const now = (this.cluster?.now ?? Date.now)();
    const grace = this.cluster?.blockGraceMs ?? 0;
    if (pools.some((p) => now - (this.gaveBack.get(p.cidr) ?? -Infinity) < grace)) return false;
    // No block yet: the allocation that needs the first one claims it (nothing to run low on).
    if (heldBlocks(doc, pools) === 0) return false;
    const size = pools.reduce((m, p) => (blockSizeOf(p) < m ? blockSizeOf(p) : m), blockSizeOf(pools[0]!));
    const threshold = size / 4n > 0n ? size / 4n : 1n;
    return freeIn(doc, pools) <= threshold;
  }

  /**
   * `fn` is told of blocks that entered this worker's document ahead of need (prefetch), so
   * that they are blackholed and advertised at once rather than at their first address.
   */
  onBlocksClaimed(fn: (cidrs: readonly string[]) => void): void {
    this.claimListeners.push(fn);
  }

  /** Create-only write of the block's registry entry, then the block enters our document. */
  private async tryClaim(pool: Pool, index: bigint): Promise<boolean> {
    if (!(await this.create(pool, index))) return false;
    await this.mutate((d) => claim(d, pool, index));
    return true;
  }

  /** Create-only write of the block's registry entry; false: another worker has it (a lost race). */
  private async create(pool: Pool, index: bigint): Promise<boolean> {
    try {
      await this.store.put(blockKey(blockCidr(pool, index)), { node: this.node, pool: pool.cidr }, { expectRevision: 0 });
      return true;
    } catch (err) {
      if (!(err instanceof CasConflictError)) throw err;
      this.casRetries++;
      return false;
    }
  }

  /**
   * Cluster mode: gives back blocks that have held no address for the grace time. The
   * block leaves this worker's document first (nothing allocates from it any more), then
   * its registry entry goes, guarded by its revision. Returns the blocks given back.
   */
  async releaseEmptyBlocks(): Promise<string[]> {
    if (this.cluster === undefined) return [];
    const now = (this.cluster.now ?? Date.now)();
    const doc = await this.read();
    const used = usedBlocks(doc, this.pools);
    const due: string[] = [];
    const ours = new Set<string>();
    for (const p of this.pools) {
      for (const cidr of doc.blocks[p.cidr] ?? []) {
        ours.add(cidr);
        if (used.has(cidr)) {
          this.emptySince.delete(cidr);
          continue;
        }
        const since = this.emptySince.get(cidr);
        if (since === undefined) this.emptySince.set(cidr, now);
        else if (now - since >= this.cluster.blockGraceMs) due.push(cidr);
      }
    }
    for (const cidr of this.emptySince.keys()) if (!ours.has(cidr)) this.emptySince.delete(cidr);
    if (due.length === 0) return [];
    const dropped = await this.mutate((d) => {
      const stillUsed = usedBlocks(d, this.pools);
      const out: string[] = [];
      for (const [pool, list] of Object.entries(d.blocks)) {
        const keep = list.filter((c) => !due.includes(c) || stillUsed.has(c));
        out.push(...list.filter((c) => !keep.includes(c)));
        d.blocks[pool] = keep;
      }
      return out;
    });
    // Their advertisement and blackhole go before another worker can claim them: a
    // blackhole left behind would drop this worker's own traffic to that worker's block.
    if (dropped.length > 0) for (const l of this.releaseListeners) await l(dropped);
    for (const cidr of dropped) {
      this.emptySince.delete(cidr);
      const a = parseAddress(cidr.slice(0, cidr.indexOf('/')));
      const pool = a === null ? undefined : this.pools.find((p) => poolContains(p, a.family, a.value));
      if (pool !== undefined) this.gaveBack.set(pool.cidr, now);
      const e = await this.store.get(blockKey(cidr));
      const c = e && BlockClaimSchema.safeParse(e.value);
      if (e !== undefined && c?.success === true && c.data.node === this.node) {
        await this.store.delete(blockKey(cidr), { expectRevision: e.revision }).catch((err: unknown) => {
          if (!(err instanceof CasConflictError)) throw err;
        });
      }
    }
    return dropped;
  }

  /**
   * `fn` is told of blocks that have left this worker's document, and waited for, before
   * their registry entries are deleted (releaseEmptyBlocks). If it throws, the entries stay
   * (the next claim adopts them back), so a block is never free while still blackholed here.
   */
  onBlocksReleased(fn: (cidrs: readonly string[]) => Promise<void>): void {
    this.releaseListeners.push(fn);
  }

  /** The pool an address belongs to, if any (e.g. to know whether it is aggregated). */
  poolOf(address: string): Pool | undefined {
    const a = parseAddress(address);
    return a === null ? undefined : this.pools.find((p) => poolContains(p, a.family, a.value));
  }
}

/**
 * A copy a change may modify: new maps and block lists, the endpoint records shared (a
 * change replaces or deletes a record, never edits one), so a copy costs a spread of the
 * maps, not a deep clone of every record, and sameDoc can compare records by reference.
 */
function cloneDoc(doc: HostDoc): HostDoc {
  const blocks: HostDoc['blocks'] = {};
  for (const [pool, list] of Object.entries(doc.blocks)) blocks[pool] = [...list];
  return { v: doc.v, endpoints: { ...doc.endpoints }, blocks, cursors: { ...doc.cursors } };
}

/** The same content: records compared by reference (see cloneDoc), the small maps by value. */
function sameDoc(a: HostDoc, b: HostDoc): boolean {
  const ka = Object.keys(a.endpoints);
  if (ka.length !== Object.keys(b.endpoints).length) return false;
  for (const k of ka) {
    const x = a.endpoints[k];
    const y = b.endpoints[k];
    if (x !== y && (x === undefined || y === undefined || x.zone !== y.zone || x.ipv4 !== y.ipv4 || x.ipv6 !== y.ipv6)) return false;
  }
  return JSON.stringify([a.blocks, a.cursors]) === JSON.stringify([b.blocks, b.cursors]);
}

/**
 * parseAddress, remembered: the block and free-address counts look at every endpoint's
 * addresses on each allocation, and parsing them again each time was most of an
 * allocation's CPU on a worker with hundreds of endpoints. Bounded: cleared when full.
 */
const parsedAddresses = new Map<string, ReturnType<typeof parseAddress>>();
function addressOf(text: string): ReturnType<typeof parseAddress> {
  let a = parsedAddresses.get(text);
  if (a === undefined) {
    if (parsedAddresses.size >= 65_536) parsedAddresses.clear();
    a = parseAddress(text);
    parsedAddresses.set(text, a);
  }
  return a;
}

function stripId(a: { zone: string; ipv4?: string; ipv6?: string }): HostDoc['endpoints'][string] {
  const e: HostDoc['endpoints'][string] = { zone: a.zone };
  if (a.ipv4 !== undefined) e.ipv4 = a.ipv4;
  if (a.ipv6 !== undefined) e.ipv6 = a.ipv6;
  return e;
}

function ownersOf(doc: HostDoc): Map<string, string> {
  const m = new Map<string, string>();
  for (const [id, e] of Object.entries(doc.endpoints)) {
    if (e.ipv4 !== undefined) m.set(e.ipv4, id);
    if (e.ipv6 !== undefined) m.set(e.ipv6, id);
  }
  return m;
}

function heldBlocks(doc: HostDoc, pools: readonly Pool[]): number {
  return pools.reduce((n, p) => n + (doc.blocks[p.cidr]?.length ?? 0), 0);
}

/** Our blocks that hold at least one address. */
function usedBlocks(doc: HostDoc, pools: readonly Pool[]): Set<string> {
  const used = new Set<string>();
  for (const e of Object.values(doc.endpoints)) {
    for (const text of [e.ipv4, e.ipv6]) {
      const a = text === undefined ? null : addressOf(text);
      if (a === null) continue;
      const p = pools.find((q) => poolContains(q, a.family, a.value));
      if (p !== undefined) used.add(blockCidr(p, blockIndexOf(p, a.value)));
    }
  }
  return used;
}

/** Addresses not handed out in the blocks of `pools` this worker holds. */
function freeIn(doc: HostDoc, pools: readonly Pool[]): bigint {
  let free = 0n;
  const held = new Map<Pool, Set<bigint>>();
  for (const p of pools) {
    const idx = new Set(claimedIndexes(doc, p));
    held.set(p, idx);
    free += BigInt(idx.size) * blockSizeOf(p);
  }
  for (const e of Object.values(doc.endpoints)) {
    for (const text of [e.ipv4, e.ipv6]) {
      const a = text === undefined ? null : addressOf(text);
      if (a === null) continue;
      const p = pools.find((q) => poolContains(q, a.family, a.value));
      if (p !== undefined && held.get(p)?.has(blockIndexOf(p, a.value)) === true) free--;
    }
  }
  return free;
}

function claimedIndexes(doc: HostDoc, p: Pool): bigint[] {
  const prefixLen = `/${p.blockLength}`;
  return (doc.blocks[p.cidr] ?? [])
    .filter((c) => c.endsWith(prefixLen))
    .map((c) => {
      const a = addressOf(c.slice(0, c.indexOf('/')));
      return a === null ? -1n : blockIndexOf(p, a.value);
    })
    .filter((i) => i >= 0n && i < blockCount(p))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function claim(doc: HostDoc, p: Pool, index: bigint): void {
  const cidr = blockCidr(p, index);
  const list = (doc.blocks[p.cidr] ??= []);
  if (!list.includes(cidr)) list.push(cidr);
}

/** Next free address across the pools, in claimed blocks first, then a newly claimed one. */
function nextFree(doc: HostDoc, pools: readonly Pool[], owners: Map<string, string>, claimNew: boolean): string | undefined {
  for (const p of pools) {
    const size = blockSizeOf(p);
    const claimed = claimedIndexes(doc, p);
    // Addresses of the claimed blocks in ascending order, starting after the cursor.
    const cursorText = doc.cursors[p.cidr];
    const cursor = cursorText === undefined ? undefined : addressOf(cursorText)?.value;
    const ranges = claimed.map((i) => blockBase(p, i));
    let startRange = 0;
    let startOffset = 0n;
    if (cursor !== undefined) {
      const r = ranges.findIndex((b) => cursor >= b && cursor < b + size);
      if (r >= 0) {
        startRange = r;
        startOffset = cursor - (ranges[r] ?? 0n) + 1n;
      }
    }
    for (let k = 0; k <= ranges.length; k++) {
      const r = (startRange + k) % Math.max(ranges.length, 1);
      const base = ranges[r];
      if (base === undefined) break;
      const from = k === 0 ? startOffset : 0n;
      const to = k === ranges.length ? startOffset : size; // the wrapped-around head of the first block
      for (let off = from; off < to; off++) {
        const text = formatAddress(p.family, base + off);
        if (!owners.has(text)) {
          doc.cursors[p.cidr] = text;
          return text;
        }
      }
    }
    // Cluster mode: a new block is claimed in the registry first (Ipam.claimFor).
    if (!claimNew) continue;
    // Every claimed block is full: claim the lowest free block of this pool.
    const taken = new Set(claimed);
    for (let i = 0n; i < blockCount(p) && i <= BigInt(claimed.length); i++) {
      if (taken.has(i)) continue;
      claim(doc, p, i);
      for (let off = 0n; off < size; off++) {
        const text = formatAddress(p.family, blockBase(p, i) + off);
        if (owners.has(text)) continue;
        doc.cursors[p.cidr] = text;
        return text;
      }
    }
  }
  return undefined;
}
