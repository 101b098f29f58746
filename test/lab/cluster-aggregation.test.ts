/**
 * Aggregation in cluster mode: each block a worker holds goes to the fabric as one prefix,
 * with a blackhole route for it on the worker, and nothing per container. Real three-member
 * etcd 3.4, two built agents, a real FRR ToR:
 *
 *                 etcd (m1, m2, m3 on 127.0.0.1 peer ports, clients on 0.0.0.0)
 *                  │ 203.0.113.38/30
 *                  │ 203.0.113.37/30
 *   tor (FRR, AS 65000, listen range 203.0.113.0/26, IPv4 and IPv6 unicast)
 *    ├─ 203.0.113.13/30 2001:db8:ffff:1::1/64 ── .14 ::2  w1 (AS 65001)
 *    └─ 203.0.113.17/30 2001:db8:ffff:2::1/64 ── .18 ::2  w2 (AS 65002)
 *
 * Pools 198.51.100.0/24 (blocks /28) and 2001:db8:c:1::/120 (blocks /124), `aggregate` not
 * set: cluster mode's default (true) applies. Containers are namespaces wired by
 * routectl-cni over each agent's socket.
 *
 * 1. Three containers per worker: the ToR has exactly one prefix per block (a /28 and a
 *    /124 per worker, via that worker), no /32 or /128; every worker has a blackhole
 *    route for each of its blocks (protocol 88) and the host routes inside it; verify clean.
 * 2. 9 more containers on w1, all in the blocks it holds: the 9th leaves a quarter of each
 *    block free, so w1 claims its next blocks ahead of need; the ToR receives no UPDATE from
 *    w1 but those blocks' (its updatesRecv counter; the new blocks' UPDATEs arrive after
 *    anything the 9 could have sent, on the same TCP stream). 5 more: the last one is the
 *    first in the new blocks, already held and advertised: the blocks do not change.
 * 3. Pings from the ToR to an unused address of w2's block: no answer, and on w2 they
 *    are seen arriving (nft counter in prerouting) and never forwarded (counter in forward):
 *    dropped by the blackhole, not sent back to the ToR.
 * 4. w2's containers removed: after the grace time its blocks are given back, withdrawn at
 *    the ToR, its blackholes gone, its registry entries gone.
 * 5. w1 restarted: its blocks adopted (blackholes kept: `ip monitor route` sees no change to
 *    them), advertised again, verify clean.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CniResult } from '../../src/cni/types.js';
import { addressInPrefix } from '../../src/net.js';
import { endLab, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { clusterAgentConfig, clusterFabric, clusterStatus, CniContainers } from './cluster-lab.js';
import { ETCD_MEMBERS, LabEtcd } from './harness/etcd.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';

const TOR_ETCD = '203.0.113.37';
const ETCD4 = '203.0.113.38';
const WORKERS = [
  { node: 'w1', tor: '203.0.113.13', addr: '203.0.113.14', tor6: '2001:db8:ffff:1::1', addr6: '2001:db8:ffff:1::2', asn: 65001 },
  { node: 'w2', tor: '203.0.113.17', addr: '203.0.113.18', tor6: '2001:db8:ffff:2::1', addr6: '2001:db8:ffff:2::2', asn: 65002 },
] as const;
const POOL4 = '198.51.100.0/24';
const POOL6 = '2001:db8:c:1::/120';
const GRACE_SECONDS = 3;

let lab: Lab | undefined;
let tor: Netns;
let workers: Netns[] = [];
const agents: LabAgent[] = [];
const configs: LabAgentConfig[] = [];
let frr: Frr | undefined;
let cni: CniContainers;
const containers: { worker: number; id: string; netns: Netns; ipv4: string; ipv6: string }[] = [];

/** `n` containers on `worker`, one ADD after another; each must succeed. */
async function start(worker: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { id, netns, ...r } = await cni.add(worker, agents[worker]!.socket);
    expect(r.code, `ADD on ${WORKERS[worker]!.node}: ${JSON.stringify(r.json)}\n${agents[worker]!.logTail(15)}`).toBe(0);
    const ips = (r.json as CniResult).ips.map((x) => x.address.replace(/\/\d+$/, ''));
    containers.push({ worker, id, netns, ipv4: ips.find((a) => !a.includes(':'))!, ipv6: ips.find((a) => a.includes(':'))! });
  }
}

/** A worker's blocks in the registry, sorted. */
async function blocksOf(worker: number): Promise<string[]> {
  const s = (await clusterStatus(workers[0]!, agents[0]!)).find((w) => w.node === WORKERS[worker]!.node);
  return (s?.blocks ?? []).map((b) => b.cidr).sort();
}

