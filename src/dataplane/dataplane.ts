/**
 * The dataplane reconciler (Felix-style): desired endpoints are cached, `apply()` diffs
 * them against the kernel and writes the difference in batches. Only own objects are
 * ever read as "ours" or touched: links named `rtc…` and routes with protocol 88.
 *
 * Event path: `addEndpoint` plumbs one endpoint now (veth, sysctls, container side,
 * host routes) and rolls everything back if a step fails (CNI ptp's ADD); `removeEndpoint`
 * is idempotent (CNI DEL: "already gone" is success). Repair path: `apply()` — called
 * periodically, at start, and by `watch()` when a netlink notification shows drift —
 * recreates missing veths, sets downed ones up, re-adds deleted routes, and removes own
 * links and routes nobody wants any more.
 *
 * Concurrency (locks.ts): adds and removes of different endpoints run at the same time —
 * each is a handful of netlink requests and one helper process, mostly waiting — while
 * two operations on one endpoint id or one host interface name run in call order. apply()
 * and listOwn() are exclusive: they wait for the endpoint operations in flight and hold
 * back new ones, so a full reconcile always diffs a kernel nobody else is changing.
 * `desired` is replaced, never mutated (copy on write), and every check-and-set on it
 * happens without an await in between, so concurrent adds cannot lose each other's entry.
 */
import { DataplaneError, isGone, isNetnsGone, KernelError } from './errors.js';
import { KeyedSerializer } from '../concurrency.js';
import { RwGate } from './locks.js';
import type { ContainerHelper, Kernel, KernelEvent, KernelLink, KernelRoute, NetnsRef, RouteSpec } from './kernel.js';
import {
  blackholeRoute,
  GATEWAY_V4,
  HOST_IF_PREFIX,
  HOST_VETH_LINK_LOCAL,
  HOST_VETH_MAC,
  hostIfNameFor,
  hostRoutes,
  routeKey,
  RTPROT_ROUTECTL,
  isContainerRoute,
  validateEndpoint,
  WORKER_SYSCTLS,
  type EndpointPlumbing,
} from './plumbing.js';

export interface ApplyError {
  readonly endpointId?: string;
  readonly route?: string;
  readonly link?: string;
  readonly error: Error;
}

export interface ApplyReport {
  /** endpoint ids whose veth was (re)created */
  readonly linksCreated: string[];
  /** endpoint ids whose veth was down and set up again */
  readonly linksRepaired: string[];
  /** own links that no desired endpoint wants, deleted */
  readonly linksDeleted: string[];
  readonly routesAdded: string[];
  readonly routesDeleted: string[];
  /** desired endpoints whose container namespace is gone: left for the runtime's event */
  readonly containersGone: string[];
  readonly errors: ApplyError[];
}

export interface AddOptions {
  /** The host routes, the add's last step, wait for it (if it rejects, the add fails). */
  readonly beforeRoutes?: Promise<unknown>;
}

/**
 * One endpoint add (Dataplane.addEndpoint): resolves with where its time went once the
 * kernel has answered for every step, or rejects with nothing of it left.
 */
export type EndpointAdd = Promise<PlumbTimings> & {
  /**
   * Resolves as soon as the host routes are in the kernel's hands, before its answer is
   * read: the kernel applies a route request inside the sendmsg(2) that carries it, and
   * the answer reaches the event loop only a turn later. Rejects when the add failed
   * before that (never unhandled). Should the answer be a refusal, the add rejects.
   */
  readonly routesSent: Promise<void>;
};

/** Where one add spent its time (ms), for the agent's `ready` log line. */
export interface PlumbTimings {
  /** waiting for other operations on the same endpoint, or for a full reconcile */
  readonly waitMs: number;
  /** the veth created with its peer in the container's namespace */
  readonly vethMs: number;
  /** the host side's settings, and the link set up */
  readonly hostMs: number;
  /** the container side: addresses, gateway and default routes */
  readonly containerMs: number;
  /** both ends made ready to send (Kernel.settleLink) */
  readonly settleMs: number;
  /** the host routes */
  readonly routesMs: number;
}

const ms = (from: number): number => Math.round((performance.now() - from) * 10) / 10;

export interface OwnState {
  readonly links: KernelLink[];
  readonly routes: KernelRoute[];
}

export interface DataplaneOptions {
  /** How many endpoints apply() plumbs at once (each runs one helper process). */
  readonly concurrency?: number;
  /** Delay that coalesces a burst of drift notifications into one apply(). */
  readonly driftDebounceMs?: number;
}

