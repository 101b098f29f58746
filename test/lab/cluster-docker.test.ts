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
import { clusterAgentConfig, clusterFabric, FABRIC, inPrefix } from './cluster-lab.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { ETCD_MEMBERS, LabEtcd } from './harness/etcd.js';
import { startFrr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes } from './views.js';

const WORKERS = FABRIC.workers;
const POOL = '198.18.0.0/23';
const BLOCK_LEN = 27;
const N = 50;

let lab: Lab | undefined;
let tor: Netns;
let workers: Netns[] = [];
const dockerds: Dockerd[] = [];
const agents: LabAgent[] = [];

/** A shell script run against worker w's dockerd (DOCKER_HOST set). */
function dockerSh(w: number, script: string, timeoutMs = 240_000) {
  const d = dockerds[w]!;
  return exec(['sh', '-c', script], { timeoutMs, env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'cli') } });
}

const names = (w: number): string => Array.from({ length: N }, (_, i) => `d${w + 1}x${i}`).join(' ');

beforeAll(async () => {
  lab = await Lab.create();
  let etcdNs: Netns;
  ({ tor, etcdNs, workers } = await clusterFabric(lab, 'd'));
  const etcd = new LabEtcd(etcdNs, FABRIC.etcd, ETCD_MEMBERS, 'rtc-docker');
  etcd.startAll();
  dockerds.push(...(await Promise.all(workers.map((ns) => startDockerd(ns)))));
  await Promise.all(dockerds.map((d) => d.importBusybox()));
  await etcd.waitHealthy(workers[0]!, 'three etcd members healthy, seen from w1');
  await startFrr(tor, { asn: 65000, routerId: FABRIC.torEtcd, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  agents.push(
    ...(await Promise.all(
      WORKERS.map((w, i) =>
        startAgent(
          workers[i]!,
          clusterAgentConfig(lab!, w, {
            etcd: { endpoints: etcd.endpoints, leaseTtl: 10 },
            pools: [{ cidr: POOL, zone: 'app', blockSize: BLOCK_LEN }],
            zoneCidrs: [POOL],
            runtime: { docker: { socket: dockerds[i]!.sock }, reconcileInterval: 30 },
          }),
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
