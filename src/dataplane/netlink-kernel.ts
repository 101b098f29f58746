/**
 * The Kernel interface over rtnetlink (the `netlink` package's socket, see
 * netlink/socket.ts) for this process's network namespace — the worker's.
 *
 * Requests go out on one socket, host routes in batches on a second one of their own (so
 * that they are in the kernel when the agent advertises them, see `routes`);
 * notifications come in on a third, so a burst of our own changes cannot delay a
 * request's ack. Veths are deleted from a fourth socket, sent from a worker thread
 * (netlink/thread.ts): a deletion sleeps in the kernel for RCU grace periods, and the
 * event loop must not sleep with it.
 *
 * Sysctls of the worker namespace are plain writes under /proc/sys (this process is in
 * that namespace), but a new veth's host side is set over netlink (proxy ARP, proxy
 * delay, link-local address: one round trip); the container side is set up by one
 * helper process per container (container.ts).
 */
import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { KernelError } from './errors.js';
import { HelperLauncher } from './launcher.js';
import { containerBatch, containerDevLine, containerEarly, findHelperTools, helperEnv, nsenterArgv, spareArgv, spareFirstLine, type HelperTools } from './container.js';
import { HOST_VETH_LINK_LOCAL } from './plumbing.js';
import type { ContainerHelper, Kernel, KernelEvent, KernelLink, KernelRoute, NetnsRef, RouteSpec, VethSpec } from './kernel.js';
import {
  decodeLink,
  decodeRoute,
  encodeGetLink,
  encodeLinkByName,
  encodeLinkDumpRequest,
  encodeLinkIndex,
  encodeAddress,
  encodeHostLinkSettings,
  encodeLinkUp,
  encodeNewVeth,
  encodeProxyDelay,
  IFA_F_NODAD,
  IFA_F_PERMANENT,
  encodeRoute,
  encodeRouteDumpRequest,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_SETNEIGHTBL,
  type LinkPeer,
} from './netlink/codec.js';
import { NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE, RtnlSocket, type OutMessage } from './netlink/socket.js';

// rtnetlink multicast groups (include/uapi/linux/rtnetlink.h, enum rtnetlink_groups)
const RTNLGRP_LINK = 1;
const RTNLGRP_IPV4_ROUTE = 7;
const RTNLGRP_IPV6_ROUTE = 11;

export function netnsPath(ns: NetnsRef): string {
  if (ns.path !== undefined) return ns.path;
  if (ns.pid !== undefined) return `/proc/${ns.pid}/ns/net`;
  throw new KernelError('netns', 'EINVAL', 'neither pid nor path given');
}

/**
 * Spare container-side helpers kept started (launcher.ts): a container's helper is then
 * already forked and past its first exec. Two cover containers started one after another
 * and a small burst; a bigger burst starts the rest on demand.
 */
const SPARE_HELPERS = 2;

export class NetlinkKernel implements Kernel {
  private readonly sock = new RtnlSocket();
  /**
   * Host routes added: a socket of their own, so that their sendmsg(2) runs inside the send
   * (and the routes are in the kernel when the agent advertises them) instead of queuing
   * behind the other containers' requests of the same event-loop turn (netlink/socket.ts).
   */
  private readonly routes = new RtnlSocket();
  /** Link deletion: sent from a thread (see the header). */
  private readonly deletions = new RtnlSocket({ offThread: true });
  private v6defaults: Promise<{ disabled: boolean; acceptRaAlways: boolean }> | undefined;
  /**
   * Container namespaces being opened ahead, by path: openContainer starts the open when
   * the container becomes known, createVeth takes it (see there). One that nobody takes
   * is closed when its helper is done.
   */
  private readonly nsOpening = new Map<string, Promise<FileHandle>>();
  /** nsenter, sh and ip, found on PATH at the first helper. */
  private tools: HelperTools | undefined;
  /** Starts the container-side helpers, so that the agent's own process never forks per container. */
  private readonly launcher = new HelperLauncher();

  async listLinks(): Promise<KernelLink[]> {
    const parts = await this.sock.dump(RTM_GETLINK, encodeLinkDumpRequest(), 'dump links');
    const out: KernelLink[] = [];
    for (const m of parts) {
      if (m.type !== RTM_NEWLINK) continue;
      const l = decodeLink(m.data);
      if (l) out.push(l);
    }
    return out;
  }

