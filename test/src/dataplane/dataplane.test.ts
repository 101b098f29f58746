/** The reconciler against the in-memory kernel: plumbing, repair, ownership, rollback, replay. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Dataplane,
  DataplaneError,
  EndpointSpecError,
  hostIfNameFor,
  reportChanged,
  RTPROT_ROUTECTL,
  type ApplyReport,
  type EndpointPlumbing,
} from '../../../src/dataplane/index.js';
import { FakeKernel } from './fake-kernel.js';

const ep = (n: number, extra: Partial<EndpointPlumbing> = {}): EndpointPlumbing => {
  const id = `${n.toString(16).padStart(2, '0')}a1b2c3d4e5f60718`;
  return {
    id,
    hostIfName: hostIfNameFor(id),
    containerNetns: { path: `/var/run/netns/c${n}` },
    ifName: 'eth0',
    ipv4: `198.51.100.${n}`,
    ipv6: `2001:db8:c:1::${n.toString(16)}`,
    ...extra,
  };
};
const EPS = [1, 2, 3, 4].map((n) => ep(n));

function world(): { k: FakeKernel; dp: Dataplane } {
  const k = new FakeKernel();
  for (const n of [1, 2, 3, 4]) k.addContainer(`/var/run/netns/c${n}`);
  // Not ours: a static route, a route of another daemon, a link — none may ever change.
  k.handAddRoute({ family: 4, dst: '203.0.113.0/24', type: 'unicast', protocol: 4, scope: 'link', oif: 1 });
  k.handAddRoute({ family: 6, dst: '2001:db8:ffff::/48', type: 'blackhole', protocol: 12, scope: 'universe' });
  k.handAddLink('eth1');
  return { k, dp: new Dataplane(k, { driftDebounceMs: 1 }) };
}

const FOREIGN = [
  'blackhole 2001:db8:ffff::/48 proto 12 scope universe dev -',
  'unicast 203.0.113.0/24 proto 4 scope link dev lo',
];

describe('Dataplane plumbing', () => {
  it('addEndpoint: veth with the fixed MAC, up, sysctls, container side, host routes with proto 88', async () => {
    const { k, dp } = world();
    const e = EPS[0]!;
    await dp.addEndpoint(e);
    const snap = k.snapshot();
    expect(snap.links).toContain(`${e.hostIfName} ee:ee:ee:ee:ee:ee up peer=/var/run/netns/c1:eth0`);
    expect(snap.routes).toEqual([
      ...FOREIGN.slice(0, 1),
      `unicast 198.51.100.1/32 proto ${RTPROT_ROUTECTL} scope link dev ${e.hostIfName}`,
      `unicast 2001:db8:c:1::1/128 proto ${RTPROT_ROUTECTL} scope universe dev ${e.hostIfName}`,
      ...FOREIGN.slice(1),
    ].sort());
    expect(k.sysctls.get(`net/ipv4/conf/${e.hostIfName}/proxy_arp`)).toBe('1');
    expect(k.sysctls.get(`net/ipv4/neigh/${e.hostIfName}/proxy_delay`)).toBe('0');
    expect(k.linkLocal.get(e.hostIfName)).toBe('fe80::ecee:eeff:feee:eeee');
    expect(k.openHelpers).toBe(0);
    expect(k.sysctls.get('net/ipv4/ip_forward')).toBe('1');
    expect(k.sysctls.get('net/ipv6/conf/all/forwarding')).toBe('1');
    expect(k.containers.get('/var/run/netns/c1')?.config).toEqual({
      ifName: 'eth0',
      ipv4: '198.51.100.1',
      ipv6: '2001:db8:c:1::1',
      gateway4: '169.254.1.1',
      gateway6: 'fe80::ecee:eeff:feee:eeee',
    });
    expect(dp.desiredEndpoints().map((d) => d.id)).toEqual([e.id]);
  });

  it('host veth names: rtc + 11 hex of the id; other ids are hashed', () => {
    expect(hostIfNameFor('0123456789abcdef0123')).toBe('rtc0123456789a');
    expect(hostIfNameFor('k8s-pod-x')).toMatch(/^rtc[0-9a-f]{11}$/);
  });

  it('rejects bad specs before touching the kernel', async () => {
    const { k, dp } = world();
    const before = k.snapshot();
    await expect(dp.addEndpoint(ep(1, { ifName: 'eth0; rm -rf /' }))).rejects.toBeInstanceOf(EndpointSpecError);
    await expect(dp.addEndpoint(ep(1, { hostIfName: 'veth0' }))).rejects.toBeInstanceOf(EndpointSpecError);
    await expect(dp.addEndpoint(ep(1, { ipv4: '2001:db8::1' }))).rejects.toBeInstanceOf(EndpointSpecError);
    expect(() => dp.setDesired([EPS[0]!, EPS[0]!])).toThrow(DataplaneError);
    expect(k.snapshot()).toEqual(before);
  });

  it('apply from scratch, then apply again changes nothing', async () => {
    const { k, dp } = world();
    dp.setDesired(EPS.slice(0, 3));
    dp.setBlackholes(['198.51.100.0/28', '2001:db8:c:1::/122']);
    const r1 = await dp.apply();
    expect(r1.linksCreated).toHaveLength(3);
    expect(r1.routesAdded).toHaveLength(8);
    expect(r1.errors).toEqual([]);
    expect(k.snapshot().routes).toContain(`blackhole 198.51.100.0/28 proto ${RTPROT_ROUTECTL} scope universe dev -`);
    const r2 = await dp.apply();
    expect(reportChanged(r2)).toBe(false);
    const own = await dp.listOwn();
    expect(own.links.map((l) => l.name).sort()).toEqual(EPS.slice(0, 3).map((e) => e.hostIfName).sort());
    expect(own.routes).toHaveLength(8);
  });
});

describe('Dataplane repair and ownership', () => {
  it('restores a host route deleted by hand, a veth deleted by hand, a veth set down', async () => {
    const { k, dp } = world();
    dp.setDesired(EPS.slice(0, 3));
    await dp.apply();
    const want = k.snapshot();
    k.handDeleteRoute('198.51.100.2/32');
    k.handDeleteLink(EPS[0]!.hostIfName);
    k.handSetDown(EPS[2]!.hostIfName);
    const r = await dp.apply();
    expect(r.linksCreated).toEqual([EPS[0]!.id]);
    expect(r.linksRepaired).toEqual([EPS[2]!.id]);
    expect(r.routesAdded.map((x) => x.replace(/ dev \d+$/, '')).sort()).toEqual([
      '4 198.51.100.1/32',
      '4 198.51.100.2/32',
      '6 2001:db8:c:1::1/128',
    ]);
    expect(k.snapshot()).toEqual(want);
  });

  it('removes own orphans (links and proto-88 routes) and never touches anything else', async () => {
    const { k, dp } = world();
    dp.setDesired(EPS.slice(0, 2));
    await dp.apply();
    // An own link and an own route nobody wants (container died while the agent was down).
    const idx = k.handAddLink('rtcdeadbeef000');
    k.handAddRoute({ family: 4, dst: '198.51.100.99/32', type: 'unicast', protocol: RTPROT_ROUTECTL, scope: 'link', oif: idx });
    k.handAddRoute({ family: 4, dst: '198.51.100.77/32', type: 'unicast', protocol: RTPROT_ROUTECTL, scope: 'link', oif: 1 });
    // Someone else's route for a desired endpoint's own address: reported, never replaced.
    k.handDeleteRoute('198.51.100.2/32');
    k.handAddRoute({ family: 4, dst: '198.51.100.2/32', type: 'unicast', protocol: 4, scope: 'link', oif: 1 });
    const r = await dp.apply();
    expect(r.linksDeleted).toEqual(['rtcdeadbeef000']);
    expect(r.routesDeleted).toEqual([expect.stringContaining('198.51.100.77/32')]);
    expect(r.errors.map((e) => `${e.route} ${e.error.message}`)).toEqual([expect.stringMatching(/198\.51\.100\.2\/32.*EEXIST/)]);
    const snap = k.snapshot();
    expect(snap.links).toContain('eth1 02:00:00:00:00:01 up peer=-');
    expect(snap.routes).toContain('unicast 198.51.100.2/32 proto 4 scope link dev lo');
    for (const f of FOREIGN) expect(snap.routes).toContain(f);
    expect(snap.routes.join('\n')).not.toMatch(/198\.51\.100\.(99|77)/);
  });

  it('removeEndpoint removes veth, routes and container side; a second remove succeeds', async () => {
    const { k, dp } = world();
    await dp.addEndpoint(EPS[0]!);
    await dp.addEndpoint(EPS[1]!);
    await dp.removeEndpoint(EPS[0]!.id);
    await dp.removeEndpoint(EPS[0]!.id);
    await dp.removeEndpoint('never-existed');
    const snap = k.snapshot();
    expect(snap.links.join('\n')).not.toContain(EPS[0]!.hostIfName);
    expect(snap.routes.join('\n')).not.toMatch(/198\.51\.100\.1\/32|2001:db8:c:1::1\/128/);
    expect(k.containers.get('/var/run/netns/c1')?.links.size).toBe(0);
    expect(snap.routes.join('\n')).toContain('198.51.100.2/32');
    expect(dp.desiredEndpoints().map((e) => e.id)).toEqual([EPS[1]!.id]);
  });
});

describe('Dataplane ADD rollback', () => {
  it('container side fails: veth and routes gone, nothing desired', async () => {
    const { k, dp } = world();
    k.addContainer('/var/run/netns/bad', { hasDefaultRoute: true });
    const before = k.snapshot();
    const e = ep(9, { containerNetns: { path: '/var/run/netns/bad' } });
    const err = await dp.addEndpoint(e).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DataplaneError);
    expect((err as Error).message).toMatch(/File exists/);
    expect(k.snapshot()).toEqual(before);
    expect(dp.desiredEndpoints()).toEqual([]);
  });

  it('container namespace gone: fails cleanly', async () => {
    const { k, dp } = world();
    const before = k.snapshot();
    await expect(dp.addEndpoint(ep(5))).rejects.toThrow(/ENOENT/);
    expect(k.snapshot()).toEqual(before);
  });

  it('host route fails (a foreign route owns the /32): veth rolled back, foreign route kept', async () => {
    const { k, dp } = world();
    k.handAddRoute({ family: 6, dst: '2001:db8:c:1::1/128', type: 'unicast', protocol: 4, scope: 'universe', oif: 1 });
    const before = k.snapshot();
    await expect(dp.addEndpoint(EPS[0]!)).rejects.toThrow(/EEXIST/);
    expect(k.snapshot()).toEqual(before);
  });

  it('both ends are settled (the link watch run for them) after both are up and before the host routes; a failed settle is not the endpoint\'s', async () => {
    const { k, dp } = world();
    const e = EPS[0]!;
    await dp.addEndpoint(e);
    const mine = k.log.filter((l) => /^(createVeth|configureContainer|settleLink|addRoutes)/.test(l));
    expect(mine).toEqual([`createVeth ${e.hostIfName}`, 'configureContainer /var/run/netns/c1', `settleLink ${e.hostIfName}`, 'addRoutes 2']);
    const f = EPS[1]!;
    k.failNext('settleLink', 'EINVAL', f.hostIfName);
    const steps = await dp.addEndpoint(f);
    expect(steps.settleMs).toBeGreaterThanOrEqual(0);
    expect(k.snapshot().routes.filter((r) => r.includes(f.hostIfName))).toHaveLength(2);
  });

  it('the host routes wait for beforeRoutes, then routesSent resolves; if it rejects, rolled back and routesSent rejects', async () => {
    const { k, dp } = world();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const e = EPS[0]!;
    const adding = dp.addEndpoint(e, undefined, { beforeRoutes: gate });
    void adding.routesSent.then(() => k.log.push('sent'));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(k.log.filter((l) => /^(createVeth|addRoutes)/.test(l))).toEqual([`createVeth ${e.hostIfName}`]);
    release();
    await adding;
    expect(k.log.filter((l) => /^(addRoutes|sent)/.test(l))).toEqual(['addRoutes 2', 'sent']);

    const before = k.snapshot();
    const f = EPS[1]!;
    const refused = Promise.reject(new Error('set entry refused'));
    refused.catch(() => undefined); // handled by the dataplane later, not in this tick
    const add = dp.addEndpoint(f, undefined, { beforeRoutes: refused });
    await expect(add).rejects.toThrow(/set entry refused/);
    await expect(add.routesSent).rejects.toThrow(/set entry refused/);
    expect(k.snapshot()).toEqual(before);
    expect(dp.desiredEndpoints().map((x) => x.id)).toEqual([e.id]);
  });

  it('the host side fails: rolled back', async () => {
    const { k, dp } = world();
    const before = k.snapshot();
    k.failNext('configureHostSide', 'EACCES', EPS[0]!.hostIfName);
    await expect(dp.addEndpoint(EPS[0]!)).rejects.toThrow(/EACCES/);
    expect(k.snapshot()).toEqual(before);
    expect(k.openHelpers).toBe(0);
  });
});

describe('Dataplane repair of a container that died', () => {
  it('its veth went with its namespace: apply() notes it gone, reports no error, starts no helper', async () => {
    const { k, dp } = world();
    await dp.addEndpoint(EPS[0]!);
    await dp.addEndpoint(EPS[1]!);
    dp.setDesired([EPS[0]!, EPS[1]!]);
    k.removeContainer('/var/run/netns/c1');
    let opened = 0;
    const open = k.openContainer.bind(k);
    k.openContainer = (ns) => (opened++, open(ns));
    const r = await dp.apply();
    expect(r.containersGone).toEqual([EPS[0]!.id]);
    expect(r.errors).toEqual([]);
    expect(reportChanged(r)).toBe(false);
    expect(opened).toBe(0);
    expect(k.openHelpers).toBe(0);
  });
});

describe('Dataplane watch', () => {
  it('a hand-deleted route or veth triggers a reconcile that restores it', async () => {
    const { k, dp } = world();
    dp.setDesired(EPS.slice(0, 2));
    await dp.apply();
    const want = k.snapshot();
    const reports: ApplyReport[] = [];
    let resolve!: () => void;
    const seen = new Promise<void>((r) => (resolve = r));
    const stop = dp.watch((r) => {
      reports.push(r);
      if (reportChanged(r)) resolve();
    });
    k.handDeleteRoute('2001:db8:c:1::2/128');
    await seen;
    expect(reports.some((r) => r.routesAdded.some((x) => x.includes('2001:db8:c:1::2/128')))).toBe(true);
    expect(k.snapshot()).toEqual(want);
    let resolve2!: () => void;
    const seen2 = new Promise<void>((r) => (resolve2 = r));
    stop();
    const stop2 = dp.watch((r) => r.linksCreated.length && resolve2());
    k.handDeleteLink(EPS[1]!.hostIfName);
    await seen2;
    expect(k.snapshot()).toEqual(want);
    stop2();
  });

  it('our own changes are not drift', async () => {
    const { dp } = world();
    const reports: ApplyReport[] = [];
    const stop = dp.watch((r) => reports.push(r));
    await dp.addEndpoint(EPS[0]!);
    await dp.removeEndpoint(EPS[0]!.id);
    await new Promise((r) => setTimeout(r, 20));
    stop();
    expect(reports).toEqual([]);
  });
});

/**
 * Replays: any history of adds, removes, hand edits and applies, followed by the final
 * desired set and one apply(), ends in exactly the state a fresh kernel reaches with that
 * desired set alone — whatever the order.
 */
