/**
 * The session's public types: its configuration, the injected clock and transport, the
 * typed reason a session went down, and the snapshot `info()` returns.
 */
import type { Duplex } from 'node:stream';
import type { DownKind, Negotiated, PeerAsn, State } from '../fsm/index.js';
import type { Family, UpdateMessage } from '../wire/types.js';

export interface SessionConfig {
  readonly localAsn: number;
  readonly routerId: string;
  /**
   * Where to connect. For a peer on an interface (unnumbered) this is the interface's
   * name and the session's `connect` resolves the neighbour's link-local address.
   */
  readonly peerAddress: string;
  readonly peerAsn: PeerAsn;
  /** Default 179. */
  readonly port?: number;
  readonly localAddress?: string;
  /** Seconds, 0 or >= 3; default 90. */
  readonly holdTime?: number;
  /** Seconds; default 30. */
  readonly connectRetryTime?: number;
  /** Only accept connections, never initiate (RFC 4271 8.1.1 PassiveTcpEstablishment). */
  readonly passive?: boolean;
  readonly families: readonly Family[];
  /** RFC 4724 restart time announced; default 120. */
  readonly gracefulRestartTime?: number;
  /** RFC 8538 2 N bit in our graceful restart capability (default false; SpeakerConfig says why). */
  readonly gracefulRestartNotification?: boolean;
  /** RFC 4724 3 R bit: we come back from a restart. */
  readonly restarting?: boolean;
  /** RFC 4724 3 F bit per family: forwarding state kept across the restart (default all). */
  readonly forwardingKept?: readonly Family[];
  /** FQDN capability hostname (shown by FRR's `show bgp neighbors`). */
  readonly hostname?: string;
  /** Cap of the idle-hold backoff, seconds; default 8 (bgp/fsm/backoff.ts). */
  readonly idleHoldMax?: number;
}

/** A socket as the session needs it: net.Socket fits, and so does the test duplex pair. */
export type SocketLike = Duplex & {
  remoteAddress?: string | undefined;
  localAddress?: string | undefined;
  setNoDelay?: (noDelay?: boolean) => unknown;
};

/** How a stop treats the peer's copy of our routes (Session.stop). */
export type StopMode = 'hard' | 'graceful';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
}

/** Starts an outgoing connection; the socket emits 'connect' once established, or 'error'/'close'. */
export type ConnectFn = (opts: ConnectOptions) => SocketLike;

export interface SessionDeps {
  readonly clock: Clock;
  readonly connect: ConnectFn;
  /** [0, 1), for timer jitter. */
  readonly random: () => number;
}

/** A ROUTE-REFRESH from the peer (RFC 2918; subtype 1 BoRR, 2 EoRR: RFC 7313). */
export interface RouteRefreshRequest {
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}

/** What a session emits, by event name: the listener's arguments. */
export interface SessionEvents {
  /** A state change, and why in words. */
  state: [from: State, to: State, reason: string];
  established: [negotiated: Negotiated];
  /** The session left its connection behind (the typed reason). */
  down: [reason: DownReason];
  update: [update: UpdateMessage];
  routeRefresh: [request: RouteRefreshRequest];
  /** The socket took what sendUpdates() could not: send more. */
  drain: [];
  /**
   * Never emitted by Session, which reports every failure as 'down'; an EventEmitter
   * throws an 'error' nobody listens to, so users of another SessionLike listen for it.
   */
  error: [err: unknown];
}

/** The FSM's reason kinds are the session's. */
export type { DownKind };

export interface DownReason {
  readonly kind: DownKind;
  /** In words, e.g. 'NOTIFICATION received: Cease / Administrative Shutdown: "maintenance"'. */
  readonly text: string;
  readonly code?: number;
  readonly subcode?: number;
}

export interface NotificationRecord {
  readonly code: number;
  readonly subcode: number;
  /** "Cease / Administrative Shutdown" */
  readonly name: string;
  /** RFC 9003 shutdown communication, or null. */
  readonly text: string | null;
  readonly at: Date;
}

export type MessageKind = 'open' | 'update' | 'notification' | 'keepalive' | 'routeRefresh';
export type MessageCounters = Record<MessageKind, number>;

export interface SessionInfo {
  readonly state: State;
  /** Last state change. */
  readonly since: Date;
  readonly negotiated: Negotiated | null;
  readonly localAddress: string | null;
  readonly remoteAddress: string | null;
  readonly counters: { readonly in: Readonly<MessageCounters>; readonly out: Readonly<MessageCounters> };
  /** Times the session left Established. */
  readonly flaps: number;
  readonly lastError: string | null;
  readonly lastNotificationSent: NotificationRecord | null;
  readonly lastNotificationReceived: NotificationRecord | null;
  /** Negotiated values once an OPEN was accepted, else the configured hold time and a third of it. */
  readonly holdTime: number;
  readonly keepalive: number;
  /** ConnectRetryTime, seconds. */
  readonly connectRetry: number;
}
