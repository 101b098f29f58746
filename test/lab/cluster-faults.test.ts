/**
 * Cluster mode through etcd faults, with a real three-member etcd 3.4 cluster, three real
 * agents (w1 with a real dockerd, w2 and w3 wiring containers through routectl-cni) and a
 * real FRR ToR:
 *
 *                 etcd (m1, m2, m3 on 127.0.0.1 peer ports; m9 alone, TLS)
 *                  │ 203.0.113.34/30
 *                  │ 203.0.113.33/30
 *   tor (FRR, AS 65000, listen range 203.0.113.0/26, forwards between its links)
 *    ├─ 203.0.113.1/30 ── 203.0.113.2/30  w1 (dockerd, AS 65001)
 *    ├─ 203.0.113.5/30 ── 203.0.113.6/30  w2 (CNI, AS 65002)
 *    └─ 203.0.113.9/30 ── 203.0.113.10/30 w3 (CNI, AS 65003)
 *
 * 1. Quorum lost (two members SIGKILLed): a Docker container started meanwhile waits
 *    (`waiting for store` in `endpoints` and `status`), one removed meanwhile is unwired at
 *    once; a CNI ADD answers code 11 after its bound, leaving nothing behind; running
 *    containers keep answering. Members back: the waiting one is wired, the removed one's
 *    allocation is freed, no address twice, `routectl verify` clean on every worker.
 * 2. An agent restarted while etcd has no quorum starts, adopts its containers from the
 *    kernel (same addresses, advertised), and checks them against etcd once it answers.
 * 3. w3 killed for good: once its lease expired and the (short) reclaim grace passed, a
 *    live worker reclaims its blocks and allocations.
 * 4. A wrong CA for etcd's TLS: the agent stops with a clear error, nothing started.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointEntry, EndpointsResponse, StatusResponse, VerifyResponse } from '../../src/api/types.js';
import type { CniErrorBody } from '../../src/cni/types.js';
import type { ClusterEndpoint } from '../../src/cli/cluster.js';
import { endLab, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { clusterAgentConfig, clusterFabric, clusterStatus as statusFrom, CniContainers, FABRIC, routectlJson, v4Of } from './cluster-lab.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { ETCD_MEMBERS, LabEtcd } from './harness/etcd.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes, ping } from './views.js';

const ETCD4 = FABRIC.etcd;
const WORKERS = FABRIC.workers;
const POOL = '198.51.100.0/24';
const LEASE_TTL = 5;
const RECLAIM_GRACE = 5;

let lab: Lab | undefined;
let tor: Netns;
let etcdNs: Netns;
let etcd: LabEtcd;
let workers: Netns[] = [];
const agents: LabAgent[] = [];
let dockerd: Dockerd | undefined;
let frr: Frr | undefined;
let containers: CniContainers;
/** CNI containers: worker, id, address. */
const cniContainers: { worker: number; id: string; addr: string; netns: Netns }[] = [];

function agentConfig(w: number): LabAgentConfig {
  return clusterAgentConfig(lab!, WORKERS[w]!, {
    etcd: { endpoints: etcd.endpoints, leaseTtl: LEASE_TTL, reclaimGrace: RECLAIM_GRACE },
    // Host routes per container at the ToR: each start and removal shows there
    // (aggregation is cluster-aggregation.test.ts).
    pools: [{ cidr: POOL, zone: 'app', blockSize: 29, aggregate: false }],
    zoneCidrs: [POOL],
    runtime: { ...(w === 0 ? { docker: { socket: dockerd!.sock } } : {}), reconcileInterval: 5 },
  });
}

let starts = 0;
async function start(w: number): Promise<LabAgent> {
  const a = await startAgent(workers[w]!, agentConfig(w), { name: `agent-${WORKERS[w]!.node}-${starts++}`, timeoutMs: 60_000 });
  agents[w] = a;
  return a;
}

const addCni = (worker: number) => containers.add(worker, agents[worker]!.socket);

/** `routectl ARGS --config agent.yaml --json` on worker `w` (commands that read etcd). */
const etcdCli = <T>(w: number, args: readonly string[]): Promise<T> => routectlJson<T>(workers[w]!, agents[w]!, args);

