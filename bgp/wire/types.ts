/**
 * Typed BGP messages: what the codec (bgp/wire/) produces and consumes.
 *
 * Prefixes are canonical strings ("198.51.100.7/32", "2001:db8::1/128"): they are the
 * RIB's map keys, cheap to compare and to print. Addresses are strings too
 * ("203.0.113.1", "2001:db8::1", "fe80::1").
 *
 * Path attributes decoded from one UPDATE are one frozen object shared by every prefix
 * of that UPDATE, which is what keeps the Adj-RIB-In small (a map entry per prefix and
 * one attribute object per UPDATE).
 */

/** RFC 4271 4.1 message types, RFC 2918 ROUTE-REFRESH. */
export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

export const AFI = { IPV4: 1, IPV6: 2 } as const;
export const SAFI = { UNICAST: 1 } as const;

/** The address families this speaker handles. */
export type Family = 'ipv4-unicast' | 'ipv6-unicast';
export const FAMILIES: readonly Family[] = ['ipv4-unicast', 'ipv6-unicast'];

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

/** RFC 4271 4.1: 16 octets of ones, 2 length, 1 type. */
export const HEADER_LENGTH = 19;
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654 extended messages. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;
/** RFC 6793: the 2-octet placeholder for a 4-octet AS number. */
export const AS_TRANS = 23456;

// ---------------------------------------------------------------------------
// Capabilities (RFC 5492). Unknown ones are kept raw and ignored.
// ---------------------------------------------------------------------------

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number } // RFC 4760, code 1
  | { readonly kind: 'route-refresh' } // RFC 2918, code 2
  | { readonly kind: 'route-refresh-cisco' } // pre-standard, code 128
  | { readonly kind: 'enhanced-route-refresh' } // RFC 7313, code 70
  | {
      readonly kind: 'extended-nexthop'; // RFC 8950, code 5
      readonly entries: readonly { readonly afi: number; readonly safi: number; readonly nextHopAfi: number }[];
    }
  | { readonly kind: 'extended-message' } // RFC 8654, code 6
  | {
      readonly kind: 'graceful-restart'; // RFC 4724, code 64
      readonly restartState: boolean; // R bit
      readonly notification: boolean; // N bit (RFC 8538)
      readonly restartTime: number; // 12 bits, seconds
      readonly families: readonly { readonly afi: number; readonly safi: number; readonly forwardingState: boolean }[];
    }
  | {
      readonly kind: 'long-lived-graceful-restart'; // RFC 9494, code 71
      readonly families: readonly {
        readonly afi: number;
        readonly safi: number;
        readonly forwardingState: boolean; // F bit
        readonly staleTime: number; // Long-lived Stale Time, 24 bits, seconds
      }[];
    }
  | { readonly kind: 'four-octet-as'; readonly asn: number } // RFC 6793, code 65
  | {
      readonly kind: 'add-path'; // RFC 7911, code 69 (parsed, never negotiated by us)
      readonly entries: readonly { readonly afi: number; readonly safi: number; readonly sendReceive: number }[];
    }
  | { readonly kind: 'fqdn'; readonly hostname: string; readonly domain: string } // code 73 (draft, FRR sends it)
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Buffer };

export type CapabilityKind = Capability['kind'];

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

export interface OpenMessage {
  readonly type: 'OPEN';
  readonly version: number; // always 4 once decoded
  /** The 2-octet "My Autonomous System" field as sent (AS_TRANS for 4-octet ASNs). */
  readonly myAs: number;
  readonly holdTime: number;
  /** BGP Identifier, dotted quad. */
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
}

export type Origin = 0 | 1 | 2; // IGP, EGP, INCOMPLETE (RFC 4271 5.1.1)
export const ORIGIN_NAMES = ['IGP', 'EGP', 'INCOMPLETE'] as const;

/** RFC 4271 4.3 segment types, RFC 5065 confederation segments. */
export type AsPathSegmentType = 'set' | 'sequence' | 'confed-sequence' | 'confed-set';
export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  readonly asns: readonly number[];
}

export interface Aggregator {
  readonly asn: number;
  readonly address: string;
}

export type LargeCommunity = readonly [number, number, number];

/** An attribute this codec does not know, kept as it came (RFC 4271 5: optional transitive ones are passed on with the Partial bit set). */
export interface RawAttribute {
  readonly flags: number;
  readonly code: number;
  readonly value: Buffer;
}

