/**
 * Learned routes on the worker (docs/bgp.md "Learned routes"): the hijack guard that
 * vetoes received routes, the installer that puts the speaker's multipath sets into the
 * kernel, the uplink watcher that takes a session down the moment the interface it runs
 * over goes down (FRR's fast external failover), and the forwarding check behind
 * `status` and `verify`.
 */
import net from 'node:net';
import os from 'node:os';
import type { ForwardingEntry } from '../../bgp/speaker/types.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { addressInNetwork, isLinkLocalV6, sameAddress } from '../../bgp/wire/prefix.js';
import type { Family } from '../../bgp/wire/types.js';
import { HijackGuard, interfaceRanges, type GuardRange } from './hijack-guard.js';
import { LearnedRouteInstaller, type HopOwners, type RouteTable } from './installer.js';
import type { LinkState } from './netlink-table.js';

export { HijackGuard, interfaceRanges } from './hijack-guard.js';
export { LearnedRouteInstaller, chooseNextHops, type RouteTable } from './installer.js';
export { LEARNED_METRIC } from './route-codec.js';

const GATEWAY = '169.254.1.1';

type Interfaces = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** The guard for this config and the worker's interfaces now. */
export function guardFor(cfg: Config, ifs: Interfaces = os.networkInterfaces()): HijackGuard {
  const ranges: GuardRange[] = [
    ...cfg.pools.map((p) => ({ prefix: p.cidr, what: `container pool of zone ${p.zone}` })),
    ...cfg.zones.flatMap((z) => z.cidrs.map((c) => ({ prefix: c, what: `zone ${z.name}` }))),
    ...interfaceRanges(ifs),
  ];
  return new HijackGuard(ranges);
}

/** The interface whose subnet holds the peer's address (the connected route to it); null when none. */
export function peerInterface(peer: string, ifs: Interfaces): string | null {
  // An unnumbered peer is known by its interface's name.
  if (net.isIP(peer.replace(/%.*$/, '')) === 0) return peer;
  if (isLinkLocalV6(peer)) {
    const zone = peer.split('%')[1];
    return zone ?? null;
  }
  for (const [name, addrs] of Object.entries(ifs)) {
    for (const a of addrs ?? []) if (!a.internal && a.cidr && addressInNetwork(peer, a.cidr)) return name;
  }
  return null;
}

/**
 * How long the learned routes of a previous run wait for the peer they came from to send
 * End-of-RIB: the restart time the agent announces (RFC 4724 3, the session's default),
 * as long as the peers keep our routes for us.
 */
export const PREVIOUS_RUN_WAIT_MS = 120_000;

/** What the learned side needs from the speaker. */
export interface ForwardingSource {
  forwarding(): ForwardingEntry[];
  on(event: 'forwardingChanged', listener: (e: ForwardingEntry) => void): unknown;
  off(event: 'forwardingChanged', listener: (e: ForwardingEntry) => void): unknown;
  /** The peer's End-of-RIB for a family (RFC 4724 2). */
  on(event: 'endOfRib', listener: (peer: string, family: Family) => void): unknown;
  off(event: 'endOfRib', listener: (peer: string, family: Family) => void): unknown;
  linkDown(address: string, why: string): boolean;
  linkUp(address: string): boolean;
}

export interface LinkSource {
  list(): Promise<LinkState[]>;
  close(): void;
}

export interface LearnedRoutesOptions {
  readonly speaker: ForwardingSource;
  readonly log: Logger;
  /** null: do not install (bgp.install.enabled false, or a test without a kernel). */
  readonly table: RouteTable | null;
  readonly tableId: number;
  readonly peers: () => readonly string[];
  readonly interfaces?: () => Interfaces;
  /** Builds the link watcher; null: no uplink watching. */
  readonly watchLinks: ((onChange: (l: LinkState, deleted: boolean) => void, onOverrun: () => void) => LinkSource) | null;
  readonly reconcileMs: number;
  /** How long a previous run's learned routes wait for their peer's End-of-RIB (default PREVIOUS_RUN_WAIT_MS). */
  readonly previousRunWaitMs?: number;
}

export class LearnedRoutes {
  readonly installer: LearnedRouteInstaller | null;
  private readonly links: LinkSource | null;
  private readonly onFwd = (e: ForwardingEntry): void => this.installer?.set(e);
  private readonly onEor = (peer: string, family: Family): void => {
    const n = this.installer?.endOfRib(peer, family === 'ipv4-unicast' ? 4 : 6) ?? 0;
    if (n > 0) this.o.log.info({ op: 'learned.stale', event: 'swept', peer, family, nextHops: n, reason: 'end-of-rib' }, `${peer}: End-of-RIB (${family}): ${n} next hops of the previous run it did not send again removed`);
  };
  private timer: ReturnType<typeof setInterval> | null = null;
  private staleTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly down = new Map<string, string>();

