/**
 * What the metrics read from the rest of the agent, at scrape time: a structural view of
 * the speaker's peer status (bgp/speaker PeerStatus fits), and optional providers for the
 * parts that come with the container runtime (endpoints per zone, own kernel routes).
 */

export type MessageKind = 'open' | 'update' | 'notification' | 'keepalive' | 'routeRefresh';

export interface NotificationView {
  readonly code: number;
  readonly subcode: number;
  /** "Cease / Administrative Shutdown" */
  readonly name: string;
  /** RFC 9003 shutdown communication, or "" */
  readonly text: string;
  /** ISO time: with code and subcode, what tells one NOTIFICATION from the next. */
  readonly at: string;
}

export interface FamilyPrefixCounts {
  readonly sent: number;
  readonly received: number;
  readonly accepted: number;
}

export interface PeerMetricsView {
  readonly address: string;
  /** RFC 4271 8.2.2 state name. */
  readonly state: string;
  /** Times the session left Established. */
  readonly flaps: number;
  readonly messages: { readonly in: Readonly<Record<MessageKind, number>>; readonly out: Readonly<Record<MessageKind, number>> };
  /** Per address family ("ipv4-unicast"); without it, no routectl_bgp_prefixes series for the peer. */
  readonly prefixesByFamily?: Readonly<Record<string, FamilyPrefixCounts>>;
  readonly lastNotificationSent: NotificationView | null;
  readonly lastNotificationReceived: NotificationView | null;
  /** The peer's BFD session; absent or null without BFD (no routectl_bfd_* series). */
  readonly bfd?: { readonly state: string; readonly transitions: number } | null;
  /** RFC 7606 findings per action ("treat-as-withdraw"); without it, no routectl_bgp_update_errors_total series. */
  readonly updateErrors?: Readonly<Record<string, number>>;
}

export interface MetricsSources {
  peers(): readonly PeerMetricsView[];
  /** Endpoints this worker serves, per zone. Absent: no routectl_endpoints series. */
  endpointsByZone?(): Readonly<Record<string, number>> | Promise<Readonly<Record<string, number>>>;
  /** Container runtimes the agent follows ("docker") and whether each is reachable now. Absent: no series. */
  runtimesConnected?(): Readonly<Record<string, boolean>>;
  /** Connections the BGP listener refused (no configured peer), since start, per family ("ipv4", "ipv6"). Absent: no series. */
  rejectedConnections?(): Readonly<Record<string, number>>;
  /** The agent's own kernel routes (proto 88) per family ("ipv4", "ipv6"). Absent: no series. */
  dataplaneRoutes?(): Readonly<Record<string, number>> | Promise<Readonly<Record<string, number>>>;
}
