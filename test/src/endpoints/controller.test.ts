/**
 * The endpoint controller over the real IPAM (on a MemoryStore), the real dataplane
 * reconciler over the in-memory kernel, and a recording speaker: wiring, teardown,
 * rollback on each failing step, aggregation, adoption at start (orphans and leaks),
 * drift repair with pause/resume, restarts, and event orderings replayed in many orders.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Dataplane, hostIfNameFor, reportChanged as reportChangedOf, RTPROT_ROUTECTL } from '../../../src/dataplane/index.js';
import { Advertisements } from '../../../src/endpoints/advertisements.js';
import { containerMac, EndpointController } from '../../../src/endpoints/controller.js';
import type { EndpointSpec, PolicyEndpointRef, PolicyPort } from '../../../src/endpoints/types.js';
import { blockSearchStart, Ipam, type PoolConfig } from '../../../src/ipam/index.js';
import { blockCidr, blockCount, parsePools } from '../../../src/ipam/pools.js';
import { verifyEndpoints } from '../../../src/metrics/observability.js';
import { MemoryStore } from '../../../src/store/index.js';
import { runVerify } from '../../../src/verify/gather.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';

/** Records what the speaker was told, and keeps the resulting set. */
class RecordingSpeaker {
  readonly set = new Set<string>();
  readonly calls: { op: 'advertise' | 'withdraw' | 'set'; prefixes: string[] }[] = [];
  advertise(routes: readonly { prefix: string }[]): void {
    this.calls.push({ op: 'advertise', prefixes: routes.map((r) => r.prefix) });
    for (const r of routes) this.set.add(r.prefix);
  }
  withdraw(prefixes: readonly string[]): void {
    this.calls.push({ op: 'withdraw', prefixes: [...prefixes] });
    for (const p of prefixes) this.set.delete(p);
  }
  setAdvertisements(routes: readonly { prefix: string }[]): void {
    this.calls.push({ op: 'set', prefixes: routes.map((r) => r.prefix) });
    this.set.clear();
    for (const r of routes) this.set.add(r.prefix);
  }
  sorted(): string[] {
    return [...this.set].sort();
  }
}

const POOLS: PoolConfig[] = [
  { cidr: '198.51.100.0/28', zone: 'app' },
  { cidr: '2001:db8:c:1::/120', zone: 'app' },
  { cidr: '198.51.100.64/27', zone: 'dmz' },
];

const idOf = (n: number): string => `${n.toString(16).padStart(2, '0')}c0ffee`.padEnd(64, 'a');
const spec = (n: number, extra: Partial<EndpointSpec> = {}): EndpointSpec => ({ id: idOf(n), name: `c${n}`, pid: 1000 + n, zone: 'app', ...extra });

interface World {
  k: FakeKernel;
  dp: Dataplane;
  store: MemoryStore;
  ipam: Ipam;
  speaker: RecordingSpeaker;
  adverts: Advertisements;
  ctl: EndpointController;
}

function world(opts: { pools?: PoolConfig[]; pids?: number[]; store?: MemoryStore; k?: FakeKernel; watch?: boolean; policy?: PolicyPort; concurrency?: number; advertiser?: Advertisements } = {}): World {
  const k = opts.k ?? new FakeKernel();
  for (const pid of opts.pids ?? [1001, 1002, 1003, 1004, 1005, 2001, 2002]) {
    if (!k.containers.has(`/proc/${pid}/ns/net`)) k.addContainer(`/proc/${pid}/ns/net`);
  }
  const dp = new Dataplane(k, { driftDebounceMs: 1 });
  const store = opts.store ?? new MemoryStore();
  const ipam = new Ipam(store, 'w1', opts.pools ?? POOLS);
  const speaker = new RecordingSpeaker();
  const adverts = opts.advertiser ?? new Advertisements(speaker);
  const ctl = new EndpointController({
    ipam,
    dataplane: dp,
    advertiser: adverts,
    reconcileIntervalMs: 0,
    watchDrift: opts.watch ?? false,
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
  });
  return { k, dp, store, ipam, speaker, adverts, ctl };
}

const ownRoutes = (k: FakeKernel): string[] => k.snapshot().routes.filter((r) => r.includes(`proto ${RTPROT_ROUTECTL}`));
const ownLinks = (k: FakeKernel): string[] => k.snapshot().links.filter((l) => l.startsWith('rtc'));

