/** Cluster mode on a real etcd member: liveness lease, pool register, `routectl cluster status`, start errors. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/commands.js';
import { parseConfig } from '../../../src/config/load.js';
import { startContainerRuntime } from '../../../src/endpoints/containers.js';
import { ClusterMember, clusterStatus, PoolMismatchError, registerPools } from '../../../src/ipam/cluster.js';
import { Ipam, parsePools, type PoolConfig } from '../../../src/ipam/index.js';
import { createLogger } from '../../../src/log.js';
import { EtcdStore } from '../../../src/store/etcd.js';
import { StoreUnavailableError } from '../../../src/store/store.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

let etcd: TestEtcd;
let dir: string;
let n = 0;
const log = createLogger({ level: 'silent' });
const open = (prefix: string) => EtcdStore.open({ endpoints: [etcd.endpoint], prefix });

beforeAll(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'rtc-cluster-'));
});
afterAll(async () => {
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pools: PoolConfig[] = [
  { cidr: '198.51.100.0/24', zone: 'app', blockSize: 28 },
  { cidr: '2001:db8:1::/120', zone: 'app', blockSize: 124 },
];

function configText(node: string, prefix: string, endpoint = etcd.endpoint): string {
  return [
    `node: ${node}`,
    'routerId: 192.0.2.2',
    'asn: 65001',
    'bgp: { listen: { address: "::", port: 0 } }',
    'pools:',
    '  - { cidr: 198.51.100.0/24, zone: app, blockSize: 28 }',
    '  - { cidr: "2001:db8:1::/120", zone: app, blockSize: 124 }',
    `store: { etcd: { endpoints: [${endpoint}], prefix: ${prefix}, path: ${join(dir, `local-${node}`)} } }`,
    'zones: [{ name: app, cidrs: [198.51.100.0/24, "2001:db8:1::/120"] }]',
    '',
  ].join('\n');
}

describe('cluster membership', () => {
  it('each worker holds a lease; cluster status lists workers, lease age, blocks and use', async () => {
    const prefix = `/cm${++n}/`;
    const [s1, s2] = [await open(prefix), await open(prefix)];
    const i1 = new Ipam(s1, 'w1', pools, { blockGraceMs: 60_000 });
    const i2 = new Ipam(s2, 'w2', pools, { blockGraceMs: 60_000 });
    const m1 = await ClusterMember.start({ store: s1, ipam: i1, node: 'w1', leaseTtlSeconds: 10, sweepMs: 60_000, reclaimGraceMs: 60_000, log });
    const m2 = await ClusterMember.start({ store: s2, ipam: i2, node: 'w2', leaseTtlSeconds: 10, sweepMs: 60_000, reclaimGraceMs: 60_000, log });
    for (let k = 0; k < 3; k++) await i1.allocate(`a${k}`, 'app');
    await i2.allocate('b0', 'app');

    const st = await clusterStatus(s1, parsePools(pools));
    expect(st.map((w) => [w.node, w.alive, w.endpoints, w.blocks.length])).toEqual([
      ['w1', true, 3, 2],
      ['w2', true, 1, 2],
    ]);
    expect(st[0]?.blocks.map((b) => [b.used, b.size])).toEqual([
      [3, 16],
      [3, 16],
    ]);
    expect(st[0]?.leaseTtlSeconds).toBeGreaterThan(0);
    expect(st[0]?.leaseAgeSeconds).toBeGreaterThanOrEqual(0);

    // The CLI, from a config file (JSON and text).
    const file = join(dir, `w1-${n}.yaml`);
    writeFileSync(file, configText('w1', prefix));
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(`ERR ${t}`) };
    expect(await runCli(['cluster', 'status', '--config', file, '--json'], io)).toBe(0);
    const parsed = JSON.parse(out.join('')) as { workers: { node: string; endpoints: number }[] };
    expect(parsed.workers.map((w) => [w.node, w.endpoints])).toEqual([
      ['w1', 3],
      ['w2', 1],
    ]);
    out.length = 0;
    expect(await runCli(['cluster', 'status', '--config', file], io)).toBe(0);
    expect(out.join('')).toMatch(/^WORKER\s+LEASE\s+AGE\s+TTL\s+ENDPOINTS\s+BLOCKS\nw1\s+alive\s+\d+s\s+\d+s\s+3\s+2\nw2\s+alive/);
    expect(out.join('')).toMatch(/198\.51\.100\.\d+\/28\s+3\/16 used/);

    // A worker that stops gives its lease back at once: listed without a lease, blocks kept.
    await m2.stop();
    const after = await clusterStatus(s1, parsePools(pools));
    expect(after.find((w) => w.node === 'w2')).toMatchObject({ alive: false, leaseTtlSeconds: null, endpoints: 1 });
    await m1.stop();
    await Promise.all([s1.close(), s2.close()]);
  });

  it('pools: the first worker registers them; a worker with different pools is refused', async () => {
    const s = await open(`/cm${++n}/`);
    await registerPools(s, parsePools(pools));
    await registerPools(s, parsePools(pools)); // the same again: fine
    await registerPools(s, parsePools([pools[0]!])); // a subset: fine
    await expect(registerPools(s, parsePools([{ cidr: '198.51.100.0/24', zone: 'dmz', blockSize: 28 }]))).rejects.toThrow(
      /pool 198\.51\.100\.0\/24: this worker has zone dmz, blockSize 28, aggregate false, the cluster has zone app/,
    );
    await expect(registerPools(s, parsePools([{ cidr: '198.51.100.0/25', zone: 'app' }]))).rejects.toBeInstanceOf(PoolMismatchError);
    await s.close();
  });

  it('the container side with etcd unreachable at start: it starts, allocation waits (StoreUnavailableError), no lease', async () => {
    const cfg = parseConfig(configText('w9', '/cm-x/', 'http://127.0.0.1:1'), 'test.yaml');
    const rt = await startContainerRuntime(cfg, { advertiser: {} as never, log, cni: true, kernel: new FakeKernel() });
    try {
      expect(rt.member?.joined).toBe(false);
      const err = await new Ipam(rt.store, 'w9', [...cfg.pools], { blockGraceMs: 1000 }).allocate('x', 'app').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toContain('http://127.0.0.1:1');
    } finally {
      await rt.stop();
    }
  });

  it('a worker without a lease for the grace time: a live worker reclaims its blocks and allocations; release-node does it on demand, after confirmation', async () => {
    const prefix = `/cm${++n}/`;
    const [s1, s2, s3] = [await open(prefix), await open(prefix), await open(prefix)];
    const [i1, i2, i3] = [new Ipam(s1, 'w1', pools, { blockGraceMs: 60_000 }), new Ipam(s2, 'w2', pools, { blockGraceMs: 60_000 }), new Ipam(s3, 'w3', pools, { blockGraceMs: 60_000 })];
    let clock = 1_000_000;
    const now = () => clock;
    const m1 = await ClusterMember.start({ store: s1, ipam: i1, node: 'w1', leaseTtlSeconds: 10, sweepMs: 600_000, reclaimGraceMs: 30_000, log, now });
    const m2 = await ClusterMember.start({ store: s2, ipam: i2, node: 'w2', leaseTtlSeconds: 10, sweepMs: 600_000, reclaimGraceMs: 30_000, log, now });
    const m3 = await ClusterMember.start({ store: s3, ipam: i3, node: 'w3', leaseTtlSeconds: 10, sweepMs: 600_000, reclaimGraceMs: 30_000, log, now });
    await i2.allocate('b0', 'app');
    await i3.allocate('c0', 'app');
    await i3.allocate('c1', 'app');
    const w3Blocks = (await i3.blocks()).map((b) => b.cidr).sort();
    expect(w3Blocks).toHaveLength(2);

    // The CLI refuses a worker that holds its lease.
    const file = join(dir, `w1-${n}.yaml`);
    writeFileSync(file, configText('w1', prefix));
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(`ERR ${t}`), ask: async () => 'no' };
    expect(await runCli(['ipam', 'release-node', 'w3', '--config', file], io)).toBe(1);
    expect(out.join('')).toMatch(/worker w3 holds its liveness lease: it is running/);

    // endpoints --all: every worker's endpoints from etcd.
    out.length = 0;
    expect(await runCli(['endpoints', '--all', '--config', file, '--json'], io)).toBe(0);
    const all = JSON.parse(out.join('')) as { endpoints: { worker: string; id: string; alive: boolean; ipv4: string }[] };
    expect(all.endpoints.map((e) => [e.worker, e.id, e.alive])).toEqual([
      ['w2', 'b0', true],
      ['w3', 'c0', true],
      ['w3', 'c1', true],
    ]);

    // w3 dies (its lease revoked as etcd would expire it): seen dead, reclaimed only after the grace.
    await m3.stop();
    expect(await m1.reclaimDead()).toEqual([]);
    clock += 29_000;
    expect(await m1.reclaimDead()).toEqual([]);
    clock += 2_000;
    const [done] = await m1.reclaimDead();
    expect(done?.node).toBe('w3');
    expect(done?.blocks.map((b) => b.cidr)).toEqual(w3Blocks);
    expect(done?.allocations.map((a) => a.endpointId)).toEqual(['c0', 'c1']);
    // The other live worker, later: nothing left to do.
    clock += 60_000;
    expect(await m2.reclaimDead()).toEqual([]);
    const st = await clusterStatus(s1, parsePools(pools));
    expect(st.map((w) => [w.node, w.blocks.length])).toEqual([
      ['w1', 0],
      ['w2', 2],
    ]);

    // release-node for w2 once it stopped: shown, not confirmed → nothing; --yes → freed.
    await m2.stop();
    out.length = 0;
    expect(await runCli(['ipam', 'release-node', 'w2', '--config', file], io)).toBe(1);
    expect(out.join('')).toMatch(/worker w2: 2 blocks and 1 allocation to free\n {2}block 198\.51\.100\.\d+\/28 {2}\(pool 198\.51\.100\.0\/24\)/);
    expect(out.join('')).toMatch(/address 198\.51\.100\.\d+ 2001:db8:1::\S+ {2}\(endpoint b0, zone app\)/);
    expect(out.join('')).toMatch(/not confirmed; nothing released/);
    expect((await clusterStatus(s1, parsePools(pools))).map((w) => w.node)).toEqual(['w1', 'w2']);
    out.length = 0;
    const yes = { ...io, ask: async () => 'yes' };
    expect(await runCli(['ipam', 'release-node', 'w2', '--config', file], yes)).toBe(0);
    expect(out.join('')).toMatch(/released worker w2: 2 blocks, 1 allocations/);
    expect((await clusterStatus(s1, parsePools(pools))).map((w) => w.node)).toEqual(['w1']);
    out.length = 0;
    expect(await runCli(['ipam', 'release-node', 'w2', '--config', file, '--yes'], io)).toBe(1);
    expect(out.join('')).toMatch(/no blocks or allocations of worker w2; nothing to release/);
    await m1.stop();
    await Promise.all([s1.close(), s2.close(), s3.close()]);
  });
});
