/**
 * CNI ADD latency: routectl-cni (plugin → agent over its unix socket → IPAM, veth, host
 * routes, advertisement) next to Debian's reference plugins `ptp` + `host-local`
 * (containernetworking-plugins, /usr/lib/cni) on the same machine, in one run.
 *
 *   npm run build && node dist/bench/cni/run.js [--seq 100] [--par 20] [--out bench/results/cni.md]
 *
 * Needs root. A worker namespace (rtc-cnib-<hex>) runs the built `routectl agent`, in a
 * session of its own as a service manager starts it, with pools and no Docker runtime
 * (CNI only, no BGP peers: advertisement goes to the speaker's RIB); one fresh namespace
 * per ADD (rtc-cnib-<hex>-<n>, made before the clock starts). Each plugin is executed the
 * way a runtime does it — a new process with the CNI environment and the config on stdin
 * — from inside the worker namespace (bench/cni/measure.ts), timed from spawn to exit.
 * Rows: `--seq` ADDs one after another and `--par` ADDs started at once, for routectl-cni
 * (IPv4 + IPv6, and IPv4 only) and ptp + host-local (IPv4 only, and IPv4 + IPv6 with
 * fewer ADDs: ptp waits for IPv6 DAD to settle, ~1.5 s per ADD here). Floors: `node -e 0`
 * (sequential, and `--par` at once) and routectl-cni VERSION (no agent); in
 * routectl-cni's sequential rows also one `node -e 0` right before each ADD, so that each ADD can
 * be set against Node's start-up at the same moment of the machine.
 * Everything is removed at the end, also on failure. Writes bench/results/cni.md.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable } from '../lib/table.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';
import { asService } from '../lib/cpu.js';

expectArgs(
  'usage: node dist/bench/cni/run.js [--seq 100] [--par 20] [--ptp-v6 10] [--out bench/results/cni.md]',
  ['seq', 'par', 'ptp-v6', 'out'],
  [],
);

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const SEQ = numberFlag('seq', 100);
const PAR = numberFlag('par', 20);
const PTP_V6 = numberFlag('ptp-v6', 10);
const ROUTECTL_JS = join(repo, 'dist/src/cli/routectl.js');
const PLUGIN_JS = join(repo, 'dist/cni/src/cli/routectl-cni.js');
const MEASURE_JS = join(here, 'measure.js');
const PLUGIN_ENV = ['env', '-u', 'NODE_OPTIONS', '-u', 'NODE_EXTRA_CA_CERTS'];

const tag = randomBytes(2).toString('hex');
const W = `rtc-cnib-${tag}`;
const namespaces: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'rtc-cnib-'));
let agentPid: number | undefined;
let agentLog = '';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
function addNs(name: string): string {
  sh('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return `/var/run/netns/${name}`;
}
let nsCount = 0;
const freshNetns = (n: number): string[] => Array.from({ length: n }, () => addNs(`${W}-${nsCount++}`));

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

interface Measured {
  readonly times: number[];
  readonly wallMs: number;
  /** Sequential rows: a `node -e 0` timed right before each ADD (same order). */
  readonly floors?: number[];
}
const NODE_FLOOR = [...PLUGIN_ENV, process.execPath, '-e', '0'];
function measure(argv: readonly string[], conf: unknown, netns: readonly string[], mode: 'seq' | 'par', command = 'ADD', floor?: readonly string[]): Measured {
  const job = { argv, conf: JSON.stringify(conf), cniPath: '/usr/lib/cni', netns, mode, command, ...(floor ? { floor } : {}) };
  const r = spawnSync('ip', ['netns', 'exec', W, process.execPath, MEASURE_JS, JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`measure ${argv.join(' ')} ${mode}: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout) as Measured;
}

async function startAgent(name: string, pools: unknown[]): Promise<string> {
  const adir = join(dir, name);
  mkdirSync(join(adir, 'store'), { recursive: true });
  const sock = join(adir, 'routectl.sock');
  const cfg = {
    node: 'bench',
    routerId: '203.0.113.2',
    asn: 65001,
    bgp: { listen: { port: 0 } },
    pools,
    zones: [{ name: 'app', cidrs: pools.map((p) => (p as { cidr: string }).cidr) }],
    runtime: { reconcileInterval: 3600 },
    store: { local: { path: join(adir, 'store') } },
    api: { socket: sock },
    metrics: { listen: '127.0.0.1:9273' },
  };
  writeFileSync(join(adir, 'agent.yaml'), stringify(cfg));
  const log = openSync(join(adir, 'agent.log'), 'w');
  agentLog = join(adir, 'agent.log');
  // In a session of its own, as a service manager starts it: the agent then sets its
  // autogroup's priority along with its own (src/priority.ts).
  const child = spawn('ip', ['netns', 'exec', W, ...asService([process.execPath, ROUTECTL_JS, 'agent', '--config', join(adir, 'agent.yaml')])], {
    stdio: ['ignore', log, log],
    env: { ...process.env, ROUTECTL_LOG_LEVEL: 'info' },
  });
  agentPid = child.pid;
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(sock)) throw new Error(`agent ${name} did not open ${sock}`);
  return sock;
}

async function stopAgent(): Promise<void> {
  if (agentPid === undefined) return;
  // `ip netns exec` execs setsid, which execs node: this pid is the agent.
  try {
    process.kill(agentPid, 'SIGTERM');
  } catch {
    /* gone */
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(agentPid, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  agentPid = undefined;
}

interface Row {
  readonly plugin: string;
  readonly families: string;
  readonly mode: string;
  readonly m: Measured;
  /** The agent's own time per ADD (its 'ready' log line: allocate → plumb → advertise). */
  readonly agent?: { readonly total: number[]; readonly alloc: number[]; readonly plumb: number[] };
}

/** The agent's 'ready' lines written since `from` lines. */
function readyLines(from: number): { lines: number; total: number[]; alloc: number[]; plumb: number[] } {
  const all = readFileSync(agentLog, 'utf8').split('\n').filter(Boolean);
  const ready = all.slice(from).map((l) => JSON.parse(l) as { event?: string; totalMs?: number; allocMs?: number; plumbMs?: number }).filter((l) => l.event === 'ready');
  return { lines: all.length, total: ready.map((r) => r.totalMs ?? NaN), alloc: ready.map((r) => r.allocMs ?? NaN), plumb: ready.map((r) => r.plumbMs ?? NaN) };
}
/** What the agent's log says of its CPU priority (src/priority.ts): process nice and autogroup. */
function priorityLine(): string {
  const lines = readFileSync(agentLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event?: string; msg?: string });
  const said = lines.filter((l) => (l.event ?? '').startsWith('priority') || (l.event ?? '').startsWith('autogroup')).map((l) => l.msg ?? l.event);
  return said.length ? said.join('; ') : 'nothing logged';
}
const rows: Row[] = [];
const notes: string[] = [];

async function main(): Promise<void> {
  if (!existsSync(PLUGIN_JS) || !existsSync(MEASURE_JS)) throw new Error('build first: npm run build');
  const load0 = loadavg();
  addNs(W);
  sh('ip', ['-n', W, 'link', 'set', 'lo', 'up']);
  // As installed (the package's bin, deploy/kubernetes): the runtime's Node settings are
  // dropped (src/cli/routectl-cni.ts says why).
  const plugin = [...PLUGIN_ENV, process.execPath, PLUGIN_JS];

  // Floors: a bare node start, and the plugin answering VERSION without the agent.
  const floorNs = freshNetns(1);
  const nodeFloor = measure(NODE_FLOOR, {}, Array(20).fill(floorNs[0]) as string[], 'seq');
  rows.push({ plugin: '`node -e 0` (floor)', families: '-', mode: '20 sequential', m: nodeFloor });
  rows.push({ plugin: 'routectl-cni VERSION (no agent)', families: '-', mode: '20 sequential', m: measure(plugin, { cniVersion: '1.1.0' }, Array(20).fill(floorNs[0]) as string[], 'seq', 'VERSION') });
  // The parallel rows' floor: PAR bare Node starts at once, nothing else.
  rows.push({ plugin: '`node -e 0` (floor)', families: '-', mode: `${PAR} parallel`, m: measure(NODE_FLOOR, {}, Array(PAR).fill(floorNs[0]) as string[], 'par') });

  for (const fam of ['4', '4+6'] as const) {
    const pools = [{ cidr: '198.51.100.0/24', zone: 'app' }, ...(fam === '4+6' ? [{ cidr: '2001:db8:b::/112', zone: 'app' }] : [])];
    const sock = await startAgent(`agent${fam === '4' ? '4' : '46'}`, pools);
    const conf = { cniVersion: '1.1.0', name: `bench${fam === '4' ? '4' : '46'}`, type: 'routectl-cni', zone: 'app', socket: sock };
    // One warm-up ADD (first use of the store file, the dataplane's first sysctls).
    measure(plugin, conf, freshNetns(1), 'seq');
    let mark = readyLines(0).lines;
    const seq = measure(plugin, conf, freshNetns(SEQ), 'seq', 'ADD', NODE_FLOOR);
    const a1 = readyLines(mark);
    rows.push({ plugin: 'routectl-cni', families: fam, mode: `${SEQ} sequential`, m: seq, agent: a1 });
    mark = a1.lines;
    const par = measure(plugin, conf, freshNetns(PAR), 'par');
    rows.push({ plugin: 'routectl-cni', families: fam, mode: `${PAR} parallel`, m: par, agent: readyLines(mark) });
    if (fam === '4') notes.push(`Agent's CPU priority, from its log: ${priorityLine()}.`);
    await stopAgent();
  }

  for (const fam of ['4', '4+6'] as const) {
    const conf = {
      cniVersion: '1.0.0',
      name: `ptp${fam === '4' ? '4' : '46'}`,
      type: 'ptp',
      ipam: { type: 'host-local', dataDir: join(dir, `ipam${fam === '4' ? '4' : '46'}`), ranges: [[{ subnet: '192.0.2.0/24' }], ...(fam === '4+6' ? [[{ subnet: '2001:db8:b2::/112' }]] : [])] },
    };
    const n = fam === '4' ? SEQ : Math.min(SEQ, PTP_V6);
    const p = fam === '4' ? PAR : Math.min(PAR, PTP_V6);
    measure(['/usr/lib/cni/ptp'], conf, freshNetns(1), 'seq');
    rows.push({ plugin: 'ptp + host-local', families: fam, mode: `${n} sequential`, m: measure(['/usr/lib/cni/ptp'], conf, freshNetns(n), 'seq') });
    rows.push({ plugin: 'ptp + host-local', families: fam, mode: `${p} parallel`, m: measure(['/usr/lib/cni/ptp'], conf, freshNetns(p), 'par') });
  }
  notes.push(`Load average (1/5/15 min): start ${load0.map((x) => x.toFixed(2)).join(' ')}, end ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`);
}

function report(): string {
  const f = (ms: number): string => `${ms.toFixed(1)} ms`;
  const q = (xs: readonly number[] | undefined, p: number): string => (xs && xs.length ? f(quantile(xs, p)) : '-');
  const table = markdownTable(
    ['plugin', 'families', 'ADDs', 'p50', 'p99', 'max', 'wall (all)', 'paired `node -e 0` p50 / p99', 'ADD minus its paired `node -e 0` p50 / p99', 'agent ADD p50 / p99', 'of which plumb p50'],
    rows.map((r) => [
      r.plugin,
      r.families,
      r.mode,
      f(quantile(r.m.times, 0.5)),
      f(quantile(r.m.times, 0.99)),
      f(Math.max(...r.m.times)),
      f(r.m.wallMs),
      r.m.floors ? `${q(r.m.floors, 0.5)} / ${q(r.m.floors, 0.99)}` : '-',
      r.m.floors ? `${q(r.m.times.map((t, i) => t - r.m.floors![i]!), 0.5)} / ${q(r.m.times.map((t, i) => t - r.m.floors![i]!), 0.99)}` : '-',
      r.agent ? `${q(r.agent.total, 0.5)} / ${q(r.agent.total, 0.99)}` : '-',
      r.agent ? q(r.agent.plumb, 0.5) : '-',
    ]),
  );
  return [
    '# CNI ADD latency: routectl-cni vs ptp + host-local',
    '',
    'Written by `node dist/bench/cni/run.js` (bench/cni/run.ts; method in its header). Each ADD is a new',
    'plugin process, timed from spawn to exit, run from the worker namespace; p99 of 20 values is the',
    'maximum. routectl-cni\'s time includes the agent\'s whole ADD (IPAM in its local store with an fsync,',
    'veth into the container, container addresses and routes via nsenter + ip, host routes, advertisement).',
    'Target: routectl-cni ADD p99 ≤ 50 ms. In the sequential rows each ADD is preceded by one `node -e 0`,',
    'timed too: the two columns after "wall" compare them pair by pair, at the same moments of the machine',
    '(what a Node plugin cannot go below, and what the plugin and the agent add to it).',
    '',
    machineMarkdown(machineInfo([])),
    `- Plugins: routectl-cni (dist/cni/src/cli/routectl-cni.js, its CommonJS build, under node), containernetworking-plugins ${debVersion('containernetworking-plugins')} (/usr/lib/cni/ptp, host-local)`,
    '',
    table,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

function debVersion(pkg: string): string {
  try {
    return sh('dpkg-query', ['-W', '-f=${Version}', pkg]);
  } catch {
    return '?';
  }
}

try {
  await main();
  const text = report();
  writeFileSync(flag('out', join(repo, 'bench/results/cni.md')), text);
  console.log(text);
} finally {
  await stopAgent();
  for (const n of namespaces.reverse()) spawnSync('ip', ['netns', 'delete', n]);
  rmSync(dir, { recursive: true, force: true });
}
