/**
 * The built `routectl agent` as a lab process: writes an agent.yaml into the lab
 * directory, starts `node <build>/dist/src/cli/routectl.js agent --config F` inside a
 * worker's network namespace (nsenter, the host's mounts; tracked by the lab so cleanup stops it), and drives
 * it the way an operator does: `routectl status|peers|routes|endpoints|verify --json --socket S` run
 * inside the same namespace, SIGHUP after rewriting the config, SIGTERM and the exit code.
 *
 * The tests run the compiled program, not the sources: `ensureBuilt()` compiles the
 * project with its build config (see there for where to, and RTC_LAB_DIST=1 to use dist/).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import type { EndpointEntry, EndpointsResponse, PeerDetail, PeersResponse, RoutesResponse, StatusResponse, VerifyResponse } from '../../src/api/types.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { exec, waitFor, type Lab, type Netns } from './harness/index.js';
import type { LossCounter, LossReport } from './harness/loss.js';
import { endpointsOf } from './views.js';

export const REPO_ROOT = join(import.meta.dirname, '../..');
/** The executable `npm run build` produces (package.json bin). */
export const DIST_ROUTECTL_JS = join(REPO_ROOT, 'dist/src/cli/routectl.js');
/**
 * The same path under its first name. The program the lab agents run is `ensureBuilt()`'s
 * return value (also `LabAgent.bin`), which is dist/ only with RTC_LAB_DIST=1.
 */
