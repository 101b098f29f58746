/**
 * An in-memory kernel with the semantics the dataplane relies on (see src/dataplane/
 * kernel.ts): veth pairs whose ends die together, routes that die with their device,
 * EEXIST/ENODEV/ESRCH where Linux answers them, notifications for every change, and
 * per-namespace container state. Plus test hooks: hand edits ("admin deleted a route"),
 * fault injection, and a snapshot in names rather than ifindexes, so that states reached
 * through different histories compare equal.
 */
import { KernelError } from '../../../src/dataplane/errors.js';
import { HOST_VETH_LINK_LOCAL } from '../../../src/dataplane/plumbing.js';
import type {
  ContainerHelper,
  ContainerSide,
  Kernel,
  KernelEvent,
  KernelLink,
  KernelRoute,
  NetnsRef,
  RouteSpec,
  VethSpec,
} from '../../../src/dataplane/kernel.js';

interface FakeLink {
  index: number;
  name: string;
  mac: string;
  up: boolean;
  peer?: { ns: string; name: string };
}

interface FakeContainer {
  links: Map<string, { mac: string; up: boolean }>;
  config?: ContainerSide;
  /** pre-existing state that makes configuration fail (e.g. a default route already there) */
  hasDefaultRoute?: boolean;
  sysctls: Map<string, string>;
}

const nsKey = (ns: NetnsRef): string => ns.path ?? `/proc/${ns.pid}/ns/net`;
const routeId = (r: { family: number; dst: string }): string => `${r.family} ${r.dst}`;

export class FakeKernel implements Kernel {
  readonly links = new Map<number, FakeLink>();
  /** main table, keyed by family+prefix: one route per prefix, as with equal tos/metric in Linux */
  readonly routes = new Map<string, KernelRoute>();
  readonly sysctls = new Map<string, string>();
  readonly containers = new Map<string, FakeContainer>();
  readonly log: string[] = [];
  private nextIndex = 2;
  private listeners = new Set<(e: KernelEvent) => void>();
  private faults: { op: string; code: string; match?: string }[] = [];
  /** 0: every operation answers after one microtask; n: after 0..n macrotask turns (seeded) */
  private jitterMax = 0;
  private seed = 1;
  private readonly running = new Map<string, number>();
  private readonly peak = new Map<string, number>();

  constructor() {
    this.links.set(1, { index: 1, name: 'lo', mac: '00:00:00:00:00:00', up: true });
  }

  // ---- test hooks ----

  /**
   * From now on each operation waits 0..maxTurns event-loop turns (a deterministic
   * sequence from `seed`) before acting, as netlink acks and helper processes do, so
   * concurrent callers really interleave.
   */
  jitter(maxTurns: number, seed = 1): void {
    this.jitterMax = maxTurns;
    this.seed = seed;
  }

  /** The most calls of `op` that were in progress at the same time. */
  maxInFlight(op: string): number {
    return this.peak.get(op) ?? 0;
  }

  private async delay(op: string): Promise<void> {
    const n = (this.running.get(op) ?? 0) + 1;
    this.running.set(op, n);
    this.peak.set(op, Math.max(n, this.peak.get(op) ?? 0));
    try {
      await Promise.resolve();
      if (this.jitterMax === 0) return;
      // xorshift32: reproducible, so a failing interleaving can be replayed.
      this.seed ^= this.seed << 13;
      this.seed ^= this.seed >>> 17;
      this.seed ^= this.seed << 5;
      const turns = (this.seed >>> 0) % (this.jitterMax + 1);
      for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    } finally {
      this.running.set(op, (this.running.get(op) ?? 1) - 1);
    }
  }

  addContainer(path: string, opts: { hasDefaultRoute?: boolean } = {}): void {
    const c: FakeContainer = { links: new Map(), sysctls: new Map() };
    if (opts.hasDefaultRoute) c.hasDefaultRoute = true;
    this.containers.set(path, c);
  }

  /** The namespace disappears (container died): its veth ends go, and with them the host ends. */
  removeContainer(path: string): void {
    this.containers.delete(path);
    for (const l of [...this.links.values()]) if (l.peer?.ns === path) this.dropLink(l);
  }

  /** Makes the next operation `op` (optionally on an object whose text includes `match`) fail with `code`. */
  failNext(op: string, code: string, match?: string): void {
    this.faults.push(match === undefined ? { op, code } : { op, code, match });
  }

  private fault(op: string, subject: string): void {
    const i = this.faults.findIndex((f) => f.op === op && (f.match === undefined || subject.includes(f.match)));
    if (i < 0) return;
    const [f] = this.faults.splice(i, 1);
    throw new KernelError(op, f!.code, 'injected');
  }

  /** An administrator's change, e.g. `ip route add … proto static`. */
  handAddRoute(r: KernelRoute): void {
    this.routes.set(routeId(r), r);
    this.emit({ kind: 'route', op: 'new', route: r });
  }

  handDeleteRoute(dst: string): void {
    for (const [k, r] of this.routes) {
      if (r.dst === dst) {
        this.routes.delete(k);
        this.emit({ kind: 'route', op: 'del', route: r });
      }
    }
  }