describe('EndpointController: one endpoint', () => {
  it('allocates, plumbs, routes and advertises; the view says how', async () => {
    const w = world();
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    const v = w.ctl.get(idOf(1))!;
    expect(v).toMatchObject({
      name: 'c1',
      zone: 'app',
      state: 'ready',
      error: null,
      ipv4: '198.51.100.0',
      ipv6: '2001:db8:c:1::',
      hostVeth: hostIfNameFor(idOf(1)),
      hwaddr: containerMac(idOf(1)),
      gateway: { ipv4: '169.254.1.1', ipv6: 'fe80::ecee:eeff:feee:eeee' },
      advertised: ['198.51.100.0/32', '2001:db8:c:1::/128'],
    });
    expect(v.hwaddr).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(ownLinks(w.k)).toEqual([`${hostIfNameFor(idOf(1))} ee:ee:ee:ee:ee:ee up peer=/proc/1001/ns/net:eth0`]);
    expect(ownRoutes(w.k)).toEqual([
      `unicast 198.51.100.0/32 proto 88 scope link dev ${hostIfNameFor(idOf(1))}`,
      `unicast 2001:db8:c:1::/128 proto 88 scope universe dev ${hostIfNameFor(idOf(1))}`,
    ]);
    expect(w.speaker.sorted()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128']);
    expect(w.ctl.readyCount()).toBe(1);
    const c = w.k.containers.get('/proc/1001/ns/net')!;
    expect(c.links.get('eth0')?.mac).toBe(containerMac(idOf(1)));
    expect(c.config).toMatchObject({ ipv4: '198.51.100.0', ipv6: '2001:db8:c:1::', gateway4: '169.254.1.1' });
  });

  it('removal withdraws, removes the veth and routes, and releases the addresses', async () => {
    const w = world();
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    await w.ctl.remove(idOf(1));
    expect(w.ctl.get(idOf(1))).toBeUndefined();
    expect(w.speaker.sorted()).toEqual([]);
    expect(ownLinks(w.k)).toEqual([]);
    expect(ownRoutes(w.k)).toEqual([]);
    expect(await w.ipam.list()).toEqual([]);
    // Withdrawn before the dataplane removal: the last speaker call is the withdraw, and
    // the kernel still had the veth when it was made.
    expect(w.speaker.calls.at(-1)).toEqual({ op: 'withdraw', prefixes: ['198.51.100.0/32', '2001:db8:c:1::/128'] });
  });

  it('fixed addresses from labels are honoured', async () => {
    const w = world();
    await w.ctl.sync([spec(1, { ipv4: '198.51.100.9', ipv6: '2001:db8:c:1::99' })]);
    expect(w.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.9', ipv6: '2001:db8:c:1::99' });
  });

  it('each endpoint costs the speaker one advertise of its own two prefixes, however many exist (O(1))', async () => {
    const w = world({ pools: [{ cidr: '198.51.100.0/24', zone: 'app' }, { cidr: '2001:db8:c:1::/112', zone: 'app' }], pids: Array.from({ length: 40 }, (_, i) => 1001 + i) });
    w.adverts.setStatic(['203.0.113.10/32']);
    await w.ctl.sync([]);
    const before = w.speaker.calls.length;
    for (let n = 1; n <= 40; n++) await w.ctl.add(spec(n));
    const calls = w.speaker.calls.slice(before);
    expect(calls).toHaveLength(40);
    expect(calls.every((c) => c.op === 'advertise' && c.prefixes.length === 2)).toBe(true);
    expect(w.speaker.set.size).toBe(81);
    await w.ctl.remove(idOf(7));
    expect(w.speaker.calls.at(-1)).toEqual({ op: 'withdraw', prefixes: w.speaker.calls[before + 6]!.prefixes });
    expect(w.speaker.set.has('203.0.113.10/32')).toBe(true);
  });
});

describe('EndpointController: errors leave nothing half-done', () => {
  it('an address outside the pools → error with the reason; no kernel change, no allocation, nothing advertised', async () => {
    const w = world();
    await w.ctl.sync([spec(1, { ipv4: '198.51.100.200' })]);
    const v = w.ctl.get(idOf(1))!;
    expect(v.state).toBe('error');
    expect(v.error).toMatch(/198\.51\.100\.200 is outside the zone app's pools.*198\.51\.100\.0\/28/);
    expect(ownLinks(w.k)).toEqual([]);
    expect(await w.ipam.list()).toEqual([]);
    expect(w.speaker.sorted()).toEqual([]);
    // The container-side helper was started early, and cancelled with nothing changed.
    expect(w.k.openHelpers).toBe(0);
    expect([...w.k.containers.values()].every((c) => c.sysctls.size === 0)).toBe(true);
  });

  it('an address already taken → error naming the owner; the owner is untouched', async () => {
    const w = world();
    await w.ctl.sync([spec(1, { ipv4: '198.51.100.5' })]);
    await w.ctl.add(spec(2, { ipv4: '198.51.100.5' }));
    expect(w.ctl.get(idOf(2))).toMatchObject({ state: 'error', ipv4: null });
    expect(w.ctl.get(idOf(2))!.error).toMatch(new RegExp(`198\\.51\\.100\\.5 is already allocated to endpoint ${idOf(1)}`));
    expect(w.ctl.get(idOf(1))!.state).toBe('ready');
    expect(ownLinks(w.k)).toHaveLength(1);
    expect((await w.ipam.list()).map((a) => a.endpointId)).toEqual([idOf(1)]);
    expect(w.k.openHelpers).toBe(0);
  });

  it('an unknown zone → error', async () => {
    const w = world();
    await w.ctl.sync([spec(1, { zone: 'backend' })]);
    expect(w.ctl.get(idOf(1))!.error).toMatch(/zone "backend" has no address pool on this worker/);
  });

  it('a dataplane failure rolls the allocation back; the next repair pass retries and succeeds', async () => {
    const w = world();
    await w.ctl.sync([]);
    w.k.failNext('configureContainer', 'EIO', '/proc/1001/');
    await w.ctl.add(spec(1));
    const v = w.ctl.get(idOf(1))!;
    expect(v.state).toBe('error');
    expect(v.error).toMatch(/wiring failed \(addresses released\).*EIO/);
    expect(await w.ipam.list()).toEqual([]);
    expect(ownLinks(w.k)).toEqual([]);
    expect(ownRoutes(w.k)).toEqual([]);
    expect(w.speaker.sorted()).toEqual([]);
    expect(w.k.openHelpers).toBe(0);
    await w.ctl.reconcile();
    await w.ctl.settled();
    expect(w.ctl.get(idOf(1))!.state).toBe('ready');
    expect(w.speaker.set.size).toBe(2);
  });

  it('a host route that cannot be added (a foreign route holds the prefix) → error, veth gone, address released', async () => {
    const w = world();
    w.k.handAddRoute({ family: 4, dst: '198.51.100.0/32', type: 'unicast', protocol: 4, scope: 'link', oif: 1 });
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    expect(w.ctl.get(idOf(1))).toMatchObject({ state: 'error' });
    expect(w.ctl.get(idOf(1))!.error).toMatch(/EEXIST/);
    expect(ownLinks(w.k)).toEqual([]);
    expect(await w.ipam.list()).toEqual([]);
    // The foreign route is still there.
    expect(w.k.snapshot().routes).toContain('unicast 198.51.100.0/32 proto 4 scope link dev lo');
  });
});

/** A zone policy that writes what it is told into the kernel fake's log, so the order shows. */
class LoggingPolicy implements PolicyPort {
  readonly members = new Set<string>();
  /** When set, an add completes only after this many event-loop turns. */
  slowTurns = 0;
  constructor(private readonly k: FakeKernel) {}
  async addEndpoint(e: PolicyEndpointRef): Promise<void> {
    this.k.log.push(`policy add ${e.hostVeth}`);
    for (let i = 0; i < this.slowTurns; i++) await new Promise((r) => setImmediate(r));
    this.members.add(`${e.ipv4},${e.hostVeth}`);
    if (this.slowTurns > 0) this.k.log.push(`policy added ${e.hostVeth}`);
  }
  removeEndpoint(e: PolicyEndpointRef): Promise<void> {
    this.k.log.push(`policy remove ${e.hostVeth}`);
    this.members.delete(`${e.ipv4},${e.hostVeth}`);
    return Promise.resolve();
  }
  replaceEndpoints(eps: readonly PolicyEndpointRef[]): Promise<void> {
    this.members.clear();
    for (const e of eps) this.members.add(`${e.ipv4},${e.hostVeth}`);
    return Promise.resolve();
  }
}

describe('EndpointController: order of the add path', () => {
  it('set entry, then veth and container side, both ends settled, host routes last, and the advertisement as soon as they are sent', async () => {
    const k = new FakeKernel();
    const policy = new LoggingPolicy(k);
    const w = world({ k, policy });
    await w.ctl.sync([]);
    // The kernel has the routes once they are sent; its answer comes a turn later. The
    // advertisement must not wait for that answer.
    let answered = false;
    const addRoutes = k.addRoutes.bind(k);
    k.addRoutes = async (routes, protocol, onSent) => {
      answered = false;
      const r = await addRoutes(routes, protocol, () => {
        k.log.push('routes sent');
        onSent?.();
      });
      await new Promise((resolve) => setImmediate(resolve));
      answered = true;
      return r;
    };
    let advertisedBeforeAnswer: boolean | undefined;
    const advertise = w.speaker.advertise.bind(w.speaker);
    w.speaker.advertise = (routes) => {
      advertisedBeforeAnswer = !answered;
      k.log.push(`advertise ${routes.map((r) => r.prefix).join(' ')}`);
      advertise(routes);
    };
    k.log.length = 0;
    await w.ctl.add(spec(1));
    const veth = hostIfNameFor(idOf(1));
    const steps = k.log.filter((l) => !l.startsWith('list'));
    expect(steps).toEqual([
      `policy add ${veth}`,
      `createVeth ${veth}`,
      'configureContainer /proc/1001/ns/net',
      `settleLink ${veth}`,
      'addRoutes 2',
      'routes sent',
      'advertise 198.51.100.0/32 2001:db8:c:1::/128',
    ]);
    expect(advertisedBeforeAnswer).toBe(true);
    expect(w.ctl.get(idOf(1))!.state).toBe('ready');
    expect(policy.members).toEqual(new Set([`198.51.100.0,${veth}`]));
  });

  it('the set entry goes in while the veth is set up, and the host routes wait for it', async () => {
    const k = new FakeKernel();
    const policy = new LoggingPolicy(k);
    policy.slowTurns = 20;
    const w = world({ k, policy });
    await w.ctl.sync([]);
    k.log.length = 0;
    await w.ctl.add(spec(1));
    const veth = hostIfNameFor(idOf(1));
    const steps = k.log.filter((l) => /^(policy|createVeth|addRoutes)/.test(l));
    expect(steps).toEqual([`policy add ${veth}`, `createVeth ${veth}`, `policy added ${veth}`, 'addRoutes 2']);
    expect(w.ctl.get(idOf(1))!.state).toBe('ready');
  });

  it('a dataplane that does not report the sending: advertised once the add resolves, once', async () => {
    const k = new FakeKernel();
    const w = world({ k });
    await w.ctl.sync([]);
    const addRoutes = k.addRoutes.bind(k);
    k.addRoutes = (routes, protocol) => addRoutes(routes, protocol);
    w.speaker.calls.length = 0;
    await w.ctl.add(spec(1));
    expect(w.speaker.calls).toEqual([{ op: 'advertise', prefixes: ['198.51.100.0/32', '2001:db8:c:1::/128'] }]);
  });

  it('a failing plumbing step takes the set entry out again and releases the addresses', async () => {
    const k = new FakeKernel();
    const policy = new LoggingPolicy(k);
    const w = world({ k, policy });
    await w.ctl.sync([]);
    k.failNext('configureContainer', 'EIO', '/proc/1001/');
    await w.ctl.add(spec(1));
    const veth = hostIfNameFor(idOf(1));
    expect(w.ctl.get(idOf(1))!.state).toBe('error');
    expect(k.log.filter((l) => l.startsWith('policy'))).toEqual([`policy add ${veth}`, `policy remove ${veth}`]);
    expect(policy.members.size).toBe(0);
    expect(await w.ipam.list()).toEqual([]);
    expect(ownLinks(w.k)).toEqual([]);
    expect(w.speaker.sorted()).toEqual([]);
  });

  it('a host route refused by the kernel (a foreign /32) rolls back the set entry too', async () => {
    const k = new FakeKernel();
    const policy = new LoggingPolicy(k);
    const w = world({ k, policy });
    k.handAddRoute({ family: 4, dst: '198.51.100.0/32', type: 'unicast', protocol: 4, scope: 'link', oif: 1 });
    await w.ctl.sync([]);
    w.speaker.calls.length = 0;
    await w.ctl.add(spec(1));
    expect(w.ctl.get(idOf(1))!.error).toMatch(/EEXIST/);
    expect(policy.members.size).toBe(0);
    expect(await w.ipam.list()).toEqual([]);
    // Advertised when the routes were sent, withdrawn when the kernel's answer said no.
    expect(w.speaker.calls.map((c) => c.op)).toEqual(['advertise', 'withdraw']);
    expect(w.speaker.sorted()).toEqual([]);
  });
});

/** A MemoryStore whose puts wait for `gate` (when set) and then fail with `failWith` (when set). */
class HeldStore extends MemoryStore {
  gate: Promise<void> | undefined;
  failWith: Error | undefined;
  held = 0;
  override async put(...args: Parameters<MemoryStore['put']>): Promise<number> {
    this.held++;
    try {
      if (this.gate) await this.gate;
    } finally {
      this.held--;
    }
    if (this.failWith) throw this.failWith;
    return super.put(...args);
  }
}

describe('EndpointController: the allocation is written while the endpoint is plumbed', () => {
  const turns = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };

  it('plumbed and advertised while the store writes; ready only once the write is done', async () => {
    const store = new HeldStore();
    const w = world({ store });
    await w.ctl.sync([]);
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));
    let settled = false;
    const added = w.ctl.add(spec(1)).then(() => (settled = true));
    await turns(20);
    expect(store.held).toBe(1);
    expect(ownRoutes(w.k)).toHaveLength(2);
    expect(w.speaker.sorted()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128']);
    expect(w.ctl.get(idOf(1))!.state).toBe('pending');
    expect(settled).toBe(false);
    open();
    await added;
    expect(w.ctl.get(idOf(1))!.state).toBe('ready');
    expect(await w.ipam.list()).toMatchObject([{ endpointId: idOf(1), ipv4: '198.51.100.0' }]);
  });

  it('a write that fails after the plumbing: withdrawn, unplumbed, set entry out, error shown', async () => {
    const store = new HeldStore();
    const k = new FakeKernel();
    const policy = new LoggingPolicy(k);
    const w = world({ store, k, policy });
    await w.ctl.sync([]);
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));
    store.failWith = new Error('disk full');
    w.speaker.calls.length = 0;
    const added = w.ctl.add(spec(1));
    await turns(20);
    expect(ownRoutes(w.k)).toHaveLength(2);
    open();
    await added;
    const v = w.ctl.get(idOf(1))!;
    expect(v.state).toBe('error');
    expect(v.error).toMatch(/no address: disk full/);
    expect(w.speaker.calls.map((c) => c.op)).toEqual(['advertise', 'withdraw']);
    expect(w.speaker.sorted()).toEqual([]);
    expect(ownRoutes(w.k)).toEqual([]);
    expect(ownLinks(w.k)).toEqual([]);
    expect(policy.members.size).toBe(0);
    store.failWith = undefined;
    store.gate = undefined;
    expect(await w.ipam.list()).toEqual([]);
  });

  it('a plumbing failure while the write runs: the addresses are released after it lands, not before', async () => {
    const store = new HeldStore();
    const k = new FakeKernel();
    const w = world({ store, k });
    await w.ctl.sync([]);
    let open!: () => void;
    store.gate = new Promise<void>((r) => (open = r));
    k.failNext('configureContainer', 'EIO', '/proc/1001/');
    const added = w.ctl.add(spec(1));
    await turns(20);
    expect(ownLinks(w.k)).toEqual([]); // rolled back already, waiting for the write
    expect(w.ctl.get(idOf(1))!.state).toBe('pending');
    store.gate = undefined;
    open();
    await added;
    expect(w.ctl.get(idOf(1))!.state).toBe('error');
    expect(await w.ipam.list()).toEqual([]);
  });
});

