/**
 * The speaker's configuration and status vocabulary: what the agent passes in
 * (SpeakerConfig, PeerConfig, Advertisement) and what `routectl status/peers/routes`
 * print (PeerStatus, RouteView). Field names follow docs/design.md's status contract.
 */
import type { Family, LargeCommunity, PathAttributes } from '../wire/types.js';
import type { DecisionStep } from '../rib/best-path.js';
import type { BfdStatus, BfdTimers } from '../bfd/index.js';
import type { Secret } from '../net/secret.js';
import type { ImportFilter } from '../rib/prefix-list.js';
import type { MultipathOptions } from '../rib/best-path.js';
import type { PeerAsn } from '../fsm/index.js';

export interface PeerConfig {
  /**
   * The peer's address; for an unnumbered peer (`interface` set) the interface's name,
   * which is what the peer is known by (status, routes), as FRR shows `neighbor eth1`.
   */
  readonly address: string;
  /**
   * Unnumbered: the router at the other end of this link, over the link's IPv6
   * link-local addresses. Its address comes from setNeighbour() (the agent watches the
   * neighbour table) or from its own connection to us; IPv4 routes go with IPv6 next
   * hops (RFC 8950).
   */
  readonly interface?: string;
  /** A number, or any AS but ours ('external'), or ours ('internal'): the OPEN says which. */
  readonly asn: PeerAsn;
  /** Remote TCP port (default 179). */
  readonly port?: number;
  /** Source address for outgoing connections. */
  readonly localAddress?: string;
  /** Only accept connections, never connect. */
  readonly passive?: boolean;
  readonly holdTime?: number;
  /** Default: IPv4 and IPv6 unicast on one session. */
  readonly families?: readonly Family[];
  readonly description?: string;
  /** Routes received (accepted or filtered) above which the session is shut down (RFC 4486 Cease 6/1). */
  readonly maxPrefixes?: number;
  /** BFD (RFC 5880/5881) with this peer: intervals in ms. BFD Down ends the BGP session (RFC 9384). */
  readonly bfd?: BfdTimers;
  /** RFC 2385 TCP-MD5 key, on our connections to the peer and on the listener for it. */
  readonly password?: Secret;
  /** RFC 5082 GTSM: send with TTL 255, accept only from at most this many hops away. */
  readonly ttlSecurity?: { readonly hops: number };
  /**
   * Seconds the peer stays down (Idle: no connect, its connections refused) after a
   * max-prefix shutdown, as FRR's `neighbor X maximum-prefix N restart M`; default
   * DEFAULT_MAX_PREFIX_RESTART.
   */
  readonly maxPrefixRestart?: number;
  /**
   * Added to every route sent to this peer: RFC 1997 communities and RFC 8092 large
   * communities ("65000:100", "65000:1:2" or numbers), the AS prepended `prepend` more
   * times (eBGP), a MULTI_EXIT_DISC. A change is sent at once, without a session reset.
   */
  readonly export?: PeerExportConfig;
  /**
   * RFC 4271 6.3 first-AS check for an external peer: routes whose AS_PATH does not begin
   * with the peer's AS are treated as withdrawn (RFC 7606 7.2). Default true (as FRR).
   */
  readonly enforceFirstAs?: boolean;
  /** This peer's import prefix list, in place of SpeakerConfig.importFilter (the guard applies to both). */
  readonly importFilter?: readonly string[];
}

export interface PeerExportConfig {
  readonly communities?: readonly (number | string)[];
  readonly largeCommunities?: readonly (LargeCommunity | string)[];
  readonly prepend?: number;
  readonly med?: number;
}

/** How an unnumbered peer's address was found: the neighbour table (its router advertisements), or its own connection. */
export type NeighbourSource = 'neighbour-table' | 'connection';

/** RFC 7606 actions below session-reset, as counted per peer. */
export type UpdateErrorAction = 'attribute-discard' | 'treat-as-withdraw' | 'afisafi-disable';

/** One RFC 7606 finding in an UPDATE from a peer (the speaker's 'updateError' event). */
export interface UpdateErrorEvent {
  readonly peer: string;
  readonly action: UpdateErrorAction;
  /** The attribute's name ("AS_PATH", "COMMUNITIES", "attribute 99"). */
  readonly attribute: string;
  readonly reason: string;
}

/** Seconds a peer shut down for max-prefix stays down unless configured otherwise. */
export const DEFAULT_MAX_PREFIX_RESTART = 300;

/** Why the speaker holds a peer down, and until when. */
export interface PeerHold {
  readonly reason: 'max-prefix';
  /** ISO time the peer is started again. */
  readonly until: string;
  /** Seconds from now until then (rounded up). */
  readonly retryInSeconds: number;
}

export interface SpeakerConfig {
  readonly asn: number;
  readonly routerId: string;
  /** Passive listener; null or port 0 = do not listen. */
  readonly listen: { readonly address: string; readonly port: number } | null;
  readonly holdTime: number;
  readonly connectRetryTime: number;
  readonly hostname?: string;
  readonly gracefulRestartTime?: number;
  /**
   * RFC 8538 2 N bit in our graceful restart capability; default false. With N on both
   * sides a hold timer expiry (and any NOTIFICATION but Hard Reset) also keeps the routes
   * (RFC 8538 4): a ToR whose link to us silently drops packets would then forward into
   * it for our whole restart time instead of moving traffic to another path after the
   * hold time. Without it a peer keeps our routes only when the connection just closes
   * (RFC 4724), which every restart of ours does.
   */
  readonly gracefulRestartNotification?: boolean;
  /** RFC 4724 3 R bit in the OPENs sent until initialSyncDone(): the agent found state of a previous run. */
  readonly restarting?: boolean;
  /** RFC 4724 3 F bit: the families whose forwarding survived the restart (default all). */
  readonly forwardingKept?: readonly Family[];
  /**
   * Milliseconds End-of-RIB waits for initialSyncDone() at most (RFC 4724 4.1: a
   * restarting speaker sends it once its initial updates are out). Unset: End-of-RIB
   * follows the first updates at once.
   */
  readonly endOfRibDeferral?: number;
  readonly peers: readonly PeerConfig[];
  /** Prefix-list entries accepted from peers ("0.0.0.0/0", "198.51.100.0/24 le 32"); empty = none. */
  readonly importFilter: readonly string[];
  /**
   * A veto applied after the import filter (the agent's hijack guard): what it refuses
   * is kept as filtered, with its reason, whatever the prefix list says.
   */
  readonly importGuard?: ImportFilter;
  /** Which accepted paths count as equal to the best one (ECMP, best-path.ts multipathEqual). */
  readonly multipath?: MultipathOptions;
}

