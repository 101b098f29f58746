/**
 * `routectl cluster status`: the cluster as etcd holds it (workers, their leases, blocks
 * and how full each is). It reads etcd directly with the agent's config, so it answers on
 * any worker, and also when the local agent is stopped.
 */
import type { Config } from '../config/schema.js';
import { clusterStatus, type ClusterWorkerStatus } from '../ipam/cluster.js';
import { parsePools } from '../ipam/pools.js';
import { EtcdStore } from '../store/etcd.js';

export async function readClusterStatus(cfg: Config): Promise<ClusterWorkerStatus[]> {
  const etcd = cfg.store.etcd;
  if (etcd === undefined) throw new Error('cluster status: this config has store.local; cluster mode needs store: { etcd: { endpoints: [...] } }');
  const store = await EtcdStore.open({ endpoints: etcd.endpoints, prefix: etcd.prefix, tls: etcd.tls });
  try {
    return await clusterStatus(store, parsePools(cfg.pools));
  } finally {
    await store.close();
  }
}

export function clusterStatusText(workers: readonly ClusterWorkerStatus[]): string {
  if (workers.length === 0) return 'no workers in the cluster\n';
  const lines: string[] = [];
  const head = ['WORKER', 'LEASE', 'AGE', 'TTL', 'ENDPOINTS', 'BLOCKS'];
  const rows = workers.map((w) => [
    w.node,
    w.alive ? 'alive' : 'none',
    w.leaseAgeSeconds === null ? '-' : `${w.leaseAgeSeconds}s`,
    w.leaseTtlSeconds === null ? '-' : `${w.leaseTtlSeconds}s`,
    String(w.endpoints),
    String(w.blocks.length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  lines.push(fmt(head), ...rows.map(fmt));
  for (const w of workers) {
    if (w.blocks.length === 0) continue;
    lines.push('', `${w.node} blocks:`);
    for (const b of w.blocks) lines.push(`  ${b.cidr.padEnd(24)} ${String(b.used).padStart(5)}/${b.size} used  (pool ${b.pool})`);
  }
  return `${lines.join('\n')}\n`;
}