describe('EndpointController: concurrency', () => {
  it('a burst of 30 adds with an apply in the middle: all ready, the kernel equals a clean start with the same set', async () => {
    const N = 30;
    const pids = Array.from({ length: N }, (_, i) => 1001 + i);
    const pools: PoolConfig[] = [{ cidr: '198.51.100.0/26', zone: 'app' }, { cidr: '2001:db8:c:1::/120', zone: 'app' }];
    const fixedSpec = (n: number) => spec(n, { ipv4: `198.51.100.${n}`, ipv6: `2001:db8:c:1::${n.toString(16)}` });
    const w = world({ pids, pools, concurrency: 16 });
    w.k.jitter(7);
    await w.ctl.sync([]);
    const adds = pids.map((_, i) => w.ctl.add(fixedSpec(i + 1)));
    const mid = w.ctl.reconcile();
    await Promise.all([...adds, mid]);
    await w.ctl.settled();
    expect(w.ctl.list().every((v) => v.state === 'ready')).toBe(true);
    expect(w.k.maxInFlight('configureContainer')).toBeGreaterThan(1);
    expect(w.speaker.set.size).toBe(2 * N);

    const clean = world({ pids, pools });
    await clean.ctl.sync(pids.map((_, i) => fixedSpec(i + 1)));
    expect(w.k.snapshot()).toEqual(clean.k.snapshot());
    expect(reportChangedOf(await w.dp.apply())).toBe(false);
  });
});