const emptyReport = (): ApplyReport => ({
  linksCreated: [],
  linksRepaired: [],
  linksDeleted: [],
  routesAdded: [],
  routesDeleted: [],
  containersGone: [],
  errors: [],
});

export function reportChanged(r: ApplyReport): boolean {
  return (
    r.linksCreated.length + r.linksRepaired.length + r.linksDeleted.length + r.routesAdded.length + r.routesDeleted.length > 0
  );
}

export class Dataplane {
  /** Replaced, never mutated in place (copy on write), so caches can key on identity. */
  private desired = new Map<string, EndpointPlumbing>();
  private blackholes: RouteSpec[] = [];
  private readonly gate = new RwGate();
  private readonly perEndpoint = new KeyedSerializer();
  /** worker sysctls, written once (shared by concurrent first adds; retried after a failure) */
  private initializing: Promise<void> | undefined;
  /** host links being created or removed right now: their notifications are ours, not drift */
  private readonly busy = new Set<string>();
  private readonly concurrency: number;
  private cache: { desired: Map<string, EndpointPlumbing>; blackholes: RouteSpec[]; names: Set<string>; dsts: Set<string> } | undefined;
  private readonly debounceMs: number;

  constructor(
    private readonly kernel: Kernel,
    opts: DataplaneOptions = {},
  ) {
    this.concurrency = opts.concurrency ?? 4;
    this.debounceMs = opts.driftDebounceMs ?? 20;
  }

  /** Replaces the whole desired set (validated; nothing changes if any entry is bad). */
  setDesired(endpoints: readonly EndpointPlumbing[]): void {
    const next = new Map<string, EndpointPlumbing>();
    const names = new Set<string>();
    for (const e of endpoints) {
      validateEndpoint(e);
      if (next.has(e.id)) throw new DataplaneError(`setDesired: endpoint ${e.id} given twice`);
      if (names.has(e.hostIfName)) throw new DataplaneError(`setDesired: host interface ${e.hostIfName} given twice`);
      names.add(e.hostIfName);
      next.set(e.id, e);
    }
    this.desired = next;
  }

  /** Aggregated blocks: `blackhole <prefix> proto 88`, so traffic to a block's unused addresses stops here. */
  setBlackholes(prefixes: readonly string[]): void {
    this.blackholes = prefixes.map(blackholeRoute);
  }

  desiredEndpoints(): EndpointPlumbing[] {
    return [...this.desired.values()];
  }

