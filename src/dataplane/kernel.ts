/**
 * The kernel as the dataplane sees it: the few operations the reconciler needs, in
 * kernel terms (ifindex, prefixes, errno names). `NetlinkKernel` implements it with
 * rtnetlink; the unit tests implement it in memory with the same semantics, which is
 * what lets reconcile sequences be replayed in any order without root.
 *
 * Semantics both must share (they are Linux's):
 * - creating a link whose name exists fails EEXIST; deleting one that is gone, ENODEV;
 * - deleting one end of a veth pair deletes the other end, wherever it is;
 * - deleting a link deletes every route through it;
 * - adding a route that exists fails EEXIST (we never replace: the prefix may be someone
 *   else's); one through a missing link fails ENODEV; deleting a missing route, ESRCH.
 */

export type Family = 4 | 6;

export interface KernelLink {
  readonly index: number;
  readonly name: string;
  /** lower-case colon-separated, when the link has one */
  readonly mac?: string;
  readonly up: boolean;
}

export type RouteType = 'unicast' | 'blackhole';

/** A route in the main table. `dst` is canonical prefix text ("198.51.100.2/32"). */
export interface KernelRoute {
  readonly family: Family;
  readonly dst: string;
  readonly type: RouteType;
  readonly protocol: number;
  /** 'link' for on-link IPv4 routes; IPv6 has no route scopes (always 'universe'). */
  readonly scope: 'link' | 'universe' | 'host' | 'other';
  readonly oif?: number;
  readonly gateway?: string;
  /** RTA_PRIORITY, when the kernel reports one (learned routes: LEARNED_METRIC). */
  readonly metric?: number;
}

export interface RouteSpec {
  readonly family: Family;
  readonly dst: string;
  readonly type: RouteType;
  readonly oif?: number;
}

/** A network namespace: by a process in it, or by a path (/var/run/netns/x, /proc/<pid>/ns/net). */
export interface NetnsRef {
  readonly pid?: number;
  readonly path?: string;
}

export interface VethSpec {
  readonly hostName: string;
  readonly hostMac: string;
  readonly peerName: string;
  readonly peerMac?: string;
  readonly peerNetns: NetnsRef;
}

/** What the container side gets, configured from inside its namespace. */
export interface ContainerSide {
  readonly ifName: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly gateway4: string;
  readonly gateway6: string;
}

/**
 * Configures one container's side. Opened before the veth exists — as soon as the
 * container is known — so that whatever it costs to get into the container's namespace
 * overlaps the address allocation and the host side, instead of following them.
 */
export interface ContainerHelper {
  /**
   * The endpoint's addresses are known; with `ipv6`, IPv6 is switched on in the namespace
   * now (Docker starts `--net none` containers with it off), before the veth's end is
   * created, so that end inherits it. Optional: configure() does what is left.
   */
  start(opts: { readonly ipv6: boolean }): void;
  /** Addresses and routes on the container's end of the veth (which must exist by now). */
  configure(side: ContainerSide): Promise<void>;
  /** Gives up without configuring anything; idempotent, and a no-op once configure ran. */
  cancel(): void;
}

export type KernelEvent =
  | { readonly kind: 'link'; readonly op: 'new' | 'del'; readonly link: KernelLink }
  | { readonly kind: 'route'; readonly op: 'new' | 'del'; readonly route: KernelRoute }
  /** notifications were lost (receive buffer overrun): resynchronise with a dump */
  | { readonly kind: 'overrun' };

export interface Kernel {
  listLinks(): Promise<KernelLink[]>;
  /** One link by name; undefined when there is none. */
  getLink(name: string): Promise<KernelLink | undefined>;
  /** Unicast and blackhole routes of the main table, both families. */
  listRoutes(): Promise<KernelRoute[]>;
  /** Creates the pair, host end down in this namespace, peer down in `peerNetns`; returns the host ifindex. */
  createVeth(spec: VethSpec): Promise<number>;
  setLinkUp(index: number): Promise<void>;
  /**
   * Optional. A veth whose ends have just come up drops what either end sends until the
   * kernel's link watch has run for that end (its queueing discipline is `noop` until
   * then). That runs from a kernel worker, late on busy cores; this makes it run now for
   * both ends of the veth whose host end is `index`. Called before the host routes, so
   * that the first packets routed to a new container (its first ARP answer) are not lost.
   * Resolves with the names of the links it reached (the host end, then the peer).
   */
  settleLink?(index: number): Promise<readonly string[]>;
  /**
   * The host end of a new veth, still down: proxy ARP answering at once, for IPv6 the
   * fixed link-local address (no DAD, no router advertisements), then up.
   */
  configureHostSide(index: number, name: string, opts: { readonly ipv6: boolean }): Promise<void>;
  deleteLink(index: number): Promise<void>;
  /** A sysctl of this (the worker's) namespace, path relative to /proc/sys. */
  writeSysctl(path: string, value: string): Promise<void>;
  /** Starts configuring a container's namespace (nothing is changed there before start()). */
  openContainer(netns: NetnsRef): ContainerHelper;
  /** Optional: gets what openContainer uses ready now, so that the first container does not wait for it. */
  prepareContainers?(): void;
  /**
   * Per route: undefined on success, else the errno name. `onSent` is called synchronously
   * as soon as the request is in the kernel's hands (before the answer is read): what waits
   * for the routes and can take them back on failure may act then.
   */
  addRoutes(routes: readonly RouteSpec[], protocol: number, onSent?: () => void): Promise<(string | undefined)[]>;
  deleteRoutes(routes: readonly RouteSpec[], protocol: number): Promise<(string | undefined)[]>;
  /** Link and route change notifications; returns the unsubscribe function. */
  subscribe(onEvent: (e: KernelEvent) => void): () => void;
  close(): void;
}