describe('EndpointController: aggregation', () => {
  const pools: PoolConfig[] = [
    { cidr: '198.51.100.0/24', zone: 'app', aggregate: true, blockSize: 28 },
    { cidr: '2001:db8:c:1::/64', zone: 'app' },
  ];

  it('advertises the block with a blackhole for it, never a /32 inside it; the /128s of a plain pool still go out', async () => {
    const w = world({ pools });
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    await w.ctl.add(spec(2));
    expect(w.speaker.sorted()).toEqual(['198.51.100.0/28', '2001:db8:c:1::/128', '2001:db8:c:1::1/128']);
    expect(ownRoutes(w.k)).toContain('blackhole 198.51.100.0/28 proto 88 scope universe dev -');
    expect(ownRoutes(w.k).filter((r) => r.startsWith('unicast 198.51.100.'))).toHaveLength(2);
    expect(w.speaker.calls.flatMap((c) => c.prefixes).some((p) => p.startsWith('198.51.100.') && p.endsWith('/32'))).toBe(false);
    expect(w.ctl.get(idOf(1))!.advertised).toEqual(['2001:db8:c:1::/128', '198.51.100.0/28']);
    // The block stays while the host holds it, even with no endpoint left in it.
    await w.ctl.remove(idOf(1));
    await w.ctl.remove(idOf(2));
    expect(w.speaker.sorted()).toEqual(['198.51.100.0/28']);
  });

  it('a second block is claimed, blackholed and advertised when the first is full', async () => {
    const w = world({ pools: [{ cidr: '198.51.100.0/24', zone: 'app', aggregate: true, blockSize: 31 }], pids: [1001, 1002, 1003] });
    await w.ctl.sync([spec(1), spec(2), spec(3)]);
    // Adopted at start (blocks of the allocations made then), and the third needed a new block.
    await w.ctl.settled();
    await w.ctl.reconcile();
    expect(w.speaker.sorted()).toEqual(['198.51.100.0/31', '198.51.100.2/31']);
    expect(ownRoutes(w.k).filter((r) => r.startsWith('blackhole'))).toHaveLength(2);
  });
});