/**
 * One path of a prefix's multipath set, as a forwarding table needs it: the next hops
 * the peer sent (IPv6: global, then link-local) and the interface the peer's session
 * runs over (null when unknown), which a link-local next hop needs.
 */
export interface ForwardingPath {
  readonly peer: string;
  readonly nextHops: readonly string[];
  readonly interface: string | null;
}

/** A prefix and its multipath set (best first); empty: nothing to forward by. */
export interface ForwardingEntry {
  readonly prefix: string;
  readonly family: Family;
  readonly paths: readonly ForwardingPath[];
}

export interface NotificationRecord {
  readonly code: number;
  readonly subcode: number;
  readonly name: string;
  readonly text: string;
  /** ISO time. */
  readonly at: string;
}

export type MessageCounters = Readonly<Record<'open' | 'update' | 'notification' | 'keepalive' | 'routeRefresh', number>>;

export interface PeerStatus {
  readonly address: string;
  /** The AS: the configured one, or the one the peer's OPEN gave for 'external'/'internal' (0 until then). */
  readonly asn: number;
  /** As configured (a number, 'external' or 'internal'). */
  readonly configuredAsn?: PeerAsn;
  /** Unnumbered peers: the interface, and the neighbour found on it (link-local with its zone) and how. */
  readonly interface?: string;
  readonly neighbour?: { readonly address: string | null; readonly source: NeighbourSource | null };
  readonly description: string | null;
  readonly type: 'eBGP' | 'iBGP';
  /** RFC 4271 8.2.2 state name. */
  readonly state: string;
  /** ISO time of the last state change. */
  readonly since: string;
  /** Negotiated families when Established, else the configured ones. */
  readonly families: readonly Family[];
  /** The families configured for this peer (what we mean to carry with it). */
  readonly configuredFamilies: readonly Family[];
  readonly prefixesSent: number;
  readonly prefixesReceived: number;
  readonly prefixesAccepted: number;
  /** The three counts above, per family (for metrics labelled by family). */
  readonly prefixesByFamily: Readonly<Record<Family, { readonly sent: number; readonly received: number; readonly accepted: number }>>;
  readonly lastError: string | null;
  /** Seconds Established, 0 when not. */
  readonly uptime: number;
  readonly holdTime: number | null;
  readonly keepalive: number | null;
  readonly capabilities: readonly string[];
  readonly localAddress: string | null;
  readonly remoteAddress: string | null;
  readonly messages: { readonly in: MessageCounters; readonly out: MessageCounters };
  readonly flaps: number;
  readonly lastNotificationSent: NotificationRecord | null;
  readonly lastNotificationReceived: NotificationRecord | null;
  /** Families this peer cannot be sent (no usable next hop) and why. */
  readonly problems: readonly string[];
  /** TCP-MD5 (RFC 2385) is on for this peer (the password itself is never shown). */
  readonly md5: boolean;
  /** GTSM (RFC 5082) hops, or null when off. */
  readonly ttlSecurityHops: number | null;
  /** Set while the speaker keeps the peer down (after a max-prefix shutdown); else null. */
  readonly held: PeerHold | null;
  /** Routes kept stale while the peer restarts (RFC 4724 4.2), 0 when none. */
  readonly staleRoutes?: number;
  /** The peer's BFD session, null when BFD is not configured for it. */
  readonly bfd: BfdStatus | null;
  /** RFC 7606 findings in this peer's UPDATEs since the peer was configured, per action. */
  readonly updateErrors: Readonly<Record<UpdateErrorAction, number>>;
  /** Set while the interface the session runs over is down (the session is kept Idle); else null. */
  readonly linkDown?: string | null;
}

/** Connections the listener refused because they came from no configured peer, per family (a plain record, for metrics). */
export type RejectedConnections = Readonly<Record<'ipv4' | 'ipv6', number>>;

export interface RouteView {
  readonly prefix: string;
  readonly family: Family;
  readonly view: 'received' | 'advertised' | 'best';
  readonly peer: string;
  readonly nextHops: readonly string[];
  readonly attributes: PathAttributes;
  /** received: accepted by the import filter; advertised/best: true. */
  readonly accepted: boolean;
  /** Why it was filtered (received view), else null. */
  readonly reason: string | null;
  /** received: kept from before the peer restarted, not re-advertised yet (RFC 4724 4.2); absent: false. */
  readonly stale?: boolean;
}

export interface ExplainCandidate {
  readonly peer: string;
  readonly status: 'best' | 'lost' | 'filtered';
  readonly step: DecisionStep | 'import-filter' | null;
  readonly why: string;
  readonly nextHops: readonly string[];
  readonly attributes: PathAttributes;
}

export interface ExplainView {
  readonly prefix: string;
  readonly best: string | null;
  readonly candidates: readonly ExplainCandidate[];
}