export const ROUTECTL_JS = DIST_ROUTECTL_JS;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function tsc(outDir?: string): string {
  const args = [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), ...(outDir ? ['--outDir', outDir] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 170_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

let built: string | undefined;

/**
 * The compiled `routectl` the lab runs, built with the project's build config
 * (tsconfig.build.json); its path is returned and cached for the test process.
 *
 * By default it is compiled into a private directory (removed when the test process
 * exits): dist/ is shared with whoever runs `npm run build` at the same time, and a
 * rebuild under a running test would swap the program between two CLI calls. With
 * RTC_LAB_DIST=1 the tests use dist/ itself, building it first when it is missing or
 * older than a source file under bgp/ or src/ (CI, after scripts/setup.sh has built it).
 */
export function ensureBuilt(): string {
  if (built) return built;
  if (process.env.RTC_LAB_DIST === '1') {
    const sources = Math.max(newestMtime(join(REPO_ROOT, 'bgp')), newestMtime(join(REPO_ROOT, 'src')));
    const fresh = (): boolean => existsSync(DIST_ROUTECTL_JS) && statSync(DIST_ROUTECTL_JS).mtimeMs >= sources;
    if (!fresh()) {
      const out = tsc();
      // tsc emits even with type errors elsewhere in the tree; what matters is a fresh executable.
      if (!fresh()) throw new Error(`build failed: ${DIST_ROUTECTL_JS} missing or stale\n${out}`);
    }
    return (built = DIST_ROUTECTL_JS);
  }
  const dir = mkdtempSync(join(tmpdir(), 'rtc-build-'));
  // Readable by all, like an installed package: tests run the CLI as another user too.
  chmodSync(dir, 0o755);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  // The tree npm lays out: package.json (type: module) next to dist/ and node_modules/.
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  const out = tsc(join(dir, 'dist'));
  const bin = join(dir, 'dist/src/cli/routectl.js');
  if (!existsSync(bin)) throw new Error(`build failed: no ${bin}\n${out}`);
  return (built = bin);
}

/** A peer entry of agent.yaml (`bgp.peers[]`). */
export interface LabAgentPeer {
  /** Absent for an unnumbered peer (`interface`). */
  readonly address?: string;
  readonly interface?: string;
  readonly asn: number | string;
  readonly port?: number;
  readonly localAddress?: string;
  readonly passive?: boolean;
  readonly holdTime?: number;
  readonly families?: readonly ('ipv4-unicast' | 'ipv6-unicast')[];
  readonly description?: string;
  readonly maxPrefixes?: number | { readonly limit: number; readonly restart?: number };
  readonly password?: string;
  readonly passwordFile?: string;
  readonly ttlSecurity?: { readonly hops: number };
  readonly bfd?: { readonly minRx?: number; readonly minTx?: number; readonly multiplier?: number };
  readonly export?: { readonly communities?: readonly string[]; readonly largeCommunities?: readonly string[]; readonly prepend?: number; readonly med?: number };
  readonly enforceFirstAs?: boolean;
}

/** What a lab test chooses; everything else gets a lab default (see agentConfig). */
export interface LabAgentConfig {
  readonly node?: string;
  readonly routerId: string;
  readonly asn: number | string;
  readonly peers: readonly LabAgentPeer[];
  readonly advertise?: readonly string[];
  readonly import?: readonly string[];
  readonly holdTime?: number;
  readonly connectRetryTime?: number;
  /** Default: listen on [::]:179 inside the namespace. */
  readonly listen?: { readonly address?: string; readonly port?: number };
  /** Extra keys of the bgp section, merged last (e.g. gracefulShutdown). */
  readonly bgpExtra?: Readonly<Record<string, unknown>>;
  /** Extra top-level keys, merged last (e.g. pools, zones). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * One zone, `app`, with a pool of each family (198.51.100.0/28, 2001:db8:c:1::/120) and
 * open to the world (the ToR). Zone policy is enforced wherever zones are declared
 * (default deny into a zone); the tests that use this are about routing.
 */
export const OPEN_APP_ZONE = {
  pools: [
    { cidr: '198.51.100.0/28', zone: 'app' },
    { cidr: '2001:db8:c:1::/120', zone: 'app' },
  ],
  zones: [{ name: 'app', cidrs: ['198.51.100.0/24', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['any'] }] }],
} as const;

/**
 * The agent.yaml object: speaker-only (`runtime: {}`), the local store in `dir/store`,
 * the API socket `dir/routectl.sock`, metrics on 127.0.0.1 inside the namespace, hold
 * time 9 s and connect retry 1 s (lab peers come and go).
 */
export function agentConfig(c: LabAgentConfig, dir: string): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    node: c.node ?? 'w1',
    routerId: c.routerId,
    asn: c.asn,
    bgp: {
      listen: { address: c.listen?.address ?? '::', port: c.listen?.port ?? 179 },
      holdTime: c.holdTime ?? 9,
      connectRetryTime: c.connectRetryTime ?? 1,
      peers: c.peers.map((p) => ({ ...p })),
      advertise: [...(c.advertise ?? [])],
      import: [...(c.import ?? [])],
      ...c.bgpExtra,
    },
    runtime: {},
    store: { local: { path: join(dir, 'store') } },
    api: { socket: join(dir, 'routectl.sock') },
    metrics: { listen: '127.0.0.1:9273' },
    ...c.extra,
  };
  // Cluster mode keeps the worker's own files (CNI attachments) in store.etcd.path,
  // /var/lib/routectl unless told: a lab agent keeps them in its own directory.
  const etcd = (cfg.store as { etcd?: Record<string, unknown> } | undefined)?.etcd;
  if (etcd !== undefined && etcd.path === undefined) cfg.store = { etcd: { ...etcd, path: join(dir, 'store') } };
  return cfg;
}

export interface CliResult<T = unknown> {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed, when --json was given and stdout is JSON. */
  readonly json: T;
}

/** One log line of the agent (pino JSON). */
export interface AgentLogLine {
  readonly level: string;
  readonly time: string;
  readonly msg: string;
  readonly op?: string;
  readonly event?: string;
  readonly peer?: string;
  readonly from?: string;
  readonly to?: string;
  readonly reason?: string | null;
  readonly [key: string]: unknown;
}

let agentCount = 0;

export class LabAgent {
  readonly dir: string;
  readonly configPath: string;
  readonly socket: string;
  readonly logFile: string;
  /** The routectl.js this agent and its CLI calls run. */
  readonly bin: string;
  private child: ChildProcess;
  private exited: Promise<number | null>;
  private config: LabAgentConfig;

