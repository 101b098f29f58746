/**
 * The control API's JSON vocabulary (HTTP over the agent's unix socket). These shapes are
 * the contract `routectl status/peers/routes --json` print as they are; docs/design.md's status
 * fields are the floor. Extend by adding fields, never by renaming.
 */
import type { PeerHold, PeerStatus } from '../../bgp/speaker/types.js';
import type { Mismatch, VerifyReport } from '../verify/verify.js';

/** RFC 4271 8.2.2 state names. */
export type PeerState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

/** One row of `routectl status`. */
export interface PeerSummary {
  readonly address: string;
  readonly asn: number;
  readonly description: string | null;
  readonly type: 'eBGP' | 'iBGP';
  readonly state: PeerState | string;
  /** ISO time of the last state change, null before the first. */
  readonly since: string | null;
  readonly families: readonly string[];
  readonly prefixesSent: number;
  readonly prefixesReceived: number;
  readonly prefixesAccepted: number;
  /** The last reason the session went down or could not come up, in words; null if none. */
  readonly lastError: string | null;
  /**
   * Set while the speaker keeps the peer down (Idle, connections refused) after a
   * max-prefix shutdown: why, and when it starts the session again; else null.
   */
  readonly held: PeerHold | null;
  /** The peer's BFD session (state, intervals in ms, last diagnostic); absent or null without BFD. */
  readonly bfd?: PeerStatus['bfd'];
  /** 'external' / 'internal' when configured so (`asn` is then the AS the peer's OPEN gave, 0 before). */
  readonly configuredAsn?: PeerStatus['configuredAsn'];
  /** Unnumbered peers: the interface (also `address`) and the neighbour found on it (null: none yet) and how. */
  readonly interface?: string;
  readonly neighbour?: PeerStatus['neighbour'];
}

export type { PeerHold } from '../../bgp/speaker/types.js';

export type { MessageCounters, NotificationRecord } from '../../bgp/speaker/types.js';

/**
 * `routectl peers ADDRESS`: the summary plus the speaker's per-peer detail, field for
 * field as the speaker reports it (bgp/speaker PeerStatus), so the two cannot drift.
 */
export type PeerDetail = PeerSummary &
  Pick<
    PeerStatus,
    | 'uptime'
    | 'holdTime'
    | 'keepalive'
    | 'capabilities'
    | 'localAddress'
    | 'remoteAddress'
    | 'messages'
    | 'flaps'
    | 'lastNotificationSent'
    | 'lastNotificationReceived'
    | 'problems'
    | 'md5'
    | 'ttlSecurityHops'
    | 'staleRoutes'
  >;

export interface StatusResponse {
  readonly node: string;
  readonly asn: number;
  readonly routerId: string;
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly peers: readonly PeerSummary[];
  /** Container endpoints this worker serves (routed and advertised). */
  readonly endpoints: number;
  /** Every endpoint the agent knows, by state: `routectl endpoints` lists them. */
  readonly endpointStates: { readonly ready: number; readonly pending: number; readonly error: number };
  /** Prefixes this worker advertises. */
  readonly routes: number;
  /** dockerd as the agent sees it, when runtime.docker is configured; else null. */
  readonly docker: DockerSummary | null;
  /** The last config reload (SIGHUP) and its outcome; null before the first. */
  readonly lastReload: ReloadSummary | null;
  /**
   * What forwarding needs (docs/bgp.md "Learned routes"): learned routes in the kernel,
   * a route to the containers' gateway for proxy ARP. Absent when routes are not installed.
   */
  readonly forwarding?: ForwardingStatus;
  /** Cluster mode (store.etcd): the store as this worker sees it. Absent with the local store. */
  readonly store?: StoreStatus;
}

/** The etcd store as the agent sees it (`routectl status`). */
export interface StoreStatus {
  readonly kind: 'etcd';
  /** False while etcd does not answer (no quorum, no member reachable). */
  readonly answering: boolean;
  /** ISO time since when it has not answered; null while it answers. */
  readonly downSince: string | null;
  /** The last error etcd gave; null while it answers. */
  readonly lastError: string | null;
  /** Endpoints waiting for the store (state pending, `waiting for store`). */
  readonly waiting: number;
  /** Endpoints running on kernel state not yet checked against the store. */
  readonly unchecked: number;
  /** Releases the store has not taken yet (containers removed while it did not answer). */
  readonly releasesOwed: boolean;
  /** This worker holds its liveness lease and its pools were checked against the cluster's. */
  readonly joined: boolean;
}

