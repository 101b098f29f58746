/**
 * The agent's side of the zone policy (policy/ is the library): builds the model from
 * agent.yaml, keeps the local endpoints the anti-spoofing set must hold, and drives the
 * PolicyApplier —
 *   start/reload: setDesired(model, endpoints, host) + apply() (a changed model is a
 *                 generation swap in the applier: no window where both policies' denials lapse);
 *   endpoints:    add/remove are an ipset add/del each (no rule changes), sent over
 *                 nfnetlink by the agent itself (./ipset-netlink.ts), batched in bursts;
 *   repair:       a periodic apply(), which reads the kernel back and rewrites only what
 *                 drifted (a chain flushed by hand, a set deleted, a missing jump).
 * With no zones configured nothing is installed; a reload that drops every zone removes
 * the policy's own chains and sets.
 *
 * Restart: the endpoints the previous run put into rtc-ep-* are read back before the first
 * apply and kept until the endpoint controller has adopted the running containers
 * (`replaceEndpoints`), so a restart does not cut live containers off as spoofers.
 */
import { ChildProcessExecutor, mustRun, type Executor } from '../../policy/exec.js';
import { PolicyApplier, type ApplyResult, type EndpointSetWriter, type RuleCounters } from '../../policy/applier.js';
import type { Endpoint, HostPolicy } from '../../policy/compiler.js';
import { parseIpsetSave } from '../../policy/kernel.js';
import { buildModel, WORLD, type PolicyModel } from '../../policy/model.js';
import { endpointSetName, fromChain } from '../../policy/names.js';
import { buildPlan, portSpecText } from '../../policy/plan.js';
import { check, PolicyCheckError } from '../../policy/check.js';
import { linkLocalFromMac, parseIp } from '../../policy/cidr.js';
import { containerMac } from '../endpoints/controller.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { NetlinkEndpointSets } from './ipset-netlink.js';
import type {
  PacketCount, PolicyApplyEntry, PolicyCheckResponse, PolicyCheckSide, PolicyRuleEntry, PolicyShowResponse, PolicySystemRuleEntry,
} from '../api/policy-types.js';

