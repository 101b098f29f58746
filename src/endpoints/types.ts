/**
 * The endpoint controller's vocabulary: what a runtime asks for (EndpointSpec), what the
 * controller reports per endpoint (EndpointView), and the narrow ports it drives — the
 * IPAM, the dataplane reconciler and the advertisement set. Ports are structural subsets
 * of the real classes, so unit tests plug in fakes and the agent plugs in the real ones.
 */
import type { Allocation, AddressRequest, AllocateOptions } from '../ipam/ipam.js';
import type { Block, Pool } from '../ipam/pools.js';
import type { AddOptions, ApplyReport, EndpointAdd, OwnState } from '../dataplane/dataplane.js';
import type { EndpointPlumbing } from '../dataplane/plumbing.js';
import type { ContainerHelper, NetnsRef } from '../dataplane/kernel.js';

/** One container that wants a routed address (a runtime's WantedEndpoint is one). */
export interface EndpointSpec {
  /** Container id (Docker: 64 hex). */
  readonly id: string;
  readonly name: string;
  /** PID of a process inside the container; its netns is /proc/<pid>/ns/net (0 when netnsPath is given). */
  readonly pid: number;
  /** The container's netns by path (CNI_NETNS); wins over pid. */
  readonly netnsPath?: string;
  /** The container side's interface name (CNI_IFNAME); default: the controller's (eth0). */
  readonly ifName?: string;
  /** Which runtime wants it ('docker' when absent); a runtime's sync() replaces only its own. */
  readonly source?: string;
  readonly zone: string;
  /** Fixed addresses asked for (labels), canonical text; absent = allocate. */
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** pending: being wired (or waiting to be); ready: routed and advertised; error: left alone, see `error`. */
export type EndpointState = 'pending' | 'ready' | 'error';

export interface EndpointView {
  readonly id: string;
  readonly name: string;
  readonly zone: string;
  readonly pid: number;
  readonly state: EndpointState;
  /** What went wrong and what to do, when state is error. */
  readonly error: string | null;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** Host side of the veth (rtc…), once wired. */
  readonly hostVeth: string | null;
  /** MAC of the container's eth0 (fixed per container id). */
  readonly hwaddr: string | null;
  /** The container's gateways: 169.254.1.1 and the host veth's link-local address. */
  readonly gateway: { readonly ipv4: string | null; readonly ipv6: string | null };
  /** Prefixes that carry this endpoint to the fabric: its /32 and /128, or its aggregated blocks. */
  readonly advertised: readonly string[];
  /** ISO time of the last state change. */
  readonly since: string;
}

export type IpamPort = {
  allocate(endpointId: string, zone: string, req?: AddressRequest, opts?: AllocateOptions): Promise<Allocation>;
  release(endpointId: string): Promise<Allocation | undefined>;
  reconcile(liveEndpointIds: Iterable<string>): Promise<Allocation[]>;
  blocks(): Promise<Block[]>;
  poolOf(address: string): Pool | undefined;
  /** Blocks about to be given back (cluster mode): their advertisement and blackhole go first. */
  onBlocksReleased?(fn: (cidrs: readonly string[]) => Promise<void>): void;
  /** Blocks claimed ahead of need (cluster mode): told so they are blackholed and advertised at once. */
  onBlocksClaimed?(fn: (cidrs: readonly string[]) => void): void;
};

export type DataplanePort = {
  /** Starts the container-side helper early (used or cancelled by addEndpoint). */
  prepareContainer(netns: NetnsRef): ContainerHelper;
  /**
   * Plumbs the endpoint, its host routes last (they wait for `opts.beforeRoutes`);
   * `routesSent` resolves once they are in the kernel's hands (Dataplane.addEndpoint).
   */
  addEndpoint(e: EndpointPlumbing, prepared?: ContainerHelper, opts?: AddOptions): EndpointAdd;
  removeEndpoint(id: string): Promise<void>;
  setDesired(endpoints: readonly EndpointPlumbing[]): void;
  setBlackholes(prefixes: readonly string[]): void;
  apply(): Promise<ApplyReport>;
  /** The agent's own links and routes in the kernel (adoption without the store; blackholes of a previous run). */
  listOwn?(): Promise<OwnState>;
  watch(onDrift: (report: ApplyReport) => void, onError?: (err: Error) => void): () => void;
};

/** Where endpoint prefixes go (the agent's union with the static advertisements). */
export type AdvertiserPort = {
  add(prefixes: readonly string[]): void;
  remove(prefixes: readonly string[]): void;
};

/** A local endpoint as the zone policy needs it: its host veth and addresses (anti-spoofing). */
export interface PolicyEndpointRef {
  readonly id: string;
  readonly hostVeth: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

/**
 * Where endpoint changes go for the zone policy (src/policy AgentPolicy): one ipset
 * element per family, never a rule change. `replace` is the first sync's full list.
 */
export type PolicyPort = {
  addEndpoint(e: PolicyEndpointRef): Promise<void>;
  removeEndpoint(e: PolicyEndpointRef): Promise<void>;
  replaceEndpoints(eps: readonly PolicyEndpointRef[]): Promise<void>;
};