const clusterStatus = (w = 0) => statusFrom(workers[w]!, agents[w]!);
const allEndpoints = (w = 0) => etcdCli<{ endpoints: ClusterEndpoint[] }>(w, ['endpoints', '--all']).then((r) => r.endpoints);

async function endpoint(w: number, name: string): Promise<EndpointEntry | undefined> {
  const r = await agents[w]!.endpoints();
  return (r.json as EndpointsResponse | undefined)?.endpoints.find((e) => e.name === name);
}

async function status(w: number): Promise<StatusResponse> {
  const r = await agents[w]!.status();
  if (r.json === undefined) throw new Error(`status on ${WORKERS[w]!.node}: exit ${r.code} ${r.stderr}`);
  return r.json;
}

async function hasRoute(addr: string): Promise<boolean> {
  return (await fibPrefixes(tor)).has(`${addr}/32`);
}

/** Every allocation in etcd is distinct, every block has one owner, and verify is clean on the given workers. */
async function expectClean(ws: readonly number[]): Promise<ClusterEndpoint[]> {
  const eps = await allEndpoints(ws[0]);
  const v4 = eps.map((e) => e.ipv4).filter((a): a is string => a !== null);
  expect(new Set(v4).size, `duplicate addresses: ${v4.sort().join(' ')}`).toBe(v4.length);
  const owner = new Map<string, string>();
  for (const s of await clusterStatus(ws[0])) {
    for (const b of s.blocks) {
      expect(owner.get(b.cidr), `${b.cidr} claimed twice`).toBeUndefined();
      owner.set(b.cidr, s.node);
    }
  }
  for (const w of ws) {
    await waitFor(async () => (await agents[w]!.verify()).code === 0, {
      what: `routectl verify clean on ${WORKERS[w]!.node}`,
      timeoutMs: 60_000,
      intervalMs: 1000,
      diagnostics: async () => JSON.stringify((await agents[w]!.verify()).json as VerifyResponse) + agents[w]!.logTail(20),
    });
  }
  return eps;
}

