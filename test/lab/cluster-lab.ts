/**
 * What the cluster-mode lab files share: the fabric (etcd members in a namespace of their
 * own behind the ToR, workers on /30 links to it), the three-member etcd layout, a worker's
 * agent config in cluster mode, containers wired by routectl-cni (the plugin's code runs in
 * this process, over the agent's real socket, so every ADD goes through the agent's IPAM
 * against etcd exactly as a CNI runtime's would) and `routectl` commands that read etcd.
 *
 *                 etcd (LabEtcd: members on 127.0.0.1 peer ports, clients on 0.0.0.0)
 *                  │ fabric.etcd/30
 *                  │ fabric.torEtcd/30
 *   tor (forwards between its links)
 *    ├─ w.tor/30 ── w.addr/30  w1
 *    └─ …
 */
import { join } from 'node:path';
import { runPlugin } from '../../src/cni/plugin.js';
import type { CniResult } from '../../src/cni/types.js';
import type { ClusterWorkerStatus } from '../../src/ipam/cluster.js';
import type { LabAgent, LabAgentConfig } from './agent-helper.js';
import type { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';

export interface ClusterWorker {
  readonly node: string;
  /** The ToR's end of the worker's link, the worker's BGP peer and default gateway. */
  readonly tor: string;
  readonly addr: string;
  readonly asn: number;
  readonly tor6?: string;
  readonly addr6?: string;
}

/** The ToR ↔ etcd link and three workers (w1..w3), as cluster.test.ts, cluster-faults.test.ts and cluster-docker.test.ts use them. */
export const FABRIC = {
  torEtcd: '203.0.113.33',
  etcd: '203.0.113.34',
  workers: [
    { node: 'w1', tor: '203.0.113.1', addr: '203.0.113.2', asn: 65001 },
    { node: 'w2', tor: '203.0.113.5', addr: '203.0.113.6', asn: 65002 },
    { node: 'w3', tor: '203.0.113.9', addr: '203.0.113.10', asn: 65003 },
  ],
} as const;

export interface FabricLayout {
  readonly torEtcd: string;
  readonly etcd: string;
  readonly workers: readonly ClusterWorker[];
}

export interface ClusterFabric {
  readonly tor: Netns;
  readonly etcdNs: Netns;
  readonly workers: Netns[];
}

/**
 * The ToR, the etcd namespace and the workers' namespaces (`<tag>tor`, `<tag>etcd`,
 * `<tag>w1`…, so two files can run at once), linked to the ToR, each with a default route
 * through it (the lab turns forwarding on in every namespace, so the ToR carries the
 * workers' etcd traffic between its links). The lab is the caller's, so its cleanup runs
 * whatever fails here.
 */
export async function clusterFabric(lab: Lab, tag: string, layout: FabricLayout = FABRIC): Promise<ClusterFabric> {
  const tor = await lab.netns(`${tag}tor`);
  const etcdNs = await lab.netns(`${tag}etcd`);
  await lab.link(tor, etcdNs, { aName: 'etcd0', bName: 'fab0', aAddr: [`${layout.torEtcd}/30`], bAddr: [`${layout.etcd}/30`] });
  await etcdNs.addRoute('default', { via: layout.torEtcd });
  const workers: Netns[] = [];
  for (const [i, w] of layout.workers.entries()) {
    const ns = await lab.netns(`${tag}w${i + 1}`);
    const v6 = w.tor6 !== undefined && w.addr6 !== undefined;
    await lab.link(tor, ns, {
      aName: `w${i + 1}`,
      bName: 'fab0',
      aAddr: [`${w.tor}/30`, ...(v6 ? [`${w.tor6}/64`] : [])],
      bAddr: [`${w.addr}/30`, ...(v6 ? [`${w.addr6}/64`] : [])],
    });
    await ns.addRoute('default', { via: w.tor });
    workers.push(ns);
  }
  return { tor, etcdNs, workers };
}

export interface ClusterAgentOptions {
  /** Keys of `store.etcd` besides `path` (endpoints, leaseTtl, …). */
  readonly etcd: Readonly<Record<string, unknown>>;
  readonly pools: readonly Readonly<Record<string, unknown>>[];
  /** The `app` zone's CIDRs, open to the world (the ToR). */
  readonly zoneCidrs: readonly string[];
  readonly runtime: Readonly<Record<string, unknown>>;
}

/**
 * A worker's agent in cluster mode, peering with its ToR (AS 65000). Its own files (CNI
 * attachments) live in `state-<node>` of the lab directory, so they outlive one agent process.
 */
export function clusterAgentConfig(lab: Lab, w: ClusterWorker, o: ClusterAgentOptions): LabAgentConfig {
  return {
    node: w.node,
    routerId: w.addr,
    asn: w.asn,
    peers: [{ address: w.tor, asn: 65000 }],
    extra: {
      store: { etcd: { ...o.etcd, path: join(lab.dir, `state-${w.node}`) } },
      pools: o.pools,
      zones: [{ name: 'app', cidrs: o.zoneCidrs, ingress: [{ from: 'world', ports: ['any'] }] }],
      runtime: o.runtime,
    },
  };
}

export interface CniOutcome {
  readonly code: number;
  readonly json: unknown;
}

export interface CniContainer extends CniOutcome {
  readonly id: string;
  readonly netns: Netns;
}

/** Containers as lab namespaces wired by routectl-cni: namespaces `<tag><n>`, ids `<tag><worker>x<n>`. */
export class CniContainers {
  private count = 0;

  constructor(
    private readonly lab: Lab,
    private readonly tag: string,
    /** The network name in the plugin's config, and its timeout (none: the plugin's default). */
    private readonly conf: { readonly name: string; readonly timeoutMs?: number },
  ) {}

  /** One plugin call (ADD, DEL, CHECK) over `socket`. */
  async call(socket: string, command: string, id: string, netns: string, timeoutMs = this.conf.timeoutMs): Promise<CniOutcome> {
    const conf = { cniVersion: '1.1.0', name: this.conf.name, type: 'routectl-cni', zone: 'app', socket, ...(timeoutMs ? { timeoutMs } : {}) };
    const out = await runPlugin({
      env: { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni', CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
      stdin: JSON.stringify(conf),
    });
    return { code: out.exitCode, json: out.stdout === '' ? undefined : (JSON.parse(out.stdout) as unknown) };
  }

  /** A fresh namespace and an ADD for it on `worker` (whose agent listens on `socket`). */
  async add(worker: number, socket: string, timeoutMs?: number): Promise<CniContainer> {
    const n = this.count++;
    const netns = await this.lab.netns(`${this.tag}${n}`);
    // Padded with a letter: digits would make `w0x3` + padding equal `w0x30` + padding.
    const id = `${this.tag}${worker}x${n}`.padEnd(64, 'z');
    return { ...(await this.call(socket, 'ADD', id, netns.path, timeoutMs)), id, netns };
  }
}

/** The IPv4 address of a CNI ADD's result. */
export function v4Of(json: unknown): string {
  const ip = (json as CniResult).ips.find((i) => !i.address.includes(':'));
  if (!ip) throw new Error(`no IPv4 address in ${JSON.stringify(json)}`);
  return ip.address.replace(/\/32$/, '');
}

/** Whether IPv4 `addr` lies in `cidr`. */
export function inPrefix(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(addr) / size) === Math.floor(n(net!) / size);
}

/** `routectl ARGS --config agent.yaml --json` in the agent's namespace (commands that read etcd); throws on a non-zero exit. */
export async function routectlJson<T>(ns: Netns, agent: LabAgent, args: readonly string[]): Promise<T> {
  const r = await ns.exec([process.execPath, agent.bin, ...args, '--config', agent.configPath, '--json'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`routectl ${args.join(' ')} (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** `routectl cluster status`: every worker's lease and blocks, from etcd. */
export async function clusterStatus(ns: Netns, agent: LabAgent): Promise<ClusterWorkerStatus[]> {
  return (await routectlJson<{ workers: ClusterWorkerStatus[] }>(ns, agent, ['cluster', 'status'])).workers;
}
