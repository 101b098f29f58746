/**
 * Cluster mode (store.etcd) with a real three-member etcd cluster, three real agents and
 * a real FRR ToR:
 *
 *                 etcd (m1, m2, m3: etcd 3.4 on 127.0.0.1 peer ports, clients on 0.0.0.0)
 *                  │ 203.0.113.34/30
 *                  │ 203.0.113.33/30
 *   tor (FRR, AS 65000, listen range 203.0.113.0/26, forwards between its links)
 *    ├─ 203.0.113.1/30 ── 203.0.113.2/30  w1 (routectl agent, AS 65001)
 *    ├─ 203.0.113.5/30 ── 203.0.113.6/30  w2 (AS 65002)
 *    └─ 203.0.113.9/30 ── 203.0.113.10/30 w3 (AS 65003)
 *
 * Every worker lists the same pool (198.51.100.0/24, blocks of /29) and the three etcd
 * members as endpoints. Containers are network namespaces wired by routectl-cni (the
 * plugin's code runs in this process, over each agent's real socket), so every ADD goes
 * through the agent's IPAM against etcd exactly as a CNI runtime's would.
 *
 * 1. N containers on each worker, all ADDs at the same moment: distinct addresses, each
 *    in a block of its own worker, blocks disjoint (`routectl cluster status --json`),
 *    the ToR has a /32 for every container and reaches them.
 * 2. The raft leader killed (SIGKILL by PID): new ADDs on every worker still succeed, and
 *    nothing that was there changes (blocks, allocations, ToR routes).
 * 3. A second member killed (quorum lost): running containers keep answering; a new ADD
 *    waits its bound and answers code 11 (try again later) naming the store and etcd's
 *    cause, leaving nothing behind; `cluster status` fails naming etcd; the two members
 *    restarted on their data: ADDs work again, no address is handed out twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CniErrorBody } from '../../src/cni/types.js';
import type { ClusterWorkerStatus } from '../../src/ipam/cluster.js';
import { startAgent, type LabAgent } from './agent-helper.js';
import { clusterAgentConfig, clusterFabric, clusterStatus as statusFrom, CniContainers, FABRIC, inPrefix, v4Of } from './cluster-lab.js';
import { ETCD_MEMBERS, LabEtcd } from './harness/etcd.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes, ping } from './views.js';

const WORKERS = FABRIC.workers;
const MEMBERS = ETCD_MEMBERS;
const POOL = '198.51.100.0/24';
const BLOCK_LEN = 29;
/** Containers per worker in the first burst: more than one /29 holds, so each worker claims two blocks at once. */
const N = 10;

let lab: Lab | undefined;
let tor: Netns;
let etcd: LabEtcd;
let workers: Netns[] = [];
const agents: LabAgent[] = [];
let frr: Frr | undefined;
let containers: CniContainers;
/** Every address ADD handed out so far, with the worker and container. */
const handedOut: { addr: string; worker: number; id: string; netns: Netns }[] = [];

/** One container on `worker`: a fresh namespace and an ADD. */
const addContainer = (worker: number, timeoutMs?: number) => containers.add(worker, agents[worker]!.socket, timeoutMs);

/** Starts one container per entry of `perWorker` counts, all ADDs at once; every one must succeed. */
async function burst(perWorker: number): Promise<string[]> {
  const jobs = WORKERS.flatMap((_, w) => Array.from({ length: perWorker }, () => w));
  const results = await Promise.all(jobs.map(async (w) => ({ w, r: await addContainer(w) })));
  const out: string[] = [];
  for (const { w, r } of results) {
    expect(r.code, `ADD on ${WORKERS[w]!.node}: ${JSON.stringify(r.json)}\n${agents[w]!.logTail(15)}`).toBe(0);
    const addr = v4Of(r.json);
    handedOut.push({ addr, worker: w, id: r.id, netns: r.netns });
    out.push(addr);
  }
  return out;
}

const clusterStatus = (from = 0): Promise<ClusterWorkerStatus[]> => statusFrom(workers[from]!, agents[from]!);

