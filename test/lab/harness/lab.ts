/**
 * The lab: a set of network namespaces and the processes running in them, owned by one
 * test process and torn down together.
 *
 * Ownership is written down before anything is created, so that a crashed run can be
 * swept later without guessing: each lab has a directory under the lab root
 * (`/tmp/rtc-lab/<id>/`) holding `owner` (pid and start time of the test process),
 * `netns` (one namespace name per line, written before `ip netns add`) and `pids/<pid>`
 * (the command line of every process the lab spawned). `Lab.sweepStale()` only touches
 * namespaces named `rtc-*` that no live lab claims, and only processes whose pidfile and
 * /proc command line both say they are ours.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cmdlineOf, exec, gone, run, tail, terminate, waitExit } from './proc.js';
import { Netns } from './netns.js';

/** Every namespace the project's labs create starts with this. */
export const NETNS_PREFIX = 'rtc-';
export const LAB_ROOT = process.env.RTC_LAB_ROOT ?? '/tmp/rtc-lab';

export interface LabOptions {
  /** Keep the lab directory (logs, configs, captures) after cleanup. Default: env RTC_LAB_KEEP=1. */
  readonly keep?: boolean;
}

export interface LinkOptions {
  readonly aAddr?: readonly string[];
  readonly bAddr?: readonly string[];
  readonly aName?: string;
  readonly bName?: string;
  readonly mtu?: number;
}

interface Tracked {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  readonly log: string;
}

const liveLabs = new Set<Lab>();
let handlersInstalled = false;

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); guards against PID reuse. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL what is left and delete namespaces.
  process.on('exit', () => {
    for (const lab of liveLabs) lab.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...liveLabs].map((l) => l.cleanup())).finally(() => {
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    });
  }
}

export class Lab {
  readonly id: string;
  readonly dir: string;
  private readonly keep: boolean;
  private readonly namespaces: Netns[] = [];
  private readonly procs = new Map<number, Tracked>();
  private linkCount = 0;
  private cleaned = false;

  private constructor(id: string, keep: boolean) {
    this.id = id;
    this.dir = join(LAB_ROOT, id);
    this.keep = keep;
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const id = `${Date.now().toString(36)}-${process.pid}-${randomBytes(2).toString('hex')}`;
    const lab = new Lab(id, opts.keep ?? process.env.RTC_LAB_KEEP === '1');
    // World-traversable: FRR daemons drop privileges to `frr` and must reach their files.
    mkdirSync(join(lab.dir, 'pids'), { recursive: true, mode: 0o755 });
    spawnSync('chmod', ['755', LAB_ROOT, lab.dir]);
    writeFileSync(join(lab.dir, 'owner'), `${process.pid} ${startTimeOf(process.pid) ?? ''}\n`);
    liveLabs.add(lab);
    installExitHandlers();
    return lab;
  }

  /** A new namespace `rtc-<role>-<4 hex>` with lo up, forwarding on and IPv6 DAD off. */
  async netns(role: string): Promise<Netns> {
    if (this.cleaned) throw new Error('lab already cleaned up');
    if (!/^[a-z0-9]{1,10}$/.test(role)) throw new Error(`netns role must be 1-10 of [a-z0-9]: ${role}`);
    const name = `${NETNS_PREFIX}${role}-${randomBytes(2).toString('hex')}`;
    // Claim first, create second: a crash in between leaves a claim, never an orphan.
    appendFileSync(join(this.dir, 'netns'), `${name}\n`);
    await run(['ip', 'netns', 'add', name]);
    const ns = new Netns(this, name, role);
    this.namespaces.push(ns);
    await ns.run(['ip', 'link', 'set', 'lo', 'up']);
    // DAD off before any interface exists, so new interfaces inherit it and IPv6
    // addresses (link-local included) are usable at once instead of after ~1-2 s.
    await ns.run([
      'sysctl', '-qw',
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
      'net.ipv6.conf.default.forwarding=1',
    ]);
    return ns;
  }

  /** A veth pair between two namespaces, created directly in them (the root namespace is never touched). */
  async link(a: Netns, b: Netns, opts: LinkOptions = {}): Promise<{ aIf: string; bIf: string }> {
    const n = this.linkCount++;
    const aIf = opts.aName ?? `v${n}-${b.role}`.slice(0, 15);
    const bIf = opts.bName ?? `v${n}-${a.role}`.slice(0, 15);
    const mtu = opts.mtu === undefined ? [] : ['mtu', String(opts.mtu)];
    await run(['ip', '-n', a.name, 'link', 'add', aIf, ...mtu, 'type', 'veth', 'peer', 'name', bIf, ...mtu, 'netns', b.name]);
    await Promise.all([
      a.configureInterface(aIf, opts.aAddr ?? []),
      b.configureInterface(bIf, opts.bAddr ?? []),
    ]);
    return { aIf, bIf };
  }

