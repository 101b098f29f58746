/**
 * The agent: wires config, BGP speaker and control API together (docs/design.md layout).
 * In speaker-only mode (`runtime: {}`) it peers with `bgp.peers`, advertises
 * `bgp.advertise`, and answers `routectl status/peers/routes` on the API socket.
 * With `runtime: { docker: … }` it also runs the container side (src/endpoints/
 * containers.ts): Docker runtime → endpoint controller → IPAM, dataplane, and the
 * speaker, whose advertisements are `bgp.advertise` ∪ the endpoints' prefixes.
 *
 * Signals: SIGTERM/SIGINT stop gracefully: the sessions close without a NOTIFICATION, so
 * the peers keep our routes under graceful restart (RFC 4724; docs/operations.md
 * "Restarts, upgrades and drain"), while the kernel routes (learned ones too) stay; the
 * API socket is removed. `routectl drain` withdraws first. SIGHUP
 * re-reads the config file and applies peer, import, advertisement and zone policy
 * changes; an invalid file is logged and the running config kept, and so is a file whose
 * zones would widen what reaches a running container (a zone removed or shrunk under it,
 * policy/reload.ts): that reload is refused as a whole, and `routectl status` says why.
 */
import { Speaker } from '../bgp/speaker/index.js';
import { diagName } from '../bgp/bfd/types.js';
import { endpointRoutes } from './api/endpoints.js';
import { ApiError } from './api/errors.js';
import { startApiServer, type ApiServer } from './api/server.js';
import type { ApiHandlers, PeerDetail, PeerSummary, ReloadSummary, RouteEntry, StatusResponse, StoreStatus } from './api/types.js';
import { HOST_VETH_MAC } from './dataplane/plumbing.js';
import { Advertisements, zoneTags, type RouteAdvertisement } from './endpoints/advertisements.js';
import { readPreviousRun, startContainerRuntime, type ContainerRuntime, type PreviousRun } from './endpoints/containers.js';
import { startCni } from './cni/agent.js';
import { EtcdStore } from './store/etcd.js';
import { setCpuPriority } from './priority.js';
import type { ContainerInspector } from './cni/inspect.js';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { configWarnings } from './config/warnings.js';
import { startObservability, type Observability } from './metrics/observability.js';
import type { Config } from './config/schema.js';
import { createLogger, peerLogger, type Logger } from './log.js';
import { nativeUnnumberedDeps, Unnumbered, type UnnumberedDeps } from './unnumbered/index.js';
import { VERSION } from './version.js';
import type { Executor } from '../policy/exec.js';
import { policyRoutes } from './api/policy.js';
import { AgentPolicy, hostPolicy, modelOf, policyHandlers, reloadVerdict, runningEndpoints } from './policy/index.js';
import { reloadProblemText } from '../policy/reload.js';
import { registerPolicyMetrics } from './metrics/policy.js';

import { EXTENDED_COMMUNITIES_CODE, attributeName, communityText, extendedCommunitiesOf, largeCommunityText } from '../bgp/wire/index.js';
import type { ForwardingEntry, PeerConfig, PeerStatus, RouteView, SpeakerConfig, UpdateErrorEvent } from '../bgp/speaker/types.js';
import type { ImportFilter } from '../bgp/rib/prefix-list.js';
import type { Family } from '../bgp/wire/types.js';
import { guardFor, LearnedRoutes, type RouteTable } from './learned/index.js';
import { LinkWatcher, NetlinkRouteTable, type LinkState } from './learned/netlink-table.js';

// ---------------------------------------------------------------------------
// What the agent needs from the BGP speaker (bgp/speaker): the structural subset of
// its API, so the agent can run over the real speaker or a stand-in in tests.
// ---------------------------------------------------------------------------

/** The speaker's own types: the agent speaks its language, fakes in tests build the same shapes. */
export type SpeakerPeerConfig = PeerConfig;
export type SpeakerConfigForAgent = SpeakerConfig;
export type SpeakerPeerStatus = PeerStatus;
export type SpeakerRouteView = RouteView;