  private constructor(
    readonly ns: Netns,
    config: LabAgentConfig,
    name: string,
    bin: string,
    setsid = false,
  ) {
    this.dir = join(ns.lab.dir, name);
    mkdirSync(join(this.dir, 'store'), { recursive: true, mode: 0o700 });
    this.configPath = join(this.dir, 'agent.yaml');
    this.socket = join(this.dir, 'routectl.sock');
    this.logFile = join(ns.lab.dir, `${name}.log`);
    this.config = config;
    this.writeConfig(config);
    this.bin = bin;
    // setsid: a session of its own, as a service manager starts it (it execs in place: same PID).
    // nsenter: the worker's network namespace only, and the host's mounts, as a service
    // manager runs it (`ip netns exec` mounts a sysfs of its own, without /sys/fs/cgroup).
    this.child = ns.spawn([...(setsid ? ['setsid'] : []), process.execPath, bin, 'agent', '--config', this.configPath], {
      nsenter: true,
      log: `${name}.log`,
      env: { ...process.env, ROUTECTL_LOG_LEVEL: process.env.ROUTECTL_LOG_LEVEL ?? 'info' },
    });
    this.exited = exitOf(this.child);
  }

  /** Start the agent in `ns` and wait until its API answers. */
  static async start(ns: Netns, config: LabAgentConfig, opts: { name?: string; timeoutMs?: number; setsid?: boolean } = {}): Promise<LabAgent> {
    const bin = ensureBuilt();
    const a = new LabAgent(ns, config, opts.name ?? `${ns.name}-agent${agentCount++ || ''}`, bin, opts.setsid);
    await a.waitApi(opts.timeoutMs ?? 20_000);
    return a;
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('agent has no pid (spawn failed)');
    return pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The config the agent was last given (start or reload). */
  get current(): LabAgentConfig {
    return this.config;
  }

  private writeConfig(c: LabAgentConfig): void {
    writeFileSync(this.configPath, stringify(agentConfig(c, this.dir)), { mode: 0o600 });
  }

  private async waitApi(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`agent exited with ${this.child.exitCode ?? this.child.signalCode}`);
        return existsSync(this.socket) && (await this.cli(['status', '--json'])).code !== 2;
      },
      { what: `routectl agent in ${this.ns.name} to answer on ${this.socket}`, timeoutMs, intervalMs: 100, diagnostics: () => this.logTail() },
    );
  }

  /**
   * `routectl ARGS --socket S` inside the namespace. With `--json` in ARGS, stdout is
   * parsed into `json` (undefined when it is not JSON, e.g. an error).
   */
  async cli<T = unknown>(args: readonly string[]): Promise<CliResult<T>> {
    const r = await this.ns.exec([process.execPath, this.bin, ...args, '--socket', this.socket], { timeoutMs: 20_000 });
    let json: unknown;
    if (args.includes('--json')) {
      try {
        json = JSON.parse(r.stdout);
      } catch {
        json = undefined;
      }
    }
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, json: json as T };
  }

  status(): Promise<CliResult<StatusResponse>> {
    return this.cli<StatusResponse>(['status', '--json']);
  }

  peers(): Promise<CliResult<PeersResponse>> {
    return this.cli<PeersResponse>(['peers', '--json']);
  }

  peer(address: string): Promise<CliResult<PeerDetail>> {
    return this.cli<PeerDetail>(['peers', address, '--json']);
  }

  routes(view: 'received' | 'advertised', peer?: string): Promise<CliResult<RoutesResponse>> {
    return this.cli<RoutesResponse>(['routes', `--${view}`, '--json', ...(peer ? ['--peer', peer] : [])]);
  }

  endpoints(): Promise<CliResult<EndpointsResponse>> {
    return this.cli<EndpointsResponse>(['endpoints', '--json']);
  }

  /** `routectl verify --json`: exit 0 clean, 1 with mismatches (both carry the report). */
  verify(): Promise<CliResult<VerifyResponse>> {
    return this.cli<VerifyResponse>(['verify', '--json']);
  }

  /** Wait until the container named `name` is `ready` in `routectl endpoints`; resolves with its entry. */
  async waitEndpointReady(name: string, timeoutMs = 20_000): Promise<EndpointEntry> {
    return waitFor(
      async () => {
        const r = await this.endpoints();
        return r.code === 0 ? r.json.endpoints.find((e) => e.name === name && e.state === 'ready') : undefined;
      },
      { what: `${name} ready in routectl endpoints`, timeoutMs, intervalMs: 100, diagnostics: () => this.logTail() },
    );
  }

  /** Wait until `routectl peers ADDRESS --json` satisfies `pred`; resolves with that answer. */
  async waitPeer(address: string, pred: (p: PeerDetail) => boolean, what: string, timeoutMs = 30_000): Promise<PeerDetail> {
    return waitFor(
      async () => {
        const r = await this.peer(address);
        return r.code === 0 && r.json && pred(r.json) ? r.json : undefined;
      },
      { what: `agent peer ${address}: ${what}`, timeoutMs, intervalMs: 200, diagnostics: () => this.logTail() },
    );
  }

  waitEstablished(address: string, timeoutMs = 30_000): Promise<PeerDetail> {
    return this.waitPeer(address, (p) => p.state === 'Established', 'Established', timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  /** Rewrite agent.yaml with `next`, send SIGHUP and wait until the agent logs that it applied it. */
  async reload(next: LabAgentConfig, timeoutMs = 10_000): Promise<void> {
    const before = this.logLines().filter((l) => l.op === 'config.reload').length;
    this.config = next;
    this.writeConfig(next);
    this.signal('SIGHUP');
    const line = await waitFor(() => this.logLines().filter((l) => l.op === 'config.reload')[before], {
      what: `agent in ${this.ns.name} to reload ${this.configPath}`,
      timeoutMs,
      intervalMs: 50,
      diagnostics: () => this.logTail(),
    });
    if (line.event !== 'applied') throw new Error(`reload not applied: ${line.msg}`);
  }

  /** SIGTERM and wait for the exit; resolves with the exit code (null when killed by a signal). */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.running) this.signal('SIGTERM');
    return this.waitExit(timeoutMs);
  }

  /** Wait for the process to end; SIGKILL it (and throw) if it takes longer than `timeoutMs`. */
  async waitExit(timeoutMs = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const code = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (code === 'late') {
      if (this.running) process.kill(this.pid, 'SIGKILL');
      throw new Error(`agent ${this.pid} did not exit within ${timeoutMs} ms\n${this.logTail()}`);
    }
    return code;
  }

  /** Every JSON line the agent logged so far (other lines are skipped). */
  logLines(): AgentLogLine[] {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    const out: AgentLogLine[] = [];
    for (const l of text.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as AgentLogLine);
      } catch {
        // a line being written
      }
    }
    return out;
  }

  /** The state changes of one peer, in order, as the agent logged them. */
  stateChanges(peer: string): AgentLogLine[] {
    return this.logLines().filter((l) => l.event === 'state-change' && l.peer === peer);
  }

  logTail(lines = 40): string {
    try {
      return `---- ${this.logFile}\n${readFileSync(this.logFile, 'utf8').split('\n').slice(-lines - 1).join('\n')}`;
    } catch {
      return `(no ${this.logFile})`;
    }
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export const startAgent = (ns: Netns, config: LabAgentConfig, opts?: { name?: string; timeoutMs?: number; setsid?: boolean }): Promise<LabAgent> =>
  LabAgent.start(ns, config, opts);

/**
 * CLI golden files (test/src/cli/golden/lab-*): the lab tests compare masked `routectl`
 * output with them; ROUTECTL_UPDATE_GOLDEN=1 (or UPDATE_GOLDEN=1) rewrites them from the
 * run, to be reviewed in the diff. Without it a changed output fails the test.
 */
export const GOLDEN_DIR = join(REPO_ROOT, 'test/src/cli/golden');

export function expectGolden(name: string, actual: string): void {
  const path = join(GOLDEN_DIR, name);
  if (process.env.ROUTECTL_UPDATE_GOLDEN === '1' || process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  expect(existsSync(path), `${name} missing (ROUTECTL_UPDATE_GOLDEN=1, then review)`).toBe(true);
  expect(actual, `golden ${name}`).toBe(readFileSync(path, 'utf8'));
}

/**
 * `--json` output for a golden file: each value under a key named in `byKey` (at any
 * depth) becomes that placeholder unless it is null (null says "not set", which is part of
 * the contract); every other string goes through `text` (e.g. the lab directory, link-local
 * next hops); printed with sorted keys, two-space indent and a final newline, so only a
 * change of content shows up.
 */
export function maskJson(value: unknown, byKey: Readonly<Record<string, string>>, text: (s: string) => string = (s) => s): string {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      out[k] = x !== null && Object.hasOwn(byKey, k) ? byKey[k] : walk(x);
    }
    return out;
  };
  return `${JSON.stringify(walk(value), null, 2)}\n`;
}