describe('Dataplane state sequences', () => {
  type Op =
    | { t: 'add'; n: number }
    | { t: 'remove'; n: number }
    | { t: 'apply' }
    | { t: 'delRoute'; n: number }
    | { t: 'delLink'; n: number }
    | { t: 'down'; n: number }
    | { t: 'containerGone'; n: number };

  async function run(ops: readonly Op[], final: readonly number[]): Promise<ReturnType<FakeKernel['snapshot']>> {
    const { k, dp } = world();
    for (const op of ops) {
      const e = EPS[('n' in op ? op.n : 1) - 1]!;
      switch (op.t) {
        case 'add':
          await dp.addEndpoint(e).catch(() => undefined);
          break;
        case 'remove':
          await dp.removeEndpoint(e.id);
          break;
        case 'apply':
          await dp.apply();
          break;
        case 'delRoute':
          k.handDeleteRoute(`${e.ipv4}/32`);
          break;
        case 'delLink':
          k.handDeleteLink(e.hostIfName);
          break;
        case 'down':
          k.handSetDown(e.hostIfName);
          break;
        case 'containerGone':
          // The container restarts with a fresh namespace at the same path.
          k.removeContainer(e.containerNetns.path!);
          k.addContainer(e.containerNetns.path!);
          break;
      }
    }
    dp.setDesired(final.map((n) => EPS[n - 1]!));
    dp.setBlackholes(['198.51.100.0/28']);
    const r = await dp.apply();
    expect(r.errors).toEqual([]);
    // Converged: a second pass has nothing to do.
    expect(reportChanged(await dp.apply())).toBe(false);
    return k.snapshot();
  }

  const reference = async (final: readonly number[]) => run([], final);

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('add' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('remove' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('apply' as const) }),
    fc.record({ t: fc.constant('delRoute' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('delLink' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('down' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('containerGone' as const), n: fc.integer({ min: 1, max: 4 }) }),
  );

  it('the same operations in several orders reach the same kernel state', async () => {
    const ops: Op[] = [
      { t: 'add', n: 1 },
      { t: 'add', n: 2 },
      { t: 'add', n: 3 },
      { t: 'delRoute', n: 2 },
      { t: 'remove', n: 3 },
      { t: 'delLink', n: 1 },
      { t: 'apply' },
      { t: 'down', n: 2 },
    ];
    const want = await reference([1, 2, 4]);
    expect(want.routes.filter((r) => r.includes(`proto ${RTPROT_ROUTECTL}`))).toHaveLength(7);
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(ops, { minLength: ops.length, maxLength: ops.length }), async (order) => {
        expect(await run(order, [1, 2, 4])).toEqual(want);
      }),
      { numRuns: 40 },
    );
  });

  it('random histories converge to the reference state of the final desired set', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { maxLength: 14 }),
        fc.subarray([1, 2, 3, 4]),
        async (ops, final) => {
          expect(await run(ops, final)).toEqual(await reference(final));
        },
      ),
      { numRuns: 60 },
    );
  });
});