/** The ToR's BGP RIB: prefix → next hops, both families. */
async function torRib(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const af of ['ipv4', 'ipv6']) {
    const j = await frr!.json<{ routes?: Record<string, { nexthops?: { ip?: string }[] }[]> }>(`show bgp ${af} unicast json`);
    for (const [prefix, paths] of Object.entries(j.routes ?? {})) out.set(prefix, paths.flatMap((p) => (p.nexthops ?? []).map((n) => n.ip ?? '')));
  }
  return out;
}

/** UPDATEs the ToR has received from a worker. */
async function updatesFrom(worker: number): Promise<number> {
  const addr = WORKERS[worker]!.addr;
  const j = await frr!.json<Record<string, { messageStats?: { updatesRecv?: number } }>>(`show bgp neighbors ${addr} json`);
  const n = j[addr]?.messageStats?.updatesRecv;
  if (typeof n !== 'number') throw new Error(`FRR has no updatesRecv for ${addr}: ${JSON.stringify(j).slice(0, 300)}`);
  return n;
}

/** The worker's own blackhole routes (protocol 88), both families, sorted. */
async function blackholes(worker: number): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const rs = await workers[worker]!.ipJson<{ dst: string; type?: string }[]>([fam, 'route', 'show', 'proto', '88', 'type', 'blackhole']);
    out.push(...rs.map((r) => r.dst));
  }
  return out.sort();
}

/** The worker's own host routes (protocol 88, unicast), both families. */
async function hostRoutes(worker: number): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const rs = await workers[worker]!.ipJson<{ dst: string; metric?: number }[]>([fam, 'route', 'show', 'proto', '88', 'type', 'unicast']);
    out.push(...rs.filter((r) => r.metric !== 20).map((r) => r.dst));
  }
  return out.sort();
}

/** The ToR RIB holds exactly these prefixes from the workers' pools, each via its worker. */
async function waitTorHas(expected: ReadonlyMap<string, string>): Promise<void> {
  let last = '';
  await waitFor(
    async () => {
      const rib = await torRib();
      const pools = [...rib.entries()].filter(([p]) => p.startsWith('198.51.100.') || p.startsWith('2001:db8:c:1:'));
      last = JSON.stringify(pools);
      return pools.length === expected.size && pools.every(([p, hops]) => expected.has(p) && hops.includes(expected.get(p)!));
    },
    { what: `the ToR to hold exactly ${JSON.stringify([...expected])}`, timeoutMs: 60_000, intervalMs: 200, diagnostics: () => `ToR has ${last}\n${agents.map((a) => a.logTail(8)).join('\n')}` },
  );
}

/** Each worker's blocks with the worker's session address as next hop (v6: its global fabric address). */
async function expectedRib(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [w, cfg] of WORKERS.entries()) for (const b of await blocksOf(w)) out.set(b, b.includes(':') ? cfg.addr6 : cfg.addr);
  return out;
}

async function verifyClean(worker: number): Promise<void> {
  const r = await agents[worker]!.verify();
  expect(r.json?.ok, `verify on ${WORKERS[worker]!.node}: ${r.stdout}${r.stderr}`).toBe(true);
}

beforeAll(async () => {
  lab = await Lab.create();
  let etcdNs: Netns;
  ({ tor, etcdNs, workers } = await clusterFabric(lab, 'ag', { torEtcd: TOR_ETCD, etcd: ETCD4, workers: WORKERS }));
  cni = new CniContainers(lab, 'agg', { name: 'rnet', timeoutMs: 30_000 });
  const etcd = new LabEtcd(etcdNs, ETCD4, ETCD_MEMBERS, 'rtc-agg');
  etcd.startAll();
  await etcd.waitHealthy(workers[0]!, 'three etcd members healthy, seen from w1');

  frr = await startFrr(tor, { asn: 65000, routerId: TOR_ETCD, listenRange: '203.0.113.0/26' });
  for (const [i, w] of WORKERS.entries()) {
    configs.push(
      clusterAgentConfig(lab, w, {
        // The worker's own files (state-<node> in the lab) are kept across its restart.
        etcd: { endpoints: etcd.endpoints, leaseTtl: 10, blockGrace: GRACE_SECONDS },
        pools: [
          { cidr: POOL4, zone: 'app', blockSize: 28 },
          { cidr: POOL6, zone: 'app', blockSize: 124 },
        ],
        zoneCidrs: [POOL4, '2001:db8:c:1::/64'],
        runtime: { reconcileInterval: 5 },
      }),
    );
    agents.push(await startAgent(workers[i]!, configs[i]!, { name: `agent-agg-${w.node}`, timeoutMs: 60_000 }));
  }
  await Promise.all(agents.map((a, i) => a.waitEstablished(WORKERS[i]!.tor, 60_000)));
}, 300_000);

