/**
 * The agent's Prometheus metrics (prom-client), on a registry of its own (never the
 * global one, so two agents in one process — tests — do not share series). BGP series are
 * read from the speaker's peer status at scrape time (collect()), so the speaker needs
 * no hooks: session counters become Prometheus counters by adding each scrape's increase,
 * and a session that was replaced (its counters back at 0) counts from its new value.
 *
 * NOTIFICATIONs are recorded by the session as "last sent / last received"; every one ends
 * the session, so looking at the status on each peer state change (and on each scrape)
 * sees every NOTIFICATION once: `noticeNotifications()` counts it and hands it to the
 * `onNotification` callback (the agent logs it there).
 */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MessageKind, MetricsSources, NotificationView, PeerMetricsView } from './types.js';
import { SnapshotDeltas } from './deltas.js';

/** RFC 4271 8.2.2 states, numbered in the order the RFC lists them. */
export const STATE_NUMBERS: Readonly<Record<string, number>> = {
  Idle: 1,
  Connect: 2,
  Active: 3,
  OpenSent: 4,
  OpenConfirm: 5,
  Established: 6,
};

/** RFC 5880 4.1 BFD State field values. */
export const BFD_STATE_NUMBERS: Readonly<Record<string, number>> = { AdminDown: 0, Down: 1, Init: 2, Up: 3 };

/** Every series name this module exports (the docs and the dashboard test check against it). */
export const METRIC_NAMES = [
  'routectl_bgp_session_state',
  'routectl_bgp_session_up',
  'routectl_bgp_session_flaps_total',
  'routectl_bgp_messages_total',
  'routectl_bgp_prefixes',
  'routectl_bgp_notifications_total',
  'routectl_bgp_rejected_connections_total',
  'routectl_bfd_session_state',
  'routectl_bfd_transitions_total',
  'routectl_bgp_update_errors_total',
  'routectl_endpoints',
  'routectl_dataplane_routes',
  'routectl_runtime_connected',
  'routectl_dataplane_apply_seconds',
  'routectl_endpoint_ready_seconds',
  'routectl_agent_cpu_wait_seconds_total',
] as const;

const MESSAGE_TYPES: readonly [MessageKind, string][] = [
  ['open', 'open'],
  ['update', 'update'],
  ['notification', 'notification'],
  ['keepalive', 'keepalive'],
  ['routeRefresh', 'route-refresh'],
];

export type NotificationDirection = 'sent' | 'received';

export interface SeenNotification {
  readonly peer: string;
  readonly direction: NotificationDirection;
  readonly notification: NotificationView;
}

export interface AgentMetricsOptions {
  /** Called once per NOTIFICATION seen (the agent logs it). */
  readonly onNotification?: (n: SeenNotification) => void;
  /** Default process metrics (CPU, memory, event loop, GC); default true. */
  readonly processMetrics?: boolean;
  /** Where routectl_agent_cpu_wait_seconds_total is read from (tests); default eventLoopCpuWaitSeconds. */
  readonly cpuWaitSeconds?: () => number | undefined;
}

export interface AgentMetrics {
  readonly registry: Registry;
  /** Runtime event → route installed and advertised, in seconds (the endpoint controller calls it). */
  observeEndpointReady(seconds: number): void;
  /** One dataplane apply, in seconds. */
  observeDataplaneApply(seconds: number): void;
  /** Runs `fn` and records its duration in routectl_dataplane_apply_seconds (also when it fails). */
  timeDataplaneApply<T>(fn: () => Promise<T>): Promise<T>;
  /** Plugs in the providers that come with the container runtime (endpoints, kernel routes). */
  setSources(more: Omit<Partial<MetricsSources>, 'peers'>): void;
  /** Counts (and reports through onNotification) NOTIFICATIONs not seen before. */
  noticeNotifications(): SeenNotification[];
  /** The exposition text, as /metrics serves it. */
  text(): Promise<string>;
  readonly contentType: string;
}

const notificationId = (n: NotificationView): string => `${n.at}|${n.code}|${n.subcode}`;

