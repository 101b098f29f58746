/**
 * Cluster mode with Docker at scale: a real three-member etcd 3.4 cluster, three workers
 * each with its own real dockerd and agent, a real FRR ToR (layout as in
 * cluster-faults.test.ts). Each worker has 50 containers created beforehand and started
 * in one burst, the three bursts at the same moment: the agents race for blocks of one
 * shared pool (198.18.0.0/23 in /27 blocks, so every worker needs at least two).
 *
 * Shows: 150 distinct addresses, each in a block its own worker claimed, no block claimed
 * twice (`routectl cluster status`), etcd's record (`routectl endpoints --all`) equal to
 * what the agents wired, and the ToR holding a route for every address (its /32, or its
 * worker's block where blocks are advertised).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointsResponse } from '../../src/api/types.js';
import type { ClusterEndpoint } from '../../src/cli/cluster.js';
import type { ClusterWorkerStatus } from '../../src/ipam/cluster.js';
import { endLab, startAgent, type LabAgent } from './agent-helper.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { LabEtcd, type EtcdMember } from './harness/etcd.js';
import { startFrr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes } from './views.js';

const TOR_ETCD = '203.0.113.33';
const ETCD4 = '203.0.113.34';
const WORKERS = [
  { node: 'w1', tor: '203.0.113.1', addr: '203.0.113.2', asn: 65001 },
  { node: 'w2', tor: '203.0.113.5', addr: '203.0.113.6', asn: 65002 },
  { node: 'w3', tor: '203.0.113.9', addr: '203.0.113.10', asn: 65003 },
] as const;
const MEMBERS: readonly EtcdMember[] = [
  { name: 'm1', client: 2379, peer: 2380 },
  { name: 'm2', client: 2479, peer: 2480 },
  { name: 'm3', client: 2579, peer: 2580 },
];
const POOL = '198.18.0.0/23';
const BLOCK_LEN = 27;
const N = 50;

let lab: Lab | undefined;
let tor: Netns;
const workers: Netns[] = [];
const dockerds: Dockerd[] = [];
const agents: LabAgent[] = [];

/** A shell script run against worker w's dockerd (DOCKER_HOST set). */
function dockerSh(w: number, script: string, timeoutMs = 240_000) {
  const d = dockerds[w]!;
  return exec(['sh', '-c', script], { timeoutMs, env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'cli') } });
}

const names = (w: number): string => Array.from({ length: N }, (_, i) => `d${w + 1}x${i}`).join(' ');

