/**
 * The container side of the agent, wired together: local store → IPAM, netlink kernel →
 * dataplane, the endpoint controller, and the Docker runtime feeding it. The agent
 * (src/agent.ts) starts this when `runtime.docker` is configured and asks it for the
 * API views; in speaker-only mode (`runtime: {}`) none of it exists.
 *
 * Order at start: IPAM state is loaded from the store (LocalStore.open, or EtcdStore.open
 * plus the cluster lease and pool check: src/ipam/cluster.ts), the controller
 * is built, then the runtime connects; its first 'sync' is adopted by the controller
 * (orphans cleaned, leaks freed) before any repair runs. At stop, kernel state is left
 * as it is: host routes survive an agent restart, so containers stay reachable.
 */
import type { DockerSummary, EndpointEntry, RouteEntry, StatusResponse } from '../api/types.js';
import type { Config } from '../config/schema.js';
import { Dataplane, NetlinkKernel, type Kernel } from '../dataplane/index.js';
import { canonicalPrefix, isContainerRoute } from '../dataplane/plumbing.js';
import { Ipam } from '../ipam/index.js';
import type { Logger } from '../log.js';
import { DockerRuntime } from '../runtime/docker.js';
import type { InvalidContainer } from '../runtime/types.js';
import { ClusterMember, DEFAULT_BLOCK_GRACE_SECONDS, DEFAULT_LEASE_TTL_SECONDS, DEFAULT_RECLAIM_GRACE_SECONDS } from '../ipam/cluster.js';
import { EtcdStore } from '../store/etcd.js';
import { LocalStore } from '../store/local.js';
import type { Store } from '../store/store.js';
import { kernelRouteEntries } from '../verify/kernel-view.js';
import type { Advertisements } from './advertisements.js';
import { EndpointController } from './controller.js';
import type { EndpointView, PolicyPort } from './types.js';

export class ContainerRuntimeError extends Error {
  override readonly name = 'ContainerRuntimeError';
}

export interface ContainerRuntimeDeps {
  readonly advertiser: Advertisements;
  readonly log: Logger;
  /** The zone policy (src/policy AgentPolicy), when zones are configured. */
  readonly policy?: PolicyPort;
  /** Tests inject these; the agent uses the real ones. */
  readonly store?: Store;
  /** Where CNI attachments are kept (default: `store`; with etcd, a local store of its own). */
  readonly attachmentStore?: Store;
  readonly kernel?: Kernel;
  readonly runtime?: DockerRuntime;
  /**
   * CNI requests feed the controller too (source 'cni'): the first adopt then also waits
   * for the CNI side's persisted attachments. Without runtime.docker, CNI is the only source.
   */
  readonly cni?: boolean;
}

export interface ContainerRuntime {
  readonly controller: EndpointController;
  /** null when only CNI feeds the controller (no runtime.docker). */
  readonly runtime: DockerRuntime | null;
  readonly store: Store;
  /** Where CNI attachments are kept: `store`, or the worker's local files in cluster mode. */
  readonly attachmentStore: Store;
  /** Cluster mode: this worker's lease and pool check; undefined with the local store. */
  readonly member: ClusterMember | undefined;
  readonly dataplane: Dataplane;
  /** Connect to dockerd (the first sync follows, possibly later if dockerd is not up). */
  start(): Promise<void>;
  /** Wired, pending and refused endpoints; `sentTo` maps a prefix to the peers that were sent it. */
  entries(sentTo: ReadonlyMap<string, readonly string[]>): EndpointEntry[];
  /** Every endpoint by state, refused containers counted as errors (what `routectl endpoints` lists). */
  stateCounts(): StatusResponse['endpointStates'];
  /** dockerd as the runtime sees it; null without runtime.docker. */
  docker(): DockerSummary | null;
  /** The agent's own routes in the kernel (protocol 88), as `routectl routes --kernel` shows them. */
  kernelRoutes(): Promise<RouteEntry[]>;
  stop(): Promise<void>;
}

const DEFAULT_RECONCILE_SECONDS = 60;

