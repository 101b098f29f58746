/**
 * The agent's operator visibility in one place, so the agent wires it with a few lines:
 * the metrics registry fed from the speaker, the /metrics /healthz /readyz listener, the
 * NOTIFICATION log lines, `verify`, and the kernel route view (from the dataplane, or in
 * speaker-only mode from a netlink listing of the worker's own proto-88 routes).
 */
import type { RouteEntry } from '../api/types.js';
import type { Logger } from '../log.js';
import { logNotification } from '../log.js';
import { kernelRouteEntries, netlinkOwnState, routeCountsByFamily, type OwnStateSource } from '../verify/kernel-view.js';
import { runVerify } from '../verify/gather.js';
import type { VerifyEndpoint, VerifyReport } from '../verify/verify.js';
import { Heartbeat, readiness } from './health.js';
import { createAgentMetrics, type AgentMetrics } from './metrics.js';
import { rejectedConnectionLogger } from './rejected-log.js';
import { startMetricsServer, type MetricsServer } from './server.js';
import type { PeerMetricsView } from './types.js';
import { hostPrefix } from '../net.js';

export const DEFAULT_READY_GRACE_SECONDS = 120;

/** The speaker as seen from here (the agent's SpeakerLike fits). */
export interface ObservedSpeaker {
  peerStatus(): readonly (PeerMetricsView & { readonly families: readonly string[]; readonly problems: readonly string[] })[];
  routes(q: { view: 'advertised' }): readonly { readonly prefix: string; readonly peer: string }[];
  on(event: 'peerState', listener: (peer: string, from: string, to: string, reason: string | null) => void): unknown;
  on(event: 'connectionRejected', listener: (address: string, family: string) => void): unknown;
  /** Connections the listener refused (no configured peer), per family; absent: no series. */
  rejectedConnections?(): Readonly<Record<string, number>>;
}

/** An endpoint as the controller reports it (src/endpoints EndpointView fits). */
export interface ObservedEndpoint {
  readonly id: string;
  readonly name: string;
  readonly zone: string;
  readonly state: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  readonly hostVeth: string | null;
  readonly advertised: readonly string[];
}

/** What the container side offers once it exists (absent in speaker-only mode). */
export interface ObservedContainers {
  endpoints(): readonly ObservedEndpoint[];
  /** Whether dockerd's event stream is open; null without runtime.docker. */
  dockerConnected?(): boolean | null;
  /** Own links and routes (the Dataplane). */
  readonly kernel: OwnStateSource;
  /** Aggregated blocks held (advertised and blackholed, also while empty); absent: derived from the endpoints. */
  blocks?(): readonly string[];
}

export interface ObservabilityOptions {
  readonly speaker: ObservedSpeaker;
  readonly log: Logger;
  /** "127.0.0.1:9273"; null: no listener (the registry still works). */
  readonly listen: string | null;
  readonly readyGraceSeconds?: number;
  /** Agent uptime in seconds. */
  uptimeSeconds(): number;
  /** bgp.advertise, read on every verify (it changes on reload). */
  advertise(): readonly string[];
  /** Zones from the config: routectl_endpoints shows each, 0 when empty. */
  zones(): readonly string[];
  containers?: () => ObservedContainers | undefined;
  /** Kernel listing for speaker-only mode (default: netlink in this namespace). */
  readonly speakerOnlyKernel?: OwnStateSource;
  /** Refused-connection log lines: interval per source (default 60 s) and clock (tests). */
  readonly rejectedLog?: { readonly intervalMs?: number; readonly now?: () => number };
}

export interface Observability {
  readonly metrics: AgentMetrics;
  /** The listener, null when none was asked for or it could not bind (logged). */
  readonly server: MetricsServer | null;
  readonly heartbeat: Heartbeat;
  verify(): Promise<VerifyReport>;
  /** Own kernel routes as `routectl routes --kernel` shows them. */
  kernelRoutes(): Promise<RouteEntry[]>;
  close(): Promise<void>;
}

