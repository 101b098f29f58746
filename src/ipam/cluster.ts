/**
 * Cluster mode around IPAM (store.etcd): the worker's liveness lease, the pool register
 * that keeps every worker's pools the same, the loop that gives empty blocks back, and
 * the cluster-wide view `routectl cluster status` prints.
 *
 * Keys (under store.etcd.prefix):
 *   nodes/<node>          {node, since}        held under the worker's lease (TTL leaseTtl)
 *   ipam/pools/<cidr>     {cidr, zone, blockSize}  written by the first worker to start
 *   ipam/blocks/<block>   {node, pool}         one per claimed block (ipam.ts)
 *   ipam/hosts/<node>     the worker's blocks and cursors (layout.ts)
 *   ipam/endpoints/<node>/<id>  each endpoint's allocation (layout.ts)
 *
 * Pools are declared in every worker's config (the same list everywhere) and checked
 * against the register at start: a worker whose pools differ from the cluster's refuses
 * to start, naming the pool, so two workers can never carve one range differently.
 */
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { EtcdStore } from '../store/etcd.js';
import { CasConflictError, hasTransactions, isStoreUnavailable, StoreUnavailableError, type Store } from '../store/store.js';
import { IpamError } from './errors.js';
import { BLOCKS_PREFIX, blockKey, blockOfKey, type Ipam } from './ipam.js';
import { HOSTS_PREFIX, readHost, readHosts, transactHeadLast } from './layout.js';
import { blockSizeOf, parseAddress, poolContains, type Pool } from './pools.js';

export const DEFAULT_LEASE_TTL_SECONDS = 15;
export const DEFAULT_BLOCK_GRACE_SECONDS = 300;
export const DEFAULT_RECLAIM_GRACE_SECONDS = 900;
export const NODES_PREFIX = 'nodes/';
export const POOLS_PREFIX = 'ipam/pools/';

const NodeSchema = z.object({ node: z.string(), since: z.string() });
const PoolRecordSchema = z.object({ cidr: z.string(), zone: z.string(), blockLength: z.number(), aggregate: z.boolean() });
const ClaimSchema = z.object({ node: z.string(), pool: z.string() });

/** This worker's pools differ from those the cluster already has. */
export class PoolMismatchError extends IpamError {
  override readonly name = 'PoolMismatchError';
}

const poolKey = (cidr: string): string => POOLS_PREFIX + cidr.replace('/', '-');

/**
 * Registers this worker's pools (create-only) or checks them against the register. A pool
 * the cluster has with another zone, block size or aggregate setting is an error; a pool
 * this worker does not list is fine (workers may serve a subset of the zones).
 */
export async function registerPools(store: Store, pools: readonly Pool[]): Promise<void> {
  for (const p of pools) {
    const want = { cidr: p.cidr, zone: p.zone, blockLength: p.blockLength, aggregate: p.aggregate };
    const key = poolKey(p.cidr);
    const cur = await store.get(key);
    if (cur === undefined) {
      try {
        await store.put(key, want, { expectRevision: 0 });
        continue;
      } catch (err) {
        if (!(err instanceof CasConflictError)) throw err;
      }
    }
    const have = PoolRecordSchema.safeParse((cur ?? (await store.get(key)))?.value);
    if (!have.success) throw new PoolMismatchError(`pool ${p.cidr}: the cluster's entry ${key} is unreadable; remove it with etcdctl and restart`);
    const diff = (['zone', 'blockLength', 'aggregate'] as const).filter((k) => have.data[k] !== want[k]);
    if (diff.length > 0) {
      const show = (r: typeof want) => `zone ${r.zone}, blockSize ${r.blockLength}, aggregate ${r.aggregate}`;
      throw new PoolMismatchError(`pool ${p.cidr}: this worker has ${show(want)}, the cluster has ${show(have.data)}; every worker must list the pool the same way`);
    }
  }
  // Overlaps with a pool the cluster has and this worker does not list: two carvings of one range.
  for (const e of await store.list(POOLS_PREFIX)) {
    const r = PoolRecordSchema.safeParse(e.value);
    if (!r.success || pools.some((p) => p.cidr === r.data.cidr)) continue;
    const a = parseAddress(r.data.cidr.slice(0, r.data.cidr.indexOf('/')));
    const len = Number(r.data.cidr.slice(r.data.cidr.indexOf('/') + 1));
    for (const p of pools) {
      if (a === null || a.family !== p.family) continue;
      const bits = BigInt((p.family === 4 ? 32 : 128) - Math.min(len, p.length));
      if (a.value >> bits === p.base >> bits) throw new PoolMismatchError(`pool ${p.cidr} overlaps the cluster's pool ${r.data.cidr}; every worker must list the same pools`);
    }
  }
}

