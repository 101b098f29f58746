/** The stored forms of a worker's IPAM document (src/ipam/layout.ts), on the MemoryStore. */
import { describe, expect, it } from 'vitest';
import { Ipam } from '../../../src/ipam/index.js';
import { endpointSegment, readHost, readHosts } from '../../../src/ipam/layout.js';
import { executeRelease, planRelease } from '../../../src/ipam/cluster.js';
import { MAX_TXN_OPS } from '../../../src/store/store.js';
import { MemoryStore } from '../../../src/store/memory.js';

const POOLS = [
  { cidr: '198.51.100.0/24', zone: 'app' },
  { cidr: '2001:db8:a::/120', zone: 'app' },
];
const cluster = { blockGraceMs: 60_000 };

describe('key per endpoint (cluster mode)', () => {
  it('endpoint ids become key segments the store takes, one to one', () => {
    const ids = ['c0ffee', 'cni/abc/eth0', '.', '..', 'a.b', 'a:2eb', 'ü'];
    const segs = ids.map(endpointSegment);
    for (const s of segs) expect(s).toMatch(/^[A-Za-z0-9_:-]+$/);
    expect(new Set(segs).size).toBe(ids.length);
    expect(endpointSegment('c0ffee')).toBe('c0ffee');
  });

  it('a document in the one-document form is read as it is and moved to keys by the next write', async () => {
    const store = new MemoryStore();
    await store.put('ipam/hosts/w1', {
      v: 1,
      endpoints: { a: { zone: 'app', ipv4: '198.51.100.1', ipv6: '2001:db8:a::1' }, 'cni/x': { zone: 'app', ipv4: '198.51.100.2', ipv6: '2001:db8:a::2' } },
      blocks: { '198.51.100.0/24': ['198.51.100.0/26'], '2001:db8:a::/120': ['2001:db8:a::/122'] },
      cursors: { '198.51.100.0/24': '198.51.100.2', '2001:db8:a::/120': '2001:db8:a::2' },
    });
    const ipam = new Ipam(store, 'w1', POOLS, cluster);
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'cni/x']);
    const b = await ipam.allocate('b', 'app');
    expect(b.ipv4).toBe('198.51.100.3');
    expect((await store.get('ipam/hosts/w1'))?.value).toMatchObject({ v: 2 });
    expect((await store.list('ipam/endpoints/w1/')).map((e) => e.key)).toEqual(['ipam/endpoints/w1/a', 'ipam/endpoints/w1/b', 'ipam/endpoints/w1/cni:2fx']);
    // A fresh reader sees the same.
    expect((await new Ipam(store, 'w1', POOLS, cluster).list()).map((x) => [x.endpointId, x.ipv4])).toEqual([
      ['a', '198.51.100.1'],
      ['b', '198.51.100.3'],
      ['cni/x', '198.51.100.2'],
    ]);
  });

  it('a change of more endpoints than one transaction takes goes in several, the head last; the result is whole', async () => {
    const store = new MemoryStore();
    const txns: number[] = [];
    const transact = store.transact.bind(store);
    store.transact = (g, o) => (txns.push(o.length), transact(g, o));
    const ipam = new Ipam(store, 'w1', POOLS, cluster);
    const n = MAX_TXN_OPS + 72;
    await Promise.all(Array.from({ length: n }, (_, i) => ipam.allocate(`e${i}`, 'app')));
    expect(txns.length).toBeGreaterThan(1);
    for (const t of txns) expect(t).toBeLessThanOrEqual(MAX_TXN_OPS);
    expect((await store.list('ipam/endpoints/w1/')).length).toBe(n);
    // Every one freed at once (a reconcile with nothing live).
    txns.length = 0;
    expect(await ipam.reconcile([])).toHaveLength(n);
    expect(txns.length).toBeGreaterThan(1);
    expect(await store.list('ipam/endpoints/w1/')).toEqual([]);
    expect(await new Ipam(store, 'w1', POOLS, cluster).list()).toEqual([]);
  });

  it('the cluster views read both forms; a release deletes every key of a worker', async () => {
    const store = new MemoryStore();
    await store.put('ipam/hosts/old', { v: 1, endpoints: { z: { zone: 'app', ipv4: '198.51.100.9' } }, blocks: {}, cursors: {} });
    const ipam = new Ipam(store, 'w1', POOLS, cluster);
    for (let i = 0; i < 3; i++) await ipam.allocate(`e${i}`, 'app');
    // A node whose name starts with another's is not mixed up with it.
    await new Ipam(store, 'w10', POOLS, cluster).allocate('f', 'app');
    const hosts = await readHosts(store);
    expect([...hosts.keys()].sort()).toEqual(['old', 'w1', 'w10']);
    expect(Object.keys(hosts.get('w1')!.endpoints).sort()).toEqual(['e0', 'e1', 'e2']);
    expect(Object.keys(hosts.get('w10')!.endpoints)).toEqual(['f']);
    expect(hosts.get('old')!.endpoints.z?.ipv4).toBe('198.51.100.9');
    const plan = await planRelease(store, 'w1');
    expect(plan.allocations.map((a) => a.endpointId)).toEqual(['e0', 'e1', 'e2']);
    await executeRelease(store, plan);
    expect(await readHost(store, 'w1')).toBeUndefined();
    expect((await store.list('ipam/endpoints/')).map((e) => e.key)).toEqual(['ipam/endpoints/w10/f']);
  });

  it('a release read before the worker wrote again changes nothing', async () => {
    const store = new MemoryStore();
    const ipam = new Ipam(store, 'w1', POOLS, cluster);
    await ipam.allocate('a', 'app');
    const plan = await planRelease(store, 'w1');
    await ipam.allocate('b', 'app');
    await expect(executeRelease(store, plan)).rejects.toThrow(/changed since it was read/);
    expect((await ipam.list()).map((x) => x.endpointId)).toEqual(['a', 'b']);
  });
});