/**
 * A reload's outcome: `applied` (what could change live did; `needsRestart` kept their
 * running values), `invalid` (the file did not validate) or `refused` (it would have
 * widened what reaches a running container, docs/security.md): both keep the running config.
 */
export interface ReloadSummary {
  /** ISO time of the reload. */
  readonly at: string;
  readonly result: 'applied' | 'invalid' | 'refused';
  /** Why it was invalid or refused, one line each (with the fix); empty when applied. */
  readonly problems: readonly string[];
  /** Refused: the running containers the problems are about (names). */
  readonly containers: readonly string[];
  /** Fields that keep their running value until a restart. */
  readonly needsRestart: readonly string[];
}

export interface ForwardingStatus {
  /** Learned prefixes meant to be in the kernel, and how many of them are. */
  readonly learnedRoutes: number;
  readonly installed: number;
  /** Routing table they go into. */
  readonly table: number;
  /** Empty when forwarding has what it needs; `routectl status` exits 1 otherwise. */
  readonly problems: readonly string[];
}

export interface DockerSummary {
  /** The event stream is open and the containers were listed. */
  readonly connected: boolean;
  /** ISO time `connected` last changed. */
  readonly since: string;
  /** Why dockerd is unreachable (the last failure), or null. */
  readonly lastError: string | null;
  /** Seconds (rounded up) to the next attempt to reach dockerd, while one is scheduled; else null. */
  readonly retryInSeconds: number | null;
  /** Running containers that asked for routing (a routectl.zone label and --net none). */
  readonly containers: number;
  /** Of those and others labelled, the ones refused (a bad label): `routectl endpoints` says why. */
  readonly refused: number;
}

export interface PeersResponse {
  readonly peers: readonly PeerDetail[];
}

export type RouteViewName = 'received' | 'advertised' | 'kernel';

export interface RouteEntry {
  readonly prefix: string;
  /** Received: the peer it came from; advertised: the peer it was sent to; kernel: null. */
  readonly peer: string | null;
  readonly nextHops: readonly string[];
  /** "65000 65010 {65020}" */
  readonly asPath: string;
  readonly origin: string | null;
  readonly med: number | null;
  readonly localPref: number | null;
  /** "65000:100" (RFC 1997; well-known ones by name: "no-export") */
  readonly communities: readonly string[];
  // The fields below are set for BGP routes (received, advertised), absent for kernel routes.
  /** "65000:1:2" (RFC 8092) */
  readonly largeCommunities?: readonly string[];
  /** "rt:65000:1", "soo:192.0.2.1:7", else "0x" and the 8 octets in hex (RFC 4360) */
  readonly extendedCommunities?: readonly string[];
  /** RFC 4271 5.1.7 */
  readonly aggregator?: { readonly asn: number; readonly address: string } | null;
  /** RFC 4271 5.1.6 */
  readonly atomicAggregate?: boolean;
  /** Other optional transitive attributes, passed on as received (unknown ones with Partial set). */
  readonly otherAttributes?: readonly OtherAttribute[];
  /** Received: passed the import filter; others: true. */
  readonly accepted: boolean;
  /** Why a received route was filtered, else null. */
  readonly reason: string | null;
  /** received: kept from before the peer's restart, not re-advertised yet (RFC 4724 4.2). */
  readonly stale?: boolean;
}

export interface OtherAttribute {
  readonly code: number;
  /** "attribute 99" when unknown to routectl, else its name ("ONLY_TO_CUSTOMER"). */
  readonly name: string;
  /** The flags octet as received ("optional transitive partial"). */
  readonly flags: string;
  /** The value in hex. */
  readonly value: string;
}

export interface RoutesResponse {
  readonly view: RouteViewName;
  readonly peer: string | null;
  readonly routes: readonly RouteEntry[];
}