  /** Called by Netns.spawn: record the process so cleanup (and a later sweep) can find it. */
  track(child: ChildProcess, name: string, log: string): void {
    const pid = child.pid;
    if (pid === undefined) return;
    this.procs.set(pid, { child, pid, name, log });
    writeFileSync(join(this.dir, 'pids', String(pid)), cmdlineOf(pid) ?? '');
    child.once('exit', () => {
      this.procs.delete(pid);
      try {
        unlinkSync(join(this.dir, 'pids', String(pid)));
      } catch {
        // already removed by cleanup
      }
    });
  }

  /** Tails of every log file in the lab directory: what a failed wait prints. */
  logTails(lines = 30): string {
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.log')) out.push(`---- ${p} (last ${lines} lines)\n${tail(p, lines)}`);
      }
    };
    if (existsSync(this.dir)) walk(this.dir);
    return out.join('\n');
  }

  get namespaceNames(): readonly string[] {
    return this.namespaces.map((n) => n.name);
  }

  get pids(): readonly number[] {
    return [...this.procs.keys()];
  }

  /** Stop every process the lab started (SIGTERM, then SIGKILL) and delete its namespaces. Idempotent. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    // terminate() returns once the process is dead; waitExit() once Node has reaped it.
    await Promise.all([...this.procs.values()].map(async (p) => {
      await terminate(p.pid);
      await Promise.race([waitExit(p.child), new Promise((r) => setTimeout(r, 2000))]);
    }));
    for (const ns of this.namespaces) {
      // Whatever still runs in a namespace this lab created (e.g. tshark's dumpcap, a
      // daemon's forked helper) was started from inside it by us: stop it by PID.
      const pids = await exec(['ip', 'netns', 'pids', ns.name]);
      const left = pids.stdout.split('\n').filter(Boolean).map(Number);
      await Promise.all(left.map((pid) => terminate(pid, 1000)));
      const del = await exec(['ip', 'netns', 'del', ns.name]);
      if (del.code !== 0 && existsSync(`/var/run/netns/${ns.name}`)) {
        throw new Error(`could not delete netns ${ns.name}: ${del.stderr}`);
      }
    }
    liveLabs.delete(this);
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The synchronous last resort run from process.on('exit'). */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const p of this.procs.values()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns.name]);
    liveLabs.delete(this);
  }

  /**
   * Remove what crashed runs left behind: lab directories whose owner process is dead
   * (their recorded processes are killed if /proc still shows the same command line),
   * and `rtc-*` namespaces no live lab claims and in which nothing else runs.
   * Returns what was removed and what was left alone (and why).
   */
  static async sweepStale(opts: { prefix?: string } = {}): Promise<{ namespaces: string[]; pids: number[]; skipped: string[] }> {
    // A narrower prefix (e.g. `rtc-bench-`) limits the sweep; it can never widen beyond `rtc-`.
    const prefix = opts.prefix ?? NETNS_PREFIX;
    if (!prefix.startsWith(NETNS_PREFIX)) throw new Error(`sweep prefix must start with ${NETNS_PREFIX}`);
    const removed = { namespaces: [] as string[], pids: [] as number[], skipped: [] as string[] };
    const claimedLive = new Set<string>();
    const ourStalePids = new Set<number>();
    const staleDirs: string[] = [];
    if (existsSync(LAB_ROOT)) {
      for (const id of readdirSync(LAB_ROOT)) {
        const dir = join(LAB_ROOT, id);
        let owner: string[] = [];
        try {
          owner = readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ');
        } catch {
          continue; // not a lab directory
        }
        const ownerPid = Number(owner[0]);
        const ownerAlive = ownerPid > 0 && !gone(ownerPid) && startTimeOf(ownerPid) === owner[1];
        const names = existsSync(join(dir, 'netns'))
          ? readFileSync(join(dir, 'netns'), 'utf8').split('\n').filter(Boolean)
          : [];
        if (ownerAlive) {
          names.forEach((n) => claimedLive.add(n));
          continue;
        }
        staleDirs.push(dir);
        const pidDir = join(dir, 'pids');
        for (const f of existsSync(pidDir) ? readdirSync(pidDir) : []) {
          const pid = Number(f);
          const recorded = readFileSync(join(pidDir, f), 'utf8');
          // Provably ours: same PID and the same command line it had when we spawned it.
          if (recorded && cmdlineOf(pid) === recorded) ourStalePids.add(pid);
        }
      }
    }
    await Promise.all([...ourStalePids].map((pid) => terminate(pid)));
    removed.pids.push(...ourStalePids);

    const list = await run(['ip', 'netns', 'list']);
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0];
      if (!name || !name.startsWith(prefix) || claimedLive.has(name)) continue;
      const pids = (await exec(['ip', 'netns', 'pids', name])).stdout.split('\n').filter(Boolean);
      if (pids.length > 0) {
        removed.skipped.push(`${name}: processes not known to be ours still run in it (${pids.join(' ')})`);
        continue;
      }
      const del = await exec(['ip', 'netns', 'del', name]);
      if (del.code === 0) removed.namespaces.push(name);
      else removed.skipped.push(`${name}: ${del.stderr.trim()}`);
    }
    for (const dir of staleDirs) rmSync(dir, { recursive: true, force: true });
    return removed;
  }
}
