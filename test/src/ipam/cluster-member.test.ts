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
import { EtcdStore, EtcdStoreError } from '../../../src/store/etcd.js';
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
    `store: { etcd: { endpoints: [${endpoint}], prefix: ${prefix} } }`,
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

  it('the agent with store.etcd: an unreachable etcd is an error at start naming the endpoint', async () => {
    const cfg = parseConfig(configText('w9', '/cm-x/', 'http://127.0.0.1:1'), 'test.yaml');
    const err = await startContainerRuntime(cfg, { advertiser: {} as never, log, cni: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdStoreError);
    expect((err as Error).message).toContain('http://127.0.0.1:1');
  });
});