/** Every address handed out is distinct, in a block of its own worker, and the blocks are disjoint. */
async function expectConsistent(): Promise<ClusterWorkerStatus[]> {
  const addrs = handedOut.map((h) => h.addr);
  expect(new Set(addrs).size, `duplicate addresses: ${addrs.sort().join(' ')}`).toBe(addrs.length);
  const status = await clusterStatus();
  expect(status.map((s) => s.node).sort()).toEqual(WORKERS.map((w) => w.node));
  const owner = new Map<string, string>();
  for (const s of status) {
    for (const b of s.blocks) {
      expect(owner.get(b.cidr), `${b.cidr} claimed by ${owner.get(b.cidr)} and ${s.node}`).toBeUndefined();
      owner.set(b.cidr, s.node);
      expect(b.pool).toBe(POOL);
      expect(b.cidr.endsWith(`/${BLOCK_LEN}`)).toBe(true);
    }
  }
  for (const h of handedOut) {
    const blocks = [...owner.entries()].filter(([cidr]) => inPrefix(h.addr, cidr));
    expect(blocks.map(([, node]) => node), `block of ${h.addr}`).toEqual([WORKERS[h.worker]!.node]);
  }
  for (const [w, s] of status.entries()) {
    const used = s.blocks.reduce((a, b) => a + b.used, 0);
    expect(used, `${s.node}: used addresses in its blocks`).toBe(handedOut.filter((h) => WORKERS[h.worker]!.node === s.node).length);
    expect(s.alive, `${s.node} lease (${w})`).toBe(true);
  }
  return status;
}

async function waitTorRoutes(addrs: readonly string[]): Promise<void> {
  await waitFor(
    async () => {
      const fib = await fibPrefixes(tor);
      return addrs.every((a) => fib.has(`${a}/32`));
    },
    { what: `${addrs.length} container /32s in the ToR FIB`, timeoutMs: 60_000, intervalMs: 200, diagnostics: () => agents.map((a) => a.logTail(10)).join('\n') },
  );
}

const blockMap = (s: readonly ClusterWorkerStatus[]) => Object.fromEntries(s.map((w) => [w.node, w.blocks.map((b) => b.cidr).sort()]));