function toNum(a: string): number {
  return a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
}
function inPrefix(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(toNum(addr) / size) === Math.floor(toNum(net!) / size);
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('dtor');
  const etcdNs = await lab.netns('detcd');
  await lab.link(tor, etcdNs, { aName: 'etcd0', bName: 'fab0', aAddr: [`${TOR_ETCD}/30`], bAddr: [`${ETCD4}/30`] });
  await etcdNs.addRoute('default', { via: TOR_ETCD });
  for (const [i, w] of WORKERS.entries()) {
    const ns = await lab.netns(`dw${i + 1}`);
    await lab.link(tor, ns, { aName: `w${i + 1}`, bName: 'fab0', aAddr: [`${w.tor}/30`], bAddr: [`${w.addr}/30`] });
    await ns.addRoute('default', { via: w.tor });
    workers.push(ns);
  }
  await tor.sysctl('net.ipv4.ip_forward', 1);
  const etcd = new LabEtcd(etcdNs, ETCD4, MEMBERS, 'rtc-docker');
  etcd.startAll();
  dockerds.push(...(await Promise.all(workers.map((ns) => startDockerd(ns)))));
  await Promise.all(dockerds.map((d) => d.importBusybox()));
  await etcd.waitHealthy(workers[0]!, 'three etcd members healthy, seen from w1');
  await startFrr(tor, { asn: 65000, routerId: TOR_ETCD, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  agents.push(
    ...(await Promise.all(
      WORKERS.map((w, i) =>
        startAgent(
          workers[i]!,
          {
            node: w.node,
            routerId: w.addr,
            asn: w.asn,
            peers: [{ address: w.tor, asn: 65000 }],
            extra: {
              store: { etcd: { endpoints: etcd.endpoints, leaseTtl: 10, path: join(lab!.dir, `state-${w.node}`) } },
              pools: [{ cidr: POOL, zone: 'app', blockSize: BLOCK_LEN }],
              zones: [{ name: 'app', cidrs: [POOL], ingress: [{ from: 'world', ports: ['any'] }] }],
              runtime: { docker: { socket: dockerds[i]!.sock }, reconcileInterval: 30 },
            },
          },
          { name: `agent-${w.node}`, timeoutMs: 60_000 },
        ),
      ),
    )),
  );
  await Promise.all(agents.map((a, i) => a.waitEstablished(WORKERS[i]!.tor, 60_000)));
  // The containers exist beforehand (created, not started): the burst is the starts alone.
  const created = await Promise.all(
    WORKERS.map((_, w) => dockerSh(w, `printf '%s\\n' ${names(w)} | xargs -P 8 -I{} docker create --net none --name {} --label routectl.zone=app ${BUSYBOX_IMAGE} sleep 3600 >/dev/null`)),
  );
  for (const [w, r] of created.entries()) if (r.code !== 0) throw new Error(`docker create on ${WORKERS[w]!.node}: ${r.stderr}`);
}, 300_000);

afterAll(async () => {
  await endLab(lab, async () => {
    await Promise.all(agents.filter((a) => a.running).map((a) => a.stop().catch(() => undefined)));
    await Promise.all(dockerds.map((d) => d.cleanup().catch(() => undefined)));
  });
}, 180_000);

describe('cluster mode, three workers with dockerd', () => {
  it(`${N} containers started at the same moment on each: ${3 * N} distinct addresses, disjoint blocks, every address at the ToR`, async () => {
    const t0 = Date.now();
    const started = await Promise.all(WORKERS.map((_, w) => dockerSh(w, `printf '%s\\n' ${names(w)} | xargs -P 25 -n 2 docker start >/dev/null`)));
    for (const [w, r] of started.entries()) expect(r.code, `docker start on ${WORKERS[w]!.node}: ${r.stderr}`).toBe(0);
    const startedMs = Date.now() - t0;
    const wired = await Promise.all(
      agents.map((a, w) =>
        waitFor(
          async () => {
            const r = await a.endpoints();
            const eps = (r.json as EndpointsResponse | undefined)?.endpoints ?? [];
            const ready = eps.filter((e) => e.state === 'ready');
            return ready.length === N ? ready : undefined;
          },
          { what: `${N} endpoints ready on ${WORKERS[w]!.node}`, timeoutMs: 180_000, intervalMs: 1000, diagnostics: () => a.logTail(20) },
        ),
      ),
    );
    console.log(`docker start of ${3 * N} containers: ${startedMs} ms; all wired after ${Date.now() - t0} ms`);
    const addrs = wired.flat().map((e) => e.ipv4!);
    expect(addrs).toHaveLength(3 * N);
    expect(new Set(addrs).size, 'distinct addresses').toBe(3 * N);

    const r = await workers[0]!.exec([process.execPath, agents[0]!.bin, 'cluster', 'status', '--config', agents[0]!.configPath, '--json'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const status = (JSON.parse(r.stdout) as { workers: ClusterWorkerStatus[] }).workers;
    const owner = new Map<string, string>();
    for (const s of status) {
      expect(s.alive, `${s.node} lease`).toBe(true);
      expect(s.blocks.length, `${s.node}: ${N} addresses need at least two /${BLOCK_LEN}`).toBeGreaterThanOrEqual(2);
      for (const b of s.blocks) {
        expect(owner.get(b.cidr), `${b.cidr} claimed by ${owner.get(b.cidr)} and ${s.node}`).toBeUndefined();
        owner.set(b.cidr, s.node);
      }
      expect(s.blocks.reduce((n, b) => n + b.used, 0), `${s.node} used`).toBe(N);
    }
    console.log(`blocks: ${JSON.stringify(Object.fromEntries(status.map((s) => [s.node, s.blocks.map((b) => b.cidr)])))}`);
    for (const [w, eps] of wired.entries()) {
      for (const e of eps) {
        const blocks = [...owner].filter(([cidr]) => inPrefix(e.ipv4!, cidr)).map(([, n]) => n);
        expect(blocks, `block of ${e.ipv4}`).toEqual([WORKERS[w]!.node]);
      }
    }

    const all = JSON.parse((await workers[1]!.exec([process.execPath, agents[1]!.bin, 'endpoints', '--all', '--config', agents[1]!.configPath, '--json'], { timeoutMs: 30_000 })).stdout) as { endpoints: ClusterEndpoint[] };
    expect(all.endpoints.map((e) => `${e.worker} ${e.id} ${e.ipv4}`).sort()).toEqual(wired.flatMap((eps, w) => eps.map((e) => `${WORKERS[w]!.node} ${e.id} ${e.ipv4}`)).sort());

    // The ToR: a route for every address (its /32, or the block that carries it).
    const blocks = [...owner.keys()];
    await waitFor(
      async () => {
        const fib = await fibPrefixes(tor);
        return addrs.every((a) => fib.has(`${a}/32`) || blocks.some((b) => fib.has(b) && inPrefix(a, b)));
      },
      { what: `a ToR route for each of the ${3 * N} addresses`, timeoutMs: 60_000, intervalMs: 500 },
    );
  });
});
