/**
 * The endpoint controller: turns what a runtime wants (containers with a zone) into wired,
 * routed, advertised endpoints, and keeps them so.
 *
 * Desired state is a map id → EndpointSpec, set by `sync()` (the runtime's full list),
 * `add()` and `remove()`. Each change schedules `converge(id)`, which compares what is
 * wanted for that id with what it has done for it and does the difference:
 *   setup:    IPAM allocate (fixed addresses honoured; used as soon as chosen, while the
 *             store's write makes them durable, which is waited for before 'ready') → zone
 *             policy: the address and the
 *             host veth's name into the anti-spoofing set (an ipset element; the veth need
 *             not exist yet) → dataplane addEndpoint (veth into /proc/<pid>/ns/net, its
 *             container side, and the host routes as the very last kernel change) →
 *             advertise the /32 and /128 in the same tick the host routes are in (or, for
 *             an `aggregate: true` pool, the host's block with a blackhole route for it,
 *             and no host prefix) → ready. So nothing stands between the host route and
 *             the UPDATE, and the container's first packet already meets its set entry.
 *             A failing step undoes the earlier ones (set entry removed, allocation
 *             released), and the endpoint shows state 'error' with the reason: nothing is
 *             left half-done.
 *   teardown: withdraw → dataplane removeEndpoint → IPAM release.
 *   re-plumb: same addresses, new PID (the container was restarted): a new veth, the
 *             allocation and the advertisements kept.
 * Converges of one id run one at a time, in order (a remove during an add waits for it);
 * a converge that has not started yet is not queued twice, since it reads the desired
 * state when it starts — so any interleaving of add/remove/sync ends in the same state.
 * Different ids run in parallel, at most `concurrency` at once (the dataplane serializes
 * only operations on the same endpoint, so this bound is the only one on the path).
 *
 * Start: the first `sync()` adopts what the kernel already has. The allocations of the
 * listed containers are taken again from the store (allocate is idempotent), the whole
 * desired set goes to the dataplane at once and one `apply()` keeps the veths and routes
 * of live containers as they are (no blip for them), rebuilds what is missing and deletes
 * the own links and routes of containers that died while the agent was down; IPAM
 * reconcile then frees their addresses. Nothing is repaired before that first sync: with
 * an empty desired set the reconciler would delete every live container's plumbing.
 *
 * Repair: a periodic pass (apply + IPAM leak GC + retry of endpoints in error) and the
 * dataplane's netlink watch, both pausable (`pause()`/`resume()`) so drift can be left in
 * place on purpose (verify tests).
 *
 * Store outages (etcd without quorum: a StoreUnavailableError): what is wired stays wired.
 * A setup that cannot allocate waits, pending with `waiting for store`, and is retried
 * (1 s, backing off to 5 s) until the store answers; a teardown unwires at once and owes
 * the release, which the leak reconcile pays once the store answers. At start without the
 * store, a listed container whose veth and host routes are in the kernel keeps them (the
 * agent put them there after a durable allocation): adopted as they are, then checked
 * against the store when it answers (allocate with those addresses fixed). One the store
 * now gives to someone else is unwired and wired again with a new address, so that no
 * address is ever in use twice.
 */
import { createHash } from 'node:crypto';
import { Limiter } from '../concurrency.js';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { canonicalPrefix, GATEWAY_V4, HOST_VETH_LINK_LOCAL, RTPROT_ROUTECTL, hostIfNameFor, isContainerRoute, type EndpointPlumbing } from '../dataplane/plumbing.js';
import { reportChanged, type ApplyReport, type PlumbTimings } from '../dataplane/dataplane.js';
import type { ContainerHelper, NetnsRef } from '../dataplane/kernel.js';
import { addressInPrefix, hostPrefix } from '../net.js';
import type { Allocation } from '../ipam/ipam.js';
import { isStoreUnavailable } from '../store/store.js';
import type { Logger } from '../log.js';
import type { AdvertiserPort, DataplanePort, EndpointSpec, EndpointState, EndpointView, IpamPort, PolicyEndpointRef, PolicyPort } from './types.js';

export interface EndpointControllerOptions {
  readonly ipam: IpamPort;
  readonly dataplane: DataplanePort;
  readonly advertiser: AdvertiserPort;
  /** Zone policy: endpoint add/remove become ipset element changes (absent: no policy). */
  readonly policy?: PolicyPort;
  readonly log?: Logger;
  /** Endpoints wired at the same time (default 16). */
  readonly concurrency?: number;
  /** Full repair pass period in ms (default 60 000); 0 = none (tests drive reconcile()). */
  readonly reconcileIntervalMs?: number;
  /** Follow netlink notifications to repair drift at once (default true). */
  readonly watchDrift?: boolean;
  /** The container's interface name (default eth0). */
  readonly ifName?: string;
  /**
   * The runtimes that feed this controller (default ['docker']). The first adopt waits for
   * the first sync() of every one of them: adopting one runtime's list alone would delete
   * the other's veths as orphans.
   */
  readonly sources?: readonly string[];
  readonly now?: () => number;
}

/** What the controller did for one endpoint (its "actual" state). */
interface Wired {
  readonly spec: EndpointSpec;
  readonly alloc: Allocation;
  readonly plumbing: EndpointPlumbing;
  /** Host prefixes this endpoint added to the advertisements (empty for aggregated pools). */
  readonly hostPrefixes: readonly string[];
}

interface Status {
  readonly state: EndpointState;
  readonly error: string | null;
  readonly since: string;
}

/**
 * A fixed, locally administered unicast MAC per container id (first octet 0x02): the
 * container's eth0 keeps its MAC across re-plumbs and agent restarts, and `inspect` can
 * show it without entering the container.
 */