describe('EndpointController: aggregation in cluster mode (blocks claimed in the store)', () => {
  const pools: PoolConfig[] = [
    { cidr: '198.51.100.0/24', zone: 'app', aggregate: true, blockSize: 30 },
    { cidr: '2001:db8:c:1::/64', zone: 'app', aggregate: true, blockSize: 126 },
  ];
  // Where w1's block search starts (a hash of its name): its first block of each pool.
  const parsed = parsePools(pools);
  const BLOCKS = parsed.map((p) => blockCidr(p, blockSearchStart('w1', blockCount(p)))).sort();
  const first = (n: number): string[] => BLOCKS.map((b) => b.replace(/\/\d+$/, '')).map((a, i) => (i === 0 ? a.replace(/\d+$/, (d) => String(Number(d) + n)) : a));

  /** A worker whose IPAM claims blocks in `store` (registry + own document) and gives them back after `grace` ms of the fake clock. */
  function clusterWorld(store = new MemoryStore(), k = new FakeKernel(), clock = { now: 0 }) {
    for (const pid of [1001, 1002, 1003, 1004, 1005]) if (!k.containers.has(`/proc/${pid}/ns/net`)) k.addContainer(`/proc/${pid}/ns/net`);
    const dp = new Dataplane(k, { driftDebounceMs: 1 });
    const ipam = new Ipam(store, 'w1', pools, { blockGraceMs: 1000, now: () => clock.now });
    const speaker = new RecordingSpeaker();
    const ctl = new EndpointController({ ipam, dataplane: dp, advertiser: new Advertisements(speaker), reconcileIntervalMs: 0, watchDrift: false });
    return { k, dp, store, ipam, speaker, ctl, clock };
  }
  const blackholes = (k: FakeKernel): string[] => ownRoutes(k).filter((r) => r.startsWith('blackhole')).map((r) => r.split(' ')[1]!).sort();

  it('one prefix per block, blackholed first; a start in a held block tells the speaker nothing', async () => {
    const w = clusterWorld();
    const inKernelWhenAdvertised: string[][] = [];
    const advertise = w.speaker.advertise.bind(w.speaker);
    w.speaker.advertise = (routes) => {
      inKernelWhenAdvertised.push(blackholes(w.k));
      advertise(routes);
    };
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    expect(w.speaker.sorted()).toEqual(BLOCKS);
    expect(blackholes(w.k)).toEqual(BLOCKS);
    expect(inKernelWhenAdvertised).toEqual([BLOCKS]);
    // The host routes stay /32 and /128 in the kernel (they win over the blackhole by longest match).
    expect(ownRoutes(w.k).filter((r) => r.startsWith('unicast'))).toHaveLength(2);
    const calls = w.speaker.calls.length;
    await w.ctl.add(spec(2));
    await w.ctl.add(spec(3));
    expect(w.ctl.get(idOf(3))).toMatchObject({ state: 'ready', ipv4: first(2)[0], advertised: BLOCKS });
    expect(w.speaker.calls.length, JSON.stringify(w.speaker.calls.slice(calls))).toBe(calls);
    expect(w.speaker.calls.flatMap((c) => c.prefixes).filter((p) => p.endsWith('/32') || p.endsWith('/128'))).toEqual([]);
  });

  it('a block claimed ahead of need is blackholed, then advertised, before its first address is used', async () => {
    const w = clusterWorld();
    const inKernelWhenAdvertised: string[][] = [];
    const advertise = w.speaker.advertise.bind(w.speaker);
    w.speaker.advertise = (routes) => {
      inKernelWhenAdvertised.push(blackholes(w.k));
      advertise(routes);
    };
    await w.ctl.sync([]);
    for (const n of [1, 2, 3]) await w.ctl.add(spec(n));
    // 3 of each /30 and /126 used: one address, a quarter of a block, left. The next blocks
    // are claimed in the background and taken in by the controller.
    await w.ipam.claimsSettled();
    expect(w.ipam.prefetched).toBe(2);
    await vi.waitFor(() => expect(w.speaker.sorted()).toHaveLength(4), { timeout: 5_000, interval: 5 });
    const held = (await w.ipam.blocks()).map((b) => b.cidr).sort();
    expect(w.speaker.sorted()).toEqual(held);
    expect(blackholes(w.k)).toEqual(held);
    expect(inKernelWhenAdvertised.at(-1)).toEqual(held); // blackholed before it was advertised
    // The 4th fills the first blocks, the 5th is the first in the new ones: nothing to tell the speaker.
    const calls = w.speaker.calls.length;
    await w.ctl.add(spec(4));
    await w.ctl.add(spec(5));
    const fifth = w.ctl.get(idOf(5))!;
    expect(fifth.state).toBe('ready');
    expect(BLOCKS).not.toContain(fifth.advertised[0]);
    expect(held).toEqual(expect.arrayContaining([...fifth.advertised]));
    expect(w.speaker.calls.length, JSON.stringify(w.speaker.calls.slice(calls))).toBe(calls);
  });

  it('a block given back is withdrawn and its blackhole removed before its registry entry goes', async () => {
    const w = clusterWorld();
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    let atDelete: { routes: string[]; advertised: string[] } | undefined;
    const del = w.store.delete.bind(w.store);
    w.store.delete = (key, opts) => {
      if (key.startsWith('ipam/blocks/')) atDelete ??= { routes: blackholes(w.k), advertised: w.speaker.sorted() };
      return del(key, opts);
    };
    await w.ctl.remove(idOf(1));
    // Empty but held: still advertised and blackholed during the grace time.
    expect(w.speaker.sorted()).toEqual(BLOCKS);
    expect(await w.ipam.releaseEmptyBlocks()).toEqual([]);
    w.clock.now += 1000;
    expect((await w.ipam.releaseEmptyBlocks()).sort()).toEqual(BLOCKS);
    expect(atDelete).toEqual({ routes: [], advertised: [] });
    expect(w.speaker.sorted()).toEqual([]);
    expect(blackholes(w.k)).toEqual([]);
    expect(await w.store.list('ipam/blocks/')).toEqual([]);
    expect(w.ctl.heldBlocks()).toEqual([]);
  });

  it('before the start has adopted the kernel, no block is given back (its registry entry stays)', async () => {
    const w = clusterWorld();
    await w.ipam.allocate('x', 'app');
    await w.ipam.release('x');
    expect(await w.ipam.releaseEmptyBlocks()).toEqual([]);
    w.clock.now += 1000;
    await expect(w.ipam.releaseEmptyBlocks()).rejects.toThrow(/not adopted/);
    expect((await w.store.list('ipam/blocks/')).length).toBe(2);
  });

  it('an address outside the blocks held goes out as /32 and /128; the block back covers it again', async () => {
    const w = clusterWorld();
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    // The block leaves the worker's document behind the controller's back (an operator's release).
    const doc = (await w.store.get('ipam/hosts/w1'))!;
    const stripped = { ...(doc.value as Record<string, unknown>), blocks: {} };
    await w.store.put('ipam/hosts/w1', stripped);
    await w.ctl.reconcile();
    const hosts = [`${first(0)[0]}/32`, `${first(0)[1]}/128`];
    expect(w.speaker.sorted()).toEqual(hosts);
    expect(blackholes(w.k)).toEqual([]);
    expect(w.ctl.get(idOf(1))!.advertised).toEqual(hosts);
    await w.store.put('ipam/hosts/w1', doc.value);
    await w.ctl.reconcile();
    expect(w.speaker.sorted()).toEqual(BLOCKS);
    expect(blackholes(w.k)).toEqual(BLOCKS);
  });

  it('a new block that cannot be read back: the container goes out as /32 and /128 until a repair pass settles it', async () => {
    const w = clusterWorld();
    await w.ctl.sync([]);
    const blocks = w.ipam.blocks.bind(w.ipam);
    w.ipam.blocks = () => Promise.reject(new Error('store: etcd get ipam/hosts/w1 failed: 14 UNAVAILABLE'));
    await w.ctl.add(spec(1));
    expect(w.ctl.get(idOf(1))?.state).toBe('ready');
    expect(w.speaker.sorted()).toEqual([`${first(0)[0]}/32`, `${first(0)[1]}/128`]);
    w.ipam.blocks = blocks;
    await w.ctl.reconcile();
    expect(w.speaker.sorted()).toEqual(BLOCKS);
    expect(blackholes(w.k)).toEqual(BLOCKS);
  });

  it('a restart adopts the blocks: blackholes kept as they are, advertised again, no host prefix', async () => {
    const first = clusterWorld();
    await first.ctl.sync([]);
    await first.ctl.add(spec(1));
    await first.ctl.add(spec(2));
    await first.ctl.remove(idOf(2));
    first.k.log.length = 0;
    const second = clusterWorld(first.store, first.k);
    await second.ctl.sync([spec(1)]);
    expect(second.speaker.sorted()).toEqual(BLOCKS);
    expect(blackholes(second.k)).toEqual(BLOCKS);
    expect(second.k.log.filter((l) => l.startsWith('deleteRoutes') || l.startsWith('addRoutes'))).toEqual([]);
    expect(second.ctl.heldBlocks()).toEqual(BLOCKS);
  });

  it('a restart while the store cannot be read keeps the blackholes the kernel has', async () => {
    const first = clusterWorld();
    await first.ctl.sync([]);
    await first.ctl.add(spec(1));
    const broken = new MemoryStore();
    broken.get = () => Promise.reject(new Error('store: etcd get ipam/hosts/w1 failed: 14 UNAVAILABLE'));
    broken.snapshot = () => Promise.reject(new Error('store: etcd snapshot ipam/hosts/w1 failed: 14 UNAVAILABLE'));
    const second = clusterWorld(broken, first.k);
    await second.ctl.sync([]);
    expect(blackholes(second.k)).toEqual(BLOCKS);
    expect(second.speaker.sorted()).toEqual(BLOCKS);
  });

  it('verify: a held block is expected blackholed and advertised, also while no container uses it', async () => {
    const w = clusterWorld();
    await w.ctl.sync([]);
    await w.ctl.add(spec(1));
    await w.ctl.remove(idOf(1));
    const run = (blocks: readonly string[]) =>
      runVerify({
        endpoints: () => verifyEndpoints(w.ctl.list()),
        kernel: w.dp,
        advertise: () => [],
        aggregates: () => blocks,
        blackholes: () => blocks,
        peers: () => [{ address: '203.0.113.1', state: 'Established', families: ['ipv4-unicast', 'ipv6-unicast'], problems: [] }],
        advertised: () => w.speaker.sorted().map((prefix) => ({ peer: '203.0.113.1', prefix })),
      });
    expect((await run(w.ctl.heldBlocks())).mismatches).toEqual([]);
    // Derived from the endpoints alone (none left), the held blocks would look like strays.
    expect((await run([])).mismatches.map((m) => m.kind)).toContain('unexpected-route');
  });
});

