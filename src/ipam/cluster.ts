/**
 * Cluster mode around IPAM (store.etcd): the worker's liveness lease, the pool register
 * that keeps every worker's pools the same, the loop that gives empty blocks back, and
 * the cluster-wide view `routectl cluster status` prints.
 *
 * Keys (under store.etcd.prefix):
 *   nodes/<node>          {node, since}        held under the worker's lease (TTL leaseTtl)
 *   ipam/pools/<cidr>     {cidr, zone, blockSize}  written by the first worker to start
 *   ipam/blocks/<block>   {node, pool}         one per claimed block (ipam.ts)
 *   ipam/hosts/<node>     the worker's allocations and blocks (ipam.ts)
 *
 * Pools are declared in every worker's config (the same list everywhere) and checked
 * against the register at start: a worker whose pools differ from the cluster's refuses
 * to start, naming the pool, so two workers can never carve one range differently.
 */
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { EtcdStore } from '../store/etcd.js';
import { CasConflictError, type Store } from '../store/store.js';
import { IpamError } from './errors.js';
import { BLOCKS_PREFIX, blockOfKey, HOSTS_PREFIX, type Ipam } from './ipam.js';
import { blockSizeOf, parseAddress, poolContains, type Pool } from './pools.js';

export const DEFAULT_LEASE_TTL_SECONDS = 15;
export const DEFAULT_BLOCK_GRACE_SECONDS = 300;
export const NODES_PREFIX = 'nodes/';
export const POOLS_PREFIX = 'ipam/pools/';

const NodeSchema = z.object({ node: z.string(), since: z.string() });
const PoolRecordSchema = z.object({ cidr: z.string(), zone: z.string(), blockLength: z.number(), aggregate: z.boolean() });
const ClaimSchema = z.object({ node: z.string(), pool: z.string() });
const HostSchema = z.object({ endpoints: z.record(z.object({ ipv4: z.string().optional(), ipv6: z.string().optional() }).passthrough()) }).passthrough();

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
  /** How often empty blocks are looked for (ms). */
  readonly sweepMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** A worker's presence in the cluster: its lease, and the empty-block sweep. */
export class ClusterMember {
  private lease: { readonly id: string; release(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;

  private constructor(private readonly opts: ClusterMemberOptions) {
    this.log = opts.log.child({ op: 'cluster' });
  }

  static async start(opts: ClusterMemberOptions): Promise<ClusterMember> {
    await registerPools(opts.store, opts.ipam.pools);
    const m = new ClusterMember(opts);
    await m.hold();
    m.timer = setInterval(() => void m.sweep(), opts.sweepMs);
    m.timer.unref();
    return m;
  }

  private async hold(): Promise<void> {
    const { store, node, leaseTtlSeconds } = this.opts;
    const since = new Date((this.opts.now ?? Date.now)()).toISOString();
    this.lease = await store.holdLease(`${NODES_PREFIX}${node}`, { node, since }, leaseTtlSeconds, (err) => {
      // etcd forgot the lease (unreachable longer than its TTL): take a new one when it is back.
      this.log.warn({ event: 'lease-lost', err }, 'liveness lease lost; taking a new one');
      this.lease = undefined;
      void this.rehold();
    });
    this.log.info({ event: 'lease-held', lease: this.lease.id, ttl: leaseTtlSeconds }, 'liveness lease held');
  }

  private async rehold(): Promise<void> {
    for (let delay = 500; !this.stopped && this.lease === undefined; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.hold();
      } catch (err) {
        this.log.warn({ event: 'lease-retry', err }, 'liveness lease not renewed yet');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  async sweep(): Promise<string[]> {
    try {
      const freed = await this.opts.ipam.releaseEmptyBlocks();
      if (freed.length > 0) this.log.info({ event: 'blocks-released', blocks: freed }, 'empty blocks given back');
      return freed;
    } catch (err) {
      this.log.warn({ event: 'block-sweep-failed', err }, 'empty-block sweep failed; next pass retries');
      return [];
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.lease?.release();
    this.lease = undefined;
  }
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
  const [nodes, claims, hosts] = await Promise.all([store.list(NODES_PREFIX), store.list(BLOCKS_PREFIX), store.list(HOSTS_PREFIX)]);
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
  for (const e of hosts) {
    const node = e.key.slice(HOSTS_PREFIX.length);
    const r = HostSchema.safeParse(e.value);
    names.add(node);
    counts.set(node, r.success ? Object.keys(r.data.endpoints).length : 0);
    addrs.set(node, r.success ? Object.values(r.data.endpoints).flatMap((x) => [x.ipv4, x.ipv6].filter((a): a is string => a !== undefined)) : []);
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