/**
 * A lab test file's teardown: runs `stop` (agents, daemons the test started), then
 * removes the lab, and checks that none of its namespaces is left, also when `stop` threw.
 */
export async function endLab(lab: Lab | undefined, stop: () => Promise<void> = async () => {}): Promise<void> {
  try {
    await stop();
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
}

/** Ends the agent the way `how` says: SIGKILL and its exit, or SIGTERM and exit code 0. */
export async function stopAgentBy(agent: LabAgent, how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  if (how === 'SIGKILL') {
    agent.signal('SIGKILL');
    await agent.waitExit();
  } else {
    expect(await agent.stop()).toBe(0);
  }
}

/** Every one of `targets` had more than 30 echoes out and none of them unanswered across `what`. */
export function expectNoLoss(report: LossReport, targets: readonly string[], what: string): void {
  for (const a of targets) {
    expect(report.targets[a]?.sent ?? 0, a).toBeGreaterThan(30);
    expect(report.targets[a]?.lost, `${a}: echoes lost across ${what}`).toEqual([]);
  }
}

/**
 * dockerd in `ns` for agent restarts (live restore: the containers outlive the agent and
 * dockerd alike) with the lab's busybox image, and `config.extra.runtime` pointed at it
 * (reconcile every 5 s), so that every start with `config` uses it.
 */
export async function dockerdFor(ns: Netns, config: LabAgentConfig): Promise<Dockerd> {
  const dockerd = await startDockerd(ns, { liveRestore: true });
  try {
    await dockerd.importBusybox();
  } catch (e) {
    await dockerd.cleanup().catch(() => undefined);
    throw e;
  }
  (config.extra as { runtime: unknown }).runtime = { docker: { socket: dockerd.sock }, reconcileInterval: 5 };
  return dockerd;
}

/** Busybox containers `names` in zone app, started with `--net none` (the agent gives each its veth and addresses). */
export async function runAppContainers(dockerd: Dockerd, names: readonly string[]): Promise<void> {
  // Ten at a time: dockerd on vfs is slow to create containers one by one.
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(names.slice(i, i + 10).map((n) => dockerd.runContainer(['--net', 'none', '--name', n, '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600'])));
  }
}

