/**
 * OPEN negotiation: what we announce (`buildOpen`) and what a session may use once the
 * peer's OPEN is accepted (`negotiate`). RFC 4271 6.2 checks throw the exact
 * NOTIFICATION as a BgpNotification; capabilities (RFC 5492) intersect.
 */
import { BgpNotification } from '../wire/errors.js';
import { afiFamily, ipv4ToNumber } from '../wire/prefix.js';
import { AFI, AS_TRANS, SAFI } from '../wire/types.js';
import type { Capability, Family, OpenMessage } from '../wire/types.js';

/** RFC 4271 4.5 / 6.2: OPEN Message Error and its subcodes. */
const OPEN_ERROR = 2;
const UNSUPPORTED_VERSION = 1;
const BAD_PEER_AS = 2;
const BAD_BGP_ID = 3;
const UNACCEPTABLE_HOLD_TIME = 6;

export interface LocalOpenParams {
  readonly asn: number;
  readonly routerId: string;
  /** Seconds; 0 or >= 3 (RFC 4271 4.2). */
  readonly holdTime: number;
  readonly families: readonly Family[];
  /** RFC 4724 restart time (seconds, 12 bits); omit to not announce graceful restart. */
  readonly gracefulRestartTime?: number;
  /** RFC 8538 2 N bit in our graceful restart capability; default false (SpeakerConfig says why). */
  readonly notification?: boolean;
  /** RFC 4724 R bit: we are coming back from a restart. */
  readonly restarting?: boolean;
  /**
   * RFC 4724 3 F bit: the families whose forwarding state was kept across the restart
   * (default: every family; an empty list says none was kept).
   */
  readonly forwardingKept?: readonly Family[];
  /** FQDN capability (draft-walton-bgp-hostname-capability), as FRR shows it. */
  readonly hostname?: string;
  readonly domain?: string;
  /** RFC 8654; default true. */
  readonly extendedMessage?: boolean;
  /** RFC 7313; default false (we would then owe BoRR/EoRR markers). */
  readonly enhancedRouteRefresh?: boolean;
}

/**
 * The AS configured for a peer: a number, or (FRR's `remote-as external|internal`) any AS
 * other than ours, or ours. The peer's OPEN then says which AS it is.
 */
export type PeerAsn = number | 'external' | 'internal';

export interface PeerOpenConfig {
  /** The AS configured for the peer. */
  readonly peerAsn: PeerAsn;
}

export interface GracefulRestartInfo {
  readonly restartTime: number;
  readonly restartState: boolean;
  /** RFC 8538 2: the N bit, negotiated: set by the peer and by us. */
  readonly notification: boolean;
  readonly families: readonly { readonly family: Family; readonly forwardingState: boolean }[];
}

export interface LongLivedGrInfo {
  readonly families: readonly { readonly family: Family; readonly forwardingState: boolean; readonly staleTime: number }[];
}

/** RFC 8538 2: both sides set the N bit in their graceful restart capability. */
export function notificationGr(n: Pick<Negotiated, 'gracefulRestart'>): boolean {
  return n.gracefulRestart?.notification === true;
}

export interface Negotiated {
  readonly peerAsn: number;
  readonly peerRouterId: string;
  readonly ibgp: boolean;
  /** Seconds; 0 = no hold timer and no keepalives (RFC 4271 4.2). */
  readonly holdTime: number;
  readonly keepalive: number;
  readonly asn4: boolean;
  readonly families: readonly Family[];
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly extendedMessage: boolean;
  /** NLRI families that may carry an IPv6 next hop (RFC 8950), negotiated both ways. */
  readonly extendedNextHop: readonly Family[];
  /** The peer's graceful restart capability (RFC 4724), or null. */
  readonly gracefulRestart: GracefulRestartInfo | null;
  /** The peer's long-lived graceful restart capability (RFC 9494): its families we carry, or null. */
  readonly longLivedGracefulRestart: LongLivedGrInfo | null;
  readonly peerCapabilities: readonly Capability[];
}

export function afiSafiOf(family: Family): { afi: number; safi: number } {
  return family === 'ipv4-unicast' ? { afi: AFI.IPV4, safi: SAFI.UNICAST } : { afi: AFI.IPV6, safi: SAFI.UNICAST };
}

/** Dotted quad -> unsigned 32-bit, or undefined when not one. */
export function routerIdToNumber(id: string): number | undefined {
  const n = ipv4ToNumber(id);
  return n < 0 ? undefined : n;
}

