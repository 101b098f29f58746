/** Cluster-mode IPAM on a real etcd member: blocks claimed by compare-and-swap, races, grace release. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCKS_PREFIX, blockKey, blockOfKey, BlockOwnedError, blockSearchStart, Ipam, PoolExhaustedError, type PoolConfig } from '../../../src/ipam/index.js';
import { parsePrefix } from '../../../src/net.js';
import { EtcdStore } from '../../../src/store/etcd.js';
import type { Store } from '../../../src/store/store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

let etcd: TestEtcd;
let n = 0;
const stores: EtcdStore[] = [];
async function clients(count: number): Promise<EtcdStore[]> {
  const prefix = `/ipam${++n}/`;
  const out: EtcdStore[] = [];
  for (let i = 0; i < count; i++) out.push(await EtcdStore.open({ endpoints: [etcd.endpoint], prefix }));
  stores.push(...out);
  return out;
}

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await etcd?.stop();
});

const pools: PoolConfig[] = [
  { cidr: '198.51.100.0/24', zone: 'app', blockSize: 28 },
  { cidr: '2001:db8:1::/120', zone: 'app', blockSize: 124 },
];

function inside(addr: string, cidr: string): boolean {
  const p = parsePrefix(cidr);
  const a = parsePrefix(addr.includes(':') ? `${addr}/128` : `${addr}/32`);
  if (p === null || a === null || p.family !== a.family) return false;
  const bits = BigInt((p.family === 4 ? 32 : 128) - p.length);
  return a.value >> bits === p.value >> bits;
}

describe('cluster IPAM on etcd', () => {
  it('three workers allocating at once: disjoint blocks, distinct addresses, no lost allocation', async () => {
    const cs = await clients(3);
    const grace = { blockGraceMs: 60_000 };
    // Three names whose block search starts at the same block: the workers race in
    // lockstep for the same blocks, so only compare-and-swap keeps them apart.
    const names: string[] = [];
    for (let i = 0; names.length < 3; i++) if (blockSearchStart(`w${i}`, 16n) === blockSearchStart('w0', 16n)) names.push(`w${i}`);
    const ipams = cs.map((s, i) => new Ipam(s, names[i]!, pools, grace));
    // 5 blocks of 16 per worker and family: 15 of the pool's 16, so claims must collide.
    const perWorker = 75;
    const results = await Promise.all(
      ipams.map((ipam, w) => Promise.all(Array.from({ length: perWorker }, (_, k) => ipam.allocate(`${names[w]}-c${k}`, 'app')))),
    );
    // Distinct addresses across the cluster.
    const all = results.flat();
    expect(all).toHaveLength(3 * perWorker);
    expect(new Set(all.map((a) => a.ipv4)).size).toBe(all.length);
    expect(new Set(all.map((a) => a.ipv6)).size).toBe(all.length);
    // The registry: every block has one owner, and a worker's blocks are exactly its document's.
    // How often a claim lost its race (reported; the number depends on the timing).
    console.info(`block claims lost to another worker: ${ipams.reduce((n, i) => n + i.casRetries, 0)}`);
    const registry = await cs[0]!.list(BLOCKS_PREFIX);
    const owner = new Map(registry.map((e) => [blockOfKey(e.key), (e.value as { node: string }).node]));
    expect(owner.size).toBe(registry.length);
    for (const [w, ipam] of ipams.entries()) {
      const node = names[w]!;
      const blocks = (await ipam.blocks()).map((b) => b.cidr);
      expect(blocks.length).toBe(10);
      expect(blocks.sort()).toEqual([...owner].filter(([, o]) => o === node).map(([c]) => c).sort());
      // Every address of this worker lies in one of its own blocks.
      const list = await ipam.list();
      expect(list).toHaveLength(perWorker);
      for (const a of list) {
        expect(blocks.some((b) => inside(a.ipv4!, b))).toBe(true);
        expect(blocks.some((b) => inside(a.ipv6!, b))).toBe(true);
      }
    }
  });

  it('more demand than the pool holds: the excess fails as exhausted, the rest distinct', async () => {
    const cs = await clients(3);
    const small: PoolConfig[] = [{ cidr: '198.51.100.0/26', zone: 'app', blockSize: 28 }]; // 4 blocks, 64 addresses
    const ipams = cs.map((s, i) => new Ipam(s, `w${i + 1}`, small, { blockGraceMs: 0 }));
    const settled = await Promise.allSettled(ipams.flatMap((ipam, w) => Array.from({ length: 30 }, (_, k) => ipam.allocate(`w${w}-c${k}`, 'app'))));
    const ok = settled.filter((r) => r.status === 'fulfilled').map((r) => r.value.ipv4);
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => r.reason as unknown);
    expect(new Set(ok).size).toBe(ok.length);
    // A worker cannot take addresses from another's half-used block: up to 64 succeed.
    expect(ok.length).toBeLessThanOrEqual(64);
    expect(ok.length).toBeGreaterThanOrEqual(48);
    expect(failed.length).toBe(90 - ok.length);
    for (const f of failed) expect(f).toBeInstanceOf(PoolExhaustedError);
    expect((await cs[0]!.list(BLOCKS_PREFIX)).length).toBe(4);
  });

  it('the block search starts at a hash of the node name', async () => {
    const [s] = await clients(1);
    const a = new Ipam(s!, 'node-a', pools, { blockGraceMs: 0 });
    const b = new Ipam(s!, 'node-b', pools, { blockGraceMs: 0 });
    await a.allocate('a1', 'app');
    await b.allocate('b1', 'app');
    const ba = (await a.blocks()).map((x) => x.cidr);
    const bb = (await b.blocks()).map((x) => x.cidr);
    expect(ba).toHaveLength(2);
    expect(bb).toHaveLength(2);
    expect(ba.filter((c) => bb.includes(c))).toEqual([]);
  });

  it("a fixed address in another worker's block is refused, in a free block it claims the block", async () => {
    const [s] = await clients(1);
    const a = new Ipam(s!, 'wa', pools, { blockGraceMs: 0 });
    const b = new Ipam(s!, 'wb', pools, { blockGraceMs: 0 });
    const got = await a.allocate('a1', 'app');
    const err = await b.allocate('b1', 'app', { ipv4: got.ipv4!.replace(/\.(\d+)$/, (_, d: string) => `.${Number(d) ^ 1}`) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockOwnedError);
    expect((err as Error).message).toMatch(/claimed by worker wa/);
    expect(await b.list()).toEqual([]);
    // A free block: claimed for wb.
    const taken = new Set((await a.blocks()).map((x) => x.cidr));
    const free = ['198.51.100.0', '198.51.100.16', '198.51.100.32'].find((x) => !taken.has(`${x}/28`))!;
    const fixed = await b.allocate('b2', 'app', { ipv4: free.replace(/\d+$/, (d) => String(Number(d) + 5)) });
    expect((await b.blocks()).map((x) => x.cidr)).toContain(`${free}/28`);
    expect((await s!.get(blockKey(`${free}/28`)))?.value).toEqual({ node: 'wb', pool: '198.51.100.0/24' });
    expect(fixed.ipv4).toBeDefined();
  });

  it('an empty block goes back after the grace time, not before', async () => {
    const [s] = await clients(1);
    let now = 1_000;
    const ipam = new Ipam(s!, 'wg', pools, { blockGraceMs: 30_000, now: () => now });
    await ipam.allocate('c1', 'app');
    const blocks = (await ipam.blocks()).map((b) => b.cidr);
    expect(blocks).toHaveLength(2);
    expect(await ipam.releaseEmptyBlocks()).toEqual([]); // in use
    await ipam.release('c1');
    expect(await ipam.releaseEmptyBlocks()).toEqual([]); // first seen empty now
    now += 29_999;
    expect(await ipam.releaseEmptyBlocks()).toEqual([]);
    now += 1;
    expect((await ipam.releaseEmptyBlocks()).sort()).toEqual([...blocks].sort());
    expect(await ipam.blocks()).toEqual([]);
    expect(await s!.list(BLOCKS_PREFIX)).toEqual([]);
    // Reused again later: a fresh claim.
    await ipam.allocate('c2', 'app');
    expect(await ipam.blocks()).toHaveLength(2);
  });

  it('a block the registry gives to this worker but its document lacks is adopted, not leaked', async () => {
    const [s] = await clients(1);
    // A claim cut short: the registry entry was written, the document was not.
    await s!.put(blockKey('198.51.100.128/28'), { node: 'wo', pool: '198.51.100.0/24' }, { expectRevision: 0 });
    const ipam = new Ipam(s!, 'wo', [pools[0]!], { blockGraceMs: 0 });
    const a = await ipam.allocate('c1', 'app');
    expect(inside(a.ipv4!, '198.51.100.128/28')).toBe(true);
    expect((await s!.list(BLOCKS_PREFIX)).map((e) => e.key)).toEqual([blockKey('198.51.100.128/28')]);
  });

  describe('blocks claimed ahead of need', () => {
    /** The store calls going through, by kind. */
    function counting(store: Store, calls: string[]): Store {
      return {
        get: (k) => (calls.push('get'), store.get(k)),
        put: (k, v, o) => (calls.push(o?.expectRevision === 0 ? 'create' : 'put'), store.put(k, v, o)),
        delete: (k, o) => (calls.push('delete'), store.delete(k, o)),
        list: (p) => (calls.push('list'), store.list(p)),
        transact: (g, o) => (calls.push('txn'), store.transact!(g, o)),
        snapshot: (k, p) => (calls.push('snapshot'), store.snapshot!(k, p)),
        close: () => store.close(),
      };
    }

    it('the allocation that crosses into a new block finds it claimed: one document write, no claim on its path', async () => {
      const [s] = await clients(1);
      const calls: string[] = [];
      const ipam = new Ipam(counting(s!, calls), 'wp', pools, { blockGraceMs: 60_000 });
      // 12 of a /28's 16 addresses: 4 left, a quarter of a block, so the next block is claimed now.
      for (let k = 0; k < 12; k++) await ipam.allocate(`c${k}`, 'app');
      await ipam.claimsSettled();
      expect(ipam.prefetched).toBe(2); // one block per family
      const blocks = (await ipam.blocks()).map((b) => b.cidr);
      expect(blocks).toHaveLength(4);
      // The registry has them for this worker before any address of them is handed out.
      const registry = await s!.list(BLOCKS_PREFIX);
      expect(registry.map((e) => blockOfKey(e.key)).sort()).toEqual([...blocks].sort());
      for (const e of registry) expect((e.value as { node: string }).node).toBe('wp');
      // The 17th allocation is the first in the new blocks: each of these is one guarded
      // transaction (the worker's head and the endpoint's key), nothing else (no read, no
      // list, no create-only write).
      for (let k = 12; k < 17; k++) {
        calls.length = 0;
        const a = await ipam.allocate(`c${k}`, 'app');
        expect(calls).toEqual(['txn']);
        if (k === 16) {
          const first = (await ipam.get('c0'))!;
          const firstBlocks = blocks.filter((b) => inside(first.ipv4!, b) || inside(first.ipv6!, b));
          expect(firstBlocks).toHaveLength(2);
          // Crossed: its addresses are in the prefetched blocks, not in the first ones.
          expect(firstBlocks.some((b) => inside(a.ipv4!, b))).toBe(false);
          expect(firstBlocks.some((b) => inside(a.ipv6!, b))).toBe(false);
          expect(blocks.some((b) => inside(a.ipv4!, b))).toBe(true);
          expect(blocks.some((b) => inside(a.ipv6!, b))).toBe(true);
        }
      }
      await ipam.claimsSettled();
      expect(ipam.prefetched).toBe(2); // 17 of 32 used: nothing more claimed
    });

    it('a burst that would exhaust the held blocks claims the next one while it is written', async () => {
      const [s] = await clients(1);
      const ipam = new Ipam(s!, 'wb', [pools[0]!], { blockGraceMs: 60_000 });
      await ipam.allocate('c0', 'app');
      // 14 at once: the projection counts them (15 of 16 used), so the next block is claimed now.
      await Promise.all(Array.from({ length: 14 }, (_, k) => ipam.allocate(`b${k}`, 'app')));
      await ipam.claimsSettled();
      expect(ipam.prefetched).toBe(1);
      expect(await ipam.blocks()).toHaveLength(2);
      expect(await s!.list(BLOCKS_PREFIX)).toHaveLength(2);
    });

    it('a burst larger than what is left waits for the claim ahead and goes on without store calls of its own', async () => {
      const [s] = await clients(1);
      const calls: string[] = [];
      const ipam = new Ipam(counting(s!, calls), 'wq', pools, { blockGraceMs: 60_000 });
      for (let k = 0; k < 11; k++) await ipam.allocate(`c${k}`, 'app');
      await ipam.claimsSettled();
      expect(ipam.prefetched).toBe(0); // 5 of 16 free: more than a quarter
      calls.length = 0;
      // 12 at once: the claim ahead starts with the first of them; those that find both
      // blocks full (the 6th on) wait for it and are written once it is in the document.
      const burst = await Promise.all(Array.from({ length: 12 }, (_, k) => ipam.allocate(`b${k}`, 'app')));
      await ipam.claimsSettled();
      expect(ipam.prefetched).toBe(2);
      expect(new Set(burst.map((a) => a.ipv4)).size).toBe(12);
      // One claim's calls (a list, a create-only write per family), the writes of the
      // document, and no read nor second list for the allocations that had to wait.
      expect(calls.filter((c) => c === 'list')).toEqual(['list']);
      expect(calls.filter((c) => c === 'create')).toEqual(['create', 'create']);
      expect(calls.filter((c) => c === 'snapshot' || c === 'get')).toEqual([]);
      expect(calls.filter((c) => c === 'txn').length).toBeLessThanOrEqual(4);
    });

    it('three workers prefetching at once with the same search start: disjoint blocks, distinct addresses', async () => {
      const cs = await clients(3);
      const names: string[] = [];
      for (let i = 100; names.length < 3; i++) if (blockSearchStart(`w${i}`, 16n) === blockSearchStart('w100', 16n)) names.push(`w${i}`);
      const ipams = cs.map((c, i) => new Ipam(c, names[i]!, pools, { blockGraceMs: 60_000 }));
      // Each worker one allocation after another (every one of them asks for a prefetch
      // check), 60 each: 4 blocks per family and worker, 12 of the pool's 16.
      const results = await Promise.all(
        ipams.map(async (ipam, w) => {
          const out = [];
          for (let k = 0; k < 60; k++) out.push(await ipam.allocate(`${names[w]}-c${k}`, 'app'));
          return out;
        }),
      );
      await Promise.all(ipams.map((i) => i.claimsSettled()));
      const all = results.flat();
      expect(new Set(all.map((a) => a.ipv4)).size).toBe(180);
      expect(new Set(all.map((a) => a.ipv6)).size).toBe(180);
      expect(ipams.reduce((n, i) => n + i.prefetched, 0)).toBeGreaterThan(0);
      const registry = await cs[0]!.list(BLOCKS_PREFIX);
      const owner = new Map(registry.map((e) => [blockOfKey(e.key), (e.value as { node: string }).node]));
      expect(owner.size).toBe(registry.length);
      for (const [w, ipam] of ipams.entries()) {
        const blocks = (await ipam.blocks()).map((b) => b.cidr).sort();
        expect(blocks).toEqual([...owner].filter(([, o]) => o === names[w]).map(([c]) => c).sort());
        for (const a of await ipam.list()) {
          expect(blocks.some((b) => inside(a.ipv4!, b))).toBe(true);
          expect(blocks.some((b) => inside(a.ipv6!, b))).toBe(true);
        }
      }
    });

    it('a spare block that stays empty goes back after its grace, and is not claimed again at once', async () => {
      const [s] = await clients(1);
      let now = 1_000;
      const ipam = new Ipam(s!, 'wsp', [pools[0]!], { blockGraceMs: 30_000, now: () => now });
      for (let k = 0; k < 13; k++) await ipam.allocate(`c${k}`, 'app');
      await ipam.claimsSettled();
      const [used, spare] = await (async () => {
        const bs = (await ipam.blocks()).map((b) => b.cidr);
        const first = (await ipam.get('c0'))!.ipv4!;
        return [bs.find((b) => inside(first, b))!, bs.find((b) => !inside(first, b))!];
      })();
      expect(spare).toBeDefined();
      expect(await ipam.releaseEmptyBlocks()).toEqual([]); // the spare first seen empty now
      now += 30_000;
      expect(await ipam.releaseEmptyBlocks()).toEqual([spare]);
      expect((await ipam.blocks()).map((b) => b.cidr)).toEqual([used]);
      expect((await s!.list(BLOCKS_PREFIX)).map((e) => blockOfKey(e.key))).toEqual([used]);
      // Still 3 free, but the worker just showed it did not need the spare: no new claim.
      await ipam.allocate('c13', 'app');
      await ipam.claimsSettled();
      expect((await s!.list(BLOCKS_PREFIX)).map((e) => blockOfKey(e.key))).toEqual([used]);
      // A grace time later, allocations claim ahead again.
      now += 30_000;
      await ipam.allocate('c14', 'app');
      await ipam.claimsSettled();
      expect(await s!.list(BLOCKS_PREFIX)).toHaveLength(2);
      expect(ipam.prefetched).toBe(2);
    });

    it('a prefetch that finds the pool exhausted leaves the error to the allocation that needs the block', async () => {
      const [s] = await clients(1);
      const one: PoolConfig[] = [{ cidr: '198.51.100.0/28', zone: 'app', blockSize: 28 }];
      const ipam = new Ipam(s!, 'wx', one, { blockGraceMs: 0 });
      for (let k = 0; k < 16; k++) await ipam.allocate(`c${k}`, 'app');
      await ipam.claimsSettled();
      expect(ipam.prefetchFailures).toBeGreaterThan(0);
      await expect(ipam.allocate('c16', 'app')).rejects.toBeInstanceOf(PoolExhaustedError);
      expect(new Set((await ipam.list()).map((a) => a.ipv4)).size).toBe(16);
    });
  });
});
