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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../src/cni/plugin.js';
import type { CniErrorBody, CniResult } from '../../src/cni/types.js';
import type { ClusterWorkerStatus } from '../../src/ipam/cluster.js';
import { startAgent, type LabAgent } from './agent-helper.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes, ping } from './views.js';

const TOR_ETCD = '203.0.113.33';
const ETCD4 = '203.0.113.34';
const WORKERS = [
  { node: 'w1', tor: '203.0.113.1', addr: '203.0.113.2', asn: 65001 },
  { node: 'w2', tor: '203.0.113.5', addr: '203.0.113.6', asn: 65002 },
  { node: 'w3', tor: '203.0.113.9', addr: '203.0.113.10', asn: 65003 },
] as const;
const MEMBERS = [
  { name: 'm1', client: 2379, peer: 2380 },
  { name: 'm2', client: 2479, peer: 2480 },
  { name: 'm3', client: 2579, peer: 2580 },
] as const;
const POOL = '198.51.100.0/24';
const BLOCK_LEN = 29;
/** Containers per worker in the first burst: more than one /29 holds, so each worker claims two blocks at once. */
const N = 10;

let lab: Lab | undefined;
let tor: Netns;
let etcdNs: Netns;
const workers: Netns[] = [];
const agents: LabAgent[] = [];
let frr: Frr | undefined;
const members = new Map<string, ChildProcess>();
let etcdDir = '';
let containerCount = 0;
/** Every address ADD handed out so far, with the worker and container. */
const handedOut: { addr: string; worker: number; id: string; netns: Netns }[] = [];

const endpoints = MEMBERS.map((m) => `http://${ETCD4}:${m.client}`);
const initialCluster = MEMBERS.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');