/** Endpoints verify compares: the ready ones (pending ones are being wired; failed ones are left alone). */
export function verifyEndpoints(eps: readonly ObservedEndpoint[]): VerifyEndpoint[] {
  return eps
    .filter((e) => e.state === 'ready' && e.hostVeth !== null)
    .map((e) => ({ id: e.id, name: e.name, hostIfName: e.hostVeth as string, ipv4: e.ipv4, ipv6: e.ipv6, advertised: e.advertised }));
}

/** Aggregated blocks: what endpoints advertise besides their own /32 and /128 (the dataplane blackholes them). */
export function blocksOf(eps: readonly ObservedEndpoint[]): string[] {
  const out = new Set<string>();
  for (const e of eps) {
    const own = new Set([e.ipv4, e.ipv6].filter((a) => a !== null).map(hostPrefix));
    for (const p of e.advertised) if (!own.has(p)) out.add(p);
  }
  return [...out].sort();
}

export async function startObservability(o: ObservabilityOptions): Promise<Observability> {
  const { speaker, log } = o;
  const grace = o.readyGraceSeconds ?? DEFAULT_READY_GRACE_SECONDS;
  const containers = (): ObservedContainers | undefined => o.containers?.();
  const ownKernel = (): OwnStateSource => containers()?.kernel ?? o.speakerOnlyKernel ?? netlinkOwnState();

  const metrics = createAgentMetrics(
    {
      peers: () => speaker.peerStatus(),
      endpointsByZone() {
        const out: Record<string, number> = {};
        for (const z of o.zones()) out[z] = 0;
        for (const e of containers()?.endpoints() ?? []) if (e.state === 'ready') out[e.zone] = (out[e.zone] ?? 0) + 1;
        return out;
      },
      ...(speaker.rejectedConnections ? { rejectedConnections: () => speaker.rejectedConnections?.() ?? {} } : {}),
      runtimesConnected(): Record<string, boolean> {
        const docker = containers()?.dockerConnected?.() ?? null;
        return docker === null ? {} : { docker };
      },
      async dataplaneRoutes() {
        try {
          return routeCountsByFamily(await ownKernel().listOwn());
        } catch (err) {
          log.warn({ op: 'metrics.scrape', event: 'kernel-list-failed', err }, 'cannot list own kernel routes for routectl_dataplane_routes');
          return {};
        }
      },
    },
    { onNotification: (n) => logNotification(log, n.peer, n.direction, n.notification) },
  );
  // Every NOTIFICATION ends its session: looking on each state change sees each one once.
  speaker.on('peerState', () => metrics.noticeNotifications());
  speaker.on('connectionRejected', rejectedConnectionLogger(log, o.rejectedLog));

  const heartbeat = new Heartbeat();
  heartbeat.start();
  let server: MetricsServer | null = null;
  if (o.listen !== null) {
    try {
      server = await startMetricsServer(
        o.listen,
        {
          metrics: () => metrics.text(),
          contentType: metrics.contentType,
          healthz: () => heartbeat.health(),
          readyz: () => readiness(speaker.peerStatus(), o.uptimeSeconds(), grace),
        },
        log,
      );
    } catch (err) {
      // Routing does not depend on the scraper: keep running, and say so loudly.
      log.error({ op: 'metrics.listen', event: 'failed', err }, `no metrics, /healthz or /readyz: ${(err as Error).message}`);
    }
  }

  return {
    metrics,
    server,
    heartbeat,
    verify() {
      const c = containers();
      const eps = c ? c.endpoints() : null;
      return runVerify({
        ...(eps !== null ? { endpoints: () => verifyEndpoints(eps), blackholes: () => c?.blocks?.() ?? blocksOf(eps) } : {}),
        // Held blocks are expected at every peer, also while no container uses them.
        ...(c?.blocks ? { aggregates: () => c.blocks?.() ?? [] } : {}),
        kernel: c?.kernel ?? null,
        advertise: o.advertise,
        peers: () => speaker.peerStatus(),
        advertised: () => speaker.routes({ view: 'advertised' }),
      });
    },
    async kernelRoutes() {
      return kernelRouteEntries(await ownKernel().listOwn());
    },
    async close() {
      heartbeat.stop();
      await server?.close();
    },
  };
}