export async function startContainerRuntime(cfg: Config, deps: ContainerRuntimeDeps): Promise<ContainerRuntime> {
  const docker = cfg.runtime.docker;
  if (docker === undefined && deps.cni !== true) throw new ContainerRuntimeError('runtime.docker is not configured');
  let store = deps.store;
  const etcd = cfg.store.etcd;
  if (store === undefined) {
    // etcd: open() has talked to a member, or found none answering without a TLS problem
    // (then the agent starts without it: kernel state adopted, new containers wait), or
    // throws naming each endpoint (a wrong CA: nothing is started).
    store = etcd !== undefined
      ? await EtcdStore.open({ endpoints: etcd.endpoints, prefix: etcd.prefix, tls: etcd.tls, whenUnreachable: 'start' })
      : await LocalStore.open(cfg.store.local?.path ?? '/var/lib/routectl');
  }
  if (store instanceof EtcdStore && store.unreachableAtOpen !== undefined) {
    deps.log.warn({ op: 'store', event: 'etcd-unreachable', err: store.unreachableAtOpen }, `${store.unreachableAtOpen}; starting without etcd: running containers are adopted from the kernel, new ones wait for the store`);
  }
  // The worker's own facts (its CNI attachments: which netns holds which endpoint) stay on
  // its own disk in cluster mode: no other worker needs them, and a worker restarted while
  // etcd has no quorum must still know its containers.
  let attachmentStore: Store = store;
  if (etcd !== undefined && deps.attachmentStore === undefined && (deps.store === undefined || deps.store instanceof EtcdStore)) {
    try {
      attachmentStore = await LocalStore.open(etcd.path ?? '/var/lib/routectl');
    } catch (err) {
      await store.close();
      throw err;
    }
  } else if (deps.attachmentStore !== undefined) {
    attachmentStore = deps.attachmentStore;
  }
  const graceSeconds = etcd?.blockGrace ?? DEFAULT_BLOCK_GRACE_SECONDS;
  const ipam = new Ipam(store, cfg.node, cfg.pools, etcd !== undefined ? { blockGraceMs: graceSeconds * 1000 } : undefined);
  let member: ClusterMember | undefined;
  if (store instanceof EtcdStore) {
    const reclaimSeconds = etcd?.reclaimGrace ?? DEFAULT_RECLAIM_GRACE_SECONDS;
    try {
      member = await ClusterMember.start({
        store,
        ipam,
        node: cfg.node,
        leaseTtlSeconds: etcd?.leaseTtl ?? DEFAULT_LEASE_TTL_SECONDS,
        sweepMs: Math.max(1000, Math.min(30_000, (Math.min(graceSeconds, reclaimSeconds) * 1000) / 2)),
        reclaimGraceMs: reclaimSeconds * 1000,
        log: deps.log,
      });
    } catch (err) {
      await store.close();
      if (attachmentStore !== store) await attachmentStore.close();
      throw err;
    }
  }
  const kernel = deps.kernel ?? new NetlinkKernel();
  const dataplane = new Dataplane(kernel);
  const controller = new EndpointController({
    ipam,
    dataplane,
    advertiser: deps.advertiser,
    ...(deps.policy ? { policy: deps.policy } : {}),
    log: deps.log,
    reconcileIntervalMs: (cfg.runtime.reconcileInterval ?? DEFAULT_RECONCILE_SECONDS) * 1000,
    sources: [...(docker !== undefined ? ['docker'] : []), ...(deps.cni === true ? ['cni'] : [])],
  });
  // Back in the cluster after etcd forgot us (or never saw us since start): another
  // worker may have reclaimed our blocks meanwhile, so every allocation is checked.
  if (member) member.onRejoin = () => controller.verifyAllocations();
  const runtime = docker === undefined ? null : (deps.runtime ?? new DockerRuntime({ socket: docker.socket, wireBeforeStart: docker.wireBeforeStart, zones: ipam.zones(), logger: deps.log }));
  const log = deps.log.child({ op: 'endpoints' });
  const report = (what: string) => (err: unknown) => log.error({ event: 'runtime-event-failed', err }, `${what} failed`);
  runtime?.on('sync', (eps) => void controller.sync(eps).catch(report('sync')));
  runtime?.on('add', (ep) => void controller.add(ep).catch(report('add')));
  runtime?.on('remove', (ep) => void controller.remove(ep.id).catch(report('remove')));

  const invalidEntry = (c: InvalidContainer): EndpointEntry => ({
    id: c.id,
    name: c.name,
    zone: '',
    ipv4: null,
    ipv6: null,
    state: 'error',
    error: c.error,
    pid: null,
    hostVeth: null,
    hwaddr: null,
    gateway: { ipv4: null, ipv6: null },
    advertised: [],
    advertisedTo: [],
    since: null,
  });
  const entry = (v: EndpointView, sentTo: ReadonlyMap<string, readonly string[]>): EndpointEntry => {
    const peers = new Set<string>();
    for (const p of v.advertised) for (const peer of sentTo.get(p) ?? []) peers.add(peer);
    return {
      id: v.id,
      name: v.name,
      zone: v.zone,
      ipv4: v.ipv4,
      ipv6: v.ipv6,
      state: v.state,
      error: v.error,
      pid: v.pid || null,
      hostVeth: v.hostVeth,
      hwaddr: v.hwaddr,
      gateway: v.gateway,
      advertised: v.advertised,
      advertisedTo: [...peers].sort(),
      since: v.since,
    };
  };

  const entries = (sentTo: ReadonlyMap<string, readonly string[]>): EndpointEntry[] => {
    const out = controller.list().map((v) => entry(v, sentTo));
    const known = new Set(out.map((e) => e.id));
    for (const c of runtime?.status().invalid ?? []) if (!known.has(c.id)) out.push(invalidEntry(c));
    return out;
  };

  let stopped: Promise<void> | undefined;
  return {
    controller,
    runtime,
    store,
    attachmentStore,
    member,
    dataplane,
    start: async () => runtime?.start(),
    entries,
    stateCounts() {
      const n = { ready: 0, pending: 0, error: 0 };
      for (const e of entries(new Map())) if (e.state === 'ready' || e.state === 'pending' || e.state === 'error') n[e.state]++;
      return n;
    },
    docker() {
      if (runtime === null) return null;
      const s = runtime.status();
      const retryInSeconds = s.retryAt === null ? null : Math.max(0, Math.ceil((Date.parse(s.retryAt) - Date.now()) / 1000));
      return { connected: s.connected, since: s.since, lastError: s.lastError, retryInSeconds, containers: s.containers, refused: s.invalid.length };
    },
    async kernelRoutes() {
      return kernelRouteEntries(await dataplane.listOwn());
    },
    stop() {
      stopped ??= (async () => {
        await runtime?.stop();
        await controller.stop();
        await member?.stop();
        kernel.close();
        await store.close();
        if (attachmentStore !== store) await attachmentStore.close();
      })();
      return stopped;
    },
  };
}