/**
 * Seconds this process's main thread (Node's event loop) has spent runnable but waiting
 * for a CPU since it started: the 2nd field of /proc/self/schedstat (ns). Undefined where
 * the kernel does not keep it.
 */
export function eventLoopCpuWaitSeconds(): number | undefined {
  try {
    const waitNs = Number(readFileSync('/proc/self/schedstat', 'utf8').trim().split(/\s+/)[1]);
    return Number.isFinite(waitNs) ? waitNs / 1e9 : undefined;
  } catch {
    return undefined;
  }
}

export function createAgentMetrics(initial: MetricsSources, opts: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  let sources: MetricsSources = initial;
  const peers = (): readonly PeerMetricsView[] => sources.peers();

  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'routectl_bgp_session_state',
    help: 'BGP session state as the RFC 4271 number: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of peers()) this.set({ peer: p.address }, STATE_NUMBERS[p.state] ?? 0);
    },
  });
  new Gauge({
    name: 'routectl_bgp_session_up',
    help: '1 when the BGP session is Established, else 0',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of peers()) this.set({ peer: p.address }, p.state === 'Established' ? 1 : 0);
    },
  });

  const flapDeltas = new SnapshotDeltas();
  new Counter({
    name: 'routectl_bgp_session_flaps_total',
    help: 'Times the BGP session left Established',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      for (const p of peers()) this.inc({ peer: p.address }, flapDeltas.delta(p.address, p.flaps));
    },
  });

  const messageDeltas = new SnapshotDeltas();
  new Counter({
    name: 'routectl_bgp_messages_total',
    help: 'BGP messages by peer, direction (sent, received) and type (open, update, notification, keepalive, route-refresh)',
    labelNames: ['peer', 'direction', 'type'],
    registers: [registry],
    collect() {
      for (const p of peers()) {
        for (const [direction, counts] of [['received', p.messages.in], ['sent', p.messages.out]] as const) {
          for (const [kind, type] of MESSAGE_TYPES) {
            const labels = { peer: p.address, direction, type };
            this.inc(labels, messageDeltas.delta(`${p.address}|${direction}|${type}`, counts[kind]));
          }
        }
      }
    },
  });

  new Gauge({
    name: 'routectl_bgp_prefixes',
    help: 'Prefixes per peer and family: sent (Adj-RIB-Out), received (Adj-RIB-In), accepted (passed bgp.import)',
    labelNames: ['peer', 'family', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of peers()) {
        for (const [family, c] of Object.entries(p.prefixesByFamily ?? {})) {
          this.set({ peer: p.address, family, direction: 'sent' }, c.sent);
          this.set({ peer: p.address, family, direction: 'received' }, c.received);
          this.set({ peer: p.address, family, direction: 'accepted' }, c.accepted);
        }
      }
    },
  });

  const notifications = new Counter({
    name: 'routectl_bgp_notifications_total',
    help: 'BGP NOTIFICATIONs by peer, direction (sent, received), error code and subcode (RFC 4271 4.5)',
    labelNames: ['peer', 'direction', 'code', 'subcode'],
    registers: [registry],
    collect: () => {
      noticeNotifications();
    },
  });
  const seen = new Map<string, string>();
  const noticeNotifications = (): SeenNotification[] => {
    const out: SeenNotification[] = [];
    for (const p of peers()) {
      for (const [direction, n] of [['sent', p.lastNotificationSent], ['received', p.lastNotificationReceived]] as const) {
        if (n === null) continue;
        const key = `${p.address}|${direction}`;
        const id = notificationId(n);
        if (seen.get(key) === id) continue;
        seen.set(key, id);
        notifications.inc({ peer: p.address, direction, code: String(n.code), subcode: String(n.subcode) });
        out.push({ peer: p.address, direction, notification: n });
      }
    }
    for (const n of out) opts.onNotification?.(n);
    return out;
  };

  const updateErrorDeltas = new SnapshotDeltas();
  new Counter({
    name: 'routectl_bgp_update_errors_total',
    help: 'Malformed UPDATE findings handled without a session reset, by peer and RFC 7606 action (attribute-discard, treat-as-withdraw, afisafi-disable)',
    labelNames: ['peer', 'action'],
    registers: [registry],
    collect() {
      for (const p of peers()) {
        for (const [action, n] of Object.entries(p.updateErrors ?? {})) this.inc({ peer: p.address, action }, updateErrorDeltas.delta(`${p.address}|${action}`, n));
      }
    },
  });

  const rejectedDeltas = new SnapshotDeltas();
  new Counter({
    name: 'routectl_bgp_rejected_connections_total',
    // By family, not by address: a scan from many addresses must not grow the series set.
    help: 'BGP connections refused because they came from no configured peer, by address family (ipv4, ipv6)',
    labelNames: ['family'],
    registers: [registry],
    collect() {
      const counts = sources.rejectedConnections?.();
      if (!counts) return;
      for (const [family, n] of Object.entries(counts)) this.inc({ family }, rejectedDeltas.delta(family, n));
    },
  });

  new Gauge({
    name: 'routectl_bfd_session_state',
    help: 'BFD session state as the RFC 5880 number: 0 AdminDown, 1 Down, 2 Init, 3 Up',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of peers()) if (p.bfd) this.set({ peer: p.address }, BFD_STATE_NUMBERS[p.bfd.state] ?? 0);
    },
  });
  const bfdDeltas = new SnapshotDeltas();
  new Counter({
    name: 'routectl_bfd_transitions_total',
    help: 'BFD session state changes',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      for (const p of peers()) if (p.bfd) this.inc({ peer: p.address }, bfdDeltas.delta(p.address, p.bfd.transitions));
    },
  });

  new Gauge({
    name: 'routectl_endpoints',
    help: 'Container endpoints this worker serves, per zone',
    labelNames: ['zone'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!sources.endpointsByZone) return;
      for (const [zone, n] of Object.entries(await sources.endpointsByZone())) this.set({ zone }, n);
    },
  });
  new Gauge({
    name: 'routectl_dataplane_routes',
    help: "The agent's own kernel routes (rt protocol 88), per family (ipv4, ipv6)",
    labelNames: ['family'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!sources.dataplaneRoutes) return;
      for (const [family, n] of Object.entries(await sources.dataplaneRoutes())) this.set({ family }, n);
    },
  });

  new Gauge({
    name: 'routectl_runtime_connected',
    help: "1 while the agent follows the container runtime's events (dockerd's event stream is open), 0 while it retries",
    labelNames: ['runtime'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [runtime, up] of Object.entries(sources.runtimesConnected?.() ?? {})) this.set({ runtime }, up ? 1 : 0);
    },
  });

  let waitSeen = 0;
  new Counter({
    name: 'routectl_agent_cpu_wait_seconds_total',
    help: "Time the agent's event-loop thread was ready to run but waited for a CPU (the host's CPUs busy with other work)",
    registers: [registry],
    collect() {
      const total = (opts.cpuWaitSeconds ?? eventLoopCpuWaitSeconds)();
      if (total === undefined) return;
      if (total > waitSeen) this.inc(total - waitSeen);
      waitSeen = total;
    },
  });

  const apply = new Histogram({
    name: 'routectl_dataplane_apply_seconds',
    help: 'Duration of one dataplane apply (diff desired vs kernel, write the difference)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ready = new Histogram({
    name: 'routectl_endpoint_ready_seconds',
    help: 'From the runtime event (container started) to its routes installed and advertised',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    observeEndpointReady: (s) => ready.observe(s),
    observeDataplaneApply: (s) => apply.observe(s),
    async timeDataplaneApply<T>(fn: () => Promise<T>): Promise<T> {
      const end = apply.startTimer();
      try {
        return await fn();
      } finally {
        end();
      }
    },
    setSources(more) {
      sources = { ...sources, ...more };
    },
    noticeNotifications,
    text: () => registry.metrics(),
  };
}