  handDeleteLink(name: string): void {
    const l = [...this.links.values()].find((x) => x.name === name);
    if (l) this.dropLink(l);
  }

  handSetDown(name: string): void {
    const l = [...this.links.values()].find((x) => x.name === name);
    if (!l) return;
    l.up = false;
    this.emit({ kind: 'link', op: 'new', link: this.view(l) });
  }

  handAddLink(name: string): number {
    const index = this.nextIndex++;
    const l: FakeLink = { index, name, mac: '02:00:00:00:00:01', up: true };
    this.links.set(index, l);
    this.emit({ kind: 'link', op: 'new', link: this.view(l) });
    return index;
  }

  /** The state in names, not ifindexes: equal for equal configurations whatever the history. */
  snapshot(): { links: string[]; routes: string[]; containers: string[] } {
    const nameOf = (i: number | undefined): string => (i === undefined ? '-' : (this.links.get(i)?.name ?? `#${i}`));
    return {
      links: [...this.links.values()]
        .map((l) => `${l.name} ${l.mac} ${l.up ? 'up' : 'down'} peer=${l.peer ? `${l.peer.ns}:${l.peer.name}` : '-'}`)
        .sort(),
      routes: [...this.routes.values()]
        .map((r) => `${r.type} ${r.dst} proto ${r.protocol} scope ${r.scope} dev ${r.type === 'unicast' ? nameOf(r.oif) : '-'}`)
        .sort(),
      containers: [...this.containers.entries()]
        .map(([k, c]) => `${k} ${[...c.links.entries()].map(([n, v]) => `${n}:${v.up ? 'up' : 'down'}`).join(',')} ${c.config ? JSON.stringify(c.config) : '-'}`)
        .sort(),
    };
  }

  // ---- Kernel ----

  private view(l: FakeLink): KernelLink {
    return { index: l.index, name: l.name, mac: l.mac, up: l.up };
  }

  private emit(e: KernelEvent): void {
    for (const fn of this.listeners) queueMicrotask(() => fn(e));
  }

  private dropLink(l: FakeLink): void {
    this.links.delete(l.index);
    if (l.peer) this.containers.get(l.peer.ns)?.links.delete(l.peer.name);
    if (l.peer) {
      const c = this.containers.get(l.peer.ns);
      if (c?.config?.ifName === l.peer.name) delete c.config;
    }
    for (const [k, r] of this.routes) if (r.oif === l.index) this.routes.delete(k);
    for (const k of [...this.sysctls.keys()]) if (k.split('/').includes(l.name)) this.sysctls.delete(k);
    this.linkLocal.delete(l.name);
    this.emit({ kind: 'link', op: 'del', link: this.view(l) });
  }

  listLinks(): Promise<KernelLink[]> {
    this.log.push('listLinks');
    return Promise.resolve([...this.links.values()].map((l) => this.view(l)));
  }

  getLink(name: string): Promise<KernelLink | undefined> {
    const l = [...this.links.values()].find((x) => x.name === name);
    return Promise.resolve(l && this.view(l));
  }

  listRoutes(): Promise<KernelRoute[]> {
    this.log.push('listRoutes');
    return Promise.resolve([...this.routes.values()]);
  }

  async createVeth(spec: VethSpec): Promise<number> {
    await this.delay('createVeth');
    this.log.push(`createVeth ${spec.hostName}`);
    this.fault('createVeth', spec.hostName);
    const ns = nsKey(spec.peerNetns);
    const c = this.containers.get(ns);
    if (!c) throw new KernelError(`open netns ${ns}`, 'ENOENT');
    if ([...this.links.values()].some((l) => l.name === spec.hostName)) throw new KernelError('create veth', 'EEXIST');
    if (c.links.has(spec.peerName)) throw new KernelError('create veth', 'EEXIST');
    const index = this.nextIndex++;
    const l: FakeLink = { index, name: spec.hostName, mac: spec.hostMac, up: false, peer: { ns, name: spec.peerName } };
    this.links.set(index, l);
    c.links.set(spec.peerName, { mac: spec.peerMac ?? '02:42:00:00:00:00', up: false });
    this.emit({ kind: 'link', op: 'new', link: this.view(l) });
    return index;
  }

  async setLinkUp(index: number): Promise<void> {
    await this.delay('setLinkUp');
    this.fault('setLinkUp', String(index));
    const l = this.links.get(index);
    if (!l) throw new KernelError('set link up', 'ENODEV');
    l.up = true;
    this.emit({ kind: 'link', op: 'new', link: this.view(l) });
  }

  async settleLink(index: number): Promise<readonly string[]> {
    await this.delay('settleLink');
    const l = this.links.get(index);
    const name = l?.name ?? String(index);
    this.log.push(`settleLink ${name}`);
    this.fault('settleLink', name);
    if (!l) throw new KernelError(`get link ${index}`, 'ENODEV');
    return l.peer ? [l.name, l.peer.name] : [l.name];
  }

  async deleteLink(index: number): Promise<void> {
    await this.delay('deleteLink');
    this.log.push(`deleteLink ${this.links.get(index)?.name ?? index}`);
    const l = this.links.get(index);
    if (!l) throw new KernelError('delete link', 'ENODEV');
    this.dropLink(l);
  }

