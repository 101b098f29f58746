/**
 * IPAM group commit: changes that arrive while a store write is in flight share the next
 * write, and no caller is answered before the write holding its change has resolved.
 * Writes are counted through a Store wrapper around the real file store (fsync on).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { AddressTakenError, Ipam, PoolExhaustedError, type Allocation } from '../../../src/ipam/index.js';
import { LocalStore, MemoryStore } from '../../../src/store/index.js';
import type { Json, Store, StoreEntry, WriteOptions } from '../../../src/store/store.js';

/** Delegates to `inner`, counting writes; `gate` (when set) holds every put until released. */
class CountingStore implements Store {
  puts = 0;
  deletes = 0;
  /** Puts that have been called but whose inner write has not resolved yet. */
  inFlight = 0;
  gate: Promise<void> | undefined;
  /** Run once, before the next put reaches `inner` (another writer getting in first). */
  beforePut: (() => Promise<unknown>) | undefined;
  constructor(readonly inner: Store) {}
  get(key: string): Promise<StoreEntry | undefined> {
    return this.inner.get(key);
  }
  list(prefix: string): Promise<readonly StoreEntry[]> {
    return this.inner.list(prefix);
  }
  async put(key: string, value: Json, opts?: WriteOptions): Promise<number> {
    this.puts++;
    this.inFlight++;
    try {
      if (this.gate) await this.gate;
      const hook = this.beforePut;
      this.beforePut = undefined;
      if (hook) await hook();
      return await this.inner.put(key, value, opts);
    } finally {
      this.inFlight--;
    }
  }
  delete(key: string, opts?: WriteOptions): Promise<boolean> {
    this.deletes++;
    return this.inner.delete(key, opts);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const POOLS = [
  { cidr: '198.51.100.0/24', zone: 'app' },
  { cidr: '2001:db8:c:1::/112', zone: 'app' },
];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'rtc-ipam-gc-'));
  dirs.push(d);
  return d;
};

