// policy/applier.ts — puts the compiled policy into the kernel and keeps it there.
//
// setDesired() caches the model and the local endpoints; apply() reads the kernel back
// (iptables-save, ip6tables-save, ipset save), compares our chains, jump rules and sets
// with the render, and only when something differs rewrites them:
//   1. `ipset restore`: the *other* generation's sets (rtc-a-* ↔ rtc-b-*) are filled beside
//      the live ones, which the rules still use; endpoint sets are refilled by temp + swap.
//   2. `iptables-restore --noflush`, then `ip6tables-restore --noflush`: one transaction per
//      family flushes and rebuilds only our chains, now pointing at the new generation,
//      deletes our stale chains and makes the jump from FORWARD/INPUT exist exactly once.
//   3. the old generation's sets, now unreferenced, are destroyed.
//   4. the nftables table `arp routectl` (ARP senders): when it is missing or its sets or
//      chain differ, one `nft -f` transaction replaces it whole; otherwise only its
//      (veth, address) elements are brought to the endpoints with add/delete.
// Every packet therefore meets either the old rules with the old sets or the new rules with
// the new sets, never a mix: a model change opens no window that both policies would close.
// A container start or stop is an `ipset add`/`del` on rtc-ep-* (addEndpoint/removeEndpoint,
// or a small add/del batch from apply()) and an element add/delete in the ARP table (one
// `nft -f` per batch); no rule changes. Starts and stops that
// queue while an ipset process runs share the next `ipset restore` (one process per burst).
// Nothing outside ROUTECTL-* chains, our two jump rules, rtc-* sets and the nftables table
// `arp routectl` is ever written.

import {
  arpMember, compile, DEFAULT_HOST, endpointAddresses, JUMPS, jumpRule, normalizeArpListing, renderArpElementOps, renderArpRemove, renderIptablesRestore,
  type ArpTable, type Compiled, type Endpoint, type FamilyRules, type HostPolicy, type SetSpec,
} from './compiler.js';
import { ChildProcessExecutor, mustRun, PolicyExecError, type Executor } from './exec.js';
import { canonicalMember, parseIpsetSave, parseIptablesSave, type RuleCounters, type SetState, type TableState } from './kernel.js';
import type { PolicyModel } from './model.js';
import { endpointSetName, isOwnSet, NFT_ARP_FAMILY, NFT_ARP_SET, NFT_ARP_TABLE, otherGeneration, type Generation } from './names.js';
import { formatIp, parseIp, type Family } from './cidr.js';

export type { RuleCounters } from './kernel.js';

export interface Commands {
  readonly iptablesSave: readonly string[];
  readonly iptablesRestore: readonly string[];
  readonly ip6tablesSave: readonly string[];
  readonly ip6tablesRestore: readonly string[];
  readonly ipset: string;
  /** The nftables CLI (the ARP table); `-f -` reads a script from stdin as one transaction. */
  readonly nft: readonly string[];
}

export const DEFAULT_COMMANDS: Commands = {
  iptablesSave: ['iptables-save', '-c', '-t', 'filter'],
  // -w: wait for the xtables lock instead of failing when another tool holds it.
  iptablesRestore: ['iptables-restore', '-w', '5', '--noflush'],
  ip6tablesSave: ['ip6tables-save', '-c', '-t', 'filter'],
  ip6tablesRestore: ['ip6tables-restore', '-w', '5', '--noflush'],
  ipset: 'ipset',
  nft: ['nft'],
};

/** One endpoint-set change: (address, host veth) into or out of rtc-ep-4 / rtc-ep-6. */
export interface EndpointSetOp {
  readonly verb: 'add' | 'del';
  readonly set: string;
  readonly family: Family;
  /** The container's address, canonical text. */
  readonly addr: string;
  /** The host side of its veth. */
  readonly iface: string;
}

/**
 * Writes endpoint-set changes with ipset's -exist meaning (adding what is there, deleting
 * what is gone: success); rejects when any change failed, naming it.
 */
export interface EndpointSetWriter {
  write(ops: readonly EndpointSetOp[]): Promise<void>;
}

