/**
 * The endpoint controller through a store outage (etcd without quorum), over the real
 * IPAM on a MemoryStore that can be made to refuse every call, the real dataplane over the
 * in-memory kernel, and a recording speaker: a container started meanwhile waits (pending,
 * `waiting for store`) and is wired when the store answers; one removed meanwhile is
 * unwired at once and freed later; an agent started without the store adopts the kernel's
 * state and checks it against the store once it answers; an address another worker took
 * meanwhile is never used twice.
 */
import { describe, expect, it } from 'vitest';
import { Dataplane, hostIfNameFor, RTPROT_ROUTECTL } from '../../../src/dataplane/index.js';
import { Advertisements } from '../../../src/endpoints/advertisements.js';
import { EndpointController } from '../../../src/endpoints/controller.js';
import type { EndpointSpec } from '../../../src/endpoints/types.js';
import { Ipam, type PoolConfig } from '../../../src/ipam/index.js';
import { MemoryStore } from '../../../src/store/index.js';
import { StoreUnavailableError, type Json, type Store, type StoreEntry, type WriteOptions } from '../../../src/store/store.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';

/** A MemoryStore that answers every call with StoreUnavailableError while `down`. */
class OutageStore implements Store {
  down = false;
  /** How long a refused call takes (etcd's deadline), ms. */
  failAfterMs = 0;
  constructor(readonly inner = new MemoryStore()) {}
  private async check(): Promise<void> {
    if (!this.down) return;
    if (this.failAfterMs > 0) await new Promise((r) => setTimeout(r, this.failAfterMs));
    throw new StoreUnavailableError('store: etcd get x failed (http://192.0.2.9:2379): 14 UNAVAILABLE: no quorum');
  }
  async get(key: string): Promise<StoreEntry | undefined> {
    await this.check();
    return this.inner.get(key);
  }
  async put(key: string, value: Json, opts?: WriteOptions): Promise<number> {
    await this.check();
    return this.inner.put(key, value, opts);
  }
  async delete(key: string, opts?: WriteOptions): Promise<boolean> {
    await this.check();
    return this.inner.delete(key, opts);
  }
  async list(prefix: string): Promise<readonly StoreEntry[]> {
    await this.check();
    return this.inner.list(prefix);
  }
  async close(): Promise<void> {}
}

class Speaker {
  readonly set = new Set<string>();
  advertise(routes: readonly { prefix: string }[]): void {
    for (const r of routes) this.set.add(r.prefix);
  }
  withdraw(prefixes: readonly string[]): void {
    for (const p of prefixes) this.set.delete(p);
  }
  setAdvertisements(routes: readonly { prefix: string }[]): void {
    this.set.clear();
    for (const r of routes) this.set.add(r.prefix);
  }
}

const POOLS: PoolConfig[] = [{ cidr: '198.51.100.0/28', zone: 'app' }];
const idOf = (n: number): string => `${n.toString(16).padStart(2, '0')}5709e`.padEnd(64, 'b');
const spec = (n: number): EndpointSpec => ({ id: idOf(n), name: `c${n}`, pid: 1000 + n, zone: 'app' });

function world(store: OutageStore, k = new FakeKernel()) {
  for (const pid of [1001, 1002, 1003]) if (!k.containers.has(`/proc/${pid}/ns/net`)) k.addContainer(`/proc/${pid}/ns/net`);
  const ipam = new Ipam(store, 'w1', POOLS);
  const speaker = new Speaker();
  const ctl = new EndpointController({ ipam, dataplane: new Dataplane(k, { driftDebounceMs: 1 }), advertiser: new Advertisements(speaker), reconcileIntervalMs: 0, watchDrift: false });
  return { k, ipam, speaker, ctl };
}