/** Wait until at least `n` containers are ready in `routectl endpoints`; their IPv4 addresses, sorted. */
export async function readyAddresses(agent: LabAgent, n: number, timeoutMs = 120_000): Promise<string[]> {
  const ready = await waitFor(async () => {
    const eps = (await endpointsOf(agent)).filter((e) => e.state === 'ready' && e.ipv4);
    return eps.length >= n ? eps : undefined;
  }, { what: `${n} containers ready`, timeoutMs, intervalMs: 200, diagnostics: () => agent.logTail() });
  return ready.map((e) => e.ipv4!).sort();
}

/** SIGTERM each agent still running, a failed stop ignored: the `stop` of a test's endLab. */
export async function stopRunning(...agents: readonly (LabAgent | undefined)[]): Promise<void> {
  for (const a of agents) if (a?.running) await a.stop().catch(() => undefined);
}

/** endLab for the files that restart an agent under a loss counter: the counters killed, the agent stopped, dockerd removed. */
export function endRestartLab(lab: Lab | undefined, counters: readonly LossCounter[], agent: LabAgent | undefined, dockerd: Dockerd | undefined): Promise<void> {
  return endLab(lab, async () => {
    for (const c of counters) c.kill();
    await stopRunning(agent);
    await dockerd?.cleanup();
  });
}