export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  /** One or two next hops: for IPv6, global and optionally link-local (RFC 2545 3). */
  readonly nextHops: readonly string[];
  readonly nlri: readonly string[];
}

export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly string[];
}

/**
 * Path attributes as one record. AS_PATH is always the reconstructed 4-octet path:
 * when the peer is 2-octet (no four-octet-as capability), the decoder merges AS4_PATH
 * per RFC 6793 4.2.3 and the encoder splits it back into AS_PATH + AS4_PATH.
 * MP_REACH/MP_UNREACH are not here; they are on the UpdateMessage.
 */
export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: Aggregator;
  /** RFC 1997, each a 32-bit value (high 16 bits ASN). */
  readonly communities?: readonly number[];
  /** RFC 8092 */
  readonly largeCommunities?: readonly LargeCommunity[];
  /** Unknown optional attributes, in the order received. */
  readonly unknown?: readonly RawAttribute[];
}

/** RFC 7606 actions, weakest first: the order is the severity. */
export type ErrorHandling = 'none' | 'attribute-discard' | 'treat-as-withdraw' | 'afisafi-disable' | 'session-reset';
export const HANDLING_ORDER: readonly ErrorHandling[] = [
  'none',
  'attribute-discard',
  'treat-as-withdraw',
  'afisafi-disable',
  'session-reset',
];

/** One malformed-attribute finding that did not reset the session. */
export interface AttributeError {
  readonly handling: Exclude<ErrorHandling, 'none' | 'session-reset'>;
  readonly code: number; // attribute type code
  readonly subcode: number; // the UPDATE error subcode RFC 4271 would have used
  readonly reason: string;
}

export interface UpdateMessage {
  readonly type: 'UPDATE';
  /** IPv4 unicast withdrawn routes (RFC 4271 4.3). */
  readonly withdrawn: readonly string[];
  readonly attributes: PathAttributes;
  /** IPv4 unicast NLRI. */
  readonly nlri: readonly string[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /**
   * The strongest RFC 7606 action below session-reset that decoding found ('none' when
   * clean). 'treat-as-withdraw': every NLRI in the message is to be handled as withdrawn.
   * 'afisafi-disable': `disabledFamily` names the family.
   */
  readonly handling: ErrorHandling;
  readonly errors: readonly AttributeError[];
  readonly disabledFamily?: AfiSafi;
  /** MP_REACH/MP_UNREACH of families this codec does not handle: ignored (RFC 4760 7). */
  readonly unsupportedFamilies?: readonly AfiSafi[];
}

export interface NotificationMessage {
  readonly type: 'NOTIFICATION';
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
  /** RFC 9003: shutdown communication (Cease / Administrative Shutdown or Reset). */
  readonly shutdownMessage?: string;
}

export interface KeepaliveMessage {
  readonly type: 'KEEPALIVE';
}

export interface RouteRefreshMessage {
  readonly type: 'ROUTE_REFRESH';
  readonly afi: number;
  readonly safi: number;
  /** RFC 7313 message subtype: 0 normal, 1 BoRR, 2 EoRR. */
  readonly subtype: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** What the codec needs to know about the session to encode/decode UPDATEs. */
export interface CodecContext {
  /** Both sides announced four-octet-as (RFC 6793). */
  readonly asn4: boolean;
  /** Both sides announced extended-message (RFC 8654): max length 65535. */
  readonly extendedMessage: boolean;
  /** Families for which an IPv6 next hop may carry IPv4 NLRI (RFC 8950), negotiated. */
  readonly extendedNextHopV4?: boolean;
  /**
   * The peer is internal (iBGP). When false, LOCAL_PREF received is discarded and not
   * sent (RFC 7606 7.5, RFC 4271 5.1.5); when true, malformed ORIGINATOR_ID and
   * CLUSTER_LIST are treat-as-withdraw rather than attribute-discard (RFC 7606 7.9, 7.10).
   * Unset: LOCAL_PREF is kept either way.
   */
  readonly internal?: boolean;
  /**
   * RFC 7606 7.11/7.12: a malformed MP_REACH_NLRI/MP_UNREACH_NLRI resets the session
   * (default, as FRR does) or disables just that AFI/SAFI.
   */
  readonly mpErrorHandling?: 'session-reset' | 'afisafi-disable';
}

export const DEFAULT_CONTEXT: CodecContext = { asn4: true, extendedMessage: false };