/**
 * Endpoint operations of different endpoints run concurrently; those of one endpoint run
 * in call order; apply() runs alone. With a kernel whose answers arrive after random
 * event-loop turns, any mix of concurrent adds, removes and applies ends where one clean
 * apply of the final desired set does.
 */
describe('Dataplane concurrency', () => {
  const N = 24;
  const many = Array.from({ length: N }, (_, i) => ep(i + 1));
  function bigWorld(seed: number): { k: FakeKernel; dp: Dataplane } {
    const { k, dp } = world();
    for (const e of many) if (!k.containers.has(e.containerNetns.path!)) k.addContainer(e.containerNetns.path!);
    k.jitter(5, seed);
    return { k, dp };
  }

  it('many adds at once overlap in the kernel; an apply() in their midst sees none half-done', async () => {
    const { k, dp } = bigWorld(7);
    let addsRunningDuringApply = 0;
    let applying = false;
    const configure = k.configureContainer.bind(k);
    k.configureContainer = async (ns, side) => {
      if (applying) addsRunningDuringApply++;
      return configure(ns, side);
    };
    const listLinks = k.listLinks.bind(k);
    k.listLinks = () => {
      applying = true;
      return listLinks();
    };
    const first = many.slice(0, N / 2).map((e) => dp.addEndpoint(e));
    const mid = dp.apply().then((r) => {
      applying = false;
      return r;
    });
    const second = many.slice(N / 2).map((e) => dp.addEndpoint(e));
    await Promise.all([...first, ...second]);
    const r = await mid;
    expect(r.errors).toEqual([]);
    // Everything the first half plumbed was complete when apply read the kernel: nothing to repair.
    expect(reportChanged(r)).toBe(false);
    expect(addsRunningDuringApply).toBe(0);
    expect(k.maxInFlight('configureContainer')).toBeGreaterThan(2);

    const clean = bigWorld(1);
    clean.dp.setDesired(many);
    await clean.dp.apply();
    expect(k.snapshot()).toEqual(clean.k.snapshot());
    expect(dp.desiredEndpoints().map((e) => e.id).sort()).toEqual(many.map((e) => e.id).sort());
  });

  it('operations on one endpoint keep their call order (add, remove, add → there; add, add, remove → gone)', async () => {
    const { k, dp } = bigWorld(3);
    const [a, b] = [many[0]!, many[1]!];
    await Promise.all([dp.addEndpoint(a), dp.removeEndpoint(a.id), dp.addEndpoint(a), dp.addEndpoint(b), dp.addEndpoint(b), dp.removeEndpoint(b.id)]);
    const links = k.snapshot().links.join('\n');
    expect(links).toContain(a.hostIfName);
    expect(links).not.toContain(b.hostIfName);
    expect(dp.desiredEndpoints().map((e) => e.id)).toEqual([a.id]);
  });

  it('two endpoints claiming one host interface name: the second waits for the first and is refused', async () => {
    const { dp } = bigWorld(5);
    const a = many[0]!;
    const b = { ...many[1]!, hostIfName: a.hostIfName };
    const [ra, rb] = await Promise.allSettled([dp.addEndpoint(a), dp.addEndpoint(b)]);
    expect(ra.status).toBe('fulfilled');
    expect(rb.status === 'rejected' && String(rb.reason)).toMatch(/belongs to endpoint/);
    expect(dp.desiredEndpoints().map((e) => e.id)).toEqual([a.id]);
  });

  type Op = { t: 'add'; n: number } | { t: 'remove'; n: number } | { t: 'apply' } | { t: 'delLink'; n: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('add' as const), n: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ t: fc.constant('remove' as const), n: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ t: fc.constant('apply' as const) }),
    fc.record({ t: fc.constant('delLink' as const), n: fc.integer({ min: 1, max: 8 }) }),
  );

  it('random concurrent histories (nothing awaited in between) converge to the clean state of the final set', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 20 }), fc.subarray([1, 2, 3, 4, 5, 6, 7, 8]), fc.integer({ min: 1, max: 1000 }), async (ops, final, seed) => {
        const { k, dp } = bigWorld(seed);
        const pending: Promise<unknown>[] = [];
        for (const op of ops) {
          if (op.t === 'add') pending.push(dp.addEndpoint(many[op.n - 1]!).catch(() => undefined));
          else if (op.t === 'remove') pending.push(dp.removeEndpoint(many[op.n - 1]!.id));
          else if (op.t === 'apply') pending.push(dp.apply());
          else k.handDeleteLink(many[op.n - 1]!.hostIfName);
        }
        // The final set and its apply are issued while the history is still running.
        dp.setDesired(final.map((n) => many[n - 1]!));
        const last = dp.apply();
        await Promise.all(pending);
        await last;
        // Adds that started after setDesired may have put their endpoint back; one more
        // setDesired + apply once everything is quiet is what the controller's repair does.
        dp.setDesired(final.map((n) => many[n - 1]!));
        const r = await dp.apply();
        expect(r.errors).toEqual([]);
        const clean = bigWorld(1);
        clean.dp.setDesired(final.map((n) => many[n - 1]!));
        await clean.dp.apply();
        expect(k.snapshot()).toEqual(clean.k.snapshot());
      }),
      { numRuns: 40 },
    );
  });
});