/** What a previous run of the agent left in the kernel: its routes still forward. */
export interface PreviousRun {
  /** Destinations of the agent's own routes (protocol 88): host routes and aggregate blackholes. */
  readonly prefixes: readonly string[];
  /** BGP families with at least one such route (RFC 4724 F bit). */
  readonly families: readonly ('ipv4-unicast' | 'ipv6-unicast')[];
}

/**
 * Reads the agent's own routes from the kernel (one netlink dump, no dockerd): after a
 * restart they are what the worker still forwards, so they are re-advertised before
 * End-of-RIB and long before dockerd's first list is adopted.
 */
export async function readPreviousRun(kernel: Kernel = new NetlinkKernel()): Promise<PreviousRun> {
  try {
    // Container host routes only: learned routes (same protocol, LEARNED_METRIC) came from
    // the peers and must never be advertised back to them.
    const routes = (await kernel.listRoutes()).filter(isContainerRoute);
    const families = new Set<'ipv4-unicast' | 'ipv6-unicast'>();
    for (const r of routes) families.add(r.family === 4 ? 'ipv4-unicast' : 'ipv6-unicast');
    return { prefixes: [...new Set(routes.map((r) => canonicalPrefix(r.dst)))], families: [...families] };
  } finally {
    kernel.close();
  }
}