export interface SpeakerLike {
  start(): Promise<void>;
  /** 'graceful': the peers keep our routes while we are away (RFC 4724, RFC 8538). */
  stop(reason?: string, mode?: 'hard' | 'graceful'): Promise<void>;
  /**
   * Withdraw everything, let the peers take it, then stop hard; with `gracefulShutdownMs`
   * first send everything with GRACEFUL_SHUTDOWN (RFC 8326) and wait that long.
   */
  drain?(reason?: string, waitMs?: number, gracefulShutdownMs?: number, beforeStop?: () => void): Promise<unknown>;
  /** The initial advertisement set is complete: End-of-RIB may go (RFC 4724 4.1). */
  initialSyncDone?(): void;
  setAdvertisements(routes: readonly RouteAdvertisement[]): void;
  /** Incremental changes (the real speaker has them; without them the whole set is re-sent). */
  advertise?(routes: readonly RouteAdvertisement[]): void;
  withdraw?(prefixes: readonly string[]): void;
  setPeers(peers: readonly SpeakerPeerConfig[]): Promise<void>;
  setImportFilter(entries: readonly string[]): void;
  peerStatus(): readonly SpeakerPeerStatus[];
  routes(q: { peer?: string; view?: 'received' | 'advertised' }): readonly SpeakerRouteView[];
  advertisedCount(): number;
  on(event: 'peerState', listener: (peer: string, from: string, to: string, reason: string | null) => void): unknown;
  /** BFD state changes (RFC 5880 state names; diag: RFC 5880 4.1 diagnostic code). */
  on(event: 'bfdState', listener: (peer: string, from: string, to: string, diag: number) => void): unknown;
  on(event: 'bfdError', listener: (peer: string, err: unknown) => void): unknown;
  /** An RFC 7606 finding in a peer's UPDATE (logged once per peer, attribute and action per session). */
  on(event: 'updateError', listener: (e: UpdateErrorEvent) => void): unknown;
  /** A connection refused because it came from no configured peer (logged, rate-limited). */
  on(event: 'connectionRejected', listener: (address: string, family: string) => void): unknown;
  /** RFC 9494: a restarting peer's restart time is over; its routes of `family` stay, long-lived stale. */
  on(event: 'peerLongLivedStale', listener: (peer: string, family: Family, kept: number, dropped: number, seconds: number) => void): unknown;
  /** Those refusals since start, per family (routectl_bgp_rejected_connections_total). */
  rejectedConnections?(): Readonly<Record<string, number>>;
  /** End a max-prefix hold now; false when the peer is not held. */
  releaseHold?(address: string): boolean;
  /** Learned routes (src/learned): multipath sets, the hijack guard, uplink state. */
  forwarding?(): ForwardingEntry[];
  on(event: 'forwardingChanged', listener: (e: ForwardingEntry) => void): unknown;
  off?(event: 'forwardingChanged', listener: (e: ForwardingEntry) => void): unknown;
  /** The peer's End-of-RIB for a family (RFC 4724 2). */
  on(event: 'endOfRib', listener: (peer: string, family: Family) => void): unknown;
  off?(event: 'endOfRib', listener: (peer: string, family: Family) => void): unknown;
  setImportGuard?(guard: ImportFilter | undefined): void;
  linkDown?(address: string, why: string): boolean;
  linkUp?(address: string): boolean;
  /** Unnumbered peers: the neighbour found on an interface (src/unnumbered). */
  setNeighbour?(iface: string, address: string | null): boolean;
}

export type SpeakerFactory = (cfg: SpeakerConfigForAgent, log: Logger) => SpeakerLike | Promise<SpeakerLike>;

export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface AgentOptions {
  /** The file SIGHUP re-reads; without it SIGHUP only logs that there is nothing to reload. */
  readonly configPath?: string;
  readonly log?: Logger;
  readonly createSpeaker?: SpeakerFactory;
  /** Install SIGTERM/SIGINT/SIGHUP handlers (default true; tests call stop/reload directly). */
  readonly handleSignals?: boolean;
  readonly now?: () => number;
  /** The hostname default for `node` on reload (tests pin it). */
  readonly hostname?: string;
  /** Builds the container side when runtime.docker is set (tests inject a stand-in). */
  readonly startContainers?: typeof startContainerRuntime;
  /** Overrides metrics.listen ("127.0.0.1:0" in tests); null: no metrics listener. */
  readonly metricsListen?: string | null;
  /** How CNI CHECK looks into a container (tests read the fake kernel). */
  readonly cniInspector?: ContainerInspector;
  /**
   * Runs iptables/ipset for the zone policy. Default: child_process in the agent's own
   * network namespace — unless `startContainers` is injected (a stand-in kernel side, as in
   * tests), where the default is null; null: zones are kept but nothing is installed.
   */
  readonly policyExecutor?: Executor | null;
  /**
   * The process's CPU priority (nice, -20..19), set at start when given; the CLI passes
   * runtime.nice or DEFAULT_NICE. Tests leave it alone (it would renice the test runner).
   */
  readonly nice?: number;
  /**
   * What a previous run left in the kernel (R and F bits, the routes re-advertised before
   * End-of-RIB). Default: the agent's own routes read with netlink when containers are
   * configured — unless `startContainers` is injected (a stand-in kernel), where it is none.
   */
  readonly previousRun?: () => Promise<PreviousRun | null>;
  /**
   * Where learned routes go and where link state comes from (src/learned). Default: the
   * kernel over netlink — unless `startContainers` is injected (tests), where it is null:
   * nothing is installed and no link is watched.
   */
  /**
   * Unnumbered peers' router advertisements and neighbour table (src/unnumbered);
   * default: the native ones, unless the container runtime is injected (unit tests);
   * null: none.
   */
  readonly unnumbered?: UnnumberedDeps | null;
  readonly learnedKernel?: {
    readonly table: RouteTable;
    readonly watchLinks: ((onChange: (l: LinkState, deleted: boolean) => void, onOverrun: () => void) => { list(): Promise<LinkState[]>; close(): void }) | null;
  } | null;
}

/** At most this long End-of-RIB waits for the initial advertisement set (RFC 4724 4.1). */
export const INITIAL_SYNC_FALLBACK_MS = 10_000;

export { DEFAULT_NICE } from './priority.js';

