/**
 * The allocation half of bench/ipam-etcd, run inside the bench's worker namespace (where
 * the three etcd members listen on 127.0.0.1): `node alloc.js JOB` prints one JSON result.
 *
 * - latency: the agent's IPAM (src/ipam Ipam) on the local store (a directory next to the
 *   etcd members' data, same file system) and on the etcd cluster (cluster mode: blocks
 *   claimed in the registry); `seq` allocations one after another and `rounds` bursts of
 *   `burst` at once, each timed from the call to its resolution (the write durable). Which
 *   allocations claimed a block is known from the address (the first of a block), and every
 *   store call is counted, so the table can say what one allocation costs.
 * - race: three workers (three clients, three Ipams) allocating `race` addresses each at
 *   the same moment from one pool; compare-and-swap losses on block claims, with the
 *   workers' real names (hash search starts) and with names whose search starts collide.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { blockSearchStart, Ipam, type PoolConfig } from '../../src/ipam/index.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { LocalStore } from '../../src/store/local.js';
import type { Guard, Store, TxnOp } from '../../src/store/store.js';

interface Job {
  readonly endpoints: readonly string[];
  readonly dir: string;
  readonly seq: number;
  readonly burst: number;
  readonly rounds: number;
  readonly race: number;
}

export interface LatencyResult {
  readonly store: 'local' | 'etcd';
  readonly seq: number[];
  /** Sequential allocations that claimed a block (their index in seq). */
  readonly claims: number[];
  readonly burst: number[];
  /** Burst allocations of rounds in which no allocation took the first address of a block. */
  readonly burstHeld: number[];
  /** Burst allocations of rounds that crossed into a new block (one took its first address). */
  readonly burstCross: number[];
  /** etcd: blocks claimed ahead of need (in the background, off the allocation path). */
  readonly prefetched: number;
  /** Store calls per kind over the sequential part. */
  readonly calls: Record<string, number>;
  /** The store's own operations, one after another: a read of the worker's document (as the IPAM reads it), a guarded write of a small key. */
  readonly ops: { readonly get: number[]; readonly casPut: number[] };
}