  constructor(private readonly o: LearnedRoutesOptions) {
    const problemLog = new Set<string>();
    this.installer = o.table
      ? new LearnedRouteInstaller(o.table, {
          table: o.tableId,
          onProblem: (prefix, problem) => {
            const k = `${prefix} ${problem}`;
            if (problemLog.has(k)) return;
            problemLog.add(k);
            o.log.warn({ op: 'learned.install', event: 'not-installed', prefix, err: problem }, `${prefix} not installed: ${problem}`);
          },
        })
      : null;
    if (this.installer) {
      const inst = this.installer;
      // RFC 4724 4.1: the routes a previous run installed keep forwarding; each next hop
      // goes when the peer it came from has sent its table again (its End-of-RIB) without
      // it, or when the restart time is over, whichever comes first.
      void this.owners()
        .then((owners) => inst.adoptPrevious(owners))
        .then((n) => {
          if (n > 0) o.log.info({ op: 'learned.stale', event: 'adopted', nextHops: n }, `${n} learned next hops of a previous run kept until their peers' End-of-RIB`);
        })
        .catch((err: unknown) => o.log.warn({ op: 'learned.stale', event: 'adopt-failed', err }, `cannot read the learned routes of a previous run: ${(err as Error).message}`));
      o.speaker.on('endOfRib', this.onEor);
      o.speaker.on('forwardingChanged', this.onFwd);
      inst.setAll(o.speaker.forwarding());
      this.staleTimer = setTimeout(() => {
        this.staleTimer = null;
        const n = inst.sweepStale();
        if (n > 0) o.log.info({ op: 'learned.stale', event: 'swept', nextHops: n, reason: 'restart-time' }, `restart time over: ${n} learned next hops of the previous run no peer sent again removed`);
      }, o.previousRunWaitMs ?? PREVIOUS_RUN_WAIT_MS);
      this.staleTimer.unref();
      this.timer = setInterval(() => void this.reconcile(), o.reconcileMs);
      this.timer.unref();
    }
    this.links = o.watchLinks
      ? o.watchLinks(
          (l, deleted) => this.onLink(l, deleted),
          () => void this.resyncLinks(),
        )
      : null;
    if (this.links) void this.resyncLinks();
  }

  /**
   * Which peers a kernel next hop may have come from: the peer whose address it is, else
   * every peer reached over the next hop's interface (a third-party next hop on the link,
   * an IPv6 next hop of a session over IPv4).
   */
  private async owners(): Promise<HopOwners> {
    const peers = this.o.peers();
    const ifs = this.ifs();
    const byIf = new Map<number, string[]>();
    for (const p of peers) {
      const name = peerInterface(p, ifs);
      const i = name !== null ? await this.o.table?.ifindex(name) : undefined;
      if (i !== undefined) byIf.set(i, [...(byIf.get(i) ?? []), p]);
    }
    return (hop) => {
      const direct = peers.filter((p) => sameAddress(p, hop.gateway));
      return direct.length > 0 ? direct : (byIf.get(hop.ifindex) ?? []);
    };
  }

  private ifs(): Interfaces {
    return (this.o.interfaces ?? os.networkInterfaces)();
  }

  async reconcile(): Promise<void> {
    if (!this.installer) return;
    try {
      this.installer.setAll(this.o.speaker.forwarding());
      const r = await this.installer.reconcile();
      if (r.removed + r.repaired > 0) this.o.log.info({ op: 'learned.reconcile', event: 'repaired', removed: r.removed, repaired: r.repaired }, 'learned routes repaired');
    } catch (err) {
      this.o.log.warn({ op: 'learned.reconcile', event: 'failed', err }, `learned routes reconcile failed: ${(err as Error).message}`);
    }
  }

  private async resyncLinks(): Promise<void> {
    try {
      for (const l of (await this.links?.list()) ?? []) this.onLink(l, false);
    } catch (err) {
      this.o.log.warn({ op: 'learned.uplink', event: 'list-failed', err }, `cannot list links: ${(err as Error).message}`);
    }
  }

  /**
   * A link changed: every peer reached over it goes down when it is not running, and
   * comes back when it is. The peer's interface is looked up when the event comes (the
   * link's addresses may be gone with it: then the last known interface counts).
   */
  private readonly peerIf = new Map<string, string>();
  private onLink(l: LinkState, deleted: boolean): void {
    const ifs = this.ifs();
    for (const peer of this.o.peers()) {
      const name = peerInterface(peer, ifs) ?? this.peerIf.get(peer) ?? null;
      if (name === null) continue;
      this.peerIf.set(peer, name);
      if (name !== l.name) continue;
      const up = l.running && !deleted;
      if (!up && !this.down.has(peer)) {
        const why = `interface ${l.name} ${deleted ? 'deleted' : 'down'} (fast external failover)`;
        this.down.set(peer, why);
        this.o.speaker.linkDown(peer, why);
        this.o.log.warn({ op: 'learned.uplink', event: 'link-down', peer, interface: l.name }, `${peer}: ${why}: session down`);
      } else if (up && this.down.has(peer)) {
        this.down.delete(peer);
        this.o.speaker.linkUp(peer);
        this.o.log.info({ op: 'learned.uplink', event: 'link-up', peer, interface: l.name }, `${peer}: interface ${l.name} up: session starting`);
      }
    }
  }

  /**
   * What forwarding needs, for `status` and `verify`: every learned route the kernel
   * should have; with container pools, a route to the containers' gateway 169.254.1.1
   * (a default route, learned or not: proxy ARP answers for it only then; docs/design.md).
   */
  async forwardingProblems(opts: { readonly pools: boolean }): Promise<string[]> {
    const out: string[] = [];
    const inst = this.installer;
    if (!inst) return out;
    for (const [prefix, why] of inst.problemList()) out.push(`${prefix}: ${why}`);
    if (opts.pools && this.o.table?.hasRouteTo) {
      const ok = await this.o.table.hasRouteTo(GATEWAY).catch(() => true);
      if (!ok) out.push(`no route to ${GATEWAY}, the containers' gateway: proxy ARP does not answer, containers cannot send (a default route is missing)`);
    }
    return out;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.o.speaker.off('forwardingChanged', this.onFwd);
    this.o.speaker.off('endOfRib', this.onEor);
    this.installer?.close();
    this.links?.close();
  }
}
