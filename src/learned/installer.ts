/**
 * Learned routes into the kernel: the speaker's multipath sets (bgp/speaker
 * forwardingEntry), turned into one kernel route per prefix in the configured table,
 * with the agent's protocol number and LEARNED_METRIC. A reconciler in the house style:
 * `set()` records the desired route of one prefix and schedules a write of that one
 * prefix (a withdrawn next hop leaves the kernel in the same event-loop turn);
 * `reconcile()` diffs every learned route in the table against the desired ones and
 * repairs drift. Only routes with our protocol, table and metric are ever replaced or
 * deleted, so the container host routes (protocol 88, metric 0) are never touched.
 *
 * Next hops (issue: hijack guard rules, docs/bgp.md):
 * - IPv4 routes: the IPv4 NEXT_HOP; an IPv6 next hop (RFC 8950, unnumbered peers) as
 *   for IPv6 routes, below, installed with RTA_VIA ("via inet6").
 * - IPv6 routes: the global next hop; a link-local-only next hop is installed through
 *   the interface of the session it came over (RFC 2545 3: only meaningful on that link).
 * - IPv4-mapped IPv6 next hops (::ffff:a.b.c.d, what some speakers send for IPv6 routes
 *   over IPv4 sessions) are never installed: the kernel cannot forward to them.
 */
import { isLinkLocalV6 } from '../../bgp/wire/prefix.js';
import type { ForwardingEntry } from '../../bgp/speaker/types.js';
import { LEARNED_METRIC, type KernelNextHop, type LearnedKernelRoute } from './route-codec.js';

/** What the installer needs from the kernel (netlink-table.ts; an in-memory one in unit tests). */
export interface RouteTable {
  /** Add or replace the whole route; undefined on success, else the errno name. */
  replace(r: LearnedKernelRoute): Promise<string | undefined>;
  /** Delete our route for the prefix; ESRCH (already gone) counts as success. */
  remove(r: Pick<LearnedKernelRoute, 'family' | 'dst' | 'table' | 'metric'>): Promise<string | undefined>;
  /** Every route of `table` with our protocol and `metric`. */
  list(table: number, metric: number): Promise<LearnedKernelRoute[]>;
  /** Interface index by name; undefined when there is none. */
  ifindex(name: string): Promise<number | undefined>;
  /** Whether the main table has a unicast route (of anyone) that holds `address`. */
  hasRouteTo?(address: string): Promise<boolean>;
}

export interface InstallerOptions {
  readonly table: number;
  readonly metric?: number;
  /** Milliseconds before a write the kernel refused is tried again (default 1000). */
  readonly retryMs?: number;
  /** Reasons for prefixes that are not installed go here (the agent logs them once per prefix and reason). */
  readonly onProblem?: (prefix: string, problem: string) => void;
}

/** A next hop as chosen from one path, before the interface name is resolved. */
export interface ChosenNextHop {
  readonly gateway: string;
  readonly interface: string | null;
}

const isMapped = (a: string): boolean => /^::ffff:/i.test(a) && a.includes('.') || /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(a);

/** The next hops of a multipath set for the kernel, with the reason for each one left out. */
export function chooseNextHops(e: ForwardingEntry): { readonly nextHops: ChosenNextHop[]; readonly skipped: string[] } {
  const out: ChosenNextHop[] = [];
  const skipped: string[] = [];
  for (const p of e.paths) {
    let nh: ChosenNextHop | null = null;
    if (e.family === 'ipv4-unicast' && !(p.nextHops[0] ?? '').includes(':')) {
      const a = p.nextHops[0];
      if (a === undefined) skipped.push(`${p.peer}: no next hop`);
      else nh = { gateway: a, interface: null };
    } else {
      const usable = p.nextHops.filter((a) => !isMapped(a));
      const global = usable.find((a) => !isLinkLocalV6(a));
      const ll = usable.find((a) => isLinkLocalV6(a));
      if (global !== undefined) nh = { gateway: global, interface: null };
      else if (ll !== undefined && p.interface !== null) nh = { gateway: ll, interface: p.interface };
      else if (ll !== undefined) skipped.push(`${p.peer}: link-local next hop ${ll} without a known session interface`);
      else skipped.push(`${p.peer}: IPv4-mapped next hop ${p.nextHops.join(', ')} is never installed`);
    }
    if (nh && !out.some((o) => o.gateway === nh!.gateway && o.interface === nh!.interface)) out.push(nh);
  }
  return { nextHops: out, skipped };
}