beforeAll(async () => {
  lab = await Lab.create();
  let etcdNs: Netns;
  ({ tor, etcdNs, workers } = await clusterFabric(lab, 'c'));
  containers = new CniContainers(lab, 'clu', { name: 'rnet' });
  etcd = new LabEtcd(etcdNs, FABRIC.etcd, MEMBERS, 'rtc-lab');
  etcd.startAll();
  await etcd.waitHealthy(workers[0]!, 'three etcd members healthy, seen from w1');

  frr = await startFrr(tor, { asn: 65000, routerId: FABRIC.torEtcd, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  const started = await Promise.all(
    WORKERS.map((w, i) =>
      startAgent(
        workers[i]!,
        clusterAgentConfig(lab!, w, {
          etcd: { endpoints: etcd.endpoints, leaseTtl: 10 },
          // Host routes per container at the ToR (aggregation is cluster-aggregation.test.ts).
          pools: [{ cidr: POOL, zone: 'app', blockSize: BLOCK_LEN, aggregate: false }],
          zoneCidrs: [POOL],
          runtime: { reconcileInterval: 5 },
        }),
        { name: `agent-${w.node}`, timeoutMs: 60_000 },
      ),
    ),
  );
  agents.push(...started);
  await Promise.all(agents.map((a, i) => a.waitEstablished(WORKERS[i]!.tor, 60_000)));
}, 300_000);

afterAll(async () => {
  try {
    await Promise.all(agents.filter((a) => a.running).map((a) => a.stop().catch(() => undefined)));
  } finally {
    await lab?.cleanup();
  }
}, 120_000);

describe('cluster mode on a three-member etcd cluster', () => {
  it(`three workers, ${N} containers each, all at once: distinct addresses, disjoint blocks, every /32 at the ToR`, async () => {
    const addrs = await burst(N);
    expect(addrs).toHaveLength(3 * N);
    const status = await expectConsistent();
    // N addresses need more than one /29 on every worker.
    for (const s of status) expect(s.blocks.length, `${s.node} blocks`).toBeGreaterThanOrEqual(2);
    console.log(`after the burst: ${JSON.stringify(blockMap(status))}`);
    await waitTorRoutes(addrs);
    for (const w of [0, 1, 2]) {
      const one = handedOut.find((h) => h.worker === w)!;
      expect(await waitFor(() => ping(tor, one.addr), { what: `ping ${one.addr}`, timeoutMs: 15_000, intervalMs: 200 })).toBe(true);
    }
  });

  it('the leader member killed: allocation still works on every worker, nothing that was there changes', async () => {
    const before = blockMap(await clusterStatus());
    const lead = await waitFor(() => etcd.leader(), { what: 'an etcd leader', timeoutMs: 10_000, intervalMs: 200 });
    console.log(`killing the leader ${lead.name} (pid ${etcd.pid(lead)})`);
    await etcd.kill(lead);
    expect(await etcd.healthy(workers[0]!, lead)).toBe(false);
    const addrs = await burst(3);
    const after = await expectConsistent();
    // Every block a worker held is still its own (a new one may have been added).
    for (const [node, blocks] of Object.entries(before)) expect(blockMap(after)[node]).toEqual(expect.arrayContaining(blocks));
    await waitTorRoutes(handedOut.map((h) => h.addr));
    expect(addrs).toHaveLength(9);
  });

  it('quorum lost: running containers keep answering, a new ADD answers try-again-later naming the store; members back: allocation works, no duplicate', async () => {
    const fibBefore = await fibPrefixes(tor);
    const [second, last] = MEMBERS.filter((m) => etcd.running(m));
    await etcd.kill(second!);
    await waitFor(async () => !(await etcd.healthy(workers[0]!, last!)), { what: `${last!.name} unhealthy (no quorum)`, timeoutMs: 30_000, intervalMs: 500 });

    // `cluster status` reads etcd: it fails, and says why.
    const st = await workers[0]!.exec([process.execPath, agents[0]!.bin, 'cluster', 'status', '--config', agents[0]!.configPath, '--json'], { timeoutMs: 60_000 });
    console.log(`cluster status without quorum: exit ${st.code}: ${st.stderr.trim()}`);
    expect(st.code).not.toBe(0);
    expect(st.stderr).toMatch(/etcd/);

    const t0 = Date.now();
    // With the plugin's default timeout: the agent answers after its store bound.
    const r = await addContainer(1);
    const ms = Date.now() - t0;
    console.log(`ADD without quorum, after ${ms} ms: exit ${r.code} ${JSON.stringify(r.json)}`);
    expect(r.code).toBe(1);
    const err = r.json as CniErrorBody;
    expect(err.code).toBe(11);
    // The store's own error when its call failed within the bound; else the bound itself.
    expect(err.msg).toMatch(/^waiting for store: (store: etcd \w+ \S+ failed \(http:\/\/203\.0\.113\.34:2379, .*\): |the store did not answer within 7 s)/);
    // Nothing of that container is left on the worker.
    const links = await workers[1]!.ipJson<{ ifname: string }[]>(['link', 'show']);
    expect(links.filter((l) => l.ifname.startsWith('rtc'))).toHaveLength(handedOut.filter((h) => h.worker === 1).length);

    // What runs keeps running: every container's route stays at the ToR, and they answer.
    const fib = await fibPrefixes(tor);
    for (const h of handedOut) expect(fib.has(`${h.addr}/32`), `${h.addr}/32 at the ToR`).toBe(true);
    expect([...fibBefore].filter((p) => !fib.has(p))).toEqual([]);
    for (const w of [0, 1, 2]) {
      const one = handedOut.find((h) => h.worker === w)!;
      expect(await ping(tor, one.addr), `ping ${one.addr}`).toBe(true);
    }

    await etcd.restore(workers[0]!, MEMBERS.filter((x) => x !== last));
    // Right after the members are back the client may still refuse for a few seconds
    // (etcd3's circuit breaker, open after the failures): each worker retries one ADD until
    // it succeeds; every refused ADD must leave nothing behind (checked below).
    const healthyAt = Date.now();
    const refused: string[] = [];
    await Promise.all(
      WORKERS.map((_, w) =>
        waitFor(
          async () => {
            const a = await addContainer(w);
            if (a.code === 0) {
              handedOut.push({ addr: v4Of(a.json), worker: w, id: a.id, netns: a.netns });
              return true;
            }
            refused.push(`${WORKERS[w]!.node} +${Date.now() - healthyAt} ms: ${(a.json as CniErrorBody).msg}`);
            return false;
          },
          { what: `an ADD on ${WORKERS[w]!.node} to work again`, timeoutMs: 90_000, intervalMs: 1000, diagnostics: () => refused.join('\n') },
        ),
      ),
    );
    console.log(`members healthy → first ADD on every worker after ${Date.now() - healthyAt} ms; refused meanwhile:\n${refused.join('\n')}`);
    const addrs = await burst(2);
    expect(addrs).toHaveLength(6);
    await expectConsistent();
    await waitTorRoutes(handedOut.map((h) => h.addr));
    for (const [w, ns] of workers.entries()) {
      const links = await ns.ipJson<{ ifname: string }[]>(['link', 'show']);
      expect(links.filter((l) => l.ifname.startsWith('rtc')), `${WORKERS[w]!.node} host veths`).toHaveLength(handedOut.filter((h) => h.worker === w).length);
    }
  });
});
