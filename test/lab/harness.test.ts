/**
 * The lab harness proves itself: FRR and BIRD in two namespaces peer over eBGP with
 * 4-byte ASNs, both families on one IPv4 session; each one's static prefixes reach the
 * other's RIB and kernel FIB with the right next hops; and cleanup leaves no namespace
 * and no process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, kernelRouteMap, startBird, startFrr, waitFor, WaitTimeoutError, LAB_ROOT, type Bird, type Frr, type Netns } from './harness/index.js';

const FRR_AS = 4200000001;
const BIRD_AS = 4200000002;
const FRR_V4 = '203.0.113.1';
const BIRD_V4 = '203.0.113.2';
const FRR_V6 = '2001:db8:f::1';
const BIRD_V6 = '2001:db8:f::2';
const FRR_NETS = ['198.51.100.16/28', '2001:db8:a::/48'];
const BIRD_NETS = ['198.51.100.32/28', '2001:db8:b::/48'];

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

describe('lab harness: FRR <-> BIRD', () => {
  let lab: Lab;
  let tor: Netns;
  let wk: Netns;
  let frr: Frr;
  let bird: Bird;

  beforeAll(async () => {
    lab = await Lab.create();
    tor = await lab.netns('tor');
    wk = await lab.netns('wk');
    await lab.link(tor, wk, { aAddr: [`${FRR_V4}/26`, `${FRR_V6}/64`], bAddr: [`${BIRD_V4}/26`, `${BIRD_V6}/64`] });
    [frr, bird] = await Promise.all([
      startFrr(tor, {
        asn: FRR_AS,
        routerId: FRR_V4,
        neighbors: [{ address: BIRD_V4, asn: BIRD_AS, defaultOriginate: true }],
        networks: FRR_NETS,
      }),
      startBird(wk, {
        asn: BIRD_AS,
        routerId: BIRD_V4,
        neighbors: [{ address: FRR_V4, asn: FRR_AS }],
        networks: BIRD_NETS,
      }),
    ]);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('names namespaces rtc-<role>-<4 hex> and links them with usable IPv6 at once', async () => {
    expect(tor.name).toMatch(/^rtc-tor-[0-9a-f]{4}$/);
    expect(wk.name).toMatch(/^rtc-wk-[0-9a-f]{4}$/);
    // DAD is off on lab links: the global address is not tentative and answers at once.
    const r = await tor.exec(['busybox', 'ping6', '-c', '1', '-W', '2', BIRD_V6]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('both sides reach Established', async () => {
    await frr.waitEstablished(BIRD_V4, 30_000);
    await bird.waitEstablished(FRR_V4, 30_000);
    const s = await frr.summary();
    expect(s.ipv4Unicast?.peers?.[BIRD_V4]?.state).toBe('Established');
    expect(s.ipv6Unicast?.peers?.[BIRD_V4]?.state).toBe('Established');
  });

  it("BIRD's prefixes are in FRR's RIB and FIB, next hop BIRD's link addresses", async () => {
    await waitFor(async () => {
      const v4 = await frr.ribPrefixes('ipv4-unicast');
      const v6 = await frr.ribPrefixes('ipv6-unicast');
      return v4.has(BIRD_NETS[0]!) && v6.has(BIRD_NETS[1]!) ? { v4, v6 } : undefined;
    }, { what: "BIRD's prefixes in FRR's RIB", timeoutMs: 15_000, diagnostics: () => lab.logTails() });
    const v4 = await frr.ribPrefixes('ipv4-unicast');
    const v6 = await frr.ribPrefixes('ipv6-unicast');
    expect(v4.get(BIRD_NETS[0]!)).toEqual([BIRD_V4]);
    const fib4 = await waitFor(async () => {
      const m = await kernelRouteMap(tor, 4, { proto: 'bgp' });
      return m.has(BIRD_NETS[0]!) ? m : undefined;
    }, { what: `${BIRD_NETS[0]} in ${tor.name}'s FIB`, timeoutMs: 10_000 });
    expect(fib4.get(BIRD_NETS[0]!)).toEqual([BIRD_V4]);
    const fib6 = await waitFor(async () => {
      const m = await kernelRouteMap(tor, 6, { proto: 'bgp' });
      return m.has(BIRD_NETS[1]!) ? m : undefined;
    }, { what: `${BIRD_NETS[1]} in ${tor.name}'s FIB`, timeoutMs: 10_000 });
    // BIRD sends its global and link-local next hop (RFC 2545 3); FRR installs the link-local one.
    const birdLl = await wk.linkLocal((await wk.ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'veth']))[0]!.ifname);
    expect(v6.get(BIRD_NETS[1]!)).toEqual([BIRD_V6, birdLl]);
    expect(fib6.get(BIRD_NETS[1]!)).toHaveLength(1);
    expect([BIRD_V6, birdLl]).toContain(fib6.get(BIRD_NETS[1]!)![0]);
  });

  it("FRR's prefixes and its default route are in BIRD's RIB and FIB", async () => {
    const want4 = [FRR_NETS[0]!, '0.0.0.0/0'];
    const want6 = [FRR_NETS[1]!, '::/0'];
    await waitFor(async () => {
      const v4 = await bird.routes('ipv4-unicast');
      const v6 = await bird.routes('ipv6-unicast');
      return want4.every((p) => v4.get(p)?.includes(FRR_V4)) && want6.every((p) => v6.has(p));
    }, { what: "FRR's prefixes and default in BIRD's RIB", timeoutMs: 15_000, diagnostics: () => bird.birdc('show route all') });
    const v6 = await bird.routes('ipv6-unicast');
    // FRR sends its global address (and its link-local); BIRD's gateway is one of them.
    const ll = await tor.linkLocal((await tor.ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'veth']))[0]!.ifname);
    expect([FRR_V6, ll]).toContain(v6.get(FRR_NETS[1]!)?.[0]);
    const fib4 = await waitFor(async () => {
      const m = await kernelRouteMap(wk, 4, { proto: 'bird' });
      return want4.every((p) => m.has(p)) ? m : undefined;
    }, { what: `FRR's v4 prefixes in ${wk.name}'s FIB`, timeoutMs: 10_000 });
    for (const p of want4) expect(fib4.get(p)).toEqual([FRR_V4]);
    const fib6 = await waitFor(async () => {
      const m = await kernelRouteMap(wk, 6, { proto: 'bird' });
      return want6.every((p) => m.has(p)) ? m : undefined;
    }, { what: `FRR's v6 prefixes in ${wk.name}'s FIB`, timeoutMs: 10_000 });
    expect(fib6.get(FRR_NETS[1]!)?.length).toBe(1);
    // BIRD's own static routes stay out of its kernel: only BGP routes are exported there.
    expect(fib4.has(BIRD_NETS[0]!)).toBe(false);
  });

  it('a timed-out wait names what it waited for and shows the daemon logs', async () => {
    const err = await waitFor(() => false, { what: 'something that never happens', timeoutMs: 200, diagnostics: () => lab.logTails(5) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toContain('something that never happens');
    expect((err as Error).message).toContain('bgpd.log');
    expect((err as Error).message).toContain('bird.log');
  });

  it('kill() and restart() bring the session back', async () => {
    const before = frr.bgpdPid!;
    await frr.kill();
    expect(alive(before)).toBe(false);
    await frr.restart();
    expect(frr.bgpdPid).not.toBe(before);
    await frr.waitEstablished(BIRD_V4, 30_000);
  });

  it('cleanup leaves no namespace, no process and no lab directory behind', async () => {
    const names = [...lab.namespaceNames];
    const pids = [...lab.pids];
    expect(pids.length).toBeGreaterThanOrEqual(3); // zebra, bgpd, bird
    const dir = lab.dir;
    await lab.cleanup();
    const list = (await (await import('./harness/index.js')).run(['ip', 'netns', 'list'])).split('\n');
    for (const n of names) expect(list.some((l) => l.startsWith(`${n} `) || l === n)).toBe(false);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still alive`).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(join(LAB_ROOT, lab.id))).toBe(false);
  });
});

describe('Lab.sweepStale', () => {
  it("removes a crashed run's namespace and processes, and leaves a live lab alone", async () => {
    const { mkdirSync, writeFileSync, readFileSync } = await import('node:fs');
    const { randomBytes } = await import('node:crypto');
    const { exec: run0, run: runOk } = await import('./harness/index.js');
    const live = await Lab.create();
    const liveNs = await live.netns('sweep');
    // A crashed run: its owner PID is dead, it claimed a namespace and left a process in it.
    const staleId = `crashed-${randomBytes(3).toString('hex')}`;
    const staleDir = join(LAB_ROOT, staleId);
    const staleNs = `rtc-sweep-${randomBytes(2).toString('hex')}`;
    mkdirSync(join(staleDir, 'pids'), { recursive: true });
    writeFileSync(join(staleDir, 'owner'), '2147483646 0\n');
    writeFileSync(join(staleDir, 'netns'), `${staleNs}\n`);
    await runOk(['ip', 'netns', 'add', staleNs]);
    const { spawn } = await import('node:child_process');
    const orphan = spawn('ip', ['netns', 'exec', staleNs, 'sleep', '300'], { stdio: 'ignore' });
    const orphanPid = orphan.pid!;
    await waitFor(() => readFileSync(`/proc/${orphanPid}/cmdline`, 'utf8').startsWith('sleep'), { what: 'orphan exec', timeoutMs: 3000, intervalMs: 10 });
    writeFileSync(join(staleDir, 'pids', String(orphanPid)), readFileSync(`/proc/${orphanPid}/cmdline`, 'utf8'));
    try {
      const res = await Lab.sweepStale({ prefix: 'rtc-sweep-' });
      expect(res.pids).toEqual([orphanPid]);
      expect(res.namespaces).toEqual([staleNs]);
      const list = (await runOk(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
      expect(list).not.toContain(staleNs);
      expect(list).toContain(liveNs.name);
      expect(existsSync(staleDir)).toBe(false);
      expect(existsSync(live.dir)).toBe(true);
    } finally {
      orphan.kill('SIGKILL');
      await run0(['ip', 'netns', 'del', staleNs]);
      await live.cleanup();
    }
  });
});

describe('lab harness: dynamic neighbors (FRR and BIRD listen ranges) and gobgpd', () => {
  it('FRR accepts BIRD from its listen range and sends it a default; BIRD accepts gobgpd from its range and sends it one', async () => {
    const { startGobgp } = await import('./harness/index.js');
    const lab = await Lab.create();
    try {
      const tor = await lab.netns('dtor');
      const mid = await lab.netns('dmid');
      const leaf = await lab.netns('dleaf');
      await lab.link(tor, mid, { aAddr: ['203.0.113.1/26', '2001:db8:f::1/64'], bAddr: ['203.0.113.2/26', '2001:db8:f::2/64'] });
      await lab.link(mid, leaf, { aAddr: ['203.0.113.65/26', '2001:db8:f:1::1/64'], bAddr: ['203.0.113.66/26', '2001:db8:f:1::2/64'] });
      const [frr, bird, gobgp] = await Promise.all([
        startFrr(tor, { asn: FRR_AS, routerId: '203.0.113.1', listenRange: '203.0.113.0/26', listenDefaultOriginate: true }),
        startBird(mid, {
          asn: BIRD_AS,
          routerId: '203.0.113.2',
          neighbors: [{ address: '203.0.113.1', asn: FRR_AS }],
          listenRange: '203.0.113.64/26',
          listenDefaultOriginate: ['ipv4-unicast'],
        }),
        startGobgp(leaf, { asn: 4200000003, routerId: '203.0.113.66', neighbors: [{ address: '203.0.113.65', asn: BIRD_AS }], networks: ['198.51.100.128/27'] }),
      ]);
      await frr.waitEstablished('203.0.113.2', 30_000);
      await bird.waitEstablished('203.0.113.66', 60_000);
      // gobgpd gets BIRD's own default (listenDefaultOriginate) and passes its prefix up to FRR through BIRD.
      const g4 = await waitFor(async () => {
        const r = await gobgp.rib('ipv4-unicast');
        return r.has('0.0.0.0/0') ? r : undefined;
      }, { what: 'default route in gobgpd', timeoutMs: 15_000, diagnostics: () => lab.logTails() });
      expect(g4.get('0.0.0.0/0')).toEqual(['203.0.113.65']);
      const f4 = await waitFor(async () => {
        const r = await frr.ribPrefixes('ipv4-unicast');
        return r.has('198.51.100.128/27') ? r : undefined;
      }, { what: "gobgpd's prefix in FRR via BIRD", timeoutMs: 15_000, diagnostics: () => lab.logTails() });
      expect(f4.get('198.51.100.128/27')).toEqual(['203.0.113.2']);
      // BIRD received FRR's default too (not its primary: BIRD's own static default has
      // preference 200 over BGP's 100), and has gobgpd's prefix via gobgpd.
      await waitFor(async () => (await bird.birdc('show route 0.0.0.0/0 all')).includes('[peer_203_0_113_1 '), {
        what: "FRR's default in BIRD",
        timeoutMs: 15_000,
        diagnostics: () => bird.birdc('show route all'),
      });
      expect((await bird.routes('ipv4-unicast')).get('198.51.100.128/27')).toEqual(['203.0.113.66']);
    } finally {
      await lab.cleanup();
    }
  });
});