export interface Agent {
  /** Resolves with the process exit code once the agent has stopped. */
  readonly done: Promise<number>;
  readonly api: ApiServer;
  /** Metrics registry and listener, verify, the kernel route view (src/metrics/observability.ts). */
  readonly observability: Observability;
  config(): Config;
  /** Re-read the config file (SIGHUP); false when it was invalid and the old one is kept. */
  reload(): Promise<boolean>;
  /** `mode` 'drain' withdraws every route first and stops the sessions hard (maintenance). */
  stop(reason?: string, mode?: StopKind): Promise<void>;
}

/** 'graceful' (SIGTERM): the fabric keeps forwarding to us; 'drain': it moves away first. */
export type StopKind = 'graceful' | 'drain';

/** Config → what the speaker takes. Peers get the global hold time spelt out, so a changed global hold time renews their sessions. */
export function speakerConfig(cfg: Config): SpeakerConfigForAgent {
  return {
    asn: cfg.asn,
    routerId: cfg.routerId,
    listen: cfg.bgp.listen.port === 0 ? null : { address: cfg.bgp.listen.address, port: cfg.bgp.listen.port },
    holdTime: cfg.bgp.holdTime,
    connectRetryTime: cfg.bgp.connectRetryTime,
    hostname: cfg.node,
    importFilter: cfg.bgp.import,
    peers: cfg.bgp.peers.map((p) => ({
      // An unnumbered peer is known by its interface's name (as FRR shows `neighbor eth1`).
      address: p.interface ?? p.address ?? '',
      ...(p.interface !== undefined ? { interface: p.interface } : {}),
      asn: p.asn,
      port: p.port,
      passive: p.passive,
      holdTime: p.holdTime ?? cfg.bgp.holdTime,
      families: p.families,
      ...(p.localAddress !== undefined ? { localAddress: p.localAddress } : {}),
      ...(p.description !== undefined ? { description: p.description } : {}),
      ...(p.maxPrefixes !== undefined ? { maxPrefixes: p.maxPrefixes.limit, maxPrefixRestart: p.maxPrefixes.restart } : {}),
      ...(p.password !== undefined ? { password: p.password } : {}),
      ...(p.ttlSecurity !== undefined ? { ttlSecurity: { hops: p.ttlSecurity.hops } } : {}),
      ...(p.bfd !== undefined ? { bfd: p.bfd } : {}),
      ...(p.export !== undefined ? { export: exportOf(p.export) } : {}),
      ...(p.enforceFirstAs === false ? { enforceFirstAs: false } : {}),
      ...(p.import !== undefined ? { importFilter: p.import } : {}),
    })),
  };
}

/** RFC 4271 4.3 attribute flags in words. */
function flagsText(flags: number): string {
  return [flags & 0x80 ? 'optional' : 'well-known', ...(flags & 0x40 ? ['transitive'] : []), ...(flags & 0x20 ? ['partial'] : [])].join(' ');
}

/** A peer's `export:` as the speaker takes it: only what is set. */
function exportOf(e: NonNullable<Config['bgp']['peers'][number]['export']>): NonNullable<SpeakerPeerConfig['export']> {
  return {
    ...(e.communities.length > 0 ? { communities: [...e.communities] } : {}),
    ...(e.largeCommunities.length > 0 ? { largeCommunities: [...e.largeCommunities] } : {}),
    ...(e.prepend > 0 ? { prepend: e.prepend } : {}),
    ...(e.med !== undefined ? { med: e.med } : {}),
  };
}

const ORIGINS = ['IGP', 'EGP', 'INCOMPLETE'] as const;

/** "65000 65010 {65020,65030}" — the way routers print AS paths. */
export function asPathText(segments: SpeakerRouteView['attributes']['asPath']): string {
  return (segments ?? [])
    .map((s) => (s.type === 'set' || s.type === 'confed-set' ? `{${s.asns.join(',')}}` : s.type === 'confed-sequence' ? `(${s.asns.join(' ')})` : s.asns.join(' ')))
    .join(' ');
}

export function routeEntry(r: SpeakerRouteView): RouteEntry {
  const a = r.attributes;
  return {
    prefix: r.prefix,
    peer: r.peer,
    nextHops: r.nextHops,
    asPath: asPathText(a.asPath),
    origin: a.origin === undefined ? null : (ORIGINS[a.origin] ?? String(a.origin)),
    med: a.med ?? null,
    localPref: a.localPref ?? null,
    // RFC 1997: high 16 bits the AS, low 16 bits the value.
    communities: (a.communities ?? []).map(communityText),
    largeCommunities: (a.largeCommunities ?? []).map(largeCommunityText),
    extendedCommunities: extendedCommunitiesOf(a.unknown),
    aggregator: a.aggregator ? { asn: a.aggregator.asn, address: a.aggregator.address } : null,
    atomicAggregate: a.atomicAggregate === true,
    otherAttributes: (a.unknown ?? [])
      .filter((u) => u.code !== EXTENDED_COMMUNITIES_CODE)
      .map((u) => ({ code: u.code, name: attributeName(u.code), flags: flagsText(u.flags), value: u.value.toString('hex') })),
    accepted: r.accepted,
    reason: r.reason,
    ...(r.stale ? { stale: true } : {}),
  };
}