interface Desired {
  readonly family: 4 | 6;
  readonly nextHops: readonly ChosenNextHop[];
}

/**
 * A next hop a previous run of the agent left in the kernel (graceful restart, RFC 4724
 * 4.1: forwarding state is kept across the restart). It stays in the prefix's route until
 * every peer it may have come from (`owners`) has sent End-of-RIB for its family, or
 * until sweepStale(); empty `owners`: no peer could be told, only sweepStale() ends it.
 */
interface StaleHop {
  readonly gateway: string;
  readonly ifindex: number;
  readonly owners: readonly string[];
}

/** Which configured peers a kernel next hop of a previous run may have come from. */
export type HopOwners = (hop: KernelNextHop, family: 4 | 6) => readonly string[];

const key = (nhs: readonly { gateway: string; ifindex?: number; interface?: string | null }[]): string =>
  nhs.map((n) => n.gateway).sort().join(',');

export class LearnedRouteInstaller {
  private readonly desired = new Map<string, Desired>();
  /** What we last wrote (or found) per prefix: the sorted gateways. */
  private readonly installed = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private readonly metric: number;
  /** Next hops left out of a prefix's route, and why (IPv4-mapped, …): logged, not a failure. */
  private readonly skipped = new Map<string, string>();
  /** Prefixes the kernel refused (or that have no usable next hop): a forwarding problem until written. */
  private readonly failed = new Map<string, string>();
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  /** Next hops of a previous run, per prefix, not swept yet (adoptPrevious()). */
  private readonly stale = new Map<string, StaleHop[]>();
  /** Peers whose End-of-RIB came, per family (4, 6). */
  private readonly eor = { 4: new Set<string>(), 6: new Set<string>() };
  private adopting: Promise<void> | null = null;

  constructor(
    private readonly table: RouteTable,
    private readonly opts: InstallerOptions,
  ) {
    this.metric = opts.metric ?? LEARNED_METRIC;
  }

  /** The multipath set of one prefix changed (an empty set: remove the route). */
  set(e: ForwardingEntry): void {
    const { nextHops, skipped } = chooseNextHops(e);
    if (skipped.length > 0) this.note(this.skipped, e.prefix, skipped.join('; '));
    else this.skipped.delete(e.prefix);
    if (nextHops.length === 0) this.desired.delete(e.prefix);
    else this.desired.set(e.prefix, { family: e.family === 'ipv4-unicast' ? 4 : 6, nextHops });
    this.dirty.add(e.prefix);
    this.schedule();
  }