afterAll(async () => {
  await endLab(lab, async () => {
    await Promise.all(agents.filter((a) => a.running).map((a) => a.stop().catch(() => undefined)));
  });
}, 120_000);

describe('cluster mode: one prefix per block, a blackhole for its unused part', () => {
  it('three containers per worker: the ToR has each block as one prefix, no /32 or /128; blackholes and host routes on the workers', async () => {
    await start(0, 3);
    await start(1, 3);
    const expected = await expectedRib();
    // One v4 and one v6 block per worker.
    expect([...expected.keys()].filter((b) => b.endsWith('/28'))).toHaveLength(2);
    expect([...expected.keys()].filter((b) => b.endsWith('/124'))).toHaveLength(2);
    await waitTorHas(expected);
    for (const w of [0, 1]) {
      expect(await blackholes(w)).toEqual(await blocksOf(w));
      const mine = containers.filter((c) => c.worker === w);
      expect(await hostRoutes(w)).toEqual(mine.flatMap((c) => [c.ipv4, c.ipv6]).sort());
      await verifyClean(w);
    }
    // The containers answer through their block's route (the /32 stays inside the worker).
    const one = containers[0]!;
    const r = await tor.exec(['busybox', 'ping', '-c', '1', '-W', '2', one.ipv4], { timeoutMs: 10_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('containers started in blocks already held send the ToR no UPDATE; the next blocks are claimed ahead of need', async () => {
    const before = await updatesFrom(0);
    const blocksBefore = await blocksOf(0);
    // 3 + 8 = 11 of the /28's (and the /124's) 16: 5 free, more than a quarter of a block.
    await start(0, 8);
    expect(await blocksOf(0)).toEqual(blocksBefore);
    // The 12th leaves 4 free (a quarter): the next block of each family is claimed in the
    // background, blackholed and advertised. Their UPDATEs come after anything the 9 starts
    // could have sent (one TCP stream), so once the ToR has them, the count is final.
    await start(0, 1);
    await waitFor(async () => (await blocksOf(0)).length === blocksBefore.length + 2, { what: 'w1 to claim its next blocks ahead of need', timeoutMs: 30_000, intervalMs: 200, diagnostics: () => agents[0]!.logTail(15) });
    const after = await blocksOf(0);
    const added = after.filter((b) => !blocksBefore.includes(b));
    expect(added).toHaveLength(2);
    await waitTorHas(await expectedRib());
    const updates = (await updatesFrom(0)) - before;
    console.log(`UPDATEs from w1 for 9 starts in held blocks and the 2 blocks claimed ahead of need: ${updates}`);
    // One UPDATE per new block at most (v4 NLRI, v6 MP_REACH); none for the 9 starts.
    expect(updates).toBeGreaterThanOrEqual(1);
    expect(updates).toBeLessThanOrEqual(added.length);
    await waitFor(async () => JSON.stringify(await blackholes(0)) === JSON.stringify(after), { what: 'blackholes for the blocks claimed ahead', timeoutMs: 20_000, intervalMs: 200 });
    // 13th to 17th: the 17th is the first in the new blocks, which are already held: no
    // claim on its path, the blocks stay as they are, the ToR keeps one prefix per block.
    await start(0, 5);
    expect(await blocksOf(0)).toEqual(after);
    const last = containers[containers.length - 1]!;
    expect(added.some((b) => addressInPrefix(last.ipv4, b)), `${last.ipv4} in ${added.join(' ')}`).toBe(true);
    expect(added.some((b) => addressInPrefix(last.ipv6, b)), `${last.ipv6} in ${added.join(' ')}`).toBe(true);
    await waitTorHas(await expectedRib());
    expect(await blackholes(0)).toEqual(after);
    await verifyClean(0);
  });

  it('traffic for an unused address of a block is dropped on its worker, not sent back to the ToR', async () => {
    const block = (await blocksOf(1)).find((b) => b.endsWith('/28'))!;
    const base = block.split('/')[0]!.split('.').map(Number);
    const unused = [...base.slice(0, 3), base[3]! + 12].join('.');
    expect(containers.some((c) => c.ipv4 === unused)).toBe(false);
    const w2 = workers[1]!;
    await w2.run(['nft', '-f', '-'], {
      input: [
        'table inet rtcaggtest {',
        `  chain seen { type filter hook prerouting priority -300; ip daddr ${unused} counter; }`,
        `  chain passed { type filter hook forward priority 0; ip daddr ${unused} counter; }`,
        '}',
      ].join('\n'),
    });
    expect(await blackholes(1)).toContain(block);
    const r = await tor.exec(['busybox', 'ping', '-c', '3', '-W', '1', unused], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    const counters = await w2.run(['nft', 'list', 'table', 'inet', 'rtcaggtest']);
    const count = (chain: string) => Number(new RegExp(`chain ${chain} \\{[^}]*counter packets (\\d+)`).exec(counters)?.[1] ?? NaN);
    console.log(`pings to ${unused}: arrived at w2 ${count('seen')}, forwarded by w2 ${count('passed')}`);
    expect(count('seen')).toBeGreaterThanOrEqual(3);
    expect(count('passed')).toBe(0);
    await w2.run(['nft', 'delete', 'table', 'inet', 'rtcaggtest']);
  });

  it("a worker's empty blocks are given back after the grace time: withdrawn at the ToR, blackholes gone", async () => {
    const held = await blocksOf(1);
    expect(held).toHaveLength(2);
    for (const c of containers.filter((x) => x.worker === 1)) {
      const r = await cni.call(agents[1]!.socket, 'DEL', c.id, c.netns.path);
      expect(r.code, JSON.stringify(r.json)).toBe(0);
    }
    await waitFor(async () => (await blocksOf(1)).length === 0, { what: 'w2 to give its blocks back', timeoutMs: 60_000, intervalMs: 500, diagnostics: () => agents[1]!.logTail(15) });
    const expected = await expectedRib();
    expect([...expected.keys()].some((b) => held.includes(b))).toBe(false);
    await waitTorHas(expected);
    expect(await blackholes(1)).toEqual([]);
    expect(await hostRoutes(1)).toEqual([]);
    await verifyClean(1);
    const gone = agents[1]!.logLines().filter((l) => l.event === 'blocks' && Array.isArray(l['removed']) && (l['removed'] as string[]).length > 0);
    expect(gone.flatMap((l) => l['removed'] as string[]).sort()).toEqual(held);
  });

  it('a restarted worker adopts its blocks: blackholes kept, advertised again, verify clean', async () => {
    const held = await blocksOf(0);
    const routes = await hostRoutes(0);
    // Every route change in w1 while its agent stops and starts again; a marker route
    // (added and deleted by hand) shows the monitor is listening before the stop.
    const monitor = workers[0]!.spawn(['ip', '-o', 'monitor', 'route'], { log: 'agg-w1-monitor.log' });
    const monitorLog = join(lab!.dir, 'agg-w1-monitor.log');
    const seen = () => (existsSync(monitorLog) ? readFileSync(monitorLog, 'utf8') : '');
    await waitFor(
      async () => {
        await workers[0]!.exec(['ip', 'route', 'replace', 'blackhole', '198.18.255.0/24']);
        await workers[0]!.exec(['ip', 'route', 'del', 'blackhole', '198.18.255.0/24']);
        return seen().includes('Deleted blackhole 198.18.255.0/24');
      },
      { what: 'ip monitor in w1 to listen', timeoutMs: 20_000, intervalMs: 200 },
    );
    await agents[0]!.stop();
    expect(await blackholes(0)).toEqual(held);
    agents[0] = await startAgent(workers[0]!, configs[0]!, { name: 'agent-agg-w1', timeoutMs: 60_000 });
    await agents[0].waitEstablished(WORKERS[0].tor, 60_000);
    await waitFor(async () => (await agents[0]!.endpoints()).json?.endpoints.filter((e) => e.state === 'ready').length === containers.filter((c) => c.worker === 0).length, {
      what: 'w1 to adopt its containers',
      timeoutMs: 60_000,
      intervalMs: 200,
      diagnostics: () => agents[0]!.logTail(15),
    });
    expect(await blocksOf(0)).toEqual(held);
    expect(await blackholes(0)).toEqual(held);
    expect(await hostRoutes(0)).toEqual(routes);
    await waitTorHas(await expectedRib());
    await verifyClean(0);
    if (monitor.pid !== undefined) process.kill(monitor.pid, 'SIGTERM');
    // The blocks' blackholes were never deleted or replaced across the restart.
    const touched = seen().split('\n').filter((l) => held.some((b) => l.includes(` ${b} `) || l.startsWith(`blackhole ${b}`) || l.includes(`blackhole ${b}`)));
    expect(touched).toEqual([]);
  });
});