  async listRoutes(): Promise<KernelRoute[]> {
    const parts = await this.sock.dump(RTM_GETROUTE, encodeRouteDumpRequest(), 'dump routes');
    const out: KernelRoute[] = [];
    for (const m of parts) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = decodeRoute(m.data);
      if (r) out.push(r);
    }
    return out;
  }

  async getLink(name: string): Promise<KernelLink | undefined> {
    try {
      const parts = await this.sock.request({ type: RTM_GETLINK, flags: 0, payload: encodeLinkByName(name) }, `get link ${name}`);
      for (const m of parts) if (m.type === RTM_NEWLINK) return decodeLink(m.data);
      return undefined;
    } catch (err) {
      if (err instanceof KernelError && (err.code === 'ENODEV' || err.code === 'ENOENT')) return undefined;
      throw err;
    }
  }

  async createVeth(spec: VethSpec): Promise<number> {
    // Opened off the event loop: opening /proc/<pid>/ns/net waits while that process is
    // in the middle of an execve(2) (the kernel's exec_update_lock), and a container's
    // first process is often exactly there when its start event arrives. A synchronous
    // open blocked the whole agent for up to 39 ms in the convergence burst. Usually
    // it was started with the container's helper (openContainer), so it is done by now
    // and costs no trip to the thread pool here.
    const path = netnsPath(spec.peerNetns);
    const ahead = this.nsOpening.get(path);
    this.nsOpening.delete(path);
    let ns: FileHandle;
    try {
      ns = await (ahead ?? open(path, 'r')).catch(() => open(path, 'r'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new KernelError(`open netns ${path}`, code);
    }
    let parts;
    try {
      // NLM_F_ECHO: the kernel (6.3 and later) answers with the new link, index included.
      parts = await this.sock.request(
        { type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, payload: encodeNewVeth({ ...spec, peerNetnsFd: ns.fd }) },
        `create veth ${spec.hostName}`,
      );
    } finally {
      // The kernel holds the namespace by now (or refused); nothing waits for the close.
      ns.close().catch(() => undefined);
    }
    for (const m of parts) {
      if (m.type !== RTM_NEWLINK) continue;
      const echoed = decodeLink(m.data);
      if (echoed?.name === spec.hostName) return echoed.index;
    }
    const link = await this.getLink(spec.hostName);
    if (link === undefined) throw new KernelError(`create veth ${spec.hostName}`, 'ENODEV', 'gone right after creation');
    return link.index;
  }

  /**
   * RTM_GETLINK runs the link watch for the link asked about before answering (Linux 6.8
   * and later; on older kernels this changes nothing). The host end by its index; the
   * container's end by the host end's IFLA_LINK in the namespace of IFLA_LINK_NETNSID
   * (IFLA_TARGET_NETNSID), without entering it.
   */
  async settleLink(index: number): Promise<readonly string[]> {
    const reached: string[] = [];
    const ask = async (i: number, netnsId?: number): Promise<LinkPeer | undefined> => {
      const where = netnsId === undefined ? '' : ` in namespace id ${netnsId}`;
      const parts = await this.sock.request({ type: RTM_GETLINK, flags: 0, payload: encodeGetLink(i, netnsId) }, `get link ${i}${where}`);
      for (const m of parts) {
        const link = m.type === RTM_NEWLINK ? decodeLink(m.data) : undefined;
        if (link === undefined) continue;
        reached.push(link.name);
        return link.peer;
      }
      return undefined;
    };
    const peer = await ask(index);
    if (peer !== undefined) await ask(peer.index, peer.netnsId);
    return reached;
  }

  async setLinkUp(index: number): Promise<void> {
    await this.sock.request({ type: RTM_NEWLINK, flags: 0, payload: encodeLinkUp(index) }, `set link ${index} up`);
  }

  async deleteLink(index: number): Promise<void> {
    await this.deletions.request({ type: RTM_DELLINK, flags: 0, payload: encodeLinkIndex(index) }, `delete link ${index}`);
  }

  async writeSysctl(path: string, value: string): Promise<void> {
    try {
      await writeFile(`/proc/sys/${path}`, value);
    } catch (err) {
      throw new KernelError(`sysctl ${path}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  async configureHostSide(index: number, name: string, opts: { readonly ipv6: boolean }): Promise<void> {
    if (opts.ipv6) {
      // Only when the worker's defaults need it (rare): these are /proc writes, and
      // writing disable_ipv6 busy-retries for the kernel's rtnl lock.
      const d = await this.ipv6Defaults();
      if (d.disabled) await this.writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, '0');
      if (d.acceptRaAlways) await this.writeSysctl(`net/ipv6/conf/${name}/accept_ra`, '0');
    }
    // One round trip: the kernel runs the messages in order.
    const steps: [string, OutMessage][] = [
      ['proxy_arp', { type: RTM_NEWLINK, flags: 0, payload: encodeHostLinkSettings(index, opts) }],
      ['proxy_delay', { type: RTM_SETNEIGHTBL, flags: 0, payload: encodeProxyDelay(index, 0) }],
      ['up', { type: RTM_NEWLINK, flags: 0, payload: encodeLinkUp(index) }],
    ];
    if (opts.ipv6) {
      const ll = { index, family: 6 as const, address: HOST_VETH_LINK_LOCAL, prefixLength: 64, scope: 'link' as const, flags: IFA_F_NODAD | IFA_F_PERMANENT };
      steps.push([`address ${HOST_VETH_LINK_LOCAL}`, { type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: encodeAddress(ll) }]);
    }
    const results = await this.sock.batch(steps.map(([, m]) => m));
    const failed = results.findIndex((r) => r !== undefined);
    if (failed >= 0) throw new KernelError(`host side of ${name}: ${steps[failed]![0]}`, results[failed]!);
  }

  /**
   * The worker's IPv6 defaults, read once: a host veth inherits `default`. Forwarding is on
   * (WORKER_SYSCTLS), so router advertisements are ignored unless accept_ra is 2.
   */
  private ipv6Defaults(): Promise<{ disabled: boolean; acceptRaAlways: boolean }> {
    const read = (k: string): Promise<string> => readFile(`/proc/sys/net/ipv6/conf/default/${k}`, 'utf8').then((v) => v.trim(), () => '');
    this.v6defaults ??= Promise.all([read('disable_ipv6'), read('accept_ra')]).then(([d, ra]) => ({ disabled: d === '1', acceptRaAlways: ra === '2' }));
    return this.v6defaults;
  }

  /** Starts the helper launcher now, so that the first container does not wait for it. */
  prepareContainers(): void {
    this.helperTools();
    this.launcher.warm();
  }

  /** nsenter, sh and ip, found once; the launcher keeps spare helpers from then on. */
  private helperTools(): HelperTools {
    if (this.tools === undefined) {
      this.tools = findHelperTools();
      this.launcher.setSpares(spareArgv(this.tools), helperEnv(), SPARE_HELPERS);
    }
    return this.tools;
  }

  openContainer(netns: NetnsRef): ContainerHelper {
    const tools = this.helperTools();
    const path = netnsPath(netns);
    const p = this.launcher.open(nsenterArgv(path, tools), helperEnv(), spareFirstLine(path));
    if (!this.nsOpening.has(path)) {
      const opening = open(path, 'r');
      opening.catch(() => undefined); // createVeth opens again and reports the error
      this.nsOpening.set(path, opening);
      // Not taken by createVeth (cancelled, failed, or a repair whose veth came first).
      void p.exited.then(() => {
        if (this.nsOpening.get(path) !== opening) return;
        this.nsOpening.delete(path);
        opening.then((h) => h.close()).catch(() => undefined);
      });
    }
    const exited = p.exited.then((e) => {
      if ('error' in e) throw new KernelError('configure container', e.error === 'ENOENT' ? 'ENOENT' : 'EIO', e.error);
      if (e.code !== 0) throw new KernelError('configure container', 'EIO', e.stderr.trim() || `exit ${e.signal ?? e.code}`);
    });
    exited.catch(() => undefined); // reported by configure(); a cancelled helper's exit is nobody's business
    let used = false;
    let started = false;
    return {
      start: (opts) => {
        if (used || started) return;
        started = true;
        p.write(containerEarly(opts));
      },
      configure: (side) => {
        if (used) return Promise.reject(new KernelError('configure container', 'EINVAL', 'helper already used'));
        used = true;
        try {
          const early = started ? '' : containerEarly({ ipv6: side.ipv6 !== undefined });
          started = true;
          p.end(early + containerDevLine(side) + containerBatch(side));
        } catch (err) {
          p.kill();
          return Promise.reject(err as Error);
        }
        return exited;
      },
      cancel: () => {
        if (used) return;
        used = true;
        p.end();
      },
    };
  }

  addRoutes(routes: readonly RouteSpec[], protocol: number, onSent?: () => void): Promise<(string | undefined)[]> {
    // NLM_F_EXCL: never replace a route that is already there — it may not be ours.
    return this.routes.batch(
      routes.map((r) => ({ type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_EXCL, payload: encodeRoute(r, protocol) })),
      onSent ? { onSent } : {},
    );
  }

  deleteRoutes(routes: readonly RouteSpec[], protocol: number): Promise<(string | undefined)[]> {
    // The protocol in the request makes the kernel match only routes carrying it.
    return this.sock.batch(routes.map((r) => ({ type: RTM_DELROUTE, flags: 0, payload: encodeRoute(r, protocol) })));
  }

  subscribe(onEvent: (e: KernelEvent) => void): () => void {
    const sub = new RtnlSocket({
      groups: [RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE],
      onOverrun: () => onEvent({ kind: 'overrun' }),
      onNotify: (msgs) => {
        for (const m of msgs) {
          if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
            const link = decodeLink(m.data);
            if (link) onEvent({ kind: 'link', op: m.type === RTM_NEWLINK ? 'new' : 'del', link });
          } else if (m.type === RTM_NEWROUTE || m.type === RTM_DELROUTE) {
            const route = decodeRoute(m.data);
            if (route) onEvent({ kind: 'route', op: m.type === RTM_NEWROUTE ? 'new' : 'del', route });
          }
        }
      },
    });
    return () => sub.close();
  }

  close(): void {
    this.sock.close();
    this.routes.close();
    this.deletions.close();
    this.launcher.close();
  }
}