export interface EndpointEntry {
  readonly id: string;
  readonly name: string | null;
  readonly zone: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** pending | ready | error */
  readonly state: string;
  readonly error: string | null;
  /** PID of the container's init, when known. */
  readonly pid: number | null;
  /** Host side of the container's veth (rtc…). */
  readonly hostVeth: string | null;
  /** MAC of the container's eth0. */
  readonly hwaddr: string | null;
  /** The container's gateways: 169.254.1.1 and the host veth's link-local address. */
  readonly gateway: { readonly ipv4: string | null; readonly ipv6: string | null };
  /** Prefixes that carry the endpoint: its /32 and /128, or its host's aggregated blocks. */
  readonly advertised: readonly string[];
  /** Peers that were sent every one of those prefixes. */
  readonly advertisedTo: readonly string[];
  /** ISO time of the last state change. */
  readonly since: string | null;
}

/** `routectl inspect CONTAINER`: one endpoint, network-wrapper style. */
export interface InspectResponse {
  readonly container: { readonly id: string; readonly name: string | null; readonly pid: number | null };
  readonly zone: string;
  readonly state: string;
  readonly error: string | null;
  /** MAC of the container's eth0. */
  readonly hwaddr: string | null;
  /** "198.51.100.2/32" */
  readonly ipv4: string | null;
  /** "2001:db8:c:1::2/128" */
  readonly ipv6: string | null;
  readonly gateway: { readonly ipv4: string | null; readonly ipv6: string | null };
  readonly interface: string;
  readonly hostVeth: string | null;
  readonly hostMac: string | null;
  readonly advertised: readonly string[];
  readonly advertisedTo: readonly string[];
  readonly since: string | null;
}

/** POST /v1/reconcile: pause or resume the repair loop. */
export interface ReconcileRequest {
  readonly paused: boolean;
}

export interface ReconcileResponse {
  readonly paused: boolean;
}

export interface EndpointsResponse {
  readonly endpoints: readonly EndpointEntry[];
}

/** `routectl verify`: every mismatch between desired endpoints, own kernel state and each peer's Adj-RIB-Out. */
export type VerifyResponse = VerifyReport;
export type VerifyMismatch = Mismatch;

export interface HealthResponse {
  readonly ok: boolean;
}

export interface RouteQuery {
  readonly view: RouteViewName;
  readonly peer: string | null;
}

/** What the agent plugs into the API server. A handler may throw ApiError (e.g. 404). */
export interface ApiHandlers {
  status(): StatusResponse | Promise<StatusResponse>;
  peers(): PeersResponse | Promise<PeersResponse>;
  peer(address: string): PeerDetail | Promise<PeerDetail>;
  routes(query: RouteQuery): RoutesResponse | Promise<RoutesResponse>;
  endpoints(): EndpointsResponse | Promise<EndpointsResponse>;
  healthz(): HealthResponse | Promise<HealthResponse>;
  /** GET /v1/verify; absent: 501. */
  verify?(): VerifyReport | Promise<VerifyReport>;
  /**
   * POST /v1/peers/:address/release: end the peer's max-prefix hold, its session starts at
   * once; answers the peer's detail. 409 not_held when it is not held; absent: 501.
   */
  releaseHold?(address: string): PeerDetail | Promise<PeerDetail>;
  /**
   * POST /v1/drain: the maintenance stop. Answers at once with what is withdrawn; then the
   * agent (after the RFC 8326 graceful shutdown wait, when there is one) withdraws every
   * route, waits for the peers to take it, ends the sessions with Hard Reset and exits.
   * Absent: 501.
   */
  drain?(opts?: DrainRequest): DrainResponse | Promise<DrainResponse>;
}

/** POST /v1/drain?gracefulShutdownWait=SECONDS: overrides bgp.gracefulShutdown.wait (0: off). */
export interface DrainRequest {
  readonly gracefulShutdownWait?: number;
}

export interface DrainResponse {
  readonly draining: true;
  /** Prefixes being withdrawn. */
  readonly routes: number;
  /** Established peers they are withdrawn from. */
  readonly peers: number;
  /** Seconds the routes are sent with GRACEFUL_SHUTDOWN (RFC 8326) before the withdrawal; 0: none. */
  readonly gracefulShutdownWait: number;
}

/** The error body of every non-2xx answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}