export interface RaceResult {
  readonly names: string;
  readonly perWorker: number;
  readonly casRetries: number[];
  readonly blocks: number[];
  readonly distinct: boolean;
  readonly ms: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;

/** Counts the store calls going through. */
function counted(store: Store, calls: Record<string, number>): Store {
  const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
  return {
    get: (k) => (count('get'), store.get(k)),
    put: (k, v, o) => (count(o?.expectRevision === 0 ? 'create' : o?.expectRevision !== undefined ? 'cas put' : 'put'), store.put(k, v, o)),
    delete: (k, o) => (count('delete'), store.delete(k, o)),
    list: (p) => (count('list'), store.list(p)),
    ...(store.transact ? { transact: (g: readonly Guard[], o: readonly TxnOp[]) => (count('txn'), store.transact!(g, o)) } : {}),
    ...(store.snapshot ? { snapshot: (k: string, p: string) => (count('snapshot'), store.snapshot!(k, p)) } : {}),
    close: () => store.close(),
  };
}

/** First address of a /26 or /122 block: the allocation that crossed into it (pools start on a block boundary). */
function claimed(v4: string | undefined): boolean {
  return v4 !== undefined && Number(v4.split('.')[3]) % 64 === 0;
}

async function latency(kind: 'local' | 'etcd'): Promise<LatencyResult> {
  const pools: PoolConfig[] = [
    { cidr: '198.18.0.0/16', zone: 'app' },
    { cidr: '2001:db8:1000::/104', zone: 'app' },
  ];
  const raw: Store = kind === 'local' ? await LocalStore.open(join(job.dir, 'local')) : await EtcdStore.open({ endpoints: job.endpoints, prefix: '/bench-latency/' });
  const calls: Record<string, number> = {};
  const store = counted(raw, calls);
  const ipam = new Ipam(store, 'bench', pools, kind === 'etcd' ? { blockGraceMs: 3_600_000 } : undefined);
  try {
    for (let i = 0; i < 10; i++) await ipam.allocate(`warm${i}`, 'app');
    for (const k of Object.keys(calls)) delete calls[k];
    const seq: number[] = [];
    const claims: number[] = [];
    for (let i = 0; i < job.seq; i++) {
      const t0 = performance.now();
      const a = await ipam.allocate(`seq${i}`, 'app');
      seq.push(performance.now() - t0);
      if (claimed(a.ipv4)) claims.push(i);
    }
    const seqCalls = { ...calls };
    const burst: number[] = [];
    const burstHeld: number[] = [];
    const burstCross: number[] = [];
    for (let r = 0; r < job.rounds; r++) {
      const round = await Promise.all(
        Array.from({ length: job.burst }, async (_, i) => {
          const t0 = performance.now();
          const a = await ipam.allocate(`b${r}x${i}`, 'app');
          return { ms: performance.now() - t0, claim: claimed(a.ipv4) };
        }),
      );
      burst.push(...round.map((x) => x.ms));
      (round.some((x) => x.claim) ? burstCross : burstHeld).push(...round.map((x) => x.ms));
    }
    const get: number[] = [];
    const casPut: number[] = [];
    let rev = await raw.put('bench/op', { n: 0 });
    for (let i = 0; i < job.seq; i++) {
      let t0 = performance.now();
      // The worker's document as the IPAM reads it: one key (local), the head and the endpoint keys at one revision (etcd).
      await (raw.snapshot ? raw.snapshot('ipam/hosts/bench', 'ipam/endpoints/bench/') : raw.get('ipam/hosts/bench'));
      get.push(performance.now() - t0);
      t0 = performance.now();
      rev = await raw.put('bench/op', { n: i }, { expectRevision: rev });
      casPut.push(performance.now() - t0);
    }
    return { store: kind, seq, claims, burst, burstHeld, burstCross, prefetched: ipam.prefetched, calls: seqCalls, ops: { get, casPut } };
  } finally {
    await raw.close();
  }
}

async function race(names: readonly string[], label: string, prefix: string): Promise<RaceResult> {
  const pools: PoolConfig[] = [{ cidr: '198.18.0.0/20', zone: 'app' }];
  const stores = await Promise.all(names.map(() => EtcdStore.open({ endpoints: job.endpoints, prefix })));
  try {
    const ipams = stores.map((s, i) => new Ipam(s, names[i]!, pools, { blockGraceMs: 3_600_000 }));
    const t0 = performance.now();
    const all = await Promise.all(ipams.map((ipam, w) => Promise.all(Array.from({ length: job.race }, (_, k) => ipam.allocate(`${names[w]}-${k}`, 'app')))));
    const ms = performance.now() - t0;
    const addrs = all.flat().map((a) => a.ipv4);
    const blocks = await Promise.all(ipams.map(async (i) => (await i.blocks()).length));
    return { names: label, perWorker: job.race, casRetries: ipams.map((i) => i.casRetries), blocks, distinct: new Set(addrs).size === addrs.length, ms };
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

mkdirSync(join(job.dir, 'local'), { recursive: true });
const local = await latency('local');
const etcd = await latency('etcd');
// Three names whose block search starts at the same block of the race pool (64 blocks).
const same: string[] = [];
for (let i = 0; same.length < 3; i++) if (blockSearchStart(`worker-${i}`, 64n) === blockSearchStart('worker-0', 64n)) same.push(`worker-${i}`);
const spread = await race(['w1', 'w2', 'w3'], 'w1, w2, w3 (search starts by hash)', '/bench-race-1/');
const lockstep = await race(same, `${same.join(', ')} (same search start)`, '/bench-race-2/');
process.stdout.write(JSON.stringify({ latency: [local, etcd], race: [spread, lockstep] }));