export interface ApplierOptions {
  /** Runs the commands; default: child_process in the caller's network namespace. */
  readonly executor?: Executor;
  readonly host?: HostPolicy;
  readonly commands?: Partial<Commands>;
  /**
   * Where container starts and stops go; default: one `ipset -exist restore` per batch
   * through the executor. The agent passes its netlink writer (src/policy/ipset-netlink.ts).
   */
  readonly endpointSets?: EndpointSetWriter;
}

export interface ApplyResult {
  /** Whether anything in the kernel was written. */
  readonly changed: boolean;
  /** What differed before the apply (empty when the kernel already matched). */
  readonly drift: readonly string[];
  readonly generation: Generation;
  readonly endpointsAdded: number;
  readonly endpointsRemoved: number;
  /** Own sets that were destroyed (old generation, leftovers). */
  readonly destroyedSets: readonly string[];
  readonly durationMs: number;
}

export class PolicyApplyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyApplyError';
  }
}

/** The ARP table as the kernel holds it: its listing (undefined: no table) and its sender elements. */
export interface ArpState {
  readonly listing: string | undefined;
  readonly members: ReadonlySet<string>;
}

interface KernelState {
  readonly v4: TableState;
  readonly v6: TableState;
  readonly sets: Map<string, SetState>;
  readonly arp: ArpState;
}

const ARP_LIST = ['list', 'table', NFT_ARP_FAMILY, NFT_ARP_TABLE];