describe('EndpointController: start adopts the kernel', () => {
  it('keeps live containers plumbed as they are, removes orphans, frees their addresses', async () => {
    const k = new FakeKernel();
    const store = new MemoryStore();
    const first = world({ k, store });
    await first.ctl.sync([spec(1), spec(2), spec(3)]);
    expect(ownLinks(k)).toHaveLength(3);
    const before = k.snapshot();
    // The agent dies (no teardown). Container 2 is removed meanwhile: its namespace goes,
    // and with it both veth ends — but its allocation stays in the store. Container 3
    // dies too but its host veth lingers (namespace held open elsewhere).
    k.removeContainer('/proc/1002/ns/net');
    k.log.length = 0;
    const second = world({ k, store });
    await second.ctl.sync([spec(1)]);
    expect(second.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.0' });
    // Container 1's veth was not recreated.
    expect(k.log.filter((l) => l.startsWith('createVeth'))).toEqual([]);
    expect(k.snapshot().links).toContain(before.links.find((l) => l.startsWith(hostIfNameFor(idOf(1)))));
    expect(ownLinks(k)).toHaveLength(1);
    expect(k.log).toContain(`deleteLink ${hostIfNameFor(idOf(3))}`);
    expect(ownRoutes(k)).toHaveLength(2);
    expect((await second.ipam.list()).map((a) => a.endpointId)).toEqual([idOf(1)]);
    expect(second.speaker.sorted()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128']);
  });

  it('nothing is repaired before the first sync (an empty desired set would delete live plumbing)', async () => {
    const k = new FakeKernel();
    const first = world({ k });
    await first.ctl.sync([spec(1)]);
    const second = world({ k, watch: true });
    expect(await second.ctl.reconcile()).toBeNull();
    k.handDeleteRoute('198.51.100.0/32');
    await new Promise((r) => setTimeout(r, 10));
    expect(ownLinks(k)).toHaveLength(1);
  });

  it('a container restarted while the agent was down (new PID) is re-plumbed with its addresses', async () => {
    const k = new FakeKernel();
    const store = new MemoryStore();
    const first = world({ k, store });
    await first.ctl.sync([spec(1)]);
    k.removeContainer('/proc/1001/ns/net');
    const second = world({ k, store });
    await second.ctl.sync([spec(1, { pid: 2001 })]);
    expect(second.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.0', pid: 2001 });
    expect(ownLinks(k)).toEqual([`${hostIfNameFor(idOf(1))} ee:ee:ee:ee:ee:ee up peer=/proc/2001/ns/net:eth0`]);
  });
});

describe('EndpointController: repair', () => {
  it('a hand-deleted route and veth come back through the watch; paused, they stay gone until resume', async () => {
    const w = world({ watch: true });
    await w.ctl.sync([spec(1)]);
    const want = w.k.snapshot();
    w.k.handDeleteRoute('198.51.100.0/32');
    await waitUntil(() => ownRoutes(w.k).length === 2);
    w.k.handDeleteLink(hostIfNameFor(idOf(1)));
    await waitUntil(() => ownLinks(w.k).length === 1 && ownRoutes(w.k).length === 2);
    expect(w.k.snapshot()).toEqual(want);

    w.ctl.pause();
    w.k.handDeleteRoute('2001:db8:c:1::/128');
    await new Promise((r) => setTimeout(r, 20));
    expect(await w.ctl.reconcile()).toBeNull();
    expect(ownRoutes(w.k)).toHaveLength(1);
    await w.ctl.resume();
    expect(w.k.snapshot()).toEqual(want);
  });

  it('the periodic pass frees leaked allocations and deletes stray own links', async () => {
    const w = world();
    await w.ctl.sync([spec(1)]);
    await w.ipam.allocate('leaked', 'app');
    w.k.handAddLink('rtcdeadbeef00');
    const r = await w.ctl.reconcile();
    expect(r?.linksDeleted).toEqual(['rtcdeadbeef00']);
    expect((await w.ipam.list()).map((a) => a.endpointId)).toEqual([idOf(1)]);
    expect(w.ctl.lastRepair()?.freed).toBe(1);
  });

  it('a container restarted (same addresses, new PID) keeps its allocation and advertisements', async () => {
    const w = world();
    await w.ctl.sync([spec(1)]);
    const calls = w.speaker.calls.length;
    w.ctl.remove(idOf(1)).catch(() => undefined);
    await w.ctl.add(spec(1, { pid: 2001 }));
    await w.ctl.settled();
    expect(w.ctl.get(idOf(1))).toMatchObject({ state: 'ready', ipv4: '198.51.100.0', pid: 2001 });
    expect(w.speaker.calls.length).toBe(calls);
  });
});

describe('EndpointController: orderings', () => {
  type Op = { t: 'add'; n: number } | { t: 'remove'; n: number } | { t: 'sync'; ns: number[] } | { t: 'tick' };
  const fixed = (n: number): EndpointSpec => spec(n, { ipv4: `198.51.100.${n}`, ipv6: `2001:db8:c:1::${n}` });
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('add' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('remove' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('sync' as const), ns: fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }) }),
    fc.constant({ t: 'tick' as const }),
  );

  /** Applies ops without waiting (so they interleave), then a final sync with `final`. */
  async function play(ops: readonly Op[], final: number[]) {
    const w = world();
    await w.ctl.sync([]);
    const pending: Promise<void>[] = [];
    for (const op of ops) {
      if (op.t === 'add') pending.push(w.ctl.add(fixed(op.n)));
      else if (op.t === 'remove') pending.push(w.ctl.remove(idOf(op.n)));
      else if (op.t === 'sync') pending.push(w.ctl.sync(op.ns.map(fixed)));
      else await new Promise((r) => setImmediate(r));
    }
    pending.push(w.ctl.sync(final.map(fixed)));
    await Promise.all(pending);
    await w.ctl.settled();
    return {
      kernel: w.k.snapshot(),
      advertised: w.speaker.sorted(),
      ipam: (await w.ipam.list()).map((a) => `${a.endpointId.slice(0, 2)} ${a.ipv4} ${a.ipv6}`),
      states: w.ctl.list().map((v) => `${v.name} ${v.state}`),
    };
  }

  it('any interleaving of add/remove/sync ends in the state the last sync asks for', async () => {
    const reference = new Map<string, Awaited<ReturnType<typeof play>>>();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }), async (ops, final) => {
        const key = [...final].sort().join(',');
        if (!reference.has(key)) reference.set(key, await play([], [...final].sort()));
        const got = await play(ops, final);
        expect(got).toEqual(reference.get(key));
        expect(got.states).toEqual(final.map((n) => `c${n} ready`).sort());
        expect(got.advertised).toHaveLength(2 * final.length);
      }),
      { numRuns: 60, seed: 4242 },
    );
    expect(reference.size).toBeGreaterThan(3);
  });
});

async function waitUntil(fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 2));
  }
}