  /** Replace every desired route (a full resync from the speaker); absent prefixes go. */
  setAll(entries: readonly ForwardingEntry[]): void {
    const seen = new Set(entries.map((e) => e.prefix));
    for (const p of this.desired.keys()) if (!seen.has(p)) this.set({ prefix: p, family: p.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast', paths: [] });
    for (const e of entries) this.set(e);
  }

  private note(m: Map<string, string>, prefix: string, text: string): void {
    if (m.get(prefix) === text) return;
    m.set(prefix, text);
    this.opts.onProblem?.(prefix, text);
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    // A microtask: every change of this turn (one UPDATE, one session down) goes together.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /**
   * At start: the learned routes a previous run left in the kernel keep forwarding, each
   * next hop until the peer it came from has re-sent its table (its End-of-RIB,
   * endOfRib()) or sweepStale() ends the wait; whatever the peers send meanwhile is added
   * to them. Writes wait until the table was read. Resolves with the next hops adopted.
   */
  adoptPrevious(owners: HopOwners): Promise<number> {
    const read = (async (): Promise<number> => {
      const routes = await this.table.list(this.opts.table, this.metric);
      let n = 0;
      for (const r of routes) {
        const hops = r.nextHops.map((h) => ({ gateway: h.gateway, ifindex: h.ifindex, owners: owners(h, r.family) }));
        if (hops.length === 0) continue;
        this.stale.set(r.dst, hops);
        this.installed.set(r.dst, key(hops));
        n += hops.length;
      }
      // End-of-RIB may have come while the table was read.
      this.dropStale((h, f) => done(h, this.eor[f]));
      return n;
    })();
    this.adopting = read.then(
      () => undefined,
      () => undefined,
    );
    return read;
  }

  /**
   * The peer's End-of-RIB for this family (RFC 4724 4.1): the previous run's next hops
   * that only it could have given, and that it did not send again, go now.
   */
  endOfRib(peer: string, family: 4 | 6): number {
    this.eor[family].add(peer);
    return this.dropStale((h, f) => f === family && h.owners.includes(peer) && done(h, this.eor[family]));
  }

  /** The wait is over (the restart time ran out): every next hop of the previous run not re-sent goes. */
  sweepStale(): number {
    return this.dropStale(() => true);
  }

  /** Next hops of the previous run still kept. */
  get staleCount(): number {
    let n = 0;
    for (const hops of this.stale.values()) n += hops.length;
    return n;
  }

  private dropStale(drop: (h: StaleHop, family: 4 | 6) => boolean): number {
    let n = 0;
    for (const [prefix, hops] of this.stale) {
      const family = prefix.includes(':') ? 6 : 4;
      const keep = hops.filter((h) => !drop(h, family));
      if (keep.length === hops.length) continue;
      // Counted: the next hops that leave the kernel (not those the peer sent again).
      const want = this.desired.get(prefix)?.nextHops ?? [];
      n += hops.filter((h) => !keep.includes(h) && !want.some((w) => w.gateway === h.gateway)).length;
      if (keep.length === 0) this.stale.delete(prefix);
      else this.stale.set(prefix, keep);
      this.dirty.add(prefix);
    }
    this.schedule();
    return n;
  }

  /** Writes every dirty prefix; resolves once the kernel has answered. */
  async flush(): Promise<void> {
    if (this.adopting) await this.adopting;
    while (this.flushing) await this.flushing;
    if (this.dirty.size === 0 || this.closed) return;
    const work = [...this.dirty];
    this.dirty.clear();
    this.flushing = (async () => {
      for (const prefix of work) await this.write(prefix);
    })().finally(() => (this.flushing = null));
    await this.flushing;
    this.scheduleRetry();
  }

  /**
   * A refused write is tried again soon: the usual cause passes by itself (an IPv6
   * next hop not reachable yet while the link's address is still tentative after the
   * link came up, ENETUNREACH).
   */
  private scheduleRetry(): void {
    if (this.retry || this.closed || this.failed.size === 0) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      for (const p of this.failed.keys()) this.dirty.add(p);
      void this.flush();
    }, this.opts.retryMs ?? 1000);
    this.retry.unref?.();
  }

  private async write(prefix: string): Promise<void> {
    const d = this.withStale(prefix);
    const family = prefix.includes(':') ? 6 : 4;
    if (!d) {
      if (!this.installed.has(prefix)) return;
      const err = await this.table.remove({ family, dst: prefix, table: this.opts.table, metric: this.metric });
      this.failed.delete(prefix);
      if (err === undefined || err === 'ESRCH') this.installed.delete(prefix);
      else this.note(this.failed, prefix, `cannot remove from the kernel: ${err}`);
      return;
    }
    const hops: KernelNextHop[] = [];
    for (const nh of d.nextHops) {
      if (nh.interface === null) hops.push({ gateway: nh.gateway, ifindex: 0 });
      else {
        const i = await this.table.ifindex(nh.interface);
        if (i !== undefined) hops.push({ gateway: nh.gateway, ifindex: i });
      }
    }
    // Next hops of the previous run still waiting for their peer, as the kernel had them.
    for (const h of d.kept) hops.push({ gateway: h.gateway, ifindex: h.ifindex });
    if (hops.length === 0) {
      this.note(this.failed, prefix, 'no next hop with a usable interface');
      return;
    }
    const route = { family: d.family, dst: prefix, table: this.opts.table, metric: this.metric };
    const err = await this.table.replace({ ...route, nextHops: hops });
    if (err !== undefined && hops.length > 1) {
      // The kernel refuses a whole multipath route for one unreachable next hop (an
      // uplink whose address is gone): keep forwarding over the others.
      const good: KernelNextHop[] = [];
      for (const h of hops) if ((await this.table.replace({ ...route, nextHops: [...good, h] })) === undefined) good.push(h);
      if (good.length > 0) {
        this.installed.set(prefix, key(good));
        this.note(this.failed, prefix, `installed over ${good.length} of ${hops.length} next hops: ${err}`);
        return;
      }
    }
    if (err === undefined) {
      this.installed.set(prefix, key(hops));
      this.failed.delete(prefix);
    } else this.note(this.failed, prefix, `cannot install: ${err}`);
  }

  /**
   * What a prefix's route is to hold: the desired next hops, and (`kept`) the previous
   * run's next hops still waiting for their peer that the desired ones do not repeat.
   */
  private withStale(prefix: string): (Desired & { readonly kept: readonly StaleHop[] }) | undefined {
    const d = this.desired.get(prefix);
    const old = this.stale.get(prefix) ?? [];
    const kept = old.filter((h) => !d?.nextHops.some((n) => n.gateway === h.gateway));
    if (!d && kept.length === 0) return undefined;
    return { family: d?.family ?? (prefix.includes(':') ? 6 : 4), nextHops: d?.nextHops ?? [], kept };
  }

  /**
   * Full pass: our routes in the table that are not desired go, desired ones that are
   * missing or differ are written. Run periodically and after notifications were lost.
   * Next hops of a previous run still waiting for their peer count as desired.
   */
  async reconcile(): Promise<{ readonly removed: number; readonly repaired: number }> {
    await this.flush();
    const inKernel = await this.table.list(this.opts.table, this.metric);
    let removed = 0;
    let repaired = 0;
    const found = new Map<string, string>();
    for (const r of inKernel) found.set(r.dst, key(r.nextHops));
    for (const [dst] of found) {
      if (!this.desired.has(dst) && !this.stale.has(dst)) {
        const err = await this.table.remove({ family: dst.includes(':') ? 6 : 4, dst, table: this.opts.table, metric: this.metric });
        if (err === undefined || err === 'ESRCH') removed++;
        this.installed.delete(dst);
      }
    }
    for (const prefix of new Set([...this.desired.keys(), ...this.stale.keys()])) {
      const d = this.withStale(prefix);
      if (!d) continue;
      const want = key([...d.nextHops, ...d.kept]);
      if (found.get(prefix) !== want) {
        this.installed.delete(prefix);
        this.dirty.add(prefix);
        repaired++;
      } else this.installed.set(prefix, want);
    }
    await this.flush();
    return { removed, repaired };
  }

  /** Desired routes per prefix, as gateways (for verify and status). */
  desiredRoutes(): ReadonlyMap<string, readonly string[]> {
    const m = new Map<string, readonly string[]>();
    for (const [p, d] of this.desired) m.set(p, d.nextHops.map((n) => n.gateway));
    return m;
  }

  /** Prefixes whose route is in the kernel as last written. */
  installedCount(): number {
    let n = 0;
    for (const p of this.desired.keys()) if (this.installed.has(p)) n++;
    return n;
  }

  get desiredCount(): number {
    return this.desired.size;
  }

  /** Prefixes the kernel does not have as wanted, with why. */
  problemList(): ReadonlyMap<string, string> {
    return this.failed;
  }

  /** Prefixes installed with some next hops left out, with why. */
  skippedList(): ReadonlyMap<string, string> {
    return this.skipped;
  }

  get tableId(): number {
    return this.opts.table;
  }

  get metricValue(): number {
    return this.metric;
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
  }
}

/** Every peer the next hop may have come from has sent End-of-RIB (none known: never). */
function done(h: StaleHop, eor: ReadonlySet<string>): boolean {
  return h.owners.length > 0 && h.owners.every((o) => eor.has(o));
}