/** A local endpoint as the controller reports it. */
export interface PolicyEndpoint {
  readonly id: string;
  readonly hostVeth: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

/** A container `policy check` can name (the controller's views fit). */
export interface NamedEndpoint {
  readonly id: string;
  readonly name: string | null;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

export class PolicyLookupError extends Error {
  override readonly name = 'PolicyLookupError';
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
  }
}

/** The policy model of a config, or undefined when no zones are configured. */
export function modelOf(cfg: Config): PolicyModel | undefined {
  if (cfg.zones.length === 0) return undefined;
  // The config has validated it already (src/config/checks.ts uses the same validateModel).
  return buildModel(
    cfg.zones.map((z) => ({ name: z.name, cidrs: [...z.cidrs], isolated: z.isolated, ingress: z.ingress.map((r) => ({ from: r.from, ports: [...r.ports] })) })),
    // openControlPlane is the host policy's (./host.ts), not the zone model's.
    cfg.policy ? { defaultAction: cfg.policy.defaultAction, logDrops: cfg.policy.logDrops } : {},
  );
}

export interface AgentPolicyOptions {
  readonly log: Logger;
  /** Runs iptables/ipset; default: child_process in the agent's own network namespace. */
  readonly executor?: Executor;
  /**
   * Where container starts and stops go; default: nfnetlink from the agent's own network
   * namespace when the executor is the default too, else `ipset restore` through the
   * given executor (which may run in another namespace).
   */
  readonly endpointSets?: EndpointSetWriter;
  /** Period of the repair pass in ms; 0: none (tests call reconcile()). */
  readonly intervalMs: number;
  readonly now?: () => Date;
  /** Read before every repair pass: the worker's addresses can change while it runs. */
  readonly refreshHost?: () => HostPolicy;
}

/** `GET /v1/policy` when no zones are configured. */
export function disabledPolicyView(): PolicyShowResponse {
  return { enabled: false, defaultAction: 'drop', logDrops: false, host: { addresses: [], protectedPorts: [], open: [] }, endpoints: 0, zones: [], rules: [], system: [], drops: [], lastApply: null };
}

/**
 * The policy's view of an endpoint. The container's link-local address (its IPv6 ND
 * source, which the anti-spoofing set must hold) follows from its MAC, which the endpoint
 * controller derives from the container id (containerMac), by the kernel's default
 * EUI-64 rule (addr_gen_mode 0).
 */
const toEndpoint = (e: PolicyEndpoint): Endpoint => {
  const linkLocal = e.ipv6 !== null ? linkLocalFromMac(containerMac(e.id)) : undefined;
  return {
    hostVeth: e.hostVeth,
    ...(e.ipv4 !== null ? { ipv4: e.ipv4 } : {}),
    ...(e.ipv6 !== null ? { ipv6: e.ipv6 } : {}),
    ...(linkLocal !== undefined ? { linkLocal } : {}),
  };
};

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AgentPolicy {
  private readonly applier: PolicyApplier;
  private readonly exec: Executor;
  private readonly log: Logger;
  private model: PolicyModel | undefined;
  private host: HostPolicy = { addresses: [], protectedPorts: [], open: [] };
  /** hostVeth → endpoint: what rtc-ep-* must hold. */
  private endpoints = new Map<string, Endpoint>();
  private timer: NodeJS.Timeout | undefined;
  private last: PolicyApplyEntry | null = null;
  private readonly now: () => Date;
  private installed = false;
  private readonly endpointSets: EndpointSetWriter | undefined;
  /** Our own netlink socket, closed at stop. */
  private readonly netlinkSets: NetlinkEndpointSets | undefined;

  constructor(private readonly opts: AgentPolicyOptions) {
    this.exec = opts.executor ?? new ChildProcessExecutor();
    if (opts.endpointSets !== undefined) this.endpointSets = opts.endpointSets;
    else if (opts.executor === undefined) this.netlinkSets = this.endpointSets = new NetlinkEndpointSets();
    this.applier = new PolicyApplier({ executor: this.exec, ...(this.endpointSets ? { endpointSets: this.endpointSets } : {}) });
    this.log = opts.log.child({ op: 'policy' });
    this.now = opts.now ?? (() => new Date());
  }

  get enabled(): boolean {
    return this.model !== undefined;
  }

  get currentModel(): PolicyModel | undefined {
    return this.model;
  }

  /**
   * Start or reload: a model applies it (throws when the kernel refuses it, so a start
   * with a policy that cannot be enforced fails loudly); undefined removes our objects if
   * a policy was installed by this process, and otherwise touches nothing.
   */
  async configure(model: PolicyModel | undefined, host: HostPolicy): Promise<ApplyResult | null> {
    if (model === undefined) {
      this.stopTimer();
      const had = this.model !== undefined || this.installed;
      this.model = undefined;
      if (!had) return null;
      await this.applier.remove();
      this.installed = false;
      this.log.info({ event: 'removed' }, 'no zones configured: policy chains and sets removed');
      return null;
    }
    if (!this.installed && this.model === undefined) await this.seedFromKernel();
    this.applier.setDesired(model, this.endpointList(), host);
    this.model = model;
    this.host = host;
    const r = await this.pass('configure');
    if (r === null) throw new Error(this.last?.error ?? 'policy apply failed');
    this.startTimer();
    return r;
  }

  /** Host addresses can change (an address added to the uplink): the next pass uses these. */
  setHost(host: HostPolicy): void {
    if (this.model === undefined) return;
    if (JSON.stringify(host) === JSON.stringify(this.host)) return;
    this.applier.setDesired(this.model, this.endpointList(), host);
    this.host = host;
  }

  /** One repair pass (periodic, or asked for). Null when disabled or it failed (logged). */
  async reconcile(): Promise<ApplyResult | null> {
    if (this.model === undefined) return null;
    if (this.opts.refreshHost) this.setHost(this.opts.refreshHost());
    return this.pass('reconcile');
  }

  // ---- endpoint port (the endpoint controller calls these) ----

  async addEndpoint(e: PolicyEndpoint): Promise<void> {
    const ep = toEndpoint(e);
    this.endpoints.set(e.hostVeth, ep);
    if (this.model === undefined) return;
    await this.applier.addEndpoint(ep);
  }

  async removeEndpoint(e: PolicyEndpoint): Promise<void> {
    this.endpoints.delete(e.hostVeth);
    if (this.model === undefined) return;
    await this.applier.removeEndpoint(toEndpoint(e));
  }

  /** The controller adopted the running containers: exactly these are local endpoints now. */
  async replaceEndpoints(eps: readonly PolicyEndpoint[]): Promise<void> {
    this.endpoints = new Map(eps.map((e) => [e.hostVeth, toEndpoint(e)]));
    if (this.model === undefined) return;
    this.applier.setDesired(this.model, this.endpointList(), this.host);
    await this.pass('adopt');
  }

  // ---- views ----

  /** The local endpoints the anti-spoofing set holds (a reload must not reclassify them). */
  localEndpoints(): Omit<PolicyEndpoint, 'id'>[] {
    return [...this.endpoints.values()].map((e) => ({ hostVeth: e.hostVeth, ipv4: e.ipv4 ?? null, ipv6: e.ipv6 ?? null }));
  }

  counters(): Promise<RuleCounters[]> {
    return this.applier.counters();
  }

  async show(): Promise<PolicyShowResponse> {
    const model = this.model;
    const policy = model?.policy ?? { defaultAction: 'drop' as const, logDrops: false };
    if (model === undefined) return { ...disabledPolicyView(), lastApply: this.last };
    const counters = await this.applier.counters();
    const key = (chain: string, id: string): string => `${chain}\u0000${id}`;
    const byKey = new Map<string, { v4: PacketCount; v6: PacketCount }>();
    for (const c of counters) {
      const k = key(c.chain, c.rule);
      const have = byKey.get(k) ?? { v4: { packets: 0, bytes: 0 }, v6: { packets: 0, bytes: 0 } };
      const fam = c.family === 4 ? 'v4' : 'v6';
      have[fam] = { packets: have[fam].packets + c.packets, bytes: have[fam].bytes + c.bytes };
      byKey.set(k, have);
    }
    const used = new Set<string>();
    const rules: PolicyRuleEntry[] = [];
    for (const src of buildPlan(model)) {
      const chain = fromChain(src.from);
      for (const r of src.rules) {
        const k = key(chain, r.id);
        used.add(k);
        const c = byKey.get(k) ?? { v4: { packets: 0, bytes: 0 }, v6: { packets: 0, bytes: 0 } };
        rules.push({
          id: r.id,
          from: src.from,
          to: r.to ?? WORLD,
          ports: portSpecText(r.spec),
          action: r.action,
          reason: r.reason,
          packets: c.v4.packets + c.v6.packets,
          bytes: c.v4.bytes + c.v6.bytes,
          ipv4: c.v4,
          ipv6: c.v6,
        });
      }
    }
    const system: PolicySystemRuleEntry[] = [];
    for (const [k, c] of byKey) {
      if (used.has(k)) continue;
      const [chain = '', id = ''] = k.split('\u0000');
      system.push({ chain, id, packets: c.v4.packets + c.v6.packets, bytes: c.v4.bytes + c.v6.bytes });
    }
    const drops = rules.filter((r) => r.action === 'deny').map((r) => ({ from: r.from, to: r.to, packets: r.packets, bytes: r.bytes }));
    return {
      enabled: true,
      defaultAction: policy.defaultAction,
      logDrops: policy.logDrops,
      host: this.host,
      endpoints: this.endpoints.size,
      zones: model.zones.map((z) => ({ name: z.name, cidrs: z.cidrs, isolated: z.isolated, ingress: z.ingress })),
      rules,
      system,
      drops,
      lastApply: this.last,
    };
  }

  /**
   * `routectl policy check`: SRC and DST are an address, a zone (or `world`), or a
   * container of this worker by name, id or unique id prefix. A container is judged by its
   * address of the family the other side uses (IPv4 when both allow it).
   */
  check(src: string, dst: string, traffic: string, containers: readonly NamedEndpoint[]): PolicyCheckResponse {
    const model = this.model;
    if (model === undefined) throw new PolicyLookupError('no zones are configured: the worker enforces no zone policy', 409);
    const s = this.side(model, src, 'source', containers);
    const d = this.side(model, dst, 'destination', containers);
    const fam = pickFamily(s, d);
    const sa = sideAddress(s, fam);
    const da = sideAddress(d, fam);
    try {
      const r = check(model, sa.ask, da.ask, traffic);
      return { ...r, traffic, src: { ...sa.side, zone: r.from }, dst: { ...da.side, zone: r.to } };
    } catch (err) {
      if (err instanceof PolicyCheckError) throw new PolicyLookupError(err.message, 400);
      throw err;
    }
  }

  stop(): void {
    this.stopTimer();
    this.netlinkSets?.close();
  }

  // ---- internals ----

  private side(model: PolicyModel, what: string, role: string, containers: readonly NamedEndpoint[]): Side {
    if (parseIp(what)) return { input: what, kind: 'address', address: what };
    if (what === WORLD || model.zones.some((z) => z.name === what)) return { input: what, kind: 'zone', zone: what };
    const c = findContainer(containers, what);
    if (c === undefined) {
      throw new PolicyLookupError(`${role} "${what}" is not an address, a zone (${[...model.zones.map((z) => z.name), WORLD].join(', ')}) or a container on this worker`, 404);
    }
    return { input: what, kind: 'container', container: c };
  }

  private endpointList(): Endpoint[] {
    return [...this.endpoints.values()];
  }

  /** The previous run's anti-spoofing members, kept until the controller adopts (see header). */
  private async seedFromKernel(): Promise<void> {
    let text: string;
    try {
      text = await mustRun(this.exec, ['ipset', 'save']);
    } catch (err) {
      this.log.warn({ event: 'seed-failed', err }, `could not read ipsets: ${errText(err)}`);
      return;
    }
    const sets = parseIpsetSave(text);
    const seed = new Map<string, { hostVeth: string; ipv4?: string; ipv6?: string; linkLocal?: string }>();
    for (const family of [4, 6] as const) {
      for (const m of sets.get(endpointSetName(family))?.members ?? []) {
        const [addr, veth] = m.split(',');
        if (addr === undefined || veth === undefined) continue;
        const e = seed.get(veth) ?? { hostVeth: veth };
        if (family === 4) e.ipv4 = addr.replace(/\/32$/, '');
        // The container's link-local is its second IPv6 member (fe80::/10, RFC 4291 2.5.6).
        else if (/^fe[89ab]/i.test(addr)) e.linkLocal = addr.replace(/\/128$/, '');
        else e.ipv6 = addr.replace(/\/128$/, '');
        seed.set(veth, e);
      }
    }
    for (const [veth, e] of seed) if (!this.endpoints.has(veth)) this.endpoints.set(veth, e);
    if (seed.size > 0) this.log.info({ event: 'seeded', endpoints: seed.size }, `kept ${seed.size} endpoints of the previous run until the containers are adopted`);
  }

  private async pass(trigger: 'configure' | 'reconcile' | 'adopt'): Promise<ApplyResult | null> {
    const at = this.now().toISOString();
    try {
      const r = await this.applier.apply();
      this.installed = true;
      this.last = { at, changed: r.changed, drift: r.drift, generation: r.generation, durationMs: Math.round(r.durationMs * 100) / 100, error: null };
      const fields = { event: 'applied', trigger, changed: r.changed, drift: r.drift, generation: r.generation, endpointsAdded: r.endpointsAdded, endpointsRemoved: r.endpointsRemoved, ms: this.last.durationMs };
      if (trigger === 'reconcile' && r.drift.length > 0) this.log.warn(fields, `policy drift repaired: ${r.drift.join('; ')}`);
      else if (r.changed) this.log.info(fields, `policy applied (generation ${r.generation})`);
      // Start, reload and adoption are worth a line even when the kernel already matched (a restart).
      else if (trigger !== 'reconcile') this.log.info(fields, `policy in place (generation ${r.generation}), nothing to change`);
      else this.log.debug(fields, 'policy in place');
      return r;
    } catch (err) {
      this.last = { at, changed: false, drift: [], generation: null, durationMs: 0, error: errText(err) };
      this.log.error({ event: 'apply-failed', trigger, err }, `policy apply failed: ${errText(err)}`);
      return null;
    }
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.reconcile(), this.opts.intervalMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

type Side =
  | { readonly input: string; readonly kind: 'address'; readonly address: string }
  | { readonly input: string; readonly kind: 'zone'; readonly zone: string }
  | { readonly input: string; readonly kind: 'container'; readonly container: NamedEndpoint };

/** A container by exact name, exact id, or unique id prefix (as docker resolves them). */
export function findContainer(all: readonly NamedEndpoint[], key: string): NamedEndpoint | undefined {
  const name = key.replace(/^\//, '');
  const exact = all.find((e) => e.name === name || e.id === key);
  if (exact) return exact;
  if (!/^[0-9a-f]+$/i.test(key)) return undefined;
  const hits = all.filter((e) => e.id.startsWith(key.toLowerCase()));
  if (hits.length > 1) throw new PolicyLookupError(`${key} matches ${hits.length} containers; give more of the id or the name`, 409);
  return hits[0];
}

function familyOf(s: Side): 4 | 6 | undefined {
  if (s.kind !== 'address') return undefined;
  return parseIp(s.address)?.family;
}

function pickFamily(a: Side, b: Side): 4 | 6 {
  const f = familyOf(a) ?? familyOf(b);
  if (f !== undefined) return f;
  const has4 = (s: Side): boolean => s.kind !== 'container' || s.container.ipv4 !== null;
  return has4(a) && has4(b) ? 4 : 6;
}

function sideAddress(s: Side, fam: 4 | 6): { ask: string; side: PolicyCheckSide } {
  if (s.kind === 'address') return { ask: s.address, side: { input: s.input, kind: 'address', address: s.address, container: null, zone: '' } };
  if (s.kind === 'zone') return { ask: s.zone, side: { input: s.input, kind: 'zone', address: null, container: null, zone: s.zone } };
  const addr = fam === 4 ? s.container.ipv4 : s.container.ipv6;
  if (addr === null) throw new PolicyLookupError(`container ${s.input} has no IPv${fam} address`, 400);
  return { ask: addr, side: { input: s.input, kind: 'container', address: addr, container: { id: s.container.id, name: s.container.name }, zone: '' } };
}