export interface ClusterMemberOptions {
  readonly store: EtcdStore;
  readonly ipam: Ipam;
  readonly node: string;
  readonly leaseTtlSeconds: number;
  /** How often empty blocks and dead workers are looked for (ms). */
  readonly sweepMs: number;
  /** How long a worker must be without a lease before its blocks are reclaimed (ms). */
  readonly reclaimGraceMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * A worker's presence in the cluster: its lease, the pool check, the empty-block sweep and
 * the reclaim of dead workers' blocks.
 *
 * Started while etcd does not answer (the agent starts anyway and adopts its kernel
 * state), it keeps trying in the background; until the pools are checked, the IPAM
 * refuses new allocations with a StoreUnavailableError (they wait, like any store outage).
 * Whenever the worker takes its lease again after losing it (etcd unreachable longer than
 * the TTL, or not reachable at start), `onRejoin` is told: the worker checks its
 * allocations against the store (another worker may have reclaimed its blocks meanwhile).
 */
export class ClusterMember {
  private lease: { readonly id: string; release(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private poolsChecked = false;
  /** A pool mismatch found after start: allocation stays refused, with this error. */
  private poolError: Error | undefined;
  private joining: Promise<void> | undefined;
  private readonly log: Logger;
  /** Workers seen without a lease, since when (this worker's clock). */
  private readonly deadSince = new Map<string, number>();
  /** Told each time the lease is taken again after it was lost or never held. */
  onRejoin: (() => void) | undefined;

  private constructor(private readonly opts: ClusterMemberOptions) {
    this.log = opts.log.child({ op: 'cluster' });
    opts.ipam.gate = () => {
      if (this.poolError) return this.poolError;
      if (!this.poolsChecked) return new StoreUnavailableError('store: the pools are not checked against the cluster yet (etcd has not answered since the agent started)');
      return undefined;
    };
  }

  static async start(opts: ClusterMemberOptions): Promise<ClusterMember> {
    const m = new ClusterMember(opts);
    try {
      await m.join();
    } catch (err) {
      // Only silence is waited out: a pool mismatch (or a TLS error) stops the agent.
      if (!isStoreUnavailable(err)) throw err;
      m.log.warn({ event: 'etcd-unreachable', err }, 'etcd does not answer: starting without it; new containers wait for the store');
      m.rejoinLater();
    }
    m.timer = setInterval(() => void m.sweep(), opts.sweepMs);
    m.timer.unref();
    return m;
  }

  /** True once the pools were checked and the lease is held. */
  get joined(): boolean {
    return this.poolsChecked && this.lease !== undefined;
  }

  private async join(): Promise<void> {
    if (!this.poolsChecked) {
      await registerPools(this.opts.store, this.opts.ipam.pools);
      this.poolsChecked = true;
    }
    await this.hold();
  }

  private async hold(): Promise<void> {
    const { store, node, leaseTtlSeconds } = this.opts;
    const since = new Date((this.opts.now ?? Date.now)()).toISOString();
    this.lease = await store.holdLease(`${NODES_PREFIX}${node}`, { node, since }, leaseTtlSeconds, (err) => {
      // etcd forgot the lease (unreachable longer than its TTL): take a new one when it is back.
      this.log.warn({ event: 'lease-lost', err }, 'liveness lease lost; taking a new one');
      this.lease = undefined;
      this.rejoinLater();
    });
    this.log.info({ event: 'lease-held', lease: this.lease.id, ttl: leaseTtlSeconds }, 'liveness lease held');
  }

  /** Keeps trying to check the pools and hold the lease; tells onRejoin when it has. */
  private rejoinLater(): void {
    this.joining ??= (async () => {
      for (let delay = 500; !this.stopped && !this.joined; delay = Math.min(delay * 2, 5_000)) {
        try {
          await this.join();
        } catch (err) {
          if (!isStoreUnavailable(err)) {
            // The cluster's pools differ from ours: nothing may be allocated until fixed.
            this.poolError = err as Error;
            this.log.error({ event: 'pool-mismatch', err }, `allocation refused: ${(err as Error).message}`);
            return;
          }
          this.log.warn({ event: 'lease-retry', err }, 'etcd does not answer yet; retrying');
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
      if (this.joined && !this.stopped) {
        this.log.info({ event: 'rejoined' }, 'etcd answers again: lease held, checking this worker\'s allocations against the store');
        this.onRejoin?.();
      }
    })().finally(() => (this.joining = undefined));
  }

  async sweep(): Promise<string[]> {
    let freed: string[] = [];
    try {
      freed = await this.opts.ipam.releaseEmptyBlocks();
      if (freed.length > 0) this.log.info({ event: 'blocks-released', blocks: freed }, 'empty blocks given back');
    } catch (err) {
      // While etcd does not answer, the endpoint side says so once (store-unavailable).
      const level = isStoreUnavailable(err) ? 'debug' : 'warn';
      this.log[level]({ event: 'block-sweep-failed', err }, 'empty-block sweep failed; next pass retries');
    }
    if (this.joined) await this.reclaimDead().catch((err: unknown) => this.log.warn({ event: 'reclaim-failed', err }, 'reclaim of dead workers failed; next pass retries'));
    return freed;
  }

  /**
   * Reclaims the blocks of workers that hold no lease (`nodes/<node>` gone: stopped or
   * dead) for the grace time: their allocation document goes (the addresses recorded in
   * their blocks are freed with it: a worker's containers do not outlive it, their routes
   * left the fabric with its BGP sessions), then their block entries. Each write is
   * guarded by the revision read, so live workers reclaiming at once do it once. The
   * grace is counted by each live worker from when it first saw the lease missing.
   */
  async reclaimDead(): Promise<NodeRelease[]> {
    const now = (this.opts.now ?? Date.now)();
    const { store, node: self } = this.opts;
    const [nodes, claims, hosts] = await Promise.all([store.list(NODES_PREFIX), store.list(BLOCKS_PREFIX), readHosts(store)]);
    const alive = new Set(nodes.map((e) => e.key.slice(NODES_PREFIX.length)));
    const owners = new Set<string>(hosts.keys());
    for (const e of claims) {
      const c = ClaimSchema.safeParse(e.value);
      if (c.success) owners.add(c.data.node);
    }
    const dead = [...owners].filter((n) => n !== self && !alive.has(n));
    for (const n of [...this.deadSince.keys()]) if (!dead.includes(n)) this.deadSince.delete(n);
    const done: NodeRelease[] = [];
    for (const n of dead) {
      const since = this.deadSince.get(n);
      if (since === undefined) {
        this.deadSince.set(n, now);
        this.log.info({ event: 'worker-dead', worker: n, graceSeconds: this.opts.reclaimGraceMs / 1000 }, `worker ${n} holds no lease; its blocks are reclaimed unless it is back within the grace time`);
        continue;
      }
      if (now - since < this.opts.reclaimGraceMs) continue;
      const plan = await planRelease(store, n);
      if (plan.alive) continue;
      try {
        await executeRelease(store, plan);
      } catch (err) {
        // Another live worker reclaimed it first, or it came back: looked at again next pass.
        if (err instanceof NodeChangedError) continue;
        throw err;
      }
      this.deadSince.delete(n);
      this.log.warn(
        { event: 'worker-reclaimed', worker: n, blocks: plan.blocks.map((b) => b.cidr), addresses: plan.allocations.flatMap((a) => [a.ipv4, a.ipv6].filter(Boolean)) },
        `worker ${n} without a lease for ${Math.round((now - since) / 1000)} s: ${plan.blocks.length} blocks and ${plan.allocations.length} allocations reclaimed`,
      );
      done.push(plan);
    }
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.lease?.release();
    this.lease = undefined;
  }
}

/** What releasing a worker frees, read from etcd (`routectl ipam release-node`, reclaim). */
export interface NodeRelease {
  readonly node: string;
  /** The worker holds its lease now (running): release refused. */
  readonly alive: boolean;
  readonly blocks: readonly { readonly cidr: string; readonly pool: string; readonly revision: number }[];
  readonly allocations: readonly { readonly endpointId: string; readonly zone: string; readonly ipv4?: string; readonly ipv6?: string }[];
  /** Revision of its allocation document's head (0: endpoint keys without one); undefined without any. */
  readonly hostRevision: number | undefined;
  /** The keys of its allocation document (head and endpoint keys). */
  readonly hostKeys: readonly string[];
}

/** Something changed between reading a release plan and carrying it out. */
export class NodeChangedError extends IpamError {
  override readonly name = 'NodeChangedError';
}

export async function planRelease(store: Store, node: string): Promise<NodeRelease> {
  const [lease, host, claims] = await Promise.all([store.get(`${NODES_PREFIX}${node}`), readHost(store, node), store.list(BLOCKS_PREFIX)]);
  const blocks: { cidr: string; pool: string; revision: number }[] = [];
  for (const e of claims) {
    const c = ClaimSchema.safeParse(e.value);
    if (c.success && c.data.node === node) blocks.push({ cidr: blockOfKey(e.key), pool: c.data.pool, revision: e.revision });
  }
  const allocations = Object.entries(host?.endpoints ?? {})
    .map(([endpointId, a]) => ({ endpointId, zone: a.zone, ...(a.ipv4 !== undefined ? { ipv4: a.ipv4 } : {}), ...(a.ipv6 !== undefined ? { ipv6: a.ipv6 } : {}) }))
    .sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1));
  return { node, alive: lease !== undefined, blocks: blocks.sort((a, b) => (a.cidr < b.cidr ? -1 : 1)), allocations, hostRevision: host?.revision, hostKeys: host?.keys ?? [] };
}

/**
 * Carries out a plan: the allocation document first (guarded by its revision: a worker
 * that came back and wrote meanwhile stops it), then each block entry (guarded by its
 * own). A change since the plan was read is a NodeChangedError; what was done stays done
 * (each step on its own frees nothing still in use).
 */
export async function executeRelease(store: Store, plan: NodeRelease): Promise<void> {
  if ((await store.get(`${NODES_PREFIX}${plan.node}`)) !== undefined) throw new NodeChangedError(`worker ${plan.node} holds a lease again: it is running; nothing released`);
  const guarded = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    try {
      await f();
    } catch (err) {
      if (err instanceof CasConflictError) throw new NodeChangedError(`${what} changed since it was read (${err.message}); run again to see what is left`, { cause: err });
      throw err;
    }
  };
  if (plan.hostRevision !== undefined) await guarded(`the allocations of ${plan.node}`, () => deleteHost(store, plan));
  for (const b of plan.blocks) await guarded(`block ${b.cidr}`, () => store.delete(blockKey(b.cidr), { expectRevision: b.revision }));
}

/**
 * The worker's allocation document goes: its endpoint keys, then its head, each
 * transaction guarded by the head's revision (the head last, so a change by the worker
 * meanwhile stops what is left).
 */
async function deleteHost(store: Store, plan: NodeRelease): Promise<void> {
  const head = HOSTS_PREFIX + plan.node;
  if (!hasTransactions(store)) {
    await store.delete(head, { expectRevision: plan.hostRevision! });
    return;
  }
  const ops = plan.hostKeys.filter((k) => k !== head).map((k) => ({ delete: k }));
  await transactHeadLast(store, { key: head, revision: plan.hostRevision! }, ops, { delete: head });
}

export interface ClusterBlockStatus {
  readonly cidr: string;
  readonly pool: string;
  readonly used: number;
  readonly size: number;
}

export interface ClusterWorkerStatus {
  readonly node: string;
  /** false: no live lease (stopped or dead), its blocks still claimed. */
  readonly alive: boolean;
  /** Seconds since the worker took its current lease; null without one. */
  readonly leaseAgeSeconds: number | null;
  /** Seconds left before the lease expires unless renewed; null without one. */
  readonly leaseTtlSeconds: number | null;
  readonly endpoints: number;
  readonly blocks: readonly ClusterBlockStatus[];
}

/** Every worker the cluster knows (by lease, block or allocation document), sorted by name. */
export async function clusterStatus(store: EtcdStore, pools: readonly Pool[], now: number = Date.now()): Promise<ClusterWorkerStatus[]> {
  const [nodes, claims, hosts] = await Promise.all([store.list(NODES_PREFIX), store.list(BLOCKS_PREFIX), readHosts(store)]);
  const names = new Set<string>();
  const lease = new Map<string, { since: number; ttl: number | null }>();
  for (const e of nodes) {
    const r = NodeSchema.safeParse(e.value);
    if (!r.success) continue;
    names.add(r.data.node);
    const id = await store.leaseOf(e.key);
    const ttl = id === undefined || id === '0' ? undefined : await store.leaseTtl(id);
    lease.set(r.data.node, { since: Date.parse(r.data.since), ttl: ttl?.ttl ?? null });
  }
  const addrs = new Map<string, string[]>();
  const counts = new Map<string, number>();
  for (const h of hosts.values()) {
    names.add(h.node);
    counts.set(h.node, Object.keys(h.endpoints).length);
    addrs.set(h.node, Object.values(h.endpoints).flatMap((x) => [x.ipv4, x.ipv6].filter((a): a is string => a !== undefined)));
  }
  const blocks = new Map<string, ClusterBlockStatus[]>();
  for (const e of claims) {
    const r = ClaimSchema.safeParse(e.value);
    if (!r.success) continue;
    names.add(r.data.node);
    const cidr = blockOfKey(e.key);
    const base = parseAddress(cidr.slice(0, cidr.indexOf('/')));
    const pool = pools.find((p) => base !== null && poolContains(p, base.family, base.value));
    const len = Number(cidr.slice(cidr.indexOf('/') + 1));
    const fam = base?.family ?? 4;
    const size = pool ? Number(blockSizeOf(pool)) : 2 ** ((fam === 4 ? 32 : 128) - len);
    const used = (addrs.get(r.data.node) ?? []).filter((a) => {
      const v = parseAddress(a);
      if (v === null || base === null || v.family !== base.family) return false;
      return v.value >= base.value && v.value < base.value + BigInt(size);
    }).length;
    const list = blocks.get(r.data.node) ?? [];
    list.push({ cidr, pool: r.data.pool, used, size });
    blocks.set(r.data.node, list);
  }
  return [...names].sort().map((node) => {
    const l = lease.get(node);
    return {
      node,
      alive: l !== undefined && l.ttl !== null,
      leaseAgeSeconds: l === undefined || Number.isNaN(l.since) ? null : Math.max(0, Math.round((now - l.since) / 1000)),
      leaseTtlSeconds: l?.ttl ?? null,
      endpoints: counts.get(node) ?? 0,
      blocks: (blocks.get(node) ?? []).sort((a, b) => (a.cidr < b.cidr ? -1 : 1)),
    };
  });
}