describe('Ipam group commit', () => {
  it('100 concurrent allocations: far fewer than 100 fsync\'d writes, distinct addresses, all there after reopen', async () => {
    const dir = tmp();
    const store = new CountingStore(await LocalStore.open(dir));
    const ipam = new Ipam(store, 'w1', POOLS);
    const all = await Promise.all(Array.from({ length: 100 }, (_, i) => ipam.allocate(`c${i}`, 'app')));
    expect(store.puts).toBeGreaterThanOrEqual(1);
    expect(store.puts).toBeLessThanOrEqual(5);
    expect(new Set(all.map((a) => a.ipv4)).size).toBe(100);
    expect(new Set(all.map((a) => a.ipv6)).size).toBe(100);
    expect(all.every((a) => a.ipv4 !== undefined && a.ipv6 !== undefined)).toBe(true);
    await store.close();

    // Reopen from the files: every acknowledged allocation is there, unchanged.
    const s2 = await LocalStore.open(dir);
    try {
      const after = await new Ipam(s2, 'w1', POOLS).list();
      const byId = (xs: readonly Allocation[]) => [...xs].sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1));
      expect(after).toHaveLength(100);
      expect(byId(after)).toEqual(byId(all));
    } finally {
      await s2.close();
    }
  });

  it('changes that arrive while a write is in flight go into the next write; none resolves before its write', async () => {
    const store = new CountingStore(new MemoryStore());
    const ipam = new Ipam(store, 'w1', POOLS);
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));

    const resolved = new Set<string>();
    const track = (p: Promise<Allocation | undefined>, id: string) => p.then((a) => (resolved.add(id), a));
    const first = track(ipam.allocate('first', 'app'), 'first');
    // Let the first write start and block in the store.
    while (store.inFlight === 0) await new Promise((r) => setImmediate(r));
    const more = Array.from({ length: 30 }, (_, i) => track(ipam.allocate(`m${i}`, 'app'), `m${i}`));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(store.puts).toBe(1);
    expect(resolved.size).toBe(0); // nothing acknowledged while its write is not done

    open();
    store.gate = undefined;
    const got = await Promise.all([first, ...more]);
    // One write for the first, one for the thirty that queued behind it.
    expect(store.puts).toBe(2);
    expect(new Set(got.map((a) => a?.ipv4)).size).toBe(31);
    expect(await ipam.list()).toHaveLength(31);

    // Releases queued behind a held write are grouped the same way.
    store.gate = new Promise<void>((r) => (open = r));
    const a = ipam.allocate('late', 'app');
    while (store.inFlight === 0) await new Promise((r) => setImmediate(r));
    const rel = Array.from({ length: 10 }, (_, i) => ipam.release(`m${i}`));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    open();
    store.gate = undefined;
    await Promise.all([a, ...rel]);
    expect(store.puts).toBe(4);
    expect(await ipam.list()).toHaveLength(31 - 10 + 1);
  });

  it('a change that fails is rejected alone: the others in its write go in, it leaves nothing behind', async () => {
    const store = new CountingStore(new MemoryStore());
    // 4 IPv4 addresses but plenty of IPv6: the fifth allocation fails on IPv4 after IPv6
    // would have been taken, so a half-applied change would show as a leaked cursor/claim.
    const ipam = new Ipam(store, 'w1', [
      { cidr: '2001:db8:c:1::/112', zone: 'app' },
      { cidr: '198.51.100.0/30', zone: 'app' },
    ]);
    const rs = await Promise.allSettled([
      ipam.allocate('a', 'app', { ipv4: '198.51.100.2' }),
      ipam.allocate('b', 'app', { ipv4: '198.51.100.2' }), // taken by a, in the same batch
      ipam.allocate('c', 'app'),
      ipam.allocate('d', 'app'),
      ipam.allocate('e', 'app'),
      ipam.allocate('f', 'app'), // pool has 4 addresses: exhausted
    ]);
    expect(store.puts).toBe(1);
    expect(rs.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((rs[1] as PromiseRejectedResult).reason).toBeInstanceOf(AddressTakenError);
    expect((rs[5] as PromiseRejectedResult).reason).toBeInstanceOf(PoolExhaustedError);
    const list = await ipam.list();
    expect(list.map((x) => x.endpointId)).toEqual(['a', 'c', 'd', 'e']);
    const v6 = list.map((x) => x.ipv6);
    expect(new Set(v6).size).toBe(4);
    // f took no IPv6 address: the next one handed out follows e's.
    await ipam.release('a');
    const g = await ipam.allocate('g', 'app');
    expect(g.ipv4).toBe('198.51.100.2');
    expect(g.ipv6).toBe('2001:db8:c:1::4');
  });

  it('a batch of repeated (idempotent) requests writes nothing', async () => {
    const store = new CountingStore(new MemoryStore());
    const ipam = new Ipam(store, 'w1', POOLS);
    const a = await ipam.allocate('a', 'app');
    expect(store.puts).toBe(1);
    const again = await Promise.all([ipam.allocate('a', 'app'), ipam.allocate('a', 'app')]);
    expect(again).toEqual([a, a]);
    expect(store.puts).toBe(1);
  });

  it('a failed write rejects every change in it, and the next batch still runs', async () => {
    const inner = new MemoryStore();
    const store = new CountingStore(inner);
    const ipam = new Ipam(store, 'w1', POOLS);
    store.gate = Promise.reject(new Error('disk full'));
    store.gate.catch(() => undefined);
    const rs = await Promise.allSettled([ipam.allocate('a', 'app'), ipam.allocate('b', 'app')]);
    expect(rs.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(((rs[0] as PromiseRejectedResult).reason as Error).message).toBe('disk full');
    expect(await ipam.list()).toEqual([]);
    store.gate = undefined;
    expect((await ipam.allocate('c', 'app')).ipv4).toBe('198.51.100.0');
  });

  it('onChosen is told the addresses while their write runs; allocate resolves only once it is done', async () => {
    const store = new CountingStore(new MemoryStore());
    const ipam = new Ipam(store, 'w1', POOLS);
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));
    const told: Allocation[] = [];
    let done = false;
    const p = ipam.allocate('a', 'app', {}, { onChosen: (a) => told.push(a) }).then((a) => ((done = true), a));
    while (store.inFlight === 0) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(told).toEqual([{ endpointId: 'a', zone: 'app', ipv4: '198.51.100.0', ipv6: '2001:db8:c:1::' }]);
    expect(done).toBe(false);
    expect(await ipam.list()).toEqual([]); // not in the store yet
    open();
    store.gate = undefined;
    expect(await p).toEqual(told[0]);
    expect(told).toHaveLength(1);
    // Also for an allocation that is already there (no write): told once, same value.
    const again: Allocation[] = [];
    expect(await ipam.allocate('a', 'app', {}, { onChosen: (a) => again.push(a) })).toEqual(told[0]);
    expect(again).toEqual(told);
  });

  it('after a CAS conflict, addresses already told are kept when still free, and fail when the other writer took them', async () => {
    const inner = new MemoryStore();
    const other = new Ipam(inner, 'w1', POOLS);
    // Kept: between our read and our write the other writer took the next address and gave
    // it back, so .0 is still free but a fresh next-fit choice would now be .1.
    const store = new CountingStore(inner);
    const ipam = new Ipam(store, 'w1', POOLS);
    store.beforePut = async () => {
      await other.allocate('x', 'app');
      await other.release('x');
    };
    const told: Allocation[] = [];
    const a = await ipam.allocate('a', 'app', {}, { onChosen: (v) => told.push(v) });
    expect(store.puts).toBe(2); // the first write lost the race and was re-applied
    expect(told).toEqual([a]);
    expect(a).toMatchObject({ ipv4: '198.51.100.0', ipv6: '2001:db8:c:1::' });
    // Without onChosen nobody holds the first choice: the re-application chooses afresh.
    store.beforePut = () => other.allocate('y', 'app', { ipv4: '198.51.100.1' });
    expect((await ipam.allocate('b', 'app')).ipv4).toBe('198.51.100.2');
    // Taken: the other writer got the very address we told about.
    store.beforePut = () => other.allocate('z', 'app', { ipv4: '198.51.100.3' });
    const told2: Allocation[] = [];
    const err = await ipam.allocate('c', 'app', {}, { onChosen: (v) => told2.push(v) }).catch((e: unknown) => e);
    expect(told2.map((t) => t.ipv4)).toEqual(['198.51.100.3']);
    expect(err).toBeInstanceOf(AddressTakenError);
    expect((err as Error).message).toMatch(/198\.51\.100\.3.*endpoint z/);
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'b', 'y', 'z']);
  });

  it('changes queued behind a write in flight are told their addresses at once, and get exactly those', async () => {
    const store = new CountingStore(new MemoryStore());
    const ipam = new Ipam(store, 'w1', POOLS);
    await ipam.allocate('seed', 'app'); // the first write makes the document known
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));
    const first = ipam.allocate('first', 'app');
    while (store.inFlight === 0) await new Promise((r) => setImmediate(r));
    // These queue behind the held write; without the projection they would be told nothing
    // until it is done.
    const told = new Map<string, Allocation>();
    const more = Array.from({ length: 10 }, (_, i) => ipam.allocate(`q${i}`, 'app', {}, { onChosen: (a) => told.set(a.endpointId, a) }));
    // One that cannot be had is told nothing and fails when written.
    const taken = ipam.allocate('dup', 'app', { ipv4: '198.51.100.1' }, { onChosen: (a) => told.set(a.endpointId, a) });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(store.puts).toBe(2);
    expect([...told.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `q${i}`).sort());
    const addrs = [...told.values()].map((a) => a.ipv4);
    expect(new Set(addrs).size).toBe(10);
    expect(addrs).not.toContain('198.51.100.0'); // seed's
    expect(addrs).not.toContain('198.51.100.1'); // first's, still in flight
    open();
    store.gate = undefined;
    await first;
    const got = await Promise.all(more);
    for (const a of got) expect(a).toEqual(told.get(a.endpointId));
    await expect(taken).rejects.toBeInstanceOf(AddressTakenError);
    expect(store.puts).toBe(3);
    expect(await ipam.list()).toHaveLength(12);
  });

  it('after a failed write the projection is rebuilt from the store: later changes are told what is really free', async () => {
    const store = new CountingStore(new MemoryStore());
    const ipam = new Ipam(store, 'w1', POOLS);
    await ipam.allocate('seed', 'app');
    let fail!: (e: Error) => void;
    store.gate = new Promise<void>((_, rej) => (fail = rej));
    const lost = ipam.allocate('lost', 'app', {}, { onChosen: () => undefined });
    while (store.inFlight === 0) await new Promise((r) => setImmediate(r));
    fail(new Error('disk full'));
    store.gate = undefined;
    await expect(lost).rejects.toThrow('disk full');
    const told: Allocation[] = [];
    const next = await ipam.allocate('next', 'app', {}, { onChosen: (a) => told.push(a) });
    // lost's address was never stored: next-fit from the stored cursor hands it out again.
    expect(next.ipv4).toBe('198.51.100.1');
    expect(told).toEqual([next]);
  });

  it('property: bursts of allocations (told early) and releases over a slow store: told = stored, never shared', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 11 })), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
        async (bursts, delays) => {
          const store = new CountingStore(new MemoryStore());
          let d = 0;
          store.beforePut = undefined;
          const put = store.put.bind(store);
          store.put = async (...args) => {
            for (let i = 0; i < (delays[d++ % delays.length] ?? 0); i++) await new Promise((r) => setImmediate(r));
            return put(...args);
          };
          const ipam = new Ipam(store, 'w1', [{ cidr: '198.51.100.0/29', zone: 'app', blockSize: 29 }]);
          const all: Promise<unknown>[] = [];
          for (const burst of bursts) {
            for (const [add, n] of burst) {
              if (add) {
                let told: Allocation | undefined;
                all.push(
                  ipam.allocate(`e${n}`, 'app', {}, { onChosen: (a) => (told = a) }).then(
                    (a) => expect(told === undefined || JSON.stringify(told) === JSON.stringify(a)).toBe(true),
                    (e: unknown) => expect(e).toBeInstanceOf(PoolExhaustedError),
                  ),
                );
              } else all.push(ipam.release(`e${n}`));
            }
            await new Promise((r) => setImmediate(r));
          }
          await Promise.all(all);
          const list = await ipam.list();
          const addrs = list.map((a) => a.ipv4);
          expect(new Set(addrs).size).toBe(addrs.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a document someone else wrote is checked before it is used; the one it wrote itself is taken as it is', async () => {
    const inner = new MemoryStore();
    const store = new CountingStore(inner);
    const ipam = new Ipam(store, 'w1', POOLS);
    await ipam.allocate('a', 'app');
    await ipam.allocate('b', 'app');
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'b']);
    // Another writer replaces the document with one that is not an IPAM document.
    await inner.put(ipam.key, { v: 1, endpoints: 'nonsense' });
    await expect(ipam.allocate('c', 'app')).rejects.toThrow(/is not an IPAM document/);
  });
});