export function containerMac(id: string): string {
  const h = createHash('sha256').update(id).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

const DEFAULT_SOURCE = 'docker';

/**
 * Endpoints converged at once. Each one mostly waits (the store's write, the policy's
 * ipset helper, the container-side helper process, netlink acks), so a burst of
 * container starts is cleared by overlapping those waits rather than queueing behind them.
 */
export const DEFAULT_CONCURRENCY = 16;

/** Same namespace and interface: a new pid or netns path means a new veth. */
function netnsOf(spec: EndpointSpec): NetnsRef {
  return spec.netnsPath !== undefined ? { path: spec.netnsPath } : { pid: spec.pid };
}

function samePlace(a: EndpointSpec, b: EndpointSpec): boolean {
  return a.pid === b.pid && a.netnsPath === b.netnsPath && a.ifName === b.ifName;
}

function sameAddressing(a: EndpointSpec, b: EndpointSpec): boolean {
  return a.zone === b.zone && a.ipv4 === b.ipv4 && a.ipv6 === b.ipv6;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EndpointController {
  private readonly desired = new Map<string, EndpointSpec>();
  private readonly wired = new Map<string, Wired>();
  private readonly status = new Map<string, Status>();
  /** per id: the tail of its converge chain */
  private readonly tails = new Map<string, Promise<void>>();
  /** ids with a converge queued that has not started yet */
  private readonly queued = new Set<string>();
  /** First lists per source, until every source has sent one (then adopted together). */
  private readonly firstLists = new Map<string, readonly EndpointSpec[]>();
  private readonly log: Logger;
  /** Converges of different ids at once, at most `concurrency`. */
  private readonly limiter: Limiter;
  private readonly intervalMs: number;
  private readonly watchDrift: boolean;
  private readonly ifName: string;
  private readonly now: () => number;
  /** Resolves once the first sync has been adopted; converges wait for it. */
  private initialized: Promise<void>;
  private markInitialized!: () => void;
  private synced = false;
  private paused = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  /** Aggregated blocks this worker holds: blackholed and advertised (one prefix each). */
  private blocks = new Set<string>();
  /** The start's adoption has taken the blocks over (see releaseBlocks). */
  private blocksAdopted = false;
  private blockChain: Promise<void> = Promise.resolve();
  private lastReconcile: { at: string; report: ApplyReport | null; freed: number } | null = null;
  /** Endpoints that wait for the store (it did not answer): pending, retried by retryStore. */
  private readonly waitingStore = new Set<string>();
  /** Wired from the kernel's state while the store did not answer: checked against it later. */
  private readonly unconfirmed = new Set<string>();
  /** A release the store did not take: the leak reconcile that frees it is owed. */
  private reconcileOwed = false;
  /** Since when the store has not answered, and its last error; null while it answers. */
  private storeDown: { since: string; error: string } | null = null;
  private storeTimer: NodeJS.Timeout | undefined;
  private storeDelayMs = STORE_RETRY_MIN_MS;

  constructor(private readonly opts: EndpointControllerOptions) {
    this.log = (opts.log ?? pino({ level: 'silent' })).child({ op: 'endpoints' });
    this.limiter = new Limiter(Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY));
    this.intervalMs = opts.reconcileIntervalMs ?? 60_000;
    this.watchDrift = opts.watchDrift ?? true;
    this.ifName = opts.ifName ?? 'eth0';
    this.now = opts.now ?? (() => performance.now());
    this.initialized = new Promise((r) => (this.markInitialized = r));
    opts.ipam.onBlocksReleased?.((cidrs) => this.releaseBlocks(cidrs));
    // A block claimed ahead of need: blackholed and advertised now, not at its first address
    // (before the start's adoption, the adoption and the repair passes take it in).
    opts.ipam.onBlocksClaimed?.((cidrs) => {
      if (!this.blocksAdopted || this.stopped) return;
      void this.refreshBlocks().catch((err: unknown) => this.log.warn({ event: 'block-refresh-failed', err, blocks: cidrs }, 'blocks claimed ahead of need not advertised yet; the next repair pass retries'));
    });
  }

  // ---------------------------------------------------------------------------
  // Desired state (from the runtime)
  // ---------------------------------------------------------------------------

  /**
   * A runtime's full list (`source`, default 'docker'): the first list of every source is
   * adopted together (start); later ones are diffed against that source's endpoints only.
   */
  sync(specs: readonly EndpointSpec[], source = DEFAULT_SOURCE): Promise<void> {
    const tagged = specs.map((s) => ((s.source ?? DEFAULT_SOURCE) === source ? s : { ...s, source }));
    if (!this.synced) {
      this.firstLists.set(source, tagged);
      const all = this.opts.sources ?? [DEFAULT_SOURCE];
      if (all.some((s) => !this.firstLists.has(s))) return this.initialized;
      return this.adopt([...this.firstLists.values()].flat());
    }
    const next = new Map(tagged.map((s) => [s.id, s]));
    const ids = new Set(next.keys());
    for (const [id, s] of this.desired) {
      if ((s.source ?? DEFAULT_SOURCE) !== source) continue;
      ids.add(id);
      this.desired.delete(id);
    }
    for (const [id, s] of next) this.desired.set(id, s);
    return Promise.all([...ids].map((id) => this.schedule(id))).then(() => undefined);
  }

  add(spec: EndpointSpec): Promise<void> {
    this.desired.set(spec.id, spec);
    if (!this.status.has(spec.id)) this.setStatus(spec.id, 'pending', null);
    return this.schedule(spec.id);
  }

  remove(id: string): Promise<void> {
    this.desired.delete(id);
    return this.schedule(id);
  }

  /** Resolves when every scheduled converge has finished. */
  async settled(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  // ---------------------------------------------------------------------------
  // Views
  // ---------------------------------------------------------------------------

  list(): EndpointView[] {
    const ids = new Set([...this.desired.keys(), ...this.wired.keys()]);
    return [...ids].map((id) => this.view(id)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
  }

  get(id: string): EndpointView | undefined {
    return this.desired.has(id) || this.wired.has(id) ? this.view(id) : undefined;
  }

  /** Endpoints routed and advertised now. */
  readyCount(): number {
    let n = 0;
    for (const s of this.status.values()) if (s.state === 'ready') n++;
    return n;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  lastRepair(): { at: string; report: ApplyReport | null; freed: number } | null {
    return this.lastReconcile;
  }

  private view(id: string): EndpointView {
    const w = this.wired.get(id);
    const spec = this.desired.get(id) ?? w?.spec;
    const st = this.status.get(id) ?? { state: 'pending' as const, error: null, since: new Date().toISOString() };
    const alloc = w?.alloc;
    const advertised = w ? [...w.hostPrefixes, ...this.blocksOf(w.alloc)] : [];
    return {
      id,
      name: spec?.name ?? id.slice(0, 12),
      zone: spec?.zone ?? alloc?.zone ?? '',
      pid: spec?.pid ?? 0,
      state: st.state,
      error: st.error,
      ipv4: alloc?.ipv4 ?? null,
      ipv6: alloc?.ipv6 ?? null,
      hostVeth: w?.plumbing.hostIfName ?? null,
      hwaddr: w?.plumbing.mac ?? null,
      gateway: { ipv4: alloc?.ipv4 !== undefined ? GATEWAY_V4 : null, ipv6: alloc?.ipv6 !== undefined ? HOST_VETH_LINK_LOCAL : null },
      advertised,
      since: st.since,
    };
  }

  private setStatus(id: string, state: EndpointState, error: string | null): void {
    const cur = this.status.get(id);
    if (cur?.state === state && cur.error === error) return;
    this.status.set(id, { state, error, since: new Date().toISOString() });
  }

  // ---------------------------------------------------------------------------
  // Scheduling
  // ---------------------------------------------------------------------------

  private schedule(id: string): Promise<void> {
    const tail = this.tails.get(id);
    // A converge that has not started yet will read the latest desired state: one is enough.
    if (tail !== undefined && this.queued.has(id)) return tail;
    this.queued.add(id);
    const run = (tail ?? Promise.resolve())
      .then(() => this.initialized)
      .then(() =>
        this.limiter.run(async () => {
          this.queued.delete(id);
          if (this.stopped) return;
          try {
            await this.converge(id);
          } catch (err) {
            // converge handles its own failures; this is a bug guard, never a crash.
            this.log.error({ event: 'converge-failed', id, err }, `endpoint ${id}: ${message(err)}`);
          }
        }),
      );
    this.tails.set(id, run);
    void run.then(() => {
      if (this.tails.get(id) === run) this.tails.delete(id);
    });
    return run;
  }

  private async converge(id: string): Promise<void> {
    const want = this.desired.get(id);
    const have = this.wired.get(id);
    if (have && want && !samePlace(have.spec, want) && sameAddressing(have.spec, want)) {
      await this.replumb(have, want);
      return;
    }
    if (have && want && samePlace(have.spec, want) && sameAddressing(have.spec, want)) {
      if (have.spec.name !== want.name) this.wired.set(id, { ...have, spec: want });
      return;
    }
    if (have) await this.teardown(have);
    if (want) await this.setup(want);
    else {
      this.status.delete(id);
      this.waitingStore.delete(id);
    }
  }

  // ---------------------------------------------------------------------------
  // The three operations
  // ---------------------------------------------------------------------------

  private plumbingFor(spec: EndpointSpec, alloc: Allocation): EndpointPlumbing {
    return {
      id: spec.id,
      hostIfName: hostIfNameFor(spec.id),
      containerNetns: netnsOf(spec),
      ifName: spec.ifName ?? this.ifName,
      mac: containerMac(spec.id),
      ...(alloc.ipv4 !== undefined ? { ipv4: alloc.ipv4 } : {}),
      ...(alloc.ipv6 !== undefined ? { ipv6: alloc.ipv6 } : {}),
    };
  }

  /** Whether one of the blocks this worker advertises holds the address. */
  private covered(address: string): boolean {
    for (const b of this.blocks) if (addressInPrefix(address, b)) return true;
    return false;
  }

  /**
   * The host prefixes (/32, /128) an allocation needs advertised: its addresses outside the
   * blocks this worker advertises. An address of an aggregated pool whose block is not
   * advertised yet (the first address of a block just claimed) is `pending`: the block
   * refresh after its write advertises the block, and the host prefix only if the block
   * turns out not to be this worker's. In steady state (the block held) there is neither,
   * so a container start sends no UPDATE.
   */
  private prefixesFor(alloc: Allocation): { host: string[]; pending: string[] } {
    const host: string[] = [];
    const pending: string[] = [];
    for (const a of [alloc.ipv4, alloc.ipv6]) {
      if (a === undefined || this.covered(a)) continue;
      if (this.opts.ipam.poolOf(a)?.aggregate === true) pending.push(a);
      else host.push(hostPrefix(a));
    }
    return { host, pending };
  }

  /** Host prefixes once the blocks are known: every address outside them. */
  private hostPrefixes(alloc: Allocation): string[] {
    return [alloc.ipv4, alloc.ipv6].filter((a): a is string => a !== undefined && !this.covered(a)).map(hostPrefix);
  }

  private blocksOf(alloc: Allocation): string[] {
    const out: string[] = [];
    for (const b of this.blocks) {
      for (const a of [alloc.ipv4, alloc.ipv6]) if (a !== undefined && addressInPrefix(a, b)) out.push(b);
    }
    return out;
  }

  /** The aggregated blocks this worker holds, blackholes in the kernel and advertised (verify). */
  heldBlocks(): string[] {
    return [...this.blocks].sort();
  }

  /**
   * Setup, in four named steps: allocate → policy → plumb → advertise (the last inside
   * plumb, the moment the host routes are in the kernel's hands), then ready once the
   * allocation's write is durable. Each step that fails undoes the ones before it.
   */
  private async setup(spec: EndpointSpec): Promise<void> {
    const trace = new SetupTrace(this.now);
    // A retry while the store does not answer keeps saying why it waits.
    if (!this.waitingStore.has(spec.id)) this.setStatus(spec.id, 'pending', null);
    // The container-side helper starts now, so its start-up overlaps the allocation and
    // the policy; addEndpoint uses it, and whatever way this ends, it is cancelled (a
    // no-op once used). It changes nothing in the container before start().
    // Not for a retry while the store does not answer: it would start a helper process for
    // each attempt only to cancel it. That one starts once the addresses are known.
    let helper: ContainerHelper | undefined = this.waitingStore.has(spec.id) ? undefined : this.opts.dataplane.prepareContainer(netnsOf(spec));
    try {
      const chosen = await this.allocateStep(spec, trace);
      if (chosen === undefined) return;
      const { alloc, durable } = chosen;
      helper ??= this.opts.dataplane.prepareContainer(netnsOf(spec));
      helper.start({ ipv6: alloc.ipv6 !== undefined });
      const plumbing = this.plumbingFor(spec, alloc);
      const ref = policyRef(spec.id, plumbing.hostIfName, alloc);
      const policyAdded = this.policyStep(ref, trace);
      const prefixes = this.prefixesFor(alloc);
      const advert = this.advertiseStep(prefixes.host, trace);
      const undo = async (): Promise<void> => {
        advert.withdraw();
        // After its add: taken out before, the set entry would land afterwards.
        await policyAdded;
        await this.policyCall('remove', ref);
      };
      try {
        await this.plumbStep(plumbing, helper, policyAdded, advert, trace);
      } catch (err) {
        // The dataplane has undone its part.
        await undo();
        // After the allocation's write: released before it, it would land afterwards.
        await durable.catch(() => undefined);
        await this.opts.ipam.release(spec.id).catch((e: unknown) => this.log.error({ event: 'release-failed', id: spec.id, err: e }, 'rollback: release failed'));
        this.fail(spec, 'plumb', err);
        return;
      }
      try {
        await durable;
      } catch (err) {
        // Not stored, so not this endpoint's: withdraw, unplumb, take the set entry out.
        advert.withdraw();
        await this.opts.dataplane
          .removeEndpoint(spec.id)
          .catch((e: unknown) => this.log.error({ event: 'remove-failed', id: spec.id, err: e }, 'rollback: removing the veth failed; the repair pass will retry'));
        await undo();
        // The write may still have landed: the retry asks for the same endpoint, and an
        // allocation is idempotent per endpoint, so it gets the same addresses back.
        if (isStoreUnavailable(err)) this.waitForStore(spec, err);
        else this.fail(spec, 'allocate', err);
        return;
      }
      trace.mark('durable');
      this.waitingStore.delete(spec.id);
      this.storeAnswered();
      this.wired.set(spec.id, { spec, alloc, plumbing, hostPrefixes: advert.prefixes });
      // A block just claimed: blackholed and advertised now (and this endpoint's host
      // prefixes settled against it). A held block needs nothing: no store read, no UPDATE.
      if (prefixes.pending.length > 0) {
        await this.refreshBlocks([spec.id]).catch((err: unknown) => {
          // The blocks could not be read: the container is reachable by its own /32 and
          // /128 meanwhile; the next repair pass settles them against its block.
          this.log.warn({ event: 'blocks-refresh-failed', id: spec.id, err }, `container ${spec.name}: its block is not advertised yet (${message(err)}); its own addresses are`);
          const own = prefixes.pending.map(hostPrefix);
          this.opts.advertiser.add(own);
          this.wired.set(spec.id, { spec, alloc, plumbing, hostPrefixes: [...advert.prefixes, ...own] });
        });
      }
      const hostPrefixes = this.wired.get(spec.id)?.hostPrefixes ?? advert.prefixes;
      trace.mark('ready');
      this.setStatus(spec.id, 'ready', null);
      this.log.info(
        {
          event: 'ready',
          id: spec.id,
          name: spec.name,
          zone: spec.zone,
          ipv4: alloc.ipv4,
          ipv6: alloc.ipv6,
          hostVeth: plumbing.hostIfName,
          advertised: [...hostPrefixes, ...this.blocksOf(alloc)],
          ...trace.fields(),
        },
        `container ${spec.name} routed: ${[alloc.ipv4, alloc.ipv6].filter(Boolean).join(' ')} via ${plumbing.hostIfName}`,
      );
    } finally {
      helper?.cancel();
    }
  }

  /**
   * Allocate: the addresses are used as soon as they are chosen. The plumbing runs while
   * the store makes them durable (its fsync), and the endpoint is ready (a CNI ADD
   * answered) only once both are done; `durable` is that write.
   */
  private async allocateStep(spec: EndpointSpec, trace: SetupTrace): Promise<{ alloc: Allocation; durable: Promise<Allocation> } | undefined> {
    let chosen!: (a: Allocation) => void;
    const early = new Promise<Allocation>((resolve) => (chosen = resolve));
    const request = {
      ...(spec.ipv4 !== undefined ? { ipv4: spec.ipv4 } : {}),
      ...(spec.ipv6 !== undefined ? { ipv6: spec.ipv6 } : {}),
    };
    const durable = this.opts.ipam.allocate(spec.id, spec.zone, request, { onChosen: chosen }).then((a) => {
      trace.mark('stored');
      return a;
    });
    durable.catch(() => undefined); // awaited by setup, whichever way the plumbing goes
    try {
      const alloc = await Promise.race([early, durable]);
      trace.mark('chosen');
      return { alloc, durable };
    } catch (err) {
      if (isStoreUnavailable(err)) this.waitForStore(spec, err);
      else this.fail(spec, 'allocate', err);
      return undefined;
    }
  }

  /**
   * Policy: into the anti-spoofing set while the veth and the container side are set up.
   * The element is (address, host veth name), which the kernel accepts before the veth
   * exists, and until it is there the policy drops the container's packets (fail closed).
   * The host routes wait for it, so that the container can answer the moment it is
   * routed. A failure is repaired by the policy's pass.
   */
  private policyStep(ref: PolicyEndpointRef, trace: SetupTrace): Promise<void> {
    return this.policyCall('add', ref).then(() => trace.mark('policy'));
  }

  /**
   * Plumb: the veth with both its ends, then the host routes, the last kernel change
   * (after the policy's set entry). They are advertised the moment they are handed to the
   * kernel: it applies them inside that sendmsg(2), while its answer reaches the event
   * loop only a turn later, behind whatever else the agent is doing. Should the kernel
   * refuse them, this rejects after the advertisement (the caller withdraws it).
   */
  private async plumbStep(plumbing: EndpointPlumbing, helper: ContainerHelper, policyAdded: Promise<void>, advert: Advertising, trace: SetupTrace): Promise<void> {
    trace.mark('plumbStart');
    const add = this.opts.dataplane.addEndpoint(plumbing, helper, { beforeRoutes: policyAdded });
    await add.routesSent;
    advert.send();
    trace.steps = await add;
    trace.mark('plumbed');
  }

  /**
   * Advertise: the endpoint's host prefixes to the speaker; it sends the UPDATEs once the
   * code of the current tick has run. Taken back by withdraw() on a rollback.
   */
  private advertiseStep(prefixes: readonly string[], trace: SetupTrace): Advertising {
    const adv = this.opts.advertiser;
    let sent = false;
    return {
      prefixes,
      send: () => {
        if (sent) return;
        sent = true;
        trace.advertising(() => adv.add(prefixes));
      },
      withdraw: () => {
        if (!sent) return;
        sent = false;
        adv.remove(prefixes);
      },
    };
  }

  /** Endpoint → zone policy; a failure is logged (the policy's periodic pass re-adds from its own list). */
  private async policyCall(verb: 'add' | 'remove', ref: PolicyEndpointRef): Promise<void> {
    const p = this.opts.policy;
    if (!p) return;
    try {
      await (verb === 'add' ? p.addEndpoint(ref) : p.removeEndpoint(ref));
    } catch (err) {
      this.log.error({ event: 'policy-failed', id: ref.id, hostVeth: ref.hostVeth, err }, `zone policy ${verb} for ${ref.hostVeth} failed: ${message(err)}`);
    }
  }

  private fail(spec: EndpointSpec, step: 'allocate' | 'plumb', err: unknown): void {
    const text = step === 'allocate' ? `no address: ${message(err)}` : `wiring failed (addresses released): ${message(err)}`;
    this.setStatus(spec.id, 'error', text);
    this.log.error({ event: `${step}-failed`, id: spec.id, name: spec.name, zone: spec.zone, err }, `container ${spec.name} left alone: ${text}`);
  }

  private async teardown(w: Wired): Promise<void> {
    const id = w.spec.id;
    this.opts.advertiser.remove(w.hostPrefixes);
    try {
      await this.opts.dataplane.removeEndpoint(id);
    } catch (err) {
      // Out of the dataplane's desired set already: the next repair pass deletes what is left.
      this.log.error({ event: 'remove-failed', id, err }, `container ${w.spec.name}: removing its veth failed; the repair pass will retry`);
    }
    await this.policyCall('remove', policyRef(id, w.plumbing.hostIfName, w.alloc));
    try {
      await this.opts.ipam.release(id);
    } catch (err) {
      // The allocation stays until the IPAM reconcile finds it unused.
      if (isStoreUnavailable(err)) {
        this.reconcileOwed = true;
        this.storeFailed(err);
        this.log.warn({ event: 'release-waiting', id, err }, `container ${w.spec.name}: its addresses are freed once the store answers`);
      } else {
        this.log.error({ event: 'release-failed', id, err }, `container ${w.spec.name}: releasing its addresses failed; the repair pass will retry`);
      }
    }
    this.wired.delete(id);
    this.log.info({ event: 'removed', id, name: w.spec.name, ipv4: w.alloc.ipv4, ipv6: w.alloc.ipv6 }, `container ${w.spec.name} unwired`);
  }

  private async replumb(have: Wired, want: EndpointSpec): Promise<void> {
    const plumbing = this.plumbingFor(want, have.alloc);
    this.setStatus(want.id, 'pending', null);
    // Same order as setup: set entry (same id → same host veth name, so usually already
    // there: -exist), then the plumbing with the host routes last.
    await this.policyCall('add', policyRef(want.id, plumbing.hostIfName, have.alloc));
    try {
      await this.opts.dataplane.addEndpoint(plumbing);
    } catch (err) {
      // The old namespace is gone with the old process: nothing of it is worth keeping
      // (teardown also takes the set entry out).
      await this.teardown(have);
      this.fail(want, 'plumb', err);
      return;
    }
    this.wired.set(want.id, { ...have, spec: want, plumbing });
    this.setStatus(want.id, 'ready', null);
    this.log.info({ event: 'replumbed', id: want.id, name: want.name, pid: want.pid }, `container ${want.name} restarted: veth rebuilt, addresses kept`);
  }

  /**
   * Brings the blackholed and advertised blocks in line with the blocks IPAM says this
   * worker holds (one store read), and settles the host prefixes of `ids` against them.
   * Runs when a setup meets a block not advertised yet, and in every repair pass.
   */
  private refreshBlocks(ids: readonly string[] = []): Promise<void> {
    return this.onBlockChain(async () => {
      const held = (await this.opts.ipam.blocks()).filter((b) => b.aggregate).map((b) => b.cidr);
      await this.setBlocks(held, ids);
    });
  }

  /**
   * IPAM is giving blocks back: withdrawn and out of the kernel before anyone else may claim
   * them. Refused before the start's adoption has taken the blocks over (a previous run's
   * blackholes and advertisements are not this controller's yet): IPAM then keeps the
   * registry entries, and its next claim adopts the blocks back.
   */
  private releaseBlocks(cidrs: readonly string[]): Promise<void> {
    if (!this.blocksAdopted) return Promise.reject(new Error(`blocks ${cidrs.join(' ')} not given back yet: the start has not adopted the kernel's state`));
    return this.onBlockChain(() => this.setBlocks([...this.blocks].filter((b) => !cidrs.includes(b)), []));
  }

  private onBlockChain(fn: () => Promise<void>): Promise<void> {
    const run = this.blockChain.then(fn);
    this.blockChain = run.catch(() => undefined);
    return run;
  }

  /**
   * The block set becomes `held`. A new block: blackhole first, then its advertisement, then
   * the host prefixes it now covers are withdrawn (make before break). A block given up:
   * host prefixes for whatever it still covers first, then its withdrawal, then its
   * blackhole goes. Unused addresses of an advertised block thus always meet the blackhole
   * here, never this worker's default route back to the ToR (a loop). Host routes stay /32
   * and /128 in the kernel and win over the blackhole by longest match.
   */
  private async setBlocks(held: readonly string[], ids: readonly string[]): Promise<void> {
    const next = new Set(held);
    const fresh = held.filter((b) => !this.blocks.has(b));
    const gone = [...this.blocks].filter((b) => !next.has(b));
    if (fresh.length > 0) {
      this.opts.dataplane.setBlackholes([...this.blocks, ...fresh]);
      await this.applyBlackholes();
      this.opts.advertiser.add(fresh);
    }
    this.blocks = next;
    const changed = fresh.length > 0 || gone.length > 0;
    for (const [id, w] of this.wired) {
      if (!changed && !ids.includes(id)) continue;
      const want = this.hostPrefixes(w.alloc);
      const add = want.filter((p) => !w.hostPrefixes.includes(p));
      const drop = w.hostPrefixes.filter((p) => !want.includes(p));
      if (add.length === 0 && drop.length === 0) continue;
      this.wired.set(id, { ...w, hostPrefixes: want });
      this.opts.advertiser.add(add);
      this.opts.advertiser.remove(drop);
    }
    if (gone.length > 0) {
      this.opts.advertiser.remove(gone);
      this.opts.dataplane.setBlackholes(held);
      await this.applyBlackholes();
    }
    if (changed) this.log.info({ event: 'blocks', added: fresh, removed: gone }, `aggregated blocks: ${held.join(' ') || 'none'}`);
  }

  private async applyBlackholes(): Promise<void> {
    const report = await this.opts.dataplane.apply();
    for (const e of report.errors) if (e.endpointId === undefined) this.log.error({ event: 'blackhole-failed', route: e.route, err: e.error }, 'blackhole route for a block not changed; the repair pass retries');
  }

  // ---------------------------------------------------------------------------
  // Start: adopt the first sync
  // ---------------------------------------------------------------------------

  private async adopt(specs: readonly EndpointSpec[]): Promise<void> {
    this.synced = true;
    const t0 = this.now();
    for (const s of specs) {
      this.desired.set(s.id, s);
      this.setStatus(s.id, 'pending', null);
    }
    const ok: { spec: EndpointSpec; alloc: Allocation; plumbing: EndpointPlumbing }[] = [];
    // What the kernel routes to each listed container: its addresses are asked for again,
    // so that a container keeps them also when the store forgot them (a worker stopped
    // longer than the cluster's reclaim grace) and they are still free.
    const kernelState = await this.kernelAllocations();
    for (const spec of specs) {
      const fixed = {
        ...(spec.ipv4 !== undefined ? { ipv4: spec.ipv4 } : {}),
        ...(spec.ipv6 !== undefined ? { ipv6: spec.ipv6 } : {}),
      };
      const inKernel = kernelState.get(spec.id);
      const fromKernel = Object.keys(fixed).length === 0 && inKernel !== undefined;
      const req = fromKernel ? { ...(inKernel.ipv4 !== undefined ? { ipv4: inKernel.ipv4 } : {}), ...(inKernel.ipv6 !== undefined ? { ipv6: inKernel.ipv6 } : {}) } : fixed;
      try {
        let alloc: Allocation;
        try {
          alloc = await this.opts.ipam.allocate(spec.id, spec.zone, req);
        } catch (err) {
          // The store holds other addresses for it, or gave these to someone else: its word wins.
          if (!fromKernel || isStoreUnavailable(err)) throw err;
          this.log.warn({ event: 'kernel-address-refused', id: spec.id, name: spec.name, err }, `container ${spec.name}: the store refuses its addresses in the kernel (${message(err)}); it gets the store's`);
          alloc = await this.opts.ipam.allocate(spec.id, spec.zone, fixed);
        }
        ok.push({ spec, alloc, plumbing: this.plumbingFor(spec, alloc) });
      } catch (err) {
        if (!isStoreUnavailable(err)) {
          this.fail(spec, 'allocate', err);
          continue;
        }
        // No store: what the kernel holds for this container is what it had (the agent
        // installed it after a durable allocation). It is kept, and checked against the
        // store once it answers; a container the kernel knows nothing of waits.
        this.storeFailed(err);
        const alloc = kernelState.get(spec.id);
        if (alloc === undefined) {
          this.waitForStore(spec, err);
          continue;
        }
        const kept: Allocation = { ...alloc, zone: spec.zone };
        this.unconfirmed.add(spec.id);
        ok.push({ spec, alloc: kept, plumbing: this.plumbingFor(spec, kept) });
      }
    }
    // The blocks held are adopted with the rest: their blackholes kept, advertised again.
    const aggregated = await this.adoptBlocks();
    this.blocks = new Set(aggregated);
    this.opts.dataplane.setBlackholes(aggregated);
    this.opts.dataplane.setDesired(ok.map((o) => o.plumbing));
    let report: ApplyReport;
    try {
      report = await this.opts.dataplane.apply();
    } catch (err) {
      // Nothing could be read or written; every endpoint gets its own try below.
      this.log.error({ event: 'adopt-apply-failed', err }, `start: dataplane reconcile failed: ${message(err)}`);
      report = { linksCreated: [], linksRepaired: [], linksDeleted: [], routesAdded: [], routesDeleted: [], containersGone: [], errors: ok.map((o) => ({ endpointId: o.spec.id, error: err as Error })) };
    }
    const failed = new Map<string, Error>();
    for (const e of report.errors) if (e.endpointId !== undefined) failed.set(e.endpointId, e.error);
    for (const id of report.containersGone) failed.set(id, new Error('the container\'s network namespace is gone'));
    for (const o of ok) {
      const err = failed.get(o.spec.id);
      if (err !== undefined) {
        await this.opts.dataplane.removeEndpoint(o.spec.id).catch(() => undefined);
        await this.opts.ipam.release(o.spec.id).catch(() => undefined);
        this.fail(o.spec, 'plumb', err);
        continue;
      }
      const hostPrefixes = this.hostPrefixes(o.alloc);
      this.wired.set(o.spec.id, { spec: o.spec, alloc: o.alloc, plumbing: o.plumbing, hostPrefixes });
      this.opts.advertiser.add(hostPrefixes);
      this.setStatus(o.spec.id, 'ready', null);
    }
    this.opts.advertiser.add(aggregated);
    this.blocksAdopted = true;
    if (this.opts.policy) {
      const eps = [...this.wired.values()].map((w) => policyRef(w.spec.id, w.plumbing.hostIfName, w.alloc));
      await this.opts.policy.replaceEndpoints(eps).catch((err: unknown) => this.log.error({ event: 'policy-failed', err }, `start: zone policy endpoints not set: ${message(err)}`));
    }
    const freed = await this.opts.ipam.reconcile(new Set([...this.desired.keys(), ...this.wired.keys()])).catch((err: unknown) => {
      if (isStoreUnavailable(err)) {
        this.reconcileOwed = true;
        this.storeFailed(err);
      } else this.log.error({ event: 'ipam-reconcile-failed', err }, 'start: IPAM leak reconcile failed');
      return [] as Allocation[];
    });
    this.log.info(
      {
        event: 'adopted',
        endpoints: this.wired.size,
        errors: specs.length - this.wired.size,
        linksKept: this.wired.size - report.linksCreated.length,
        linksCreated: report.linksCreated.length,
        orphansRemoved: report.linksDeleted,
        routesAdded: report.routesAdded.length,
        routesRemoved: report.routesDeleted.length,
        addressesFreed: freed.map((f) => [f.ipv4, f.ipv6].filter(Boolean).join(' ')),
        fromKernel: this.unconfirmed.size,
        waitingForStore: this.waitingStore.size,
        ms: round(this.now() - t0),
      },
      `start: ${this.wired.size} endpoints adopted, ${report.linksDeleted.length} orphan veths removed, ${freed.length} leaked allocations freed`,
    );
    this.markInitialized();
    this.startRepair();
    if (this.storeDown !== null) this.kickStoreRetry();
  }

  /**
   * The aggregated blocks at start: IPAM's. When the store cannot be read (etcd without
   * quorum), the blackholes the previous run left in the kernel: the blocks are still this
   * worker's (nobody else may claim them while its document lists them), and dropping
   * their blackholes would let the fabric loop traffic for their unused addresses. The
   * first repair pass that reads the store corrects the set.
   */
  private async adoptBlocks(): Promise<string[]> {
    try {
      return (await this.opts.ipam.blocks()).filter((b) => b.aggregate).map((b) => b.cidr);
    } catch (err) {
      const kept = this.opts.dataplane.listOwn ? (await this.opts.dataplane.listOwn().catch(() => ({ routes: [] }))).routes.filter((r) => r.type === 'blackhole').map((r) => canonicalPrefix(r.dst)) : [];
      this.log.warn({ event: 'blocks-unknown', err, kept }, `start: blocks not readable from the store; keeping the kernel's blackholes: ${kept.join(' ') || 'none'}`);
      return kept;
    }
  }

  // ---------------------------------------------------------------------------
  // Repair loop
  // ---------------------------------------------------------------------------

  private startRepair(): void {
    if (this.stopped || this.paused) return;
    if (this.intervalMs > 0 && this.timer === undefined) {
      this.timer = setInterval(() => void this.reconcile(), this.intervalMs);
      this.timer.unref();
    }
    if (this.watchDrift && this.unwatch === undefined) {
      this.unwatch = this.opts.dataplane.watch(
        (r) => {
          if (reportChanged(r) || r.errors.length) this.logRepair('drift', r, 0);
        },
        (err) => this.log.error({ event: 'drift-repair-failed', err }, `drift repair failed: ${err.message}`),
      );
    }
  }

  private stopRepair(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** Stop repairing drift (routes or veths deleted by hand stay deleted) until resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.stopRepair();
    this.log.warn({ event: 'repair-paused' }, 'repair loop paused: drift is left in place until resumed');
  }

  /** Repair again, starting with a full pass now. */
  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    this.log.info({ event: 'repair-resumed' }, 'repair loop resumed');
    if (!this.synced) return;
    this.startRepair();
    await this.reconcile();
  }

  /**
   * One full repair pass: retry endpoints in error, reconcile the kernel with the desired
   * set, free leaked allocations. Skipped before the first sync and while paused.
   */
  async reconcile(): Promise<ApplyReport | null> {
    if (!this.synced || this.paused || this.stopped) return null;
    await this.initialized;
    for (const [id, st] of this.status) if (st.state === 'error' && this.desired.has(id)) void this.schedule(id);
    const report = await this.opts.dataplane.apply().catch((err: unknown) => {
      this.log.error({ event: 'reconcile-failed', err }, `repair pass failed: ${message(err)}`);
      return null;
    });
    // Live: what is wanted or still being taken down (its release comes on its own).
    const live = new Set([...this.desired.keys(), ...this.wired.keys(), ...this.tails.keys()]);
    const freed = await this.opts.ipam.reconcile(live).catch((err: unknown) => {
      if (isStoreUnavailable(err)) {
        this.reconcileOwed = true;
        this.storeFailed(err);
      } else this.log.error({ event: 'ipam-reconcile-failed', err }, 'IPAM leak reconcile failed');
      return [] as Allocation[];
    });
    // Blocks changed behind the controller's back (a give-back whose hook failed, a block
    // adopted by a claim, a store that was unreadable at start) are set right here.
    await this.refreshBlocks([...this.wired.keys()]).catch((err: unknown) => this.log.warn({ event: 'blocks-refresh-failed', err }, `aggregated blocks not refreshed: ${message(err)}`));
    if (report) this.logRepair('periodic', report, freed.length);
    this.lastReconcile = { at: new Date().toISOString(), report, freed: freed.length };
    return report;
  }

  private logRepair(kind: 'drift' | 'periodic', r: ApplyReport, freed: number): void {
    const changed = reportChanged(r) || freed > 0;
    const fields = {
      event: 'repaired',
      trigger: kind,
      linksCreated: r.linksCreated,
      linksRepaired: r.linksRepaired,
      linksDeleted: r.linksDeleted,
      routesAdded: r.routesAdded,
      routesDeleted: r.routesDeleted,
      containersGone: r.containersGone,
      addressesFreed: freed,
      errors: r.errors.map((e) => ({ endpoint: e.endpointId, route: e.route, link: e.link, err: e.error.message })),
    };
    if (r.errors.length) this.log.error(fields, `repair (${kind}): ${r.errors.length} errors`);
    else if (changed) this.log.warn(fields, `repair (${kind}): drift found and fixed`);
    else this.log.debug(fields, `repair (${kind}): no drift`);
  }

  /** Resolves once the first sync of every source was adopted. */
  whenAdopted(): Promise<void> {
    return this.initialized;
  }

  /** Stops the repair loop and waits for running converges. Kernel state is left as is: routes survive a restart. */
  async stop(): Promise<void> {
    this.stopRepair();
    if (this.storeTimer) clearTimeout(this.storeTimer);
    this.storeTimer = undefined;
    await this.settled();
    this.stopped = true;
  }

  // ---------------------------------------------------------------------------
  // Store outages (etcd without quorum)
  // ---------------------------------------------------------------------------

  /**
   * The store now: since when it has not answered and why (null while it answers), how
   * many endpoints wait for it, and how many run on kernel state not yet checked against it.
   */
  storeState(): { readonly down: { readonly since: string; readonly error: string } | null; readonly waiting: number; readonly unconfirmed: number; readonly releasesOwed: boolean } {
    return { down: this.storeDown, waiting: this.waitingStore.size, unconfirmed: this.unconfirmed.size, releasesOwed: this.reconcileOwed };
  }

  /**
   * Checks every wired endpoint's addresses against the store (after this worker was away
   * from the cluster long enough to lose its lease): an allocation the store lacks is
   * written again, one that another worker now holds is unwired and a new one given.
   */
  verifyAllocations(): void {
    for (const id of this.wired.keys()) this.unconfirmed.add(id);
    this.kickStoreRetry(0);
  }

  /** Pending with `waiting for store`, retried by retryStore (Docker keeps the container waiting). */
  private waitForStore(spec: EndpointSpec, err: unknown): void {
    this.waitingStore.add(spec.id);
    this.storeFailed(err);
    this.setStatus(spec.id, 'pending', `${WAITING_FOR_STORE}: ${message(err)}`);
    this.log.warn({ event: 'waiting-for-store', id: spec.id, name: spec.name, err }, `container ${spec.name} waits for the store: ${message(err)}`);
  }

  private storeFailed(err: unknown): void {
    const text = message(err);
    if (this.storeDown === null) {
      this.storeDown = { since: new Date().toISOString(), error: text };
      this.log.warn({ event: 'store-unavailable', err }, `the store does not answer: ${text}; running containers stay wired, new ones wait`);
    } else this.storeDown = { ...this.storeDown, error: text };
    this.kickStoreRetry();
  }

  private storeAnswered(): void {
    if (this.storeDown === null) return;
    this.log.info({ event: 'store-back', since: this.storeDown.since }, 'the store answers again');
    this.storeDown = null;
    this.storeDelayMs = STORE_RETRY_MIN_MS;
  }

  private kickStoreRetry(delayMs?: number): void {
    if (this.stopped || this.storeTimer !== undefined) return;
    const ms = delayMs ?? this.storeDelayMs;
    this.storeDelayMs = Math.min(this.storeDelayMs * 2, STORE_RETRY_MAX_MS);
    this.storeTimer = setTimeout(() => void this.retryStore(), ms);
    this.storeTimer.unref();
  }

  /** One pass of the owed store work: check kernel-adopted allocations, free leaks, retry the waiting. */
  private async retryStore(): Promise<void> {
    this.storeTimer = undefined;
    if (this.stopped || !this.synced) return;
    await this.initialized;
    try {
      if (this.unconfirmed.size > 0) await this.confirmAll();
      if (this.reconcileOwed) {
        const live = new Set([...this.desired.keys(), ...this.wired.keys(), ...this.tails.keys()]);
        const freed = await this.opts.ipam.reconcile(live);
        this.reconcileOwed = false;
        this.storeAnswered();
        if (freed.length > 0) this.log.info({ event: 'released-late', addresses: freed.map((f) => [f.ipv4, f.ipv6].filter(Boolean).join(' ')) }, `${freed.length} allocations of containers removed while the store did not answer freed`);
      }
    } catch (err) {
      if (!isStoreUnavailable(err)) this.log.error({ event: 'store-resync-failed', err }, `store resync failed: ${message(err)}`);
      else this.storeFailed(err);
    }
    for (const id of [...this.waitingStore]) {
      if (this.desired.has(id)) void this.schedule(id);
      else this.waitingStore.delete(id);
    }
    if (this.unconfirmed.size > 0 || this.reconcileOwed || this.waitingStore.size > 0) this.kickStoreRetry();
  }

  /** Every endpoint wired from kernel state, asked of the store with its addresses fixed. */
  private async confirmAll(): Promise<void> {
    const ids = [...this.unconfirmed];
    const results = await Promise.allSettled(
      ids.map(async (id) => {
        const w = this.wired.get(id);
        if (w === undefined || !this.desired.has(id)) return;
        const req = { ...(w.alloc.ipv4 !== undefined ? { ipv4: w.alloc.ipv4 } : {}), ...(w.alloc.ipv6 !== undefined ? { ipv6: w.alloc.ipv6 } : {}) };
        try {
          await this.opts.ipam.allocate(id, w.alloc.zone, req);
        } catch (err) {
          if (isStoreUnavailable(err)) throw err;
          if (this.wired.get(id) === w) await this.unwireConflict(w, err);
        }
      }),
    );
    let unavailable: unknown;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') this.unconfirmed.delete(ids[i]!);
      else unavailable ??= r.reason;
    });
    if (unavailable !== undefined) throw unavailable;
    this.storeAnswered();
    this.log.info({ event: 'allocations-checked', endpoints: ids.length }, `${ids.length} endpoints' addresses checked against the store`);
  }

  /**
   * An address this worker used without the store's word turned out not to be its own in
   * the cluster any more (its block reclaimed and claimed by another worker): unwired at
   * once, so that no address is used twice, and wired again with a new one.
   */
  private async unwireConflict(w: Wired, err: unknown): Promise<void> {
    const id = w.spec.id;
    this.opts.advertiser.remove(w.hostPrefixes);
    await this.opts.dataplane.removeEndpoint(id).catch((e: unknown) => this.log.error({ event: 'remove-failed', id, err: e }, 'removing the veth failed; the repair pass will retry'));
    await this.policyCall('remove', policyRef(id, w.plumbing.hostIfName, w.alloc));
    this.wired.delete(id);
    const text = `address conflict in the cluster store: ${message(err)}; unwired so that no address is in use twice, a new address follows`;
    this.setStatus(id, 'error', text);
    this.log.error({ event: 'address-conflict', id, name: w.spec.name, ipv4: w.alloc.ipv4, ipv6: w.alloc.ipv6, err }, `container ${w.spec.name}: ${text}`);
    if (this.desired.has(id)) void this.schedule(id);
  }

  /** Endpoint id → the addresses its host veth routes in the kernel (own links and routes). */
  private async kernelAllocations(): Promise<Map<string, Allocation>> {
    const out = new Map<string, Allocation>();
    const own = await this.opts.dataplane.listOwn?.().catch((err: unknown) => {
      this.log.error({ event: 'kernel-read-failed', err }, `reading the agent's own links and routes failed: ${message(err)}`);
      return undefined;
    });
    if (own === undefined) return out;
    const byIndex = new Map(own.links.map((l) => [l.index, l.name]));
    const byName = new Map<string, { ipv4?: string; ipv6?: string }>();
    for (const r of own.routes) {
      if (r.protocol !== RTPROT_ROUTECTL || r.type !== 'unicast' || !isContainerRoute(r) || r.oif === undefined) continue;
      const name = byIndex.get(r.oif);
      const [addr, len] = r.dst.split('/');
      if (name === undefined || addr === undefined || (len !== '32' && len !== '128')) continue;
      const e = byName.get(name) ?? {};
      if (r.family === 4) e.ipv4 = addr;
      else e.ipv6 = addr;
      byName.set(name, e);
    }
    for (const id of this.desired.keys()) {
      const e = byName.get(hostIfNameFor(id));
      if (e !== undefined) out.set(id, { endpointId: id, zone: '', ...e });
    }
    return out;
  }
}

/** The word `routectl endpoints` and `status` show for endpoints held up by a store outage. */
export const WAITING_FOR_STORE = 'waiting for store';
const STORE_RETRY_MIN_MS = 1_000;
const STORE_RETRY_MAX_MS = 5_000;

function policyRef(id: string, hostVeth: string, alloc: Allocation): PolicyEndpointRef {
  return { id, hostVeth, ipv4: alloc.ipv4 ?? null, ipv6: alloc.ipv6 ?? null };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** One setup's advertise step (EndpointController.advertiseStep). */
interface Advertising {
  readonly prefixes: readonly string[];
  send(): void;
  withdraw(): void;
}

type SetupMark = 'start' | 'chosen' | 'stored' | 'policy' | 'plumbStart' | 'plumbed' | 'durable' | 'ready';

/**
 * When each step of one setup ended, for its `ready` log line (whose fields
 * bench/convergence reads): marks on the controller's clock, the first of each kept.
 */
class SetupTrace {
  private readonly at = new Map<SetupMark, number>();
  /** Wall clock (epoch ms, µs resolution) of the advertisement. */
  private advertisedWall: number | undefined;
  /** How long the speaker took to write the UPDATEs. */
  private advertiseCallMs = 0;
  /** Where the dataplane's time went. */
  steps: PlumbTimings | undefined;

  constructor(private readonly now: () => number) {
    this.mark('start');
  }

  mark(m: SetupMark): void {
    if (!this.at.has(m)) this.at.set(m, this.now());
  }

  /** Runs the advertisement, noting when it went out and how long the speaker took. */
  advertising(send: () => void): void {
    const a0 = performance.now();
    this.advertisedWall = performance.timeOrigin + a0;
    send();
    this.advertiseCallMs = performance.now() - a0;
  }

  fields(): Record<string, unknown> {
    const t = (m: SetupMark): number => this.at.get(m) ?? 0;
    const chosen = t('chosen');
    return {
      allocMs: round(chosen - t('start')),
      storeMs: round((this.at.get('stored') ?? chosen) - t('start')),
      policyMs: round((this.at.get('policy') ?? t('plumbStart')) - chosen),
      plumbMs: round(t('plumbed') - t('plumbStart')),
      ...(this.steps ? { plumbSteps: this.steps } : {}),
      advertiseMs: round(t('ready') - t('durable')),
      advertiseCallMs: Math.round(this.advertiseCallMs * 1000) / 1000,
      storeWaitMs: round(t('durable') - t('plumbed')),
      totalMs: round(t('ready') - t('start')),
      advertisedAtMs: Math.round((this.advertisedWall ?? 0) * 1000) / 1000,
    };
  }
}