function summary(p: SpeakerPeerStatus): PeerSummary {
  return {
    address: p.address,
    asn: p.asn,
    description: p.description,
    type: p.type,
    state: p.state,
    since: p.since,
    families: p.families,
    prefixesSent: p.prefixesSent,
    prefixesReceived: p.prefixesReceived,
    prefixesAccepted: p.prefixesAccepted,
    lastError: p.lastError,
    held: p.held,
    // Only peers with BFD configured carry the key, so the JSON of the others is unchanged.
    ...(p.bfd ? { bfd: p.bfd } : {}),
    ...(p.configuredAsn !== undefined ? { configuredAsn: p.configuredAsn } : {}),
    ...(p.interface !== undefined ? { interface: p.interface, neighbour: p.neighbour ?? { address: null, source: null } } : {}),
  };
}

function detail(p: SpeakerPeerStatus): PeerDetail {
  return {
    ...summary(p),
    uptime: p.uptime,
    holdTime: p.holdTime,
    keepalive: p.keepalive,
    capabilities: p.capabilities,
    localAddress: p.localAddress,
    remoteAddress: p.remoteAddress,
    messages: p.messages,
    flaps: p.flaps,
    lastNotificationSent: p.lastNotificationSent,
    lastNotificationReceived: p.lastNotificationReceived,
    problems: p.problems,
    md5: p.md5,
    ttlSecurityHops: p.ttlSecurityHops,
    // Routes kept stale while the peer restarts (RFC 4724 4.2).
    ...(p.staleRoutes !== undefined ? { staleRoutes: p.staleRoutes } : {}),
  };
}

/** Cluster mode: the store as the controller and the lease see it. */
function storeStatus(c: ContainerRuntime): StoreStatus {
  const s = c.controller.storeState();
  return {
    kind: 'etcd',
    answering: s.down === null,
    downSince: s.down?.since ?? null,
    lastError: s.down?.error ?? null,
    waiting: s.waiting,
    unchecked: s.unconfirmed,
    releasesOwed: s.releasesOwed,
    joined: c.member?.joined ?? false,
  };
}

/** What a reload cannot change without a restart: these keep their running values. */
function restartOnly(a: Config, b: Config): string[] {
  const out: string[] = [];
  if (a.asn !== b.asn) out.push('asn');
  if (a.routerId !== b.routerId) out.push('routerId');
  if (a.node !== b.node) out.push('node');
  if (JSON.stringify(a.bgp.listen) !== JSON.stringify(b.bgp.listen)) out.push('bgp.listen');
  if (a.api.socket !== b.api.socket) out.push('api.socket');
  if (JSON.stringify(a.runtime) !== JSON.stringify(b.runtime)) out.push('runtime');
  if (JSON.stringify(a.store) !== JSON.stringify(b.store)) out.push('store');
  if (JSON.stringify(a.pools) !== JSON.stringify(b.pools)) out.push('pools');
  return out;
}

type FwdChangeListener = (e: ForwardingEntry) => void;
type EorListener = (peer: string, family: Family) => void;
type FwdListener = FwdChangeListener | EorListener;

/** The real speaker of bgp/, with its production dependencies (TCP sessions, system clock). */
export const bgpSpeaker: SpeakerFactory = (cfg) => new Speaker(cfg);