export function buildOpen(local: LocalOpenParams): OpenMessage {
  const caps: Capability[] = [];
  for (const f of local.families) caps.push({ kind: 'multiprotocol', ...afiSafiOf(f) });
  caps.push({ kind: 'route-refresh' });
  if (local.enhancedRouteRefresh) caps.push({ kind: 'enhanced-route-refresh' });
  caps.push({ kind: 'four-octet-as', asn: local.asn });
  if (local.extendedMessage !== false) caps.push({ kind: 'extended-message' });
  // RFC 8950: IPv4 unicast NLRI with an IPv6 next hop (unnumbered / v6-only fabrics).
  if (local.families.includes('ipv4-unicast')) {
    caps.push({ kind: 'extended-nexthop', entries: [{ afi: AFI.IPV4, safi: SAFI.UNICAST, nextHopAfi: AFI.IPV6 }] });
  }
  if (local.gracefulRestartTime !== undefined) {
    caps.push({
      kind: 'graceful-restart',
      restartState: local.restarting ?? false,
      // RFC 8538 2: only when asked (LocalOpenParams.notification). With N we send Hard
      // Reset for a stop that must drop our routes, so a peer that also sets N may keep
      // them across any other NOTIFICATION and across a hold timer expiry.
      notification: local.notification ?? false,
      restartTime: Math.min(local.gracefulRestartTime, 4095),
      families: local.families.map((f) => ({ ...afiSafiOf(f), forwardingState: local.forwardingKept?.includes(f) ?? true })),
    });
  }
  if (local.hostname !== undefined) caps.push({ kind: 'fqdn', hostname: local.hostname, domain: local.domain ?? '' });
  return {
    type: 'OPEN',
    version: 4,
    // RFC 6793 4.1: a 4-octet AS that does not fit goes as AS_TRANS in My Autonomous System.
    myAs: local.asn > 0xffff ? AS_TRANS : local.asn,
    holdTime: local.holdTime,
    bgpId: local.routerId,
    capabilities: caps,
  };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function negotiate(local: LocalOpenParams, remote: OpenMessage, peerCfg: PeerOpenConfig): Negotiated {
  // RFC 4271 6.2: data is the largest supported version.
  if (remote.version !== 4) throw new BgpNotification(OPEN_ERROR, UNSUPPORTED_VERSION, u16(4), `unsupported BGP version ${remote.version}`);

  const caps = remote.capabilities;
  const as4 = caps.find((c): c is Extract<Capability, { kind: 'four-octet-as' }> => c.kind === 'four-octet-as');
  // RFC 6793 4.1: a NEW speaker takes the peer's AS from the capability; a 2-octet peer's AS is My AS.
  const peerAsn = as4 ? as4.asn : remote.myAs;
  if (as4 && as4.asn === AS_TRANS) {
    // RFC 6793 9: AS_TRANS must not be the AS in the capability.
    throw new BgpNotification(OPEN_ERROR, BAD_PEER_AS, u16(remote.myAs), 'peer announced AS_TRANS as its 4-octet AS');
  }
  const want = peerCfg.peerAsn;
  // RFC 4271 6.2: an AS other than the one configured is Bad Peer AS; `external` takes any
  // AS but ours, `internal` only ours.
  if (want === 'external' ? peerAsn === local.asn : want === 'internal' ? peerAsn !== local.asn : peerAsn !== want) {
    const expected = want === 'external' ? `any AS but ours (${local.asn})` : want === 'internal' ? `our AS ${local.asn}` : String(want);
    throw new BgpNotification(OPEN_ERROR, BAD_PEER_AS, u16(remote.myAs), `peer AS ${peerAsn}, expected ${expected}`);
  }
  if (as4 && as4.asn <= 0xffff && remote.myAs !== as4.asn) {
    // RFC 6793 4.1: a mappable 4-octet AS must also be in My AS.
    throw new BgpNotification(OPEN_ERROR, BAD_PEER_AS, u16(remote.myAs), `My AS ${remote.myAs} disagrees with 4-octet AS ${as4.asn}`);
  }
  if (as4 && as4.asn > 0xffff && remote.myAs !== AS_TRANS) {
    throw new BgpNotification(OPEN_ERROR, BAD_PEER_AS, u16(remote.myAs), `My AS ${remote.myAs} should be AS_TRANS for 4-octet AS ${as4.asn}`);
  }

  const ibgp = peerAsn === local.asn;
  const remoteId = routerIdToNumber(remote.bgpId);
  // RFC 6286 2.1: any non-zero 32-bit value; RFC 6286 2.2: unique within the AS.
  if (remoteId === undefined || remoteId === 0) {
    throw new BgpNotification(OPEN_ERROR, BAD_BGP_ID, Buffer.alloc(0), `bad BGP identifier ${remote.bgpId}`);
  }
  if (ibgp && remoteId === routerIdToNumber(local.routerId)) {
    throw new BgpNotification(OPEN_ERROR, BAD_BGP_ID, Buffer.alloc(0), `iBGP peer has our BGP identifier ${remote.bgpId}`);
  }
  // RFC 4271 6.2: hold time must be 0 or at least 3.
  if (remote.holdTime === 1 || remote.holdTime === 2) {
    throw new BgpNotification(OPEN_ERROR, UNACCEPTABLE_HOLD_TIME, Buffer.alloc(0), `unacceptable hold time ${remote.holdTime}`);
  }
  // RFC 4271 4.2: the smaller of the two; 0 on either side disables hold and keepalive.
  const holdTime = Math.min(local.holdTime, remote.holdTime);
  const keepalive = Math.floor(holdTime / 3);

  // RFC 4760 8: a peer without multiprotocol capabilities speaks IPv4 unicast only.
  const mp = caps.filter((c): c is Extract<Capability, { kind: 'multiprotocol' }> => c.kind === 'multiprotocol');
  const remoteFamilies = new Set<Family>();
  if (mp.length === 0) remoteFamilies.add('ipv4-unicast');
  for (const c of mp) {
    const f = afiFamily(c.afi, c.safi);
    if (f) remoteFamilies.add(f);
  }
  const families = local.families.filter((f) => remoteFamilies.has(f));

  const has = (kind: Capability['kind']): boolean => caps.some((c) => c.kind === kind);
  const routeRefresh = has('route-refresh') || has('route-refresh-cisco');
  const enhancedRouteRefresh = (local.enhancedRouteRefresh ?? false) && has('enhanced-route-refresh');
  const extendedMessage = local.extendedMessage !== false && has('extended-message');

  // RFC 8950: usable only for families both sides announced, IPv4 over IPv6 next hop here.
  const extendedNextHop: Family[] = [];
  if (families.includes('ipv4-unicast')) {
    const peerEnh = caps.some(
      (c) =>
        c.kind === 'extended-nexthop' &&
        c.entries.some((en) => en.afi === AFI.IPV4 && en.safi === SAFI.UNICAST && en.nextHopAfi === AFI.IPV6),
    );
    if (peerEnh) extendedNextHop.push('ipv4-unicast');
  }

  const grCap = caps.find((c): c is Extract<Capability, { kind: 'graceful-restart' }> => c.kind === 'graceful-restart');
  let gracefulRestart: GracefulRestartInfo | null = null;
  if (grCap) {
    const grFamilies: { family: Family; forwardingState: boolean }[] = [];
    for (const f of grCap.families) {
      const fam = afiFamily(f.afi, f.safi);
      if (fam) grFamilies.push({ family: fam, forwardingState: f.forwardingState });
    }
    gracefulRestart = {
      restartTime: grCap.restartTime,
      restartState: grCap.restartState,
      // RFC 8538 2: the N bit counts only when both sides set it.
      notification: grCap.notification && (local.notification ?? false),
      families: grFamilies,
    };
  }

  // RFC 9494 4: with graceful restart only (a long-lived capability without the RFC 4724
  // one is ignored), for the families both sides carry.
  const llgrCap = caps.find((c): c is Extract<Capability, { kind: 'long-lived-graceful-restart' }> => c.kind === 'long-lived-graceful-restart');
  let longLivedGracefulRestart: LongLivedGrInfo | null = null;
  if (llgrCap && gracefulRestart) {
    const fams: { family: Family; forwardingState: boolean; staleTime: number }[] = [];
    for (const f of llgrCap.families) {
      const fam = afiFamily(f.afi, f.safi);
      if (fam && families.includes(fam)) fams.push({ family: fam, forwardingState: f.forwardingState, staleTime: f.staleTime });
    }
    longLivedGracefulRestart = { families: fams };
  }

  return {
    peerAsn,
    peerRouterId: remote.bgpId,
    ibgp,
    holdTime,
    keepalive,
    asn4: as4 !== undefined,
    families,
    routeRefresh,
    enhancedRouteRefresh,
    extendedMessage,
    extendedNextHop,
    gracefulRestart,
    longLivedGracefulRestart,
    peerCapabilities: caps,
  };
}