const ownRoutes = (k: FakeKernel): string[] => k.snapshot().routes.filter((r) => r.includes(`proto ${RTPROT_ROUTECTL}`));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EndpointController through a store outage', () => {
  it('a container started while the store is down waits (pending, waiting for store) and is wired when it answers', async () => {
    const store = new OutageStore();
    const w = world(store);
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    store.down = true;
    await w.ctl.add(spec(2));
    const v = w.ctl.get(idOf(2))!;
    expect(v.state).toBe('pending');
    expect(v.error).toMatch(/^waiting for store: store: etcd .* 14 UNAVAILABLE/);
    expect(v.ipv4).toBeNull();
    expect(w.ctl.storeState()).toMatchObject({ waiting: 1 });
    expect(w.ctl.storeState().down?.error).toMatch(/UNAVAILABLE/);
    // Retries (each refused after 200 ms, as a deadline would) keep saying why it waits.
    store.failAfterMs = 200;
    const seen = new Set<string>();
    for (const end = Date.now() + 2500; Date.now() < end; ) {
      const e = w.ctl.get(idOf(2))!;
      seen.add(`${e.state} ${e.error?.slice(0, 17) ?? null}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect([...seen]).toEqual(['pending waiting for store']);
    store.failAfterMs = 0;
    // Nothing of it is in the kernel or advertised; the running one is untouched.
    expect(ownRoutes(w.k)).toEqual([`unicast 198.51.100.0/32 proto 88 scope link dev ${hostIfNameFor(idOf(1))}`]);
    expect([...w.speaker.set]).toEqual(['198.51.100.0/32']);
    store.down = false;
    await until('c2 ready', () => w.ctl.get(idOf(2))?.state === 'ready');
    expect(w.ctl.get(idOf(2))).toMatchObject({ ipv4: '198.51.100.1', error: null });
    expect(w.ctl.storeState()).toMatchObject({ down: null, waiting: 0 });
    expect((await w.ipam.list()).map((a) => a.ipv4).sort()).toEqual(['198.51.100.0', '198.51.100.1']);
    await w.ctl.stop();
  });

  it('a container removed while the store is down is unwired at once and its allocation freed when the store answers', async () => {
    const store = new OutageStore();
    const w = world(store);
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    await w.ctl.add(spec(2));
    store.down = true;
    await w.ctl.remove(idOf(1));
    expect(w.ctl.get(idOf(1))).toBeUndefined();
    expect(ownRoutes(w.k)).toEqual([`unicast 198.51.100.1/32 proto 88 scope link dev ${hostIfNameFor(idOf(2))}`]);
    expect([...w.speaker.set]).toEqual(['198.51.100.1/32']);
    expect(w.ctl.storeState().releasesOwed).toBe(true);
    expect((await store.inner.list('ipam/hosts/')).length).toBe(1);
    store.down = false;
    await until('the release', async () => (await w.ipam.list()).length === 1);
    expect((await w.ipam.list()).map((a) => a.endpointId)).toEqual([idOf(2)]);
    expect(w.ctl.storeState()).toMatchObject({ down: null, releasesOwed: false });
    await w.ctl.stop();
  });

  it('an agent started while the store is down adopts the kernel (same addresses, advertised) and checks them when it answers', async () => {
    const store = new OutageStore();
    const first = world(store);
    await first.ctl.sync([]);
    await first.ctl.add(spec(1));
    await first.ctl.add(spec(2));
    await first.ctl.stop();
    // Restart without the store: c1 and c2 run, c3 started while the agent was away.
    store.down = true;
    const w = world(store, first.k);
    await w.ctl.sync([spec(1), spec(2), spec(3)]);
    expect(w.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.0' });
    expect(w.ctl.get(idOf(2))).toMatchObject({ state: 'ready', ipv4: '198.51.100.1' });
    expect(w.ctl.get(idOf(3))).toMatchObject({ state: 'pending', ipv4: null });
    expect(w.ctl.get(idOf(3))?.error).toMatch(/^waiting for store/);
    expect([...w.speaker.set].sort()).toEqual(['198.51.100.0/32', '198.51.100.1/32']);
    expect(w.ctl.storeState()).toMatchObject({ unconfirmed: 2, waiting: 1 });
    store.down = false;
    await until('c3 ready', () => w.ctl.get(idOf(3))?.state === 'ready');
    await until('checked', () => w.ctl.storeState().unconfirmed === 0);
    const addrs = (await w.ipam.list()).map((a) => a.ipv4);
    expect(new Set(addrs).size).toBe(3);
    expect(w.ctl.get(idOf(3))?.ipv4).toBe('198.51.100.2');
    await w.ctl.stop();
  });

  it('restarted after the store forgot its allocations (a reclaim): running containers keep their addresses', async () => {
    const store = new OutageStore();
    const first = world(store);
    await first.ctl.sync([]);
    for (const n of [1, 2, 3]) await first.ctl.add(spec(n));
    await first.ctl.remove(idOf(1));
    await first.ctl.stop();
    expect(await store.inner.delete('ipam/hosts/w1')).toBe(true);
    const w = world(store, first.k);
    await w.ctl.sync([spec(3), spec(2)]);
    expect(w.ctl.get(idOf(2))).toMatchObject({ state: 'ready', ipv4: '198.51.100.1' });
    expect(w.ctl.get(idOf(3))).toMatchObject({ state: 'ready', ipv4: '198.51.100.2' });
    expect((await w.ipam.list()).map((a) => [a.endpointId, a.ipv4])).toEqual([
      [idOf(2), '198.51.100.1'],
      [idOf(3), '198.51.100.2'],
    ]);
    await w.ctl.stop();
  });

  it('an address the store gave to another endpoint meanwhile is unwired and the container wired with a new one', async () => {
    const store = new OutageStore();
    const first = world(store);
    await first.ctl.sync([]);
    await first.ctl.add(spec(1));
    await first.ctl.stop();
    // The store lost c1's allocation and gave its address to someone else (a reclaim, say).
    await first.ipam.release(idOf(1));
    await first.ipam.allocate('other', 'app', { ipv4: '198.51.100.0' });
    store.down = true;
    const w = world(store, first.k);
    await w.ctl.sync([spec(1)]);
    expect(w.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.0' });
    store.down = false;
    await until('c1 on a new address', () => w.ctl.get(idOf(1))?.state === 'ready' && w.ctl.get(idOf(1))?.ipv4 !== '198.51.100.0');
    expect(ownRoutes(w.k).some((r) => r.includes('198.51.100.0/32'))).toBe(false);
    expect([...w.speaker.set]).not.toContain('198.51.100.0/32');
    const held = await w.ipam.list();
    expect(new Set(held.map((a) => a.ipv4)).size).toBe(held.length);
    await w.ctl.stop();
  });
});
