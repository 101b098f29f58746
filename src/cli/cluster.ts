/**
 * `routectl cluster status`: the cluster as etcd holds it (workers, their leases, blocks
 * and how full each is); `routectl endpoints --all`: every worker's endpoints; `routectl
 * ipam release-node`: a dead worker's blocks and allocations freed. They read etcd
 * directly with the agent's config, so they answer on any worker, and also when the local
 * agent is stopped.
 */
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { clusterStatus, executeRelease, NODES_PREFIX, planRelease, type ClusterWorkerStatus, type NodeRelease } from '../ipam/cluster.js';
import { readHosts } from '../ipam/layout.js';
import { table } from './format.js';
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

/** One endpoint of the cluster as etcd records it (`routectl endpoints --all`). */
export interface ClusterEndpoint {
  readonly worker: string;
  /** The worker holds its liveness lease. */
  readonly alive: boolean;
  readonly id: string;
  readonly zone: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

async function withEtcd<T>(cfg: Config, what: string, fn: (s: EtcdStore) => Promise<T>): Promise<T> {
  const etcd = cfg.store.etcd;
  if (etcd === undefined) throw new Error(`${what}: this config has store.local; cluster mode needs store: { etcd: { endpoints: [...] } }`);
  const store = await EtcdStore.open({ endpoints: etcd.endpoints, prefix: etcd.prefix, tls: etcd.tls });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Every worker's endpoints, from the allocation documents in etcd, by worker then id. */
export function readClusterEndpoints(cfg: Config): Promise<ClusterEndpoint[]> {
  return withEtcd(cfg, 'endpoints --all', async (store) => {
    const [nodes, hosts] = await Promise.all([store.list(NODES_PREFIX), readHosts(store)]);
    const alive = new Set(nodes.map((e) => e.key.slice(NODES_PREFIX.length)));
    const out: ClusterEndpoint[] = [];
    for (const { node: worker, endpoints } of hosts.values()) {
      for (const [id, e] of Object.entries(endpoints)) out.push({ worker, alive: alive.has(worker), id, zone: e.zone, ipv4: e.ipv4 ?? null, ipv6: e.ipv6 ?? null });
    }
    return out.sort((a, b) => (a.worker !== b.worker ? (a.worker < b.worker ? -1 : 1) : a.id < b.id ? -1 : 1));
  });
}

export function clusterEndpointsText(eps: readonly ClusterEndpoint[]): string {
  if (eps.length === 0) return 'No endpoints in the cluster.\n';
  const rows = eps.map((e) => [e.worker, e.alive ? 'alive' : 'none', e.id.slice(0, 12), e.zone, e.ipv4 ?? '-', e.ipv6 ?? '-']);
  const workers = new Set(eps.map((e) => e.worker)).size;
  return `${table(['Worker', 'Lease', 'Endpoint', 'Zone', 'IPv4', 'IPv6'], rows)}\n${eps.length} endpoints on ${workers} worker${workers === 1 ? '' : 's'}\n`;
}

/** What `routectl ipam release-node NAME` would free, read from etcd. */
export function readReleasePlan(cfg: Config, node: string): Promise<NodeRelease> {
  return withEtcd(cfg, 'ipam release-node', (store) => planRelease(store, node));
}

/** Frees what the plan shows, guarded by the revisions it was read at. */
export function carryOutRelease(cfg: Config, plan: NodeRelease): Promise<void> {
  return withEtcd(cfg, 'ipam release-node', (store) => executeRelease(store, plan));
}

export function releasePlanText(p: NodeRelease): string {
  const lines = [`worker ${p.node}: ${p.blocks.length} block${p.blocks.length === 1 ? '' : 's'} and ${p.allocations.length} allocation${p.allocations.length === 1 ? '' : 's'} to free`];
  for (const b of p.blocks) lines.push(`  block ${b.cidr}  (pool ${b.pool})`);
  for (const a of p.allocations) lines.push(`  address ${[a.ipv4, a.ipv6].filter(Boolean).join(' ')}  (endpoint ${a.endpointId.slice(0, 12)}, zone ${a.zone})`);
  return `${lines.join('\n')}\n`;
}