function startMember(m: (typeof MEMBERS)[number]): void {
  // The data dir decides: a member restarted on its data rejoins the cluster it was in.
  const child = etcdNs.spawn(
    [
      'etcd',
      '--name', m.name,
      '--data-dir', join(etcdDir, m.name),
      '--listen-client-urls', `http://0.0.0.0:${m.client}`,
      '--advertise-client-urls', `http://${ETCD4}:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'rtc-lab',
      '--log-level', 'warn',
    ],
    { log: `etcd-${m.name}.log` },
  );
  members.set(m.name, child);
}

function killMember(name: string): void {
  const child = members.get(name);
  const pid = child?.pid;
  if (pid === undefined) throw new Error(`etcd member ${name} has no pid`);
  process.kill(pid, 'SIGKILL');
}

async function waitMemberGone(name: string): Promise<void> {
  const child = members.get(name)!;
  await waitFor(() => child.exitCode !== null || child.signalCode !== null, { what: `etcd ${name} to exit`, timeoutMs: 10_000, intervalMs: 50 });
}

/** etcd's own /health of one member (true once it has a leader and serves), asked from `from` over the fabric. */
async function memberHealthy(from: Netns, m: (typeof MEMBERS)[number]): Promise<boolean> {
  const r = await from.exec(['sh', '-c', `printf 'GET /health HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${ETCD4} ${m.client}`], { timeoutMs: 10_000 });
  return r.code === 0 && /^HTTP\/1\.[01] 200/.test(r.stdout) && r.stdout.includes('"health":"true"');
}

/** The member that is raft leader now, from each member's own `etcd_server_is_leader` metric. */
async function leader(): Promise<(typeof MEMBERS)[number] | undefined> {
  const alive = MEMBERS.filter((m) => members.get(m.name)?.exitCode === null && members.get(m.name)?.signalCode === null);
  for (const m of alive) {
    const r = await etcdNs.exec(['sh', '-c', `printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 ${m.client}`], { timeoutMs: 10_000 });
    if (/^etcd_server_is_leader 1$/m.test(r.stdout)) return m;
  }
  return undefined;
}

async function cni(worker: number, command: string, id: string, netns: string, timeoutMs?: number) {
  const conf = { cniVersion: '1.1.0', name: 'rnet', type: 'routectl-cni', zone: 'app', socket: agents[worker]!.socket, ...(timeoutMs ? { timeoutMs } : {}) };
  const out = await runPlugin({
    env: { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni', CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
    stdin: JSON.stringify(conf),
  });
  const json = out.stdout === '' ? undefined : (JSON.parse(out.stdout) as unknown);
  return { code: out.exitCode, json };
}

/** One container on `worker`: a fresh namespace and an ADD. */
async function addContainer(worker: number, timeoutMs?: number): Promise<{ code: number; json: unknown; id: string; netns: Netns }> {
  const n = containerCount++;
  const netns = await lab!.netns(`c${n}`);
  const id = `clu${worker}x${n}`.padEnd(64, 'a');
  const r = await cni(worker, 'ADD', id, netns.path, timeoutMs);
  return { ...r, id, netns };
}

function v4Of(json: unknown): string {
  const ip = (json as CniResult).ips.find((i) => !i.address.includes(':'));
  if (!ip) throw new Error(`no IPv4 address in ${JSON.stringify(json)}`);
  return ip.address.replace(/\/32$/, '');
}

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

async function clusterStatus(from = 0): Promise<ClusterWorkerStatus[]> {
  const a = agents[from]!;
  const r = await workers[from]!.exec([process.execPath, a.bin, 'cluster', 'status', '--config', a.configPath, '--json'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`routectl cluster status (exit ${r.code}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as ClusterWorkerStatus[] | { workers: ClusterWorkerStatus[] };
  return Array.isArray(parsed) ? parsed : parsed.workers;
}

function inBlock(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(addr) / size) === Math.floor(n(net!) / size);
}

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
    const blocks = [...owner.entries()].filter(([cidr]) => inBlock(h.addr, cidr));
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
  tor = await lab.netns('ctor');
  etcdNs = await lab.netns('cetcd');
  await lab.link(tor, etcdNs, { aName: 'etcd0', bName: 'fab0', aAddr: [`${TOR_ETCD}/30`], bAddr: [`${ETCD4}/30`] });
  await etcdNs.addRoute('default', { via: TOR_ETCD });
  for (const [i, w] of WORKERS.entries()) {
    const ns = await lab.netns(`cw${i + 1}`);
    await lab.link(tor, ns, { aName: `w${i + 1}`, bName: 'fab0', aAddr: [`${w.tor}/30`], bAddr: [`${w.addr}/30`] });
    await ns.addRoute('default', { via: w.tor });
    workers.push(ns);
  }
  // The ToR carries the workers' etcd traffic between its links.
  await tor.sysctl('net.ipv4.ip_forward', 1);

  etcdDir = join(lab.dir, 'etcd');
  mkdirSync(etcdDir, { recursive: true, mode: 0o700 });
  for (const m of MEMBERS) startMember(m);
  await waitFor(async () => (await Promise.all(MEMBERS.map((m) => memberHealthy(workers[0]!, m)))).every(Boolean), {
    what: 'three etcd members healthy, seen from w1',
    timeoutMs: 60_000,
    intervalMs: 200,
    diagnostics: () => lab!.logTails(),
  });

  frr = await startFrr(tor, { asn: 65000, routerId: TOR_ETCD, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  const started = await Promise.all(
    WORKERS.map((w, i) =>
      startAgent(
        workers[i]!,
        {
          node: w.node,
          routerId: w.addr,
          asn: w.asn,
          peers: [{ address: w.tor, asn: 65000 }],
          extra: {
            store: { etcd: { endpoints, leaseTtl: 10, path: join(lab!.dir, `state-${w.node}`) } },
            // Host routes per container at the ToR (aggregation is cluster-aggregation.test.ts).
            pools: [{ cidr: POOL, zone: 'app', blockSize: BLOCK_LEN, aggregate: false }],
            zones: [{ name: 'app', cidrs: [POOL], ingress: [{ from: 'world', ports: ['any'] }] }],
            runtime: { reconcileInterval: 5 },
          },
        },
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
    const lead = await waitFor(leader, { what: 'an etcd leader', timeoutMs: 10_000, intervalMs: 200 });
    console.log(`killing the leader ${lead.name} (pid ${members.get(lead.name)!.pid})`);
    killMember(lead.name);
    await waitMemberGone(lead.name);
    expect(await memberHealthy(workers[0]!, lead)).toBe(false);
    const addrs = await burst(3);
    const after = await expectConsistent();
    // Every block a worker held is still its own (a new one may have been added).
    for (const [node, blocks] of Object.entries(before)) expect(blockMap(after)[node]).toEqual(expect.arrayContaining(blocks));
    await waitTorRoutes(handedOut.map((h) => h.addr));
    expect(addrs).toHaveLength(9);
  });

  it('quorum lost: running containers keep answering, a new ADD answers try-again-later naming the store; members back: allocation works, no duplicate', async () => {
    const fibBefore = await fibPrefixes(tor);
    const [second, last] = MEMBERS.filter((m) => members.get(m.name)?.exitCode === null && members.get(m.name)?.signalCode === null);
    killMember(second!.name);
    await waitMemberGone(second!.name);
    await waitFor(async () => !(await memberHealthy(workers[0]!, last!)), { what: `${last!.name} unhealthy (no quorum)`, timeoutMs: 30_000, intervalMs: 500 });

    // `cluster status` reads etcd: it fails, and says why.
    const st = await workers[0]!.exec([process.execPath, agents[0]!.bin, 'cluster', 'status', '--config', agents[0]!.configPath, '--json'], { timeoutMs: 60_000 });
    console.log(`cluster status without quorum: exit ${st.code}: ${st.stderr.trim()}`);
    expect(st.code).not.toBe(0);
    expect(st.stderr).toMatch(/etcd/);

    const t0 = Date.now();
    // With the plugin's default timeout (10 s): the agent answers within its store bound.
    const r = await addContainer(1);
    const ms = Date.now() - t0;
    console.log(`ADD without quorum, after ${ms} ms: exit ${r.code} ${JSON.stringify(r.json)}`);
    expect(r.code).toBe(1);
    const err = r.json as CniErrorBody;
    expect(err.code).toBe(11);
    expect(err.msg).toMatch(/^waiting for store: store: etcd \w+ \S+ failed \(http:\/\/203\.0\.113\.34:2379, .*\): /);
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

    for (const m of MEMBERS.filter((x) => x !== last)) startMember(m);
    await waitFor(async () => (await Promise.all(MEMBERS.map((m) => memberHealthy(workers[0]!, m)))).every(Boolean), {
      what: 'three etcd members healthy again',
      timeoutMs: 60_000,
      intervalMs: 500,
      diagnostics: () => lab!.logTails(),
    });
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
