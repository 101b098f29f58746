/** IPAM against the in-memory store (and the file store for persistence). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AddressOutsidePoolsError,
  AddressTakenError,
  AllocationConflictError,
  InvalidAddressError,
  Ipam,
  PoolConfigError,
  PoolExhaustedError,
  UnknownZoneError,
  type PoolConfig,
} from '../../../src/ipam/index.js';
import { LocalStore, MemoryStore } from '../../../src/store/index.js';

const POOLS: PoolConfig[] = [
  { cidr: '198.51.100.0/29', zone: 'app' },
  { cidr: '2001:db8:c:1::/125', zone: 'app', aggregate: true },
  { cidr: '198.51.100.64/30', zone: 'dmz' },
];

const mk = (pools = POOLS) => new Ipam(new MemoryStore(), 'w1', pools);

describe('Ipam', () => {
  it('allocates one address per family from the zone pools, in order, .0 included', async () => {
    const ipam = mk();
    expect(await ipam.allocate('a', 'app')).toEqual({ endpointId: 'a', zone: 'app', ipv4: '198.51.100.0', ipv6: '2001:db8:c:1::' });
    expect(await ipam.allocate('b', 'app')).toMatchObject({ ipv4: '198.51.100.1', ipv6: '2001:db8:c:1::1' });
    // A zone with only IPv4 pools gets only IPv4.
    expect(await ipam.allocate('c', 'dmz')).toEqual({ endpointId: 'c', zone: 'dmz', ipv4: '198.51.100.64' });
  });

  it('is idempotent per endpoint, and rejects contradicting requests', async () => {
    const ipam = mk();
    const a = await ipam.allocate('a', 'app');
    expect(await ipam.allocate('a', 'app')).toEqual(a);
    await expect(ipam.allocate('a', 'dmz')).rejects.toBeInstanceOf(AllocationConflictError);
    await expect(ipam.allocate('a', 'app', { ipv4: '198.51.100.5' })).rejects.toBeInstanceOf(AllocationConflictError);
  });

  it('honours fixed requests and reports typed, clear errors', async () => {
    const ipam = mk();
    expect(await ipam.allocate('a', 'app', { ipv4: '198.51.100.7', ipv6: '2001:db8:c:1:0:0:0:5' })).toMatchObject({
      ipv4: '198.51.100.7',
      ipv6: '2001:db8:c:1::5',
    });
    await expect(ipam.allocate('b', 'app', { ipv4: '198.51.100.7' })).rejects.toBeInstanceOf(AddressTakenError);
    await expect(ipam.allocate('b', 'app', { ipv4: '198.51.100.7' })).rejects.toThrow(/already allocated to endpoint a/);
    await expect(ipam.allocate('b', 'app', { ipv4: '198.51.100.64' })).rejects.toBeInstanceOf(AddressOutsidePoolsError);
    await expect(ipam.allocate('b', 'app', { ipv4: '2001:db8::1' })).rejects.toBeInstanceOf(InvalidAddressError);
    await expect(ipam.allocate('b', 'web')).rejects.toBeInstanceOf(UnknownZoneError);
    await expect(ipam.allocate('b', 'web')).rejects.toThrow(/zones with pools: app, dmz/);
    // Nothing half-done: b holds nothing after the failures.
    expect(await ipam.get('b')).toBeUndefined();
  });

  it('exhaustion is typed and leaves no partial allocation', async () => {
    const ipam = mk([
      { cidr: '198.51.100.0/31', zone: 'app' },
      { cidr: '2001:db8:c:1::/127', zone: 'app' },
    ]);
    await ipam.allocate('a', 'app');
    await ipam.allocate('b', 'app');
    const err = await ipam.allocate('c', 'app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect((err as PoolExhaustedError).family).toBe(4);
    expect(await ipam.list()).toHaveLength(2);
  });

  it('next-fit: a released address is not reused at once', async () => {
    const ipam = mk();
    await ipam.allocate('a', 'dmz');
    await ipam.allocate('b', 'dmz');
    await ipam.release('a');
    expect((await ipam.allocate('c', 'dmz')).ipv4).toBe('198.51.100.66');
    expect((await ipam.allocate('d', 'dmz')).ipv4).toBe('198.51.100.67');
    expect((await ipam.allocate('e', 'dmz')).ipv4).toBe('198.51.100.64'); // wrapped around to the freed one
  });

  it('release is idempotent; reconcile frees exactly the leaks', async () => {
    const ipam = mk();
    for (const id of ['a', 'b', 'c']) await ipam.allocate(id, 'app');
    expect(await ipam.release('b')).toMatchObject({ endpointId: 'b' });
    expect(await ipam.release('b')).toBeUndefined();
    const freed = await ipam.reconcile(['a']);
    expect(freed.map((f) => f.endpointId)).toEqual(['c']);
    expect((await ipam.list()).map((a) => a.endpointId)).toEqual(['a']);
    expect(await ipam.reconcile(['a'])).toEqual([]);
  });

  it('claims blocks as needed and lists them for aggregation', async () => {
    const ipam = mk([
      { cidr: '198.51.100.0/24', zone: 'app', blockSize: 30, aggregate: true },
      { cidr: '2001:db8:c:1::/64', zone: 'app' },
    ]);
    for (let i = 0; i < 5; i++) await ipam.allocate(`e${i}`, 'app');
    const blocks = await ipam.blocks();
    expect(blocks.filter((b) => b.family === 4).map((b) => b.cidr)).toEqual(['198.51.100.0/30', '198.51.100.4/30']);
    expect(blocks.filter((b) => b.family === 6)).toEqual([
      { cidr: '2001:db8:c:1::/122', pool: '2001:db8:c:1::/64', zone: 'app', family: 6, aggregate: false },
    ]);
    expect(blocks.find((b) => b.family === 4)?.aggregate).toBe(true);
    // A fixed address in an unclaimed block claims that block.
    await ipam.allocate('f', 'app', { ipv4: '198.51.100.200' });
    expect((await ipam.blocks()).map((b) => b.cidr)).toContain('198.51.100.200/30');
  });

  it('rejects bad pool configs with the field named', () => {
    expect(() => mk([{ cidr: '198.51.100.1/24', zone: 'a' }])).toThrow(/pools\[0\]\.cidr: .* host bits/);
    expect(() => mk([{ cidr: '198.51.100.0/24', zone: 'a', blockSize: 8 }])).toThrow(PoolConfigError);
    expect(() =>
      mk([
        { cidr: '198.51.100.0/24', zone: 'a' },
        { cidr: '198.51.100.128/25', zone: 'b' },
      ]),
    ).toThrow(/overlaps/);
  });

  it('concurrent allocations never share an address (CAS retries)', async () => {
    const ipam = mk([{ cidr: '198.51.100.0/26', zone: 'app' }]);
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => ipam.allocate(`e${i}`, 'app')));
    expect(new Set(all.map((a) => a.ipv4)).size).toBe(40);
  });

  it('two writers on one store (as two processes or two etcd clients) never share an address', async () => {
    const store = new MemoryStore();
    const pools = [{ cidr: '198.51.100.0/26', zone: 'app' }];
    const x = new Ipam(store, 'w1', pools);
    const y = new Ipam(store, 'w1', pools);
    const all = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 ? x : y).allocate(`e${i}`, 'app')),
    );
    expect(new Set(all.map((a) => a.ipv4)).size).toBe(16);
    expect(await x.list()).toHaveLength(16);
  });

  it('property: any sequence of allocate/release keeps addresses unique and inside pools', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 60 }),
        async (ops) => {
          const ipam = mk([{ cidr: '198.51.100.0/29', zone: 'app', blockSize: 30 }]);
          for (const [add, n] of ops) {
            if (add) await ipam.allocate(`e${n}`, 'app').catch((e: unknown) => expect(e).toBeInstanceOf(PoolExhaustedError));
            else await ipam.release(`e${n}`);
          }
          const list = await ipam.list();
          const addrs = list.map((a) => a.ipv4);
          expect(new Set(addrs).size).toBe(addrs.length);
          for (const a of addrs) expect(a).toMatch(/^198\.51\.100\.[0-7]$/);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('persists in the LocalStore across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-ipam-'));
    try {
      const s1 = await LocalStore.open(dir);
      const a = await new Ipam(s1, 'w1', POOLS).allocate('a', 'app');
      await s1.close();
      const s2 = await LocalStore.open(dir);
      const ipam = new Ipam(s2, 'w1', POOLS);
      expect(await ipam.get('a')).toEqual(a);
      expect((await ipam.allocate('b', 'app')).ipv4).toBe('198.51.100.1');
      await s2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Ipam: store round trips', () => {
  /** A MemoryStore whose calls are listed as `<call> <key> @<guard>`. */
  function traced(): { store: MemoryStore; calls: string[]; inner: MemoryStore } {
    const inner = new MemoryStore();
    const store = new MemoryStore();
    const calls: string[] = [];
    store.get = (k) => (calls.push(`get ${k}`), inner.get(k));
    store.put = (k, v, o) => (calls.push(`put ${k} @${o?.expectRevision ?? '-'}`), inner.put(k, v, o));
    store.list = (p) => (calls.push(`list ${p}`), inner.list(p));
    store.transact = (g, o) => (calls.push(`txn ${g.map((x) => `${x.key} @${x.revision}`).join()} ${o.map((x) => ('put' in x ? `put ${x.put}` : `delete ${x.delete}`)).join()}`), inner.transact(g, o));
    store.snapshot = (k, p) => (calls.push(`snapshot ${k} ${p}`), inner.snapshot(k, p));
    return { store, calls, inner };
  }

  it('local store: an allocation is one guarded rewrite of the worker document, no read; a foreign write is noticed', async () => {
    const { store, calls, inner } = traced();
    const ipam = new Ipam(store, 'w1', [{ cidr: '198.51.100.0/24', zone: 'app' }]);
    await ipam.allocate('a', 'app');
    calls.length = 0;
    const b = await ipam.allocate('b', 'app');
    expect(calls).toEqual([expect.stringMatching(/^put ipam\/hosts\/w1 @\d+$/)]);
    // Another writer changed the document: the guarded write conflicts, the retry reads it.
    const doc = (await inner.get('ipam/hosts/w1'))!;
    const v = doc.value as { endpoints: Record<string, unknown> };
    await inner.put('ipam/hosts/w1', { ...v, endpoints: { ...v.endpoints, x: { zone: 'app', ipv4: '198.51.100.200' } } });
    calls.length = 0;
    const c = await ipam.allocate('c', 'app');
    expect(calls.filter((k) => k.startsWith('get'))).toHaveLength(1);
    expect(c.ipv4).not.toBe(b.ipv4);
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'b', 'c', 'x']);
  });

  it('cluster mode: an allocation is one transaction (the head and the endpoint key), no read; another writer of the head is noticed', async () => {
    const { store, calls, inner } = traced();
    const pools = [{ cidr: '198.51.100.0/24', zone: 'app' }];
    const ipam = new Ipam(store, 'w1', pools, { blockGraceMs: 60_000 });
    await ipam.allocate('a', 'app');
    calls.length = 0;
    const b = await ipam.allocate('b', 'app');
    expect(calls).toEqual([expect.stringMatching(/^txn ipam\/hosts\/w1 @\d+ put ipam\/endpoints\/w1\/b,put ipam\/hosts\/w1$/)]);
    // The write does not grow with the worker's endpoints: the endpoint keys it did not touch stay.
    expect((await inner.list('ipam/endpoints/w1/')).map((e) => e.key)).toEqual(['ipam/endpoints/w1/a', 'ipam/endpoints/w1/b']);
    // Another writer (here a second Ipam of the same worker) moved the head: the guarded
    // transaction conflicts, and the retry reads the head and the endpoint keys at once.
    await new Ipam(inner, 'w1', pools, { blockGraceMs: 60_000 }).allocate('x', 'app');
    calls.length = 0;
    const c = await ipam.allocate('c', 'app');
    expect(calls.filter((k) => k.startsWith('snapshot'))).toHaveLength(1);
    expect(calls.filter((k) => k.startsWith('txn'))).toHaveLength(2);
    expect(c.ipv4).not.toBe(b.ipv4);
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'b', 'c', 'x']);
    // A release deletes the endpoint's key in the head's transaction.
    calls.length = 0;
    await ipam.release('b');
    expect(calls.at(-1)).toMatch(/^txn ipam\/hosts\/w1 @\d+ delete ipam\/endpoints\/w1\/b,put ipam\/hosts\/w1$/);
  });
});