beforeAll(async () => {
  lab = await Lab.create();
  ({ tor, etcdNs, workers } = await clusterFabric(lab, 'f'));
  containers = new CniContainers(lab, 'flt', { name: 'fnet', timeoutMs: 30_000 });
  etcd = new LabEtcd(etcdNs, ETCD4, ETCD_MEMBERS, 'rtc-faults');
  etcd.startAll();
  await etcd.waitHealthy(workers[0]!, 'three etcd members healthy, seen from w1');
  dockerd = await startDockerd(workers[0]!);
  await dockerd.importBusybox();
  frr = await startFrr(tor, { asn: 65000, routerId: FABRIC.torEtcd, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  await Promise.all(WORKERS.map((_, i) => start(i)));
  await Promise.all(agents.map((a, i) => a.waitEstablished(WORKERS[i]!.tor, 60_000)));
}, 300_000);

afterAll(async () => {
  await endLab(lab, async () => {
    await Promise.all(agents.filter((a) => a?.running).map((a) => a.stop().catch(() => undefined)));
    await dockerd?.cleanup();
  });
}, 120_000);

describe('cluster mode through etcd faults', () => {
  it('quorum lost: a Docker container started meanwhile waits, one removed is unwired; quorum back: wired, freed, no duplicate, verify clean', async () => {
    await dockerd!.runContainer(['--net', 'none', '--name', 'fa', '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600']);
    const a = await agents[0]!.waitEndpointReady('fa', 60_000);
    for (const w of [1, 2]) {
      const r = await addCni(w);
      expect(r.code, JSON.stringify(r.json)).toBe(0);
      cniContainers.push({ worker: w, id: r.id, addr: v4Of(r.json), netns: r.netns });
    }
    await waitFor(async () => (await Promise.all([a.ipv4!, ...cniContainers.map((c) => c.addr)].map(hasRoute))).every(Boolean), { what: 'every /32 at the ToR', timeoutMs: 30_000, intervalMs: 200 });

    const killed = await etcd.loseQuorum(workers[0]!);
    await dockerd!.runContainer(['--net', 'none', '--name', 'fb', '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600']);
    const waiting = await waitFor(async () => {
      const e = await endpoint(0, 'fb');
      return e?.state === 'pending' && e.error?.startsWith('waiting for store') ? e : undefined;
    }, { what: 'fb pending, waiting for store', timeoutMs: 60_000, intervalMs: 300, diagnostics: () => agents[0]!.logTail(20) });
    console.log(`fb while etcd has no quorum: ${waiting.state}: ${waiting.error}`);
    expect(waiting.ipv4).toBeNull();
    const st = await status(0);
    expect(st.store).toMatchObject({ kind: 'etcd', answering: false });
    expect(st.store!.waiting).toBeGreaterThanOrEqual(1);
    expect(st.endpointStates.pending).toBeGreaterThanOrEqual(1);
    const text = await agents[0]!.cli(['status']);
    expect(text.stdout).toMatch(/Store: etcd NOT answering since .*1 container waiting for store/);
    const table = await agents[0]!.cli(['endpoints']);
    expect(table.stdout).toMatch(/fb .* pending .*waiting for store/);

    // Removed while etcd has no quorum: unwired at once (route withdrawn), freed later.
    await dockerd!.docker(['rm', '-f', 'fa']);
    await waitFor(async () => (await endpoint(0, 'fa')) === undefined && !(await hasRoute(a.ipv4!)), { what: 'fa unwired, its /32 gone from the ToR', timeoutMs: 60_000, intervalMs: 300, diagnostics: () => agents[0]!.logTail(20) });

    // A CNI ADD waits its bound, then answers 11 (try again later), leaving nothing behind.
    const linksBefore = (await workers[1]!.ipJson<{ ifname: string }[]>(['link', 'show'])).filter((l) => l.ifname.startsWith('rtc')).length;
    const t0 = Date.now();
    const r = await addCni(1);
    const err = r.json as CniErrorBody;
    console.log(`CNI ADD without quorum after ${Date.now() - t0} ms: code ${err.code}: ${err.msg}`);
    expect(r.code).toBe(1);
    expect(err.code).toBe(11);
    // The store's own error when its call failed within the bound; else the bound itself.
    expect(err.msg).toMatch(/^waiting for store: (store: etcd |the store did not answer within 7 s)/);
    expect((await workers[1]!.ipJson<{ ifname: string }[]>(['link', 'show'])).filter((l) => l.ifname.startsWith('rtc'))).toHaveLength(linksBefore);
    // Running containers keep answering.
    for (const c of cniContainers) expect(await ping(tor, c.addr), `ping ${c.addr}`).toBe(true);

    await etcd.restore(workers[0]!, killed);
    const b = await agents[0]!.waitEndpointReady('fb', 90_000);
    await waitFor(() => hasRoute(b.ipv4!), { what: `${b.ipv4}/32 at the ToR`, timeoutMs: 30_000, intervalMs: 200 });
    await waitFor(async () => (await status(0)).store?.answering === true && !(await status(0)).store?.releasesOwed, { what: 'w1: store answering, nothing owed', timeoutMs: 60_000, intervalMs: 500 });
    const eps = await expectClean([0, 1, 2]);
    const w1 = eps.filter((e) => e.worker === 'w1');
    expect(w1.map((e) => e.id), 'w1 allocations in etcd: fb only (fa freed)').toEqual([b.id]);
    expect(w1[0]?.ipv4).toBe(b.ipv4);
    expect(eps.filter((e) => e.worker !== 'w1').map((e) => e.ipv4).sort()).toEqual(cniContainers.map((c) => c.addr).sort());
  });

  it('an agent started while etcd has no quorum: it starts, adopts its containers from the kernel and advertises them; etcd back: checked, verify clean', async () => {
    const mine = cniContainers.find((c) => c.worker === 1)!;
    expect(await agents[1]!.stop()).toBe(0);
    const killed = await etcd.loseQuorum(workers[0]!);
    const a = await start(1);
    const st = await status(1);
    console.log(`w2 started without etcd: store ${JSON.stringify(st.store)}`);
    expect(st.store).toMatchObject({ answering: false, joined: false });
    const e = await waitFor(async () => (await a.endpoints()).json?.endpoints.find((x) => x.ipv4 === mine.addr), { what: 'w2 endpoint adopted', timeoutMs: 30_000, intervalMs: 300 });
    expect(e.state).toBe('ready');
    await a.waitEstablished(WORKERS[1].tor, 60_000);
    const adv = await a.routes('advertised');
    expect((adv.json?.routes ?? []).map((x) => x.prefix)).toContain(`${mine.addr}/32`);
    expect(await hasRoute(mine.addr)).toBe(true);
    expect(await ping(tor, mine.addr)).toBe(true);
    expect((await status(1)).store!.unchecked).toBe(1);

    await etcd.restore(workers[0]!, killed);
    await waitFor(async () => {
      const s = (await status(1)).store;
      return s?.answering === true && s.joined && s.unchecked === 0;
    }, { what: 'w2 joined, its allocations checked', timeoutMs: 90_000, intervalMs: 500, diagnostics: () => a.logTail(20) });
    expect(a.logLines().some((l) => l.event === 'allocations-checked')).toBe(true);
    await expectClean([0, 1, 2]);
  });

  it('w3 killed for good: its blocks and allocations are reclaimed after the grace period', async () => {
    const before = (await clusterStatus()).find((s) => s.node === 'w3');
    expect(before?.blocks.length).toBeGreaterThan(0);
    process.kill(agents[2]!.pid, 'SIGKILL');
    await agents[2]!.waitExit(10_000).catch(() => undefined);
    const t0 = Date.now();
    await waitFor(async () => !(await clusterStatus()).some((s) => s.node === 'w3'), {
      what: "w3's blocks reclaimed",
      timeoutMs: 90_000,
      intervalMs: 1000,
      diagnostics: () => agents[0]!.logTail(10) + agents[1]!.logTail(10),
    });
    console.log(`w3 killed → reclaimed after ${Date.now() - t0} ms (lease ${LEASE_TTL} s, grace ${RECLAIM_GRACE} s)`);
    const lines = [...agents[0]!.logLines(), ...agents[1]!.logLines()].filter((l) => l.event === 'worker-reclaimed' && l.worker === 'w3');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect((lines[0]!.blocks as string[]).sort()).toEqual(before!.blocks.map((b) => b.cidr).sort());
    expect((await allEndpoints()).filter((e) => e.worker === 'w3')).toEqual([]);
  });

  it('a wrong CA for etcd TLS: the agent stops with a clear error, nothing started', async () => {
    const dir = join(lab!.dir, 'pki');
    execFileSync('mkdir', ['-p', dir]);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    for (const ca of ['ca', 'other-ca']) ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${ETCD4}`, '-keyout', 'server.key', '-out', 'server.csr');
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:${ETCD4}\\n' > san.ext`], { cwd: dir });
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
    const tlsEtcd = new LabEtcd(etcdNs, ETCD4, [{ name: 'm9', client: 2679, peer: 2680 }], 'rtc-tls', { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') });
    tlsEtcd.startAll();
    await tlsEtcd.waitHealthy(workers[2]!, 'the TLS member healthy');
    const cfg = agentConfig(2);
    const extra = { ...cfg.extra, store: { etcd: { endpoints: tlsEtcd.endpoints, tls: { ca: join(dir, 'other-ca.pem') }, path: join(lab!.dir, 'state-w3-tls') } } };
    const name = 'agent-w3-wrong-ca';
    const err = await startAgent(workers[2]!, { ...cfg, extra }, { name, timeoutMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err, 'the agent must not start').toBeDefined();
    const log = readFileSync(join(lab!.dir, `${name}.log`), 'utf8');
    console.log(`wrong CA: ${log.split('\n').filter((l) => /store/.test(l)).slice(-2).join('\n')}`);
    expect(log).toMatch(/cannot open the store, nothing started: store: no etcd endpoint answered \(TLS with CA .*other-ca\.pem/);
    expect(log).toMatch(/https:\/\/203\.0\.113\.34:2679: .*(certificate|SSL|TLS|handshake)/i);
    // Nothing started: no API socket, no BGP session, no veth.
    expect(existsSync(join(lab!.dir, name, 'routectl.sock'))).toBe(false);
    expect(log).not.toMatch(/"event":"state-change"/);
    expect(log).not.toMatch(/"msg":"agent started"/);
  });
});