  /** One endpoint's operation: in call order with others on the same id or host interface, concurrent otherwise. */
  private endpointOp<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.perEndpoint.run(keys, () => this.gate.shared(fn));
  }

  /** Worker-level settings, in the agent's own namespace only. */
  private init(): Promise<void> {
    this.initializing ??= (async () => {
      this.kernel.prepareContainers?.();
      for (const [path, value] of WORKER_SYSCTLS) {
        try {
          await this.kernel.writeSysctl(path, value);
        } catch (cause) {
          throw new DataplaneError(`enable forwarding (${path})`, { cause });
        }
      }
    })().catch((err: unknown) => {
      this.initializing = undefined;
      throw err;
    });
    return this.initializing;
  }

  apply(): Promise<ApplyReport> {
    return this.gate.exclusive(() => this.applyNow());
  }

  /**
   * Starts what plumbing a container needs inside its namespace (a helper process, see
   * container.ts), to be handed to addEndpoint: called as soon as the container is known,
   * its start-up overlaps the address allocation. Cancel it if the add does not happen.
   */
  prepareContainer(netns: NetnsRef): ContainerHelper {
    return this.kernel.openContainer(netns);
  }

  /**
   * Plumbs one endpoint now and adds it to the desired set; on failure nothing of it is
   * left. `prepared` is the endpoint's prepareContainer(); it is used or cancelled.
   * `opts.beforeRoutes`: the host routes, the last step, wait for it. The result's
   * `routesSent` says when the host routes are in the kernel's hands (see EndpointAdd):
   * the caller advertises them then, and takes that back if the add fails.
   */
  addEndpoint(e: EndpointPlumbing, prepared?: ContainerHelper, opts: AddOptions = {}): EndpointAdd {
    let sent!: () => void;
    let notSent!: (err: unknown) => void;
    const routesSent = new Promise<void>((resolve, reject) => ((sent = resolve), (notSent = reject)));
    routesSent.catch(() => undefined); // the add's own promise carries the error
    const done = this.plumbAndRoute(e, prepared, opts, sent);
    done.catch(notSent); // no-op once sent
    return Object.assign(done, { routesSent });
  }

  private plumbAndRoute(e: EndpointPlumbing, prepared: ContainerHelper | undefined, opts: AddOptions, sent: () => void): Promise<PlumbTimings> {
    try {
      validateEndpoint(e);
    } catch (err) {
      prepared?.cancel();
      return Promise.reject(err as Error);
    }
    const asked = performance.now();
    return this.endpointOp([`id:${e.id}`, `if:${e.hostIfName}`], async () => {
      const waitMs = ms(asked);
      try {
        await this.init();
      } catch (err) {
        prepared?.cancel();
        throw err;
      }
      for (const other of this.desired.values()) {
        if (other.id !== e.id && other.hostIfName === e.hostIfName) {
          prepared?.cancel();
          throw new DataplaneError(`add endpoint ${e.id}: host interface ${e.hostIfName} belongs to endpoint ${other.id}`);
        }
      }
      const previous = this.desired.get(e.id);
      this.desired = new Map(this.desired).set(e.id, e);
      this.busy.add(e.hostIfName);
      try {
        const steps = { vethMs: 0, hostMs: 0, containerMs: 0, settleMs: 0 };
        const index = await this.plumbLink(e, steps, prepared);
        const routes = hostRoutes(e, index);
        if (opts.beforeRoutes) {
          try {
            await opts.beforeRoutes;
          } catch (err) {
            await this.deleteLinkQuietly(e.hostIfName);
            throw err;
          }
        }
        const t = performance.now();
        const results = await this.kernel.addRoutes(routes, RTPROT_ROUTECTL, sent);
        const routesMs = ms(t);
        const failed = results.findIndex((r) => r !== undefined);
        if (failed >= 0) {
          await this.deleteLinkQuietly(e.hostIfName);
          throw new DataplaneError(`add endpoint ${e.id}: host route ${routes[failed]?.dst}`, {
            cause: new KernelError('add route', results[failed]!),
          });
        }
        sent(); // for a kernel that does not say when it sent them: now they are in
        return { waitMs, ...steps, routesMs };
      } catch (err) {
        this.desired = new Map(this.desired);
        if (previous) this.desired.set(e.id, previous);
        else this.desired.delete(e.id);
        throw err instanceof DataplaneError ? err : new DataplaneError(`add endpoint ${e.id}`, { cause: err });
      } finally {
        this.busy.delete(e.hostIfName);
      }
    });
  }

  /** Removes the endpoint's veth (and with it its routes, its container side). Already gone is success. */
  removeEndpoint(id: string): Promise<void> {
    const keys = [`id:${id}`, `if:${hostIfNameFor(id)}`];
    const named = this.desired.get(id)?.hostIfName;
    if (named !== undefined) keys.push(`if:${named}`);
    return this.endpointOp(keys, async () => {
      const e = this.desired.get(id);
      const name = e?.hostIfName ?? hostIfNameFor(id);
      if (this.desired.has(id)) {
        this.desired = new Map(this.desired);
        this.desired.delete(id);
      }
      this.busy.add(name);
      try {
        // Routes first, so they are withdrawn even if the link delete is slow; a route
        // that is not there (ESRCH) is what we want.
        const link = await this.kernel.getLink(name);
        if (e && link) await this.kernel.deleteRoutes(hostRoutes(e, link.index), RTPROT_ROUTECTL);
        if (link) await this.deleteLinkQuietly(name, link.index);
      } catch (cause) {
        throw new DataplaneError(`remove endpoint ${id}`, { cause });
      } finally {
        this.busy.delete(name);
      }
    });
  }

  listOwn(): Promise<OwnState> {
    return this.gate.exclusive(async () => ({
      links: (await this.kernel.listLinks()).filter((l) => l.name.startsWith(HOST_IF_PREFIX)),
      routes: (await this.kernel.listRoutes()).filter(isContainerRoute),
    }));
  }

  private async deleteLinkQuietly(name: string, index?: number): Promise<void> {
    const idx = index ?? (await this.kernel.getLink(name))?.index;
    if (idx === undefined) return;
    try {
      await this.kernel.deleteLink(idx);
    } catch (err) {
      if (!isGone(err)) throw err; // gone already: deleting either end of a veth takes both
    }
  }

  /**
   * Creates the veth with its peer inside the container, sets the host side's sysctls,
   * brings it up, configures the container side. Any failure after the veth exists
   * deletes it again — that takes the peer and everything configured on it.
   */
  private async plumbLink(
    e: EndpointPlumbing,
    steps?: { vethMs: number; hostMs: number; containerMs: number; settleMs: number },
    prepared?: ContainerHelper,
  ): Promise<number> {
    const ipv6 = e.ipv6 !== undefined;
    let t = performance.now();
    let index: number;
    try {
      // A leftover link with our name (an earlier attempt, a restart): start from clean.
      await this.deleteLinkQuietly(e.hostIfName);
      index = await this.kernel.createVeth({
        hostName: e.hostIfName,
        hostMac: HOST_VETH_MAC,
        peerName: e.ifName,
        peerNetns: e.containerNetns,
        ...(e.mac !== undefined ? { peerMac: e.mac } : {}),
      });
    } catch (err) {
      prepared?.cancel();
      throw err;
    }
    // Without a helper started early (a repair), one is started only now that the
    // namespace is known to exist: a container that just died costs no process.
    const helper = prepared ?? this.kernel.openContainer(e.containerNetns);
    helper.start({ ipv6 });
    if (steps) steps.vethMs = ms(t);
    t = performance.now();
    // The two ends are independent: configured at the same time.
    const host = this.kernel.configureHostSide(index, e.hostIfName, { ipv6 }).then(() => {
      if (steps) steps.hostMs = ms(t);
    });
    const container = helper
      .configure({
        ifName: e.ifName,
        gateway4: GATEWAY_V4,
        gateway6: HOST_VETH_LINK_LOCAL,
        ...(e.ipv4 !== undefined ? { ipv4: e.ipv4 } : {}),
        ...(e.ipv6 !== undefined ? { ipv6: e.ipv6 } : {}),
      })
      .then(() => {
        if (steps) steps.containerMs = ms(t);
      });
    const [h, c] = await Promise.allSettled([host, container]);
    const failure = h.status === 'rejected' ? h : c.status === 'rejected' ? c : undefined;
    if (failure) {
      await this.deleteLinkQuietly(e.hostIfName, index).catch(() => undefined);
      throw failure.reason;
    }
    // Both ends are up, but until the kernel's link watch has run for an end, that end
    // drops what it sends (see Kernel.settleLink). Only hastens what the kernel does
    // anyway, so a failure here is not the endpoint's.
    t = performance.now();
    await this.kernel.settleLink?.(index).catch(() => undefined);
    if (steps) steps.settleMs = ms(t);
    return index;
  }

  private async applyNow(): Promise<ApplyReport> {
    const report = emptyReport();
    await this.init();
    const own = (await this.kernel.listLinks()).filter((l) => l.name.startsWith(HOST_IF_PREFIX));
    const byName = new Map(own.map((l) => [l.name, l]));
    const wanted = new Map([...this.desired.values()].map((e) => [e.hostIfName, e]));

    // 1. Own links nobody wants (a container that went away while we were down).
    for (const l of own) {
      if (wanted.has(l.name)) continue;
      try {
        this.busy.add(l.name);
        await this.kernel.deleteLink(l.index);
        report.linksDeleted.push(l.name);
      } catch (err) {
        if (!isGone(err)) report.errors.push({ link: l.name, error: err as Error });
      } finally {
        this.busy.delete(l.name);
      }
    }

    // 2. Desired endpoints without a veth (deleted by hand, or never made): plumb them;
    //    veths that are down: set them up.
    const index = new Map<string, number>();
    const missing: EndpointPlumbing[] = [];
    for (const e of this.desired.values()) {
      const l = byName.get(e.hostIfName);
      if (l === undefined) {
        missing.push(e);
        continue;
      }
      index.set(e.id, l.index);
      if (!l.up) {
        try {
          await this.kernel.setLinkUp(l.index);
          report.linksRepaired.push(e.id);
        } catch (err) {
          report.errors.push({ endpointId: e.id, error: err as Error });
        }
      }
    }
    // Sorted so that the same desired set is plumbed in the same order whatever its history.
    missing.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (let i = 0; i < missing.length; i += this.concurrency) {
      const chunk = missing.slice(i, i + this.concurrency);
      const results = await Promise.allSettled(
        chunk.map(async (e) => {
          this.busy.add(e.hostIfName);
          try {
            return await this.plumbLink(e);
          } finally {
            this.busy.delete(e.hostIfName);
          }
        }),
      );
      results.forEach((r, k) => {
        const e = chunk[k]!;
        if (r.status === 'fulfilled') {
          index.set(e.id, r.value);
          report.linksCreated.push(e.id);
        } else if (isNetnsGone(r.reason)) {
          // The container died (its veth went with its namespace): nothing to repair; the
          // runtime's event removes it from the desired set.
          report.containersGone.push(e.id);
        } else {
          report.errors.push({ endpointId: e.id, error: new DataplaneError(`plumb endpoint ${e.id}`, { cause: r.reason }) });
        }
      });
    }

    // 3. Routes: own routes vs desired ones, after the link changes above.
    const want = new Map<string, RouteSpec>();
    for (const e of this.desired.values()) {
      const idx = index.get(e.id);
      if (idx === undefined) continue;
      for (const r of hostRoutes(e, idx)) want.set(routeKey(r), r);
    }
    for (const b of this.blackholes) want.set(routeKey(b), b);
    const have = new Map<string, KernelRoute>();
    for (const r of await this.kernel.listRoutes()) if (isContainerRoute(r)) have.set(routeKey(r), r);

    // Deletions first: an own route for the same prefix through the wrong device must go
    // before the right one can be added (the kernel would answer EEXIST).
    const del: RouteSpec[] = [];
    for (const [k, r] of have) {
      if (want.has(k)) continue;
      del.push(r.type === 'unicast' && r.oif !== undefined ? { family: r.family, dst: r.dst, type: r.type, oif: r.oif } : { family: r.family, dst: r.dst, type: r.type });
    }
    if (del.length) {
      const res = await this.kernel.deleteRoutes(del, RTPROT_ROUTECTL);
      res.forEach((code, k) => {
        const r = del[k]!;
        if (code === undefined || code === 'ESRCH') report.routesDeleted.push(routeKey(r));
        else report.errors.push({ route: routeKey(r), error: new KernelError('delete route', code) });
      });
    }
    const add = [...want.entries()].filter(([k]) => !have.has(k)).map(([, r]) => r);
    if (add.length) {
      const res = await this.kernel.addRoutes(add, RTPROT_ROUTECTL);
      res.forEach((code, k) => {
        const r = add[k]!;
        // EEXIST: a route for this prefix that is not ours (other protocol): leave it, report it.
        if (code === undefined) report.routesAdded.push(routeKey(r));
        else report.errors.push({ route: routeKey(r), error: new KernelError(`add route ${r.dst}`, code) });
      });
    }
    return report;
  }

  private caches(): { names: Set<string>; dsts: Set<string> } {
    if (this.cache?.desired !== this.desired || this.cache.blackholes !== this.blackholes) {
      const names = new Set<string>();
      const dsts = new Set<string>();
      for (const d of this.desired.values()) {
        names.add(d.hostIfName);
        for (const r of hostRoutes(d, 0)) dsts.add(`unicast ${r.dst}`);
      }
      for (const b of this.blackholes) dsts.add(`blackhole ${b.dst}`);
      this.cache = { desired: this.desired, blackholes: this.blackholes, names, dsts };
    }
    return this.cache;
  }

  private desiredNames(): Set<string> {
    return this.caches().names;
  }

  private desiredDsts(): Set<string> {
    return this.caches().dsts;
  }

  /** True when a kernel notification shows our objects differ from what is desired. */
  private isDrift(e: KernelEvent): boolean {
    if (e.kind === 'overrun') return true;
    if (e.kind === 'link') {
      const name = e.link.name;
      if (!name.startsWith(HOST_IF_PREFIX) || this.busy.has(name)) return false;
      const desired = this.desiredNames().has(name);
      if (e.op === 'del') return desired;
      return !desired || !e.link.up;
    }
    if (!isContainerRoute(e.route)) return false;
    const isDesired = this.desiredDsts().has(`${e.route.type} ${e.route.dst}`);
    return e.op === 'del' ? isDesired : !isDesired;
  }

  /**
   * Follows kernel notifications; when one shows drift (an own route or veth deleted by
   * hand, a stray own object, lost notifications) runs apply() and hands its report to
   * `onDrift`. Returns the function that stops watching.
   */
  watch(onDrift: (report: ApplyReport) => void, onError?: (err: Error) => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const fire = (): void => {
      timer = undefined;
      if (stopped) return;
      this.apply().then(
        (r) => {
          if (!stopped) onDrift(r);
        },
        (err: unknown) => onError?.(err as Error),
      );
    };
    const unsubscribe = this.kernel.subscribe((ev) => {
      if (stopped || timer !== undefined || !this.isDrift(ev)) return;
      timer = setTimeout(fire, this.debounceMs);
    });
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      unsubscribe();
    };
  }
}
