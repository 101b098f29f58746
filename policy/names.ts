// policy/names.ts — every kernel object name the policy owns: chains (ROUTECTL-*),
// ipsets (rtc-*), the host-veth prefix, the comment mark. Owning a fixed naming space is
// how the applier finds, repairs and removes exactly its own objects and nothing else.
//
// Limits: chain names ≤ 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL), set
// names ≤ 31 (IPSET_MAXNAMELEN 32), interface names ≤ 15 (IFNAMSIZ 16). Long zone names
// are shortened to a prefix plus a stable hash, so names never depend on order.

import { createHash } from 'node:crypto';
import type { Family } from './cidr.js';

/** Zone sets and their companions exist in two generations; a model change builds the
 *  other generation beside the live one and switches the rules to it in one transaction. */
export type Generation = 'a' | 'b';

export const CHAIN_PREFIX = 'ROUTECTL-';
export const CHAIN_FWD = 'ROUTECTL-FWD';
export const CHAIN_ZONES = 'ROUTECTL-ZONES';
export const CHAIN_SPOOF = 'ROUTECTL-SPOOF';
export const CHAIN_INPUT = 'ROUTECTL-INPUT';
export const CHAIN_HOST = 'ROUTECTL-HOST';

/** Every rule the policy writes carries this comment prefix (`-m comment --comment "routectl:<id>"`). */
export const MARK = 'routectl:';

/** Host-side veth names: `rtc` + 11 hex characters of the container id (14 ≤ IFNAMSIZ-1). */
export const VETH_PREFIX = 'rtc';
/** iptables interface wildcard for every container veth. */
export const VETH_MATCH = `${VETH_PREFIX}+`;

const MAX_CHAIN = 28;
const MAX_SET = 31;

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** The host veth name for a container id (lowercase hex id, as Docker prints it). */
export function hostVethName(containerId: string): string {
  const hex = containerId.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length < 11) throw new RangeError(`container id "${containerId}" has fewer than 11 hex characters`);
  return `${VETH_PREFIX}${hex.slice(0, 11)}`;
}

/** A name part that fits `room` characters: itself, or a prefix and a stable hash. */
function fit(part: string, room: number): string {
  if (part.length <= room) return part;
  const h = shortHash(part);
  return `${part.slice(0, room - h.length - 1)}-${h}`;
}

/** ROUTECTL-FROM-<zone>: the chain judging traffic whose source is in `zone` (or `world`). */
export function fromChain(zone: string): string {
  const head = `${CHAIN_PREFIX}FROM-`;
  return head + fit(zone, MAX_CHAIN - head.length);
}

/** rtc-<gen>-z-<zone>-<family>: the hash:net set of a zone's ranges in one family. */
export function zoneSetName(gen: Generation, zone: string, family: Family): string {
  const head = `rtc-${gen}-z-`;
  const tail = `-${family}`;
  // Leave room under 31 so the name plus nothing else always fits.
  return head + fit(zone, MAX_SET - head.length - tail.length) + tail;
}

/** rtc-<gen>-zones-<family>: every zone range of a family (is the destination in any zone?). */
export function allZonesSetName(gen: Generation, family: Family): string {
  return `rtc-${gen}-zones-${family}`;
}

/** rtc-<gen>-host-<family>: the worker's own addresses. */
export function hostSetName(gen: Generation, family: Family): string {
  return `rtc-${gen}-host-${family}`;
}

/** rtc-<gen>-peers-<family>: the fabric's control-plane addresses (the configured BGP peers). */
export function peerSetName(gen: Generation, family: Family): string {
  return `rtc-${gen}-peers-${family}`;
}

/**
 * The nftables table that guards the worker's ARP table (family `arp`): iptables never
 * sees ARP, and arptables has no set match (a rule per container is what we avoid).
 */
export const NFT_ARP_FAMILY = 'arp';
export const NFT_ARP_TABLE = 'routectl';
/** Its set of (host veth, container IPv4 address) pairs: the only ARP senders accepted on a veth. */
export const NFT_ARP_SET = 'ep4';
/** Its dynamic set keyed by host veth: the per-veth rate of ARP probes (sender 0.0.0.0). */
export const NFT_ARP_PROBE_SET = 'probe4';

/** rtc-ep-<family>: hash:net,iface pairs (container address, its host veth) for anti-spoofing. */
export function endpointSetName(family: Family): string {
  return `rtc-ep-${family}`;
}

/** The temporary set a restore fills before swapping it into `name`. */
export function tempSetName(name: string): string {
  return `rtc-t-${shortHash(name)}`;
}

export function isOwnChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX);
}

export function isOwnSet(name: string): boolean {
  return /^rtc-[ab]-/.test(name) || /^rtc-ep-[46]$/.test(name) || /^rtc-t-[0-9a-f]{8}$/.test(name);
}

/** The generation a set name belongs to, if it is a generation set. */
export function setGeneration(name: string): Generation | undefined {
  const m = /^rtc-([ab])-/.exec(name);
  return m ? (m[1] as Generation) : undefined;
}

export function otherGeneration(g: Generation): Generation {
  return g === 'a' ? 'b' : 'a';
}

export const LIMITS = { MAX_CHAIN, MAX_SET } as const;