export async function runAgent(initial: Config, opts: AgentOptions = {}): Promise<Agent> {
  const log = opts.log ?? createLogger();
  const now = opts.now ?? Date.now;
  const startedAt = now();
  let cfg = initial;
  if (opts.nice !== undefined) setCpuPriority(opts.nice, log);
  // Valid but unusual values (reserved AS numbers): said once at start, as `routectl validate` says them.
  for (const w of configWarnings(cfg)) log.warn({ op: 'config', event: 'warning', field: w.path, fix: w.fix }, `${w.path}: ${w.message}`);

  // Graceful restart (RFC 4724): what the previous run left in the kernel still forwards.
  // It decides the R and F bits of our OPENs and is advertised before End-of-RIB, read
  // from the kernel alone: the takeover does not wait for dockerd.
  const withContainers = cfg.runtime.docker !== undefined || cfg.pools.length > 0;
  const previousRun = opts.previousRun ?? (withContainers && !opts.startContainers ? () => readPreviousRun() : async () => null);
  const prior = await previousRun().catch((err: unknown) => {
    log.warn({ op: 'agent.start', event: 'previous-run-unreadable', err }, `cannot read the kernel's routes of a previous run: ${(err as Error).message}`);
    return null;
  });
  const restart = prior !== null && prior.prefixes.length > 0;
  // Cluster mode: etcd is opened before anything starts, so that a TLS problem (a wrong
  // CA) stops the agent with nothing started, not even a BGP session. Silence does not stop
  // it: it starts, adopts its kernel state and waits for etcd (docs/cluster.md).
  let etcdStore: EtcdStore | undefined;
  const etcd = cfg.store.etcd;
  if (etcd !== undefined && withContainers && !opts.startContainers) {
    try {
      etcdStore = await EtcdStore.open({ endpoints: etcd.endpoints, prefix: etcd.prefix, tls: etcd.tls, whenUnreachable: 'start' });
    } catch (err) {
      throw new AgentError(`cannot open the store, nothing started: ${(err as Error).message}`, { cause: err });
    }
  }
  const factory = opts.createSpeaker ?? bgpSpeaker;
  const speaker = await factory(
    {
      ...speakerConfig(cfg),
      restarting: restart,
      // With containers, forwarding was kept only for families the kernel still routes.
      ...(withContainers && prior !== null ? { forwardingKept: prior.families } : {}),
      endOfRibDeferral: INITIAL_SYNC_FALLBACK_MS,
      // The hijack guard vetoes received routes that overlap the worker's own space (src/learned).
      importGuard: guardFor(cfg),
      multipath: { relaxAsPath: cfg.bgp.install.multipathRelax },
    },
    log,
  );
  if (restart) log.info({ op: 'agent.start', event: 'restart', routes: prior.prefixes.length, families: prior.families }, `restart: ${prior.prefixes.length} routes of the previous run still forward; re-advertised before End-of-RIB`);
  const peerLogs = new Map<string, Logger>();
  // Once per state: while a peer keeps failing the same way (Idle -> Connect -> Active ->
  // Idle, each try), each transition is logged the first time only, until Established.
  const seen = new Map<string, Set<string>>();
  speaker.on('peerState', (peer, from, to, reason) => {
    let pl = peerLogs.get(peer);
    if (!pl) peerLogs.set(peer, (pl = peerLogger(log, peer)));
    let s = seen.get(peer);
    if (!s) seen.set(peer, (s = new Set()));
    if (to === 'Established' || from === 'Established') s.clear();
    const k = `${from}>${to}>${reason ?? ''}`;
    const repeat = s.has(k);
    s.add(k);
    const level = repeat ? 'debug' : to === 'Established' ? 'info' : from === 'Established' ? 'warn' : 'info';
    pl[level]({ op: 'bgp.session', event: 'state-change', from, to, reason }, `${from} -> ${to}${reason ? `: ${reason}` : ''}`);
    // A new session says its malformed-UPDATE findings again (once each).
    if (to === 'Established') for (const k of updateErrorsSaid) if (k.startsWith(`${peer}|`)) updateErrorsSaid.delete(k);
  });
  // RFC 7606 findings: a peer that sends the same malformed attribute in every UPDATE
  // must not flood the log; each kind is said once per session and counted in
  // routectl_bgp_update_errors_total.
  const updateErrorsSaid = new Set<string>();
  speaker.on('updateError', (e) => {
    const key = `${e.peer}|${e.attribute}|${e.action}`;
    if (updateErrorsSaid.has(key)) return;
    updateErrorsSaid.add(key);
    let pl = peerLogs.get(e.peer);
    if (!pl) peerLogs.set(e.peer, (pl = peerLogger(log, e.peer)));
    pl.warn(
      { op: 'bgp.update', event: 'malformed', attribute: e.attribute, action: e.action, reason: e.reason },
      `UPDATE error (${e.action}, RFC 7606): ${e.reason}; further ${e.attribute} ${e.action} findings from this peer are counted, not logged`,
    );
  });
  speaker.on('bfdState', (peer, from, to, diag) => {
    let pl = peerLogs.get(peer);
    if (!pl) peerLogs.set(peer, (pl = peerLogger(log, peer)));
    const reason = to === 'Up' ? null : diagName(diag);
    pl[from === 'Up' ? 'warn' : 'info']({ op: 'bfd.session', event: 'state-change', from, to, reason }, `BFD ${from} -> ${to}${reason ? `: ${reason}` : ''}`);
  });
  speaker.on('peerLongLivedStale', (peer, family, kept, dropped, seconds) => {
    log.info(
      { op: 'bgp.llgr', event: 'long-lived-stale', peer, family, kept, dropped, seconds },
      `${peer}: restart time over; ${kept} ${family} routes kept ${seconds} s more as long-lived stale (LLGR_STALE, RFC 9494), ${dropped} with NO_LLGR removed`,
    );
  });
  speaker.on('bfdError', (peer, err) => {
    let pl = peerLogs.get(peer);
    if (!pl) peerLogs.set(peer, (pl = peerLogger(log, peer)));
    pl.error({ op: 'bfd.session', event: 'failed', err }, `BFD session cannot start: ${(err as Error).message ?? String(err)}`);
  });

  // bgp.advertise ∪ endpoint prefixes; endpoints change it one prefix at a time. The
  // previous run's routes are one more source until the first adoption says which live on.
  const adverts = new Advertisements(speaker, zoneTags(cfg.zones));
  adverts.setStatic(cfg.bgp.advertise);
  if (restart) adverts.add(prior.prefixes);
  speaker.initialSyncDone?.();
  try {
    await speaker.start();
  } catch (err) {
    throw new AgentError(`cannot start the BGP speaker: ${(err as Error).message}`, { cause: err });
  }
  // Unnumbered peers: advertise on their links, find the ToR in the neighbour table.
  const unnumberedDeps = opts.unnumbered !== undefined ? opts.unnumbered : opts.startContainers ? null : nativeUnnumberedDeps(log);
  const neighbourSink = speaker.setNeighbour ? { setNeighbour: (i: string, a: string | null) => speaker.setNeighbour!(i, a) } : null;
  const unnumbered = unnumberedDeps && neighbourSink ? new Unnumbered(neighbourSink, log, unnumberedDeps) : null;
  const unnumberedIfaces = (c: Config): string[] => c.bgp.peers.flatMap((p) => (p.interface !== undefined ? [p.interface] : []));
  unnumbered?.set(unnumberedIfaces(cfg));
  const obs = await startObservability({
    speaker,
    log,
    listen: opts.metricsListen !== undefined ? opts.metricsListen : cfg.metrics.listen,
    ...(cfg.metrics.readyGraceSeconds !== undefined ? { readyGraceSeconds: cfg.metrics.readyGraceSeconds } : {}),
    uptimeSeconds: () => (now() - startedAt) / 1000,
    advertise: () => cfg.bgp.advertise,
    zones: () => cfg.zones.map((z) => z.name),
    containers: () => {
      const c = containers;
      return c ? { endpoints: () => c.controller.list(), dockerConnected: () => c.runtime?.status().connected ?? null, kernel: c.dataplane, blocks: () => c.controller.heldBlocks() } : undefined;
    },
  });
  // Zone policy (src/policy): applied before any container is wired, repaired periodically.
  const policyExec = opts.policyExecutor !== undefined ? opts.policyExecutor : opts.startContainers ? null : undefined;
  const policy = policyExec === null ? undefined : new AgentPolicy({ log, intervalMs: (cfg.runtime.reconcileInterval ?? 60) * 1000, refreshHost: () => hostPolicy(cfg), ...(policyExec ? { executor: policyExec } : {}) });
  if (policy) {
    registerPolicyMetrics(obs.metrics.registry, () => policy);
    try {
      await policy.configure(modelOf(cfg), hostPolicy(cfg));
    } catch (err) {
      policy.stop();
      await obs.close();
      await speaker.stop('routectl agent could not apply its zone policy');
      throw new AgentError(`cannot apply the zone policy: ${(err as Error).message}`, { cause: err });
    }
  }
  let containers: ContainerRuntime | undefined;
  // Pools without runtime.docker: containers come through routectl-cni only (Kubernetes, podman).
  if (cfg.runtime.docker !== undefined || cfg.pools.length > 0) {
    try {
      containers = await (opts.startContainers ?? startContainerRuntime)(cfg, { advertiser: adverts, log, cni: cfg.pools.length > 0, ...(policy ? { policy } : {}), ...(etcdStore ? { store: etcdStore } : {}) });
    } catch (err) {
      await obs.close();
      await speaker.stop('routectl agent could not start its container runtime');
      throw new AgentError(`cannot start the container runtime: ${(err as Error).message}`, { cause: err });
    }
  }
  if (restart) {
    // Once adopted, the endpoints hold their own prefixes; those of containers that died
    // while the agent was away are withdrawn here. Without a container side nothing adopts.
    const held = prior.prefixes;
    if (containers) void containers.controller.whenAdopted().then(() => adverts.remove(held));
  }
  // Learned routes into the kernel, uplink watching (src/learned).
  const learnedKernel = opts.learnedKernel !== undefined ? opts.learnedKernel : opts.startContainers ? null : {
    table: new NetlinkRouteTable(),
    watchLinks: (onChange: (l: LinkState, deleted: boolean) => void, onOverrun: () => void) => new LinkWatcher(onChange, onOverrun),
  };
  const fwdSpeaker = speaker.forwarding && speaker.linkDown && speaker.linkUp && speaker.off ? speaker : null;
  const learned = fwdSpeaker && learnedKernel
    ? new LearnedRoutes({
        speaker: {
          forwarding: () => fwdSpeaker.forwarding!(),
          on: (e: 'forwardingChanged' | 'endOfRib', l: FwdListener) =>
            e === 'endOfRib' ? fwdSpeaker.on(e, l as EorListener) : fwdSpeaker.on(e, l as FwdChangeListener),
          off: (e: 'forwardingChanged' | 'endOfRib', l: FwdListener) =>
            e === 'endOfRib' ? fwdSpeaker.off!(e, l as EorListener) : fwdSpeaker.off!(e, l as FwdChangeListener),
          linkDown: (a, w) => fwdSpeaker.linkDown!(a, w),
          linkUp: (a) => fwdSpeaker.linkUp!(a),
        },
        log,
        table: cfg.bgp.install.enabled ? learnedKernel.table : null,
        tableId: cfg.bgp.install.table,
        peers: () => cfg.bgp.peers.map((p) => p.interface ?? p.address ?? ''),
        watchLinks: learnedKernel.watchLinks,
        reconcileMs: (cfg.runtime.reconcileInterval ?? 60) * 1000,
      })
    : null;
  const forwardingStatus = async (): Promise<StatusResponse['forwarding']> => {
    const inst = learned?.installer;
    if (!learned || !inst) return undefined;
    const problems = await learned.forwardingProblems({ pools: cfg.pools.length > 0 });
    return { learnedRoutes: inst.desiredCount, installed: inst.installedCount(), table: inst.tableId, problems };
  };
  log.info({ op: 'agent.start', event: 'started', node: cfg.node, asn: cfg.asn, routerId: cfg.routerId, peers: cfg.bgp.peers.length, advertise: cfg.bgp.advertise.length, version: VERSION }, 'agent started');

  const known = (address: string): SpeakerPeerStatus => {
    const p = speaker.peerStatus().find((x) => x.address === address);
    if (!p) throw new ApiError(404, 'unknown_peer', `${address} is not a configured peer (see bgp.peers)`);
    return p;
  };
  const handlers: ApiHandlers = {
    async status(): Promise<StatusResponse> {
      const forwarding = await forwardingStatus();
      return {
        ...(forwarding ? { forwarding } : {}),
        node: cfg.node,
        asn: cfg.asn,
        routerId: cfg.routerId,
        version: VERSION,
        uptimeSeconds: Math.floor((now() - startedAt) / 1000),
        peers: speaker.peerStatus().map(summary),
        endpoints: containers?.controller.readyCount() ?? 0,
        endpointStates: containers?.stateCounts() ?? { ready: 0, pending: 0, error: 0 },
        routes: speaker.advertisedCount(),
        docker: containers?.docker() ?? null,
        lastReload,
        ...(containers?.member ? { store: storeStatus(containers) } : {}),
      };
    },
    peers: () => ({ peers: speaker.peerStatus().map(detail) }),
    peer: (address) => detail(known(address)),
    routes(q) {
      if (q.view === 'kernel' && containers) return containers.kernelRoutes().then((routes) => ({ view: q.view, peer: null, routes }));
      // Speaker-only mode: the worker's own proto-88 routes, read with netlink.
      if (q.view === 'kernel') return obs.kernelRoutes().then((routes) => ({ view: q.view, peer: null, routes }));
      if (q.peer !== null) known(q.peer);
      return { view: q.view, peer: q.peer, routes: speaker.routes({ view: q.view, ...(q.peer !== null ? { peer: q.peer } : {}) }).map(routeEntry) };
    },
    endpoints: () => ({ endpoints: endpointEntries() }),
    healthz: () => ({ ok: true }),
    async verify() {
      const r = await obs.verify();
      const f = await forwardingStatus();
      if (!f || f.problems.length === 0) return r;
      const extra = f.problems.map((m) => ({ kind: 'forwarding' as const, subject: m.split(':')[0]!, peer: null, endpoint: null, message: m }));
      return { ...r, ok: false, mismatches: [...r.mismatches, ...extra] };
    },
    drain(req = {}) {
      // The request's wait, else the config's; a speaker without graceful shutdown has none.
      const wait = speaker.drain ? (req.gracefulShutdownWait ?? cfg.bgp.gracefulShutdown?.wait ?? 0) : 0;
      const answer = {
        draining: true as const,
        routes: speaker.advertisedCount(),
        peers: speaker.peerStatus().filter((p) => p.state === 'Established').length,
        gracefulShutdownWait: wait,
      };
      // After the answer is on its way: the stop closes the API socket.
      setTimeout(() => void stop('routectl drain: maintenance', 'drain', wait), 50);
      return answer;
    },
    releaseHold(address) {
      const p = known(address);
      if (!speaker.releaseHold?.(p.address)) {
        throw new ApiError(409, 'not_held', `${p.address} is not held down (state ${p.state}): nothing to release`);
      }
      return detail(known(address));
    },
  };
  /** Which peers were sent each prefix (the Adj-RIBs-Out), for advertised-to. */
  const sentTo = (): Map<string, string[]> => {
    const m = new Map<string, string[]>();
    for (const r of speaker.routes({ view: 'advertised' })) m.set(r.prefix, [...(m.get(r.prefix) ?? []), r.peer]);
    return m;
  };
  const endpointEntries = () => (containers ? containers.entries(sentTo()) : []);
  const extraRoutes = endpointRoutes(
    {
      endpoints: endpointEntries,
      async setRepairPaused(paused) {
        if (!containers) throw new ApiError(501, 'no_runtime', 'no container runtime in speaker-only mode: there is no repair loop to pause');
        if (paused) containers.controller.pause();
        else await containers.controller.resume();
        return { paused: containers.controller.isPaused };
      },
    },
    { hostMac: HOST_VETH_MAC },
  );

  let api: ApiServer;
  try {
    const policyApi = policyRoutes(policyHandlers(policy, () => containers?.controller.list() ?? []));
    const cni = await startCni({ containers, cfg: () => cfg, peers: () => speaker.peerStatus(), uptimeSeconds: () => (now() - startedAt) / 1000, log, ...(opts.cniInspector ? { inspector: opts.cniInspector } : {}) });
    api = await startApiServer(cfg.api.socket, handlers, { log, routes: [...extraRoutes, ...policyApi, ...cni.routes] });
  } catch (err) {
    await containers?.stop();
    policy?.stop();
    await obs.close();
    await speaker.stop('routectl agent could not start its API');
    throw new AgentError(`cannot start the API on ${cfg.api.socket}: ${(err as Error).message}`, { cause: err });
  }

  let lastReload: ReloadSummary | null = null;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;

  /** `gshutWait`: drain only, seconds of RFC 8326 graceful shutdown before the withdrawal. */
  const stop = (reason = 'routectl agent shutting down', mode: StopKind = 'graceful', gshutWait = 0): Promise<void> => {
    stopping ??= (async () => {
      const how =
        mode !== 'drain'
          ? 'stopping; the peers keep our routes while we are away'
          : gshutWait > 0
            ? `draining: every route sent with GRACEFUL_SHUTDOWN (RFC 8326), withdrawn ${gshutWait} s later, then stopping`
            : 'draining: every route withdrawn, then stopping';
      log.info({ op: 'agent.stop', event: 'stopping', reason, mode, ...(mode === 'drain' ? { gracefulShutdownWait: gshutWait } : {}) }, how);
      removeSignals();
      // Kernel routes stay: containers remain reachable while the agent is away.
      await containers?.stop().catch((err: unknown) => log.error({ op: 'agent.stop', event: 'containers-stop-failed', err }, 'container runtime stop failed'));
      // Learned routes stay as well: forwarding goes on while the agent is away. Closed
      // just before the sessions end, whose routes would otherwise leave the kernel with
      // them (a drain follows the peers until then, its graceful shutdown wait included).
      let frozen = false;
      const freezeLearned = (): void => {
        if (frozen) return;
        frozen = true;
        learned?.close();
      };
      // graceful: the peers keep our routes as graceful restart helpers (a close without
      // NOTIFICATION: the agent sets no RFC 8538 N bit), so the kernel routes that stay
      // keep carrying traffic. drain: withdraw, then Cease / Administrative Shutdown.
      const stopped =
        mode === 'drain' && speaker.drain
          ? speaker.drain(reason, undefined, gshutWait * 1000, freezeLearned)
          : (freezeLearned(), speaker.stop(reason, mode === 'drain' ? 'hard' : 'graceful'));
      await stopped.catch((err: unknown) => log.error({ op: 'agent.stop', event: 'speaker-stop-failed', err }, 'speaker stop failed'));
      // A drain that failed before it got there.
      freezeLearned();
      // Policy rules stay too: containers stay protected while the agent is away.
      policy?.stop();
      unnumbered?.close();
      await api.close();
      await obs.close();
      log.info({ op: 'agent.stop', event: 'stopped' }, 'stopped');
      resolveDone(0);
    })();
    return stopping;
  };

  const reload = async (): Promise<boolean> => {
    if (opts.configPath === undefined) {
      log.warn({ op: 'config.reload', event: 'no-file' }, 'reload asked, but the agent was not started from a config file');
      return false;
    }
    const at = new Date(now()).toISOString();
    let next: Config;
    try {
      next = loadConfig(opts.configPath, opts.hostname !== undefined ? { hostname: opts.hostname } : {});
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : undefined;
      log.error({ op: 'config.reload', event: 'invalid', err, problems }, `config not reloaded, keeping the running one: ${(err as Error).message}`);
      const lines = problems ? problems.map((p) => `${p.path}: ${p.message} (fix: ${p.fix})`) : [(err as Error).message];
      lastReload = { at, result: 'invalid', problems: lines, containers: [], needsRestart: [] };
      return false;
    }
    const fixed = restartOnly(cfg, next);
    // Apply what can change live; the rest keeps its running value.
    const applied: Config = { ...next, asn: cfg.asn, routerId: cfg.routerId, node: cfg.node, api: cfg.api, runtime: cfg.runtime, store: cfg.store, pools: cfg.pools, bgp: { ...next.bgp, listen: cfg.bgp.listen } };
    // No reload may widen what reaches a running container: a zone removed or shrunk under
    // it (or under a running pool) refuses the whole file, so peers and zones never disagree.
    const refused = reloadVerdict(cfg, applied, runningEndpoints(containers?.controller.list() ?? [], policy?.localEndpoints() ?? []));
    if (refused.length > 0) {
      const lines = refused.map(reloadProblemText);
      const names = [...new Set(refused.flatMap((p) => p.containers))];
      const zones = [...new Set(refused.map((p) => p.zone))];
      log.error(
        { op: 'config.reload', event: 'refused', zones, containers: names, kinds: refused.map((p) => p.kind), problems: lines },
        `config not reloaded, keeping the running one: it would widen what reaches running containers: ${lines.join('; ')}`,
      );
      lastReload = { at, result: 'refused', problems: lines, containers: names, needsRestart: fixed };
      return false;
    }
    if (fixed.length > 0) {
      log.warn({ op: 'config.reload', event: 'needs-restart', fields: fixed }, `changes to ${fixed.join(', ')} take effect only after a restart; keeping the running values`);
    }
    await speaker.setPeers(speakerConfig(applied).peers);
    unnumbered?.set(unnumberedIfaces(applied));
    speaker.setImportFilter(applied.bgp.import);
    adverts.setTags(zoneTags(applied.zones));
    speaker.setImportGuard?.(guardFor(applied));
    adverts.setStatic(applied.bgp.advertise);
    // A changed model is a generation swap in the applier (no window where traffic is open).
    await policy?.configure(modelOf(applied), hostPolicy(applied)).catch((err: unknown) => log.error({ op: 'config.reload', event: 'policy-failed', err }, `zone policy apply failed (retried at the next repair pass): ${(err as Error).message}`));
    cfg = applied;
    lastReload = { at, result: 'applied', problems: [], containers: [], needsRestart: fixed };
    log.info({ op: 'config.reload', event: 'applied', peers: cfg.bgp.peers.length, advertise: cfg.bgp.advertise.length }, 'config reloaded');
    return true;
  };

  const onTerm = (sig: NodeJS.Signals): void => void stop(`routectl agent stopped (${sig})`);
  const onHup = (): void => void reload();
  const removeSignals = (): void => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
    process.off('SIGHUP', onHup);
  };
  if (opts.handleSignals !== false) {
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    process.on('SIGHUP', onHup);
  }

  // Containers last: the API answers while the first sync is adopted.
  if (containers) {
    await containers.start().catch((err: unknown) => log.error({ op: 'runtime.docker', event: 'start-failed', err }, 'docker runtime start failed; it retries'));
  }

  return { done, api, observability: obs, config: () => cfg, reload, stop };
}