/** `nft list table arp routectl` output → listing and the (veth, address) elements of its sender set. */
export function parseArpListing(text: string): ArpState {
  const members = new Set<string>();
  const set = new RegExp(`\\n\\tset ${NFT_ARP_SET} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(text);
  for (const m of set?.[1]?.matchAll(/"([^"]+)" \. ([0-9.]+)/g) ?? []) members.add(arpMember(m[1] ?? '', m[2] ?? ''));
  return { listing: text, members };
}

/** The counted rules of the ARP table's chain: rule id (its comment without the mark) → packets, bytes. */
export function arpCounters(text: string): { rule: string; packets: number; bytes: number }[] {
  const out: { rule: string; packets: number; bytes: number }[] = [];
  for (const m of text.matchAll(/counter packets (\d+) bytes (\d+) \w+ comment "routectl:([^"]+)"/g)) {
    out.push({ rule: m[3] ?? '', packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return out;
}

/** True when the error says the nft program is not installed. */
function noProgram(e: unknown): boolean {
  return e instanceof PolicyExecError && e.code === -1 && /ENOENT/.test(e.stderr);
}

interface QueuedEndpointOp {
  readonly ep: Endpoint;
  readonly verb: 'add' | 'del';
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const opLine = (op: EndpointSetOp): string => `${op.verb} ${op.set} ${op.addr},${op.iface}`;

export class PolicyApplier {
  private readonly exec: Executor;
  private readonly cmd: Commands;
  private host: HostPolicy;
  private model: PolicyModel | undefined;
  private endpoints: readonly Endpoint[] = [];
  private readonly compiledByGen = new Map<Generation, Compiled>();
  /** Serialises kernel writes: apply, endpoint add/remove and remove never interleave. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Endpoint adds/removes waiting for the next ipset batch (see queueEndpoint). */
  private endpointQueue: QueuedEndpointOp[] = [];
  private endpointBatchQueued = false;
  private readonly endpointSets: EndpointSetWriter;

  constructor(opts: ApplierOptions = {}) {
    this.exec = opts.executor ?? new ChildProcessExecutor();
    this.cmd = { ...DEFAULT_COMMANDS, ...opts.commands };
    this.host = opts.host ?? DEFAULT_HOST;
    this.endpointSets = opts.endpointSets ?? { write: (ops) => this.ipsetRestore(ops) };
  }

  /** Replaces the desired state; nothing happens in the kernel until apply(). */
  setDesired(model: PolicyModel, endpoints: readonly Endpoint[], host?: HostPolicy): void {
    // Compile once now so a bad input fails here, at the caller, not later in apply().
    const first = compile({ model, endpoints, host: host ?? this.host });
    this.model = model;
    this.endpoints = [...endpoints];
    if (host) this.host = host;
    this.compiledByGen.clear();
    this.compiledByGen.set(first.generation, first);
  }

  /** Brings the kernel to the desired state (a reconcile: does nothing when it already matches). */
  apply(): Promise<ApplyResult> {
    return this.serial(() => this.applyNow());
  }

  /** What differs between the kernel and the desired state, without changing anything. */
  async diff(): Promise<string[]> {
    const model = this.requireModel();
    const k = await this.readKernel();
    const want = this.compiled(model, k.v4.generation ?? k.v6.generation ?? 'a');
    const arp = this.arpDrift(k.arp, want.arp);
    if (arp.length === 0) {
      const missing = want.arp.members.filter((m) => !k.arp.members.has(m)).length;
      const extra = k.arp.members.size - (want.arp.members.length - missing);
      if (missing + extra > 0) arp.push(`arp: sender set members differ (${k.arp.members.size} in kernel, want ${want.arp.members.length})`);
    }
    return [...this.ruleDrift(k, want), ...this.setDrift(k, want, true), ...arp];
  }

  /**
   * One container started: its `add` lines (one per family) go into the kernel in the next
   * endpoint batch; no iptables rule changes. Resolves once that batch's `ipset` exited.
   */
  addEndpoint(ep: Endpoint): Promise<void> {
    return this.queueEndpoint(ep, 'add');
  }

  /** One container gone: `del` lines in the next endpoint batch ("already gone" is success: -exist). */
  removeEndpoint(ep: Endpoint): Promise<void> {
    return this.queueEndpoint(ep, 'del');
  }

  /** Packet and byte counters of every rule in our chains, both families. */
  async counters(): Promise<RuleCounters[]> {
    const [v4, v6] = await Promise.all([
      mustRun(this.exec, this.cmd.iptablesSave),
      mustRun(this.exec, this.cmd.ip6tablesSave),
    ]);
    const out = [...parseIptablesSave(v4, 4).counters, ...parseIptablesSave(v6, 6).counters];
    const arp = await this.exec.run([...this.cmd.nft, ...ARP_LIST]).catch(() => undefined);
    // The ARP table's counted rules (arp-probe, arp-drop) join the IPv4 counters, so metrics and `policy show` carry them.
    if (arp?.code === 0) for (const r of arpCounters(arp.stdout)) out.push({ family: 4, chain: `${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} input`, ...r });
    return out;
  }

  /** Removes our jump rules, chains and sets; idempotent. */
  remove(): Promise<void> {
    return this.serial(async () => {
      const k = await this.readKernel();
      for (const [family, t] of [[4, k.v4], [6, k.v6]] as const) {
        const chains = [...t.chains.keys()];
        const lines = ['*filter'];
        for (const ch of chains) lines.push(`:${ch} - [0:0]`);
        for (const j of JUMPS) {
          for (let i = 0; i < t.jumps[j.chain]; i++) lines.push(jumpRule(j.chain, j.target).replace(/^-A /, '-D '));
        }
        for (const ch of chains) lines.push(`-X ${ch}`);
        lines.push('COMMIT', '');
        await mustRun(this.exec, family === 4 ? this.cmd.iptablesRestore : this.cmd.ip6tablesRestore, lines.join('\n'));
      }
      await this.destroySets([...k.sets.keys()], new Set());
      if (k.arp.listing !== undefined) await mustRun(this.exec, [...this.cmd.nft, '-f', '-'], renderArpRemove());
    });
  }

  // ---- internals ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private requireModel(): PolicyModel {
    if (!this.model) throw new PolicyApplyError('no desired policy: call setDesired() first');
    return this.model;
  }

  private async readKernel(): Promise<KernelState> {
    const [v4, v6, sets, arp] = await Promise.all([
      mustRun(this.exec, this.cmd.iptablesSave),
      mustRun(this.exec, this.cmd.ip6tablesSave),
      mustRun(this.exec, [this.cmd.ipset, 'save']),
      this.readArp(),
    ]);
    return { v4: parseIptablesSave(v4, 4), v6: parseIptablesSave(v6, 6), sets: parseIpsetSave(sets), arp };
  }

  /** The ARP table, or no listing when it does not exist. Other failures (nft missing) throw: the policy cannot be enforced. */
  private async readArp(): Promise<ArpState> {
    const argv = [...this.cmd.nft, ...ARP_LIST];
    let r;
    try {
      r = await this.exec.run(argv);
    } catch (e) {
      const hint = noProgram(e) ? ' (install nftables: the ARP guard needs the nft program)' : '';
      throw new PolicyApplyError(`read the ARP table: ${e instanceof Error ? e.message : String(e)}${hint}`, { cause: e });
    }
    if (r.code === 0) return parseArpListing(r.stdout);
    if (/No such file or directory/.test(r.stderr)) return { listing: undefined, members: new Set() };
    throw new PolicyExecError(argv, r.code, r.stderr);
  }

  private arpDrift(have: ArpState, want: ArpTable): string[] {
    if (have.listing === undefined) return [`arp: table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} missing`];
    if (normalizeArpListing(have.listing) !== want.listing) return [`arp: table ${NFT_ARP_FAMILY} ${NFT_ARP_TABLE} differs`];
    return [];
  }

  /** Brings the ARP table to `want`: whole (one transaction) when `full`, else its elements only. True when something was written. */
  private async syncArp(have: ArpState, want: ArpTable, full: boolean): Promise<{ written: boolean; added: number; removed: number }> {
    if (full) {
      await mustRun(this.exec, [...this.cmd.nft, '-f', '-'], want.script);
      return { written: true, added: 0, removed: 0 };
    }
    const wantSet = new Set(want.members);
    const ops: { verb: 'add' | 'del'; member: string }[] = [];
    for (const m of want.members) if (!have.members.has(m)) ops.push({ verb: 'add', member: m });
    for (const m of have.members) if (!wantSet.has(m)) ops.push({ verb: 'del', member: m });
    if (ops.length > 0) await mustRun(this.exec, [...this.cmd.nft, '-f', '-'], renderArpElementOps(ops));
    return { written: ops.length > 0, added: ops.filter((o) => o.verb === 'add').length, removed: ops.filter((o) => o.verb === 'del').length };
  }

  private ruleDrift(k: KernelState, want: Compiled): string[] {
    const drift: string[] = [];
    for (const [fam, t, r] of [['v4', k.v4, want.v4], ['v6', k.v6, want.v6]] as const) {
      const wantChains = groupByChain(r);
      for (const [ch, rules] of wantChains) {
        const have = t.chains.get(ch);
        if (have === undefined) drift.push(`${fam}: chain ${ch} missing`);
        else if (!sameList(have, rules)) drift.push(`${fam}: chain ${ch} differs (${have.length} rules, want ${rules.length})`);
      }
      for (const ch of t.chains.keys()) if (!wantChains.has(ch)) drift.push(`${fam}: stale chain ${ch}`);
      for (const [builtin, n] of Object.entries(t.jumps)) if (n !== 1) drift.push(`${fam}: ${n} jumps from ${builtin}`);
    }
    return drift;
  }

  /** Differences in our sets. Endpoint members are compared only when `members` is set (apply() fixes them by add/del instead). */
  private setDrift(k: KernelState, want: Compiled, members: boolean): string[] {
    const drift: string[] = [];
    for (const s of want.sets) {
      const have = k.sets.get(s.name);
      if (!have) { drift.push(`set ${s.name} missing`); continue; }
      if (have.type !== s.type || have.family !== s.family || have.maxelem !== s.maxelem) {
        drift.push(`set ${s.name} has type ${have.type} family ${have.family} maxelem ${have.maxelem}`);
        continue;
      }
      if (s.type === 'hash:net,iface' && !members) continue;
      const wantMembers = new Set(s.members.map(canonicalMember));
      if (wantMembers.size !== have.members.size || [...wantMembers].some((m) => !have.members.has(m))) {
        drift.push(`set ${s.name} members differ (${have.members.size} in kernel, want ${wantMembers.size})`);
      }
    }
    return drift;
  }

  /**
   * The desired state compiled for one generation, kept until the desired state changes:
   * with 10k endpoints a compile costs a noticeable fraction of a second, and a model
   * change needs the live generation (to compare) and the other one (to switch to).
   */
  private compiled(model: PolicyModel, generation: Generation): Compiled {
    let c = this.compiledByGen.get(generation);
    if (!c) {
      c = compile({ model, endpoints: this.endpoints, host: this.host, generation });
      this.compiledByGen.set(generation, c);
    }
    return c;
  }

  private async applyNow(): Promise<ApplyResult> {
    const started = performance.now();
    const model = this.requireModel();
    const k = await this.readKernel();
    const live = k.v4.generation ?? k.v6.generation;
    const same = this.compiled(model, live ?? 'a');
    const drift = [...this.ruleDrift(k, same), ...this.setDrift(k, same, false)];
    const arpDrift = this.arpDrift(k.arp, same.arp);

    if (drift.length === 0) {
      // Rules and zone sets are right: bring the endpoint sets to the desired members with add/del.
      const { lines, added, removed } = this.endpointDiff(k, same.sets);
      if (lines.length > 0) await this.restoreLines(lines);
      const arp = await this.syncArpOrThrow(k.arp, same.arp, arpDrift.length > 0);
      const result = { changed: lines.length > 0 || arp.written, drift: arpDrift, generation: same.generation, endpointsAdded: added, endpointsRemoved: removed, destroyedSets: [] };
      return { ...result, durationMs: performance.now() - started };
    }

    // Anything else differs: build the other generation beside the live one and switch.
    const gen = live === undefined ? 'a' : otherGeneration(live);
    const next = this.compiled(model, gen);
    try {
      await mustRun(this.exec, [this.cmd.ipset, 'restore'], next.ipsetRestore);
      await this.restoreFamily(this.cmd.iptablesRestore, next.v4, k.v4);
      await this.restoreFamily(this.cmd.ip6tablesRestore, next.v6, k.v6);
    } catch (e) {
      throw new PolicyApplyError(`apply generation ${gen}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    await this.syncArpOrThrow(k.arp, next.arp, arpDrift.length > 0);
    const keep = new Set(next.sets.map((s) => s.name));
    const destroyed = await this.destroySets([...k.sets.keys(), ...next.sets.map((s) => s.name)], keep);
    const epBefore = new Set([4, 6].flatMap((f) => [...(k.sets.get(endpointSetName(f as Family))?.members ?? [])]));
    const epAfter = new Set(next.sets.filter((s) => s.type === 'hash:net,iface').flatMap((s) => s.members.map(canonicalMember)));
    return {
      changed: true,
      drift: [...drift, ...arpDrift],
      generation: gen,
      endpointsAdded: [...epAfter].filter((m) => !epBefore.has(m)).length,
      endpointsRemoved: [...epBefore].filter((m) => !epAfter.has(m)).length,
      destroyedSets: destroyed,
      durationMs: performance.now() - started,
    };
  }

  private async syncArpOrThrow(have: ArpState, want: ArpTable, full: boolean): Promise<{ written: boolean }> {
    try {
      return await this.syncArp(have, want, full);
    } catch (e) {
      throw new PolicyApplyError(`apply the ARP table: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  private async restoreFamily(argv: readonly string[], rules: FamilyRules, have: TableState): Promise<void> {
    const wanted = new Set(rules.chains);
    const stale = [...have.chains.keys()].filter((c) => !wanted.has(c));
    await mustRun(this.exec, argv, renderIptablesRestore(rules, { jumps: have.jumps, staleChains: stale }));
  }

  /** Destroys own sets not in `keep`. A set still referenced (e.g. a family whose restore failed) stays; the next apply retries. */
  private async destroySets(names: readonly string[], keep: ReadonlySet<string>): Promise<string[]> {
    const destroyed: string[] = [];
    for (const name of new Set(names)) {
      if (keep.has(name) || !isOwnSet(name)) continue;
      const r = await this.exec.run([this.cmd.ipset, 'destroy', name]);
      if (r.code === 0) destroyed.push(name);
    }
    return destroyed;
  }

  private endpointDiff(k: KernelState, sets: readonly SetSpec[]): { lines: string[]; added: number; removed: number } {
    const lines: string[] = [];
    let added = 0;
    let removed = 0;
    for (const s of sets) {
      if (s.type !== 'hash:net,iface') continue;
      const have = k.sets.get(s.name)?.members ?? new Set<string>();
      const want = new Set(s.members.map(canonicalMember));
      for (const m of want) if (!have.has(m)) { lines.push(`add ${s.name} ${m}`); added++; }
      for (const m of have) if (!want.has(m)) { lines.push(`del ${s.name} ${m}`); removed++; }
    }
    return { lines, added, removed };
  }

  private endpointOps(ep: Endpoint, verb: 'add' | 'del'): EndpointSetOp[] {
    const out: EndpointSetOp[] = [];
    for (const family of [4, 6] as const) {
      for (const addr of endpointAddresses(ep, family)) out.push({ verb, set: endpointSetName(family), family, addr, iface: ep.hostVeth });
    }
    return out;
  }

  /**
   * Endpoint batching: adds and removes that queue while the kernel is busy (a batch being
   * written, an apply) are sent together in one write (one `ipset -exist restore`, or one
   * netlink sendmsg), so a burst of container starts costs one instead of one each. At most
   * one batch waits in the serial queue; it takes everything queued by the time it runs, in
   * call order.
   */
  private queueEndpoint(ep: Endpoint, verb: 'add' | 'del'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.endpointQueue.push({ ep, verb, resolve, reject });
      if (this.endpointBatchQueued) return;
      this.endpointBatchQueued = true;
      void this.serial(() => this.flushEndpoints());
    });
  }

  private async flushEndpoints(): Promise<void> {
    // Changes queued from here on wait for the next batch, behind this one.
    this.endpointBatchQueued = false;
    const queued = this.endpointQueue;
    this.endpointQueue = [];
    const ready: { op: QueuedEndpointOp; sets: EndpointSetOp[] }[] = [];
    for (const op of queued) {
      let sets: EndpointSetOp[];
      try {
        sets = this.endpointOps(op.ep, op.verb);
      } catch (e) {
        op.reject(e); // a bad address fails its own caller and changes nothing
        continue;
      }
      this.endpoints =
        op.verb === 'add'
          ? [...this.endpoints.filter((e) => e.hostVeth !== op.ep.hostVeth), op.ep]
          : this.endpoints.filter((e) => e.hostVeth !== op.ep.hostVeth);
      ready.push({ op, sets });
    }
    if (ready.length === 0) return;
    this.compiledByGen.clear();
    try {
      await this.writeEndpointSets(ready.flatMap((r) => r.sets));
      for (const r of ready) r.op.resolve();
      return;
    } catch (e) {
      if (ready.length === 1) {
        ready[0]?.op.reject(e);
        return;
      }
    }
    // The batch failed (ipset restore stops at the first bad line, having applied the ones
    // before it): retry each change alone, so that one bad entry fails only its caller.
    // -exist makes the repeats of changes that did go in harmless.
    for (const r of ready) {
      try {
        await this.writeEndpointSets(r.sets);
        r.op.resolve();
      } catch (e) {
        r.op.reject(e);
      }
    }
  }

  /**
   * The endpoint sets and the ARP sender set (the IPv4 address of each change, one nft
   * transaction), written side by side; resolves when both are in. Both are idempotent, so
   * a retry after one of them failed repeats the other harmlessly.
   */
  private async writeEndpointSets(ops: readonly EndpointSetOp[]): Promise<void> {
    if (ops.length === 0) return;
    const arp = ops.filter((o) => o.family === 4).map((o) => ({ verb: o.verb, member: arpMember(o.iface, o.addr) }));
    const [sets, nft] = await Promise.allSettled([
      this.endpointSets.write(ops),
      arp.length === 0 ? Promise.resolve('') : mustRun(this.exec, [...this.cmd.nft, '-f', '-'], renderArpElementOps(arp)),
    ]);
    if (sets.status === 'rejected') {
      const e: unknown = sets.reason;
      if (e instanceof PolicyApplyError) throw e;
      throw new PolicyApplyError(`update endpoint sets: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (nft.status === 'rejected') {
      const e: unknown = nft.reason;
      throw new PolicyApplyError(`update the ARP sender set: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** The default writer: one `ipset -exist restore` (adding what is there or deleting what is gone is success). */
  private ipsetRestore(ops: readonly EndpointSetOp[]): Promise<void> {
    return this.restoreLines(ops.map(opLine));
  }

  /** add/del lines in one `ipset -exist restore`. */
  private async restoreLines(lines: readonly string[]): Promise<void> {
    try {
      await mustRun(this.exec, [this.cmd.ipset, '-exist', 'restore'], lines.join('\n') + '\n');
    } catch (e) {
      if (e instanceof PolicyExecError) throw new PolicyApplyError(`update endpoint sets: ${e.message}`, { cause: e });
      throw e;
    }
  }
}

function groupByChain(r: FamilyRules): Map<string, string[]> {
  const m = new Map<string, string[]>(r.chains.map((c) => [c, []]));
  for (const rule of r.rules) {
    const ch = rule.split(' ')[1] ?? '';
    m.get(ch)?.push(rule);
  }
  return m;
}