  async writeSysctl(path: string, value: string): Promise<void> {
    await this.delay('writeSysctl');
    this.fault('writeSysctl', path);
    const parts = path.split('/');
    // Per-interface sysctl directories exist only while the interface does.
    if ((parts[2] === 'conf' || parts[2] === 'neigh') && parts[3] && !['all', 'default'].includes(parts[3])) {
      if (![...this.links.values()].some((l) => l.name === parts[3])) throw new KernelError(`sysctl ${path}`, 'ENOENT');
    }
    this.sysctls.set(path, value);
  }

  async configureHostSide(index: number, name: string, opts: { readonly ipv6: boolean }): Promise<void> {
    await this.delay('configureHostSide');
    this.fault('configureHostSide', name);
    const l = this.links.get(index);
    if (!l) throw new KernelError(`host side of ${name}`, 'ENODEV');
    this.sysctls.set(`net/ipv4/conf/${name}/proxy_arp`, '1');
    this.sysctls.set(`net/ipv4/neigh/${name}/proxy_delay`, '0');
    if (opts.ipv6) this.linkLocal.set(name, HOST_VETH_LINK_LOCAL);
    l.up = true;
    this.emit({ kind: 'link', op: 'new', link: this.view(l) });
  }

  /** Host links' IPv6 link-local address, by name (set by configureHostSide). */
  readonly linkLocal = new Map<string, string>();
  /** Container helpers opened and neither used nor cancelled yet (a real one is a process). */
  openHelpers = 0;

  openContainer(netns: NetnsRef): ContainerHelper {
    let open = true;
    this.openHelpers++;
    const close = (): boolean => {
      if (!open) return false;
      open = false;
      this.openHelpers--;
      return true;
    };
    return {
      start: (opts) => {
        const c = this.containers.get(nsKey(netns));
        if (open && opts.ipv6 && c) c.sysctls.set('net/ipv6/conf/all/disable_ipv6', '0');
      },
      configure: (side) => (close() ? this.configureContainer(netns, side) : Promise.reject(new KernelError('configure container', 'EINVAL', 'helper already used'))),
      cancel: () => void close(),
    };
  }

  /** What a helper's configure() does (a method, so tests can wrap it). */
  async configureContainer(netns: NetnsRef, side: ContainerSide): Promise<void> {
    await this.delay('configureContainer');
    this.log.push(`configureContainer ${nsKey(netns)}`);
    this.fault('configureContainer', nsKey(netns));
    const c = this.containers.get(nsKey(netns));
    if (!c) throw new KernelError('configure container', 'EIO', 'nsenter: No such file or directory');
    const link = c.links.get(side.ifName);
    if (!link) throw new KernelError('configure container', 'EIO', `Cannot find device "${side.ifName}"`);
    if (c.hasDefaultRoute && side.ipv4 !== undefined) throw new KernelError('configure container', 'EIO', 'RTNETLINK answers: File exists');
    if (side.ipv6 !== undefined) c.sysctls.set('net/ipv6/conf/all/disable_ipv6', '0');
    link.up = true;
    c.config = side;
  }

  async addRoutes(routes: readonly RouteSpec[], protocol: number, onSent?: () => void): Promise<(string | undefined)[]> {
    await this.delay('addRoutes');
    this.log.push(`addRoutes ${routes.length}`);
    const results = routes.map((r) => {
      try {
        this.fault('addRoute', r.dst);
      } catch (err) {
        return (err as KernelError).code;
      }
      if (this.routes.has(routeId(r))) return 'EEXIST';
      if (r.type === 'unicast' && (r.oif === undefined || !this.links.has(r.oif))) return 'ENODEV';
      const route: KernelRoute =
        r.type === 'unicast'
          ? { family: r.family, dst: r.dst, type: r.type, protocol, scope: r.family === 4 ? 'link' : 'universe', oif: r.oif! }
          : { family: r.family, dst: r.dst, type: r.type, protocol, scope: 'universe' };
      this.routes.set(routeId(r), route);
      this.emit({ kind: 'route', op: 'new', route });
      return undefined;
    });
    // As the real kernel: the routes are in (or refused) when the request has been sent;
    // the answer comes a turn later.
    onSent?.();
    await Promise.resolve();
    return results;
  }

  async deleteRoutes(routes: readonly RouteSpec[], protocol: number): Promise<(string | undefined)[]> {
    await this.delay('deleteRoutes');
    this.log.push(`deleteRoutes ${routes.length}`);
    return routes.map((r) => {
      const cur = this.routes.get(routeId(r));
      // The kernel matches the attributes given: protocol, type, device.
      if (!cur || cur.protocol !== protocol || cur.type !== r.type || (r.oif !== undefined && cur.oif !== r.oif)) return 'ESRCH';
      this.routes.delete(routeId(r));
      this.emit({ kind: 'route', op: 'del', route: cur });
      return undefined;
    });
  }

  subscribe(onEvent: (e: KernelEvent) => void): () => void {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  close(): void {
    this.listeners.clear();
  }
}
