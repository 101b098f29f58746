/**
 * bench/bfd: BFD (RFC 5880/5881) in routectl's speaker against FRR 8.4's bfdd, both with
 * FRR's default timers (300 ms, 300 ms, multiplier 3: detection time 900 ms).
 *
 *   npm run build && node dist/bench/bfd/run.js [--blackholes 50] [--sessions 100]
 *     [--cpu-seconds 30] [--cpu-runs 3] [--burst 100] [--out bench/results/bfd.md]
 *
 * 1. Detection: a worker namespace runs routectl's speaker (dist/bench/bfd/worker.js,
 *    one eBGP session with BFD to the ToR), the ToR namespace FRR (zebra, bgpd, bfdd,
 *    `neighbor X bfd`). `--blackholes` times: once BFD is Up and BGP Established on both
 *    sides, both DROP rules go in at once (`iptables-restore --noflush` in the ToR's
 *    namespace: the link stays up); measured from when the rules are in place (the
 *    iptables-restore call returned) to our BFD Down, our BGP session down, and FRR
 *    bfdd's Down (its log, ms timestamps); then the rules go and both sides come back.
 *    Because the last packet before the blackhole arrived 0-300 ms earlier, detection
 *    after the blackhole is 600-900 ms when both sides keep time.
 * 2. CPU: `--sessions` BFD sessions (198.18.0.i <-> 198.18.1.i on one veth) between the
 *    worker (BFD only) and bfdd, all Up at 300 ms; CPU time of each process over
 *    `--cpu-seconds`, `--cpu-runs` windows in a row (the median is reported), per session
 *    and as a share of one core; and the worker's packet and wake-up rates.
 * 3. Transmit jitter: the intervals between our packets to the ToR, captured on the ToR's
 *    side (tshark), while idle and while the worker namespace's agent wires a burst of
 *    `--burst` containers (docker, busybox image; 0 skips it). See bench/README.md.
 *
 * Needs root, FRR, tshark (and dockerd for the burst). Namespaces rtc-bn-<4 hex>, torn
 * down in `finally`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { Lab, startCapture, startFrr, waitFor, type Frr, type Netns } from '../../test/lab/harness/index.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from '../../test/lab/harness/docker.js';
import { terminate } from '../../test/lab/harness/proc.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';
import { REPO, ROUTECTL_JS as ROUTECTL } from '../lib/paths.js';
import { asService, cpuMs } from '../lib/cpu.js';

/** User and system CPU of a process (ms), from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable, ratio } from '../lib/table.js';
import { frrBfdDowns, percentile } from './parse.js';

expectArgs(
  'usage: node dist/bench/bfd/run.js [--parts detect,cpu,burst] [--blackholes 50] [--sessions 100] [--cpu-seconds 30] [--cpu-runs 3] [--burst 100] [--cpu-prof] [--out bench/results/bfd.md]',
  ['parts', 'blackholes', 'sessions', 'cpu-seconds', 'cpu-runs', 'burst', 'out'],
  ['cpu-prof'],
);

const WORKER_JS = join(REPO, 'dist/bench/bfd/worker.js');
const BLACKHOLES = numberFlag('blackholes', 50);
const SESSIONS = numberFlag('sessions', 100);
const CPU_SECONDS = numberFlag('cpu-seconds', 30);
const CPU_RUNS = numberFlag('cpu-runs', 3);
const BURST = numberFlag('burst', 100);
const OUT = resolve(REPO, flag('out', 'bench/results/bfd.md'));
const PARTS = flag('parts', 'detect,cpu,burst').split(',');
/** Where --cpu-prof keeps the worker's profile (outside the repository). */
const PROF_DIR = join(tmpdir(), 'rtc-bench-prof');
const CPU_PROF = process.argv.includes('--cpu-prof');

const TOR_AS = 65000;
const WK_AS = 65001;
const TOR = '203.0.113.1';
const WK = '203.0.113.2';
const TIMERS = { minRx: 300, minTx: 300, multiplier: 3 };
const DETECT_MS = TIMERS.multiplier * TIMERS.minRx;

const log = (s: string): void => {
  process.stderr.write(`[bfd ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

interface WorkerEvent {
  readonly t: number;
  readonly event: string;
  readonly from?: string;
  readonly to?: string;
  readonly diag?: number;
  readonly pid?: number;
  readonly seconds?: number;
  readonly sentPerS?: number;
  readonly receivedPerS?: number;
  readonly wakeupsPerS?: number;
  readonly messagesPerS?: number;
  readonly batchesPerS?: number;
  readonly batchedPerS?: number;
}

class Worker {
  constructor(
    readonly child: ChildProcess,
    private readonly file: string,
  ) {}
  events(): WorkerEvent[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as WorkerEvent];
        } catch {
          return [];
        }
      });
  }
  get pid(): number {
    return this.child.pid!;
  }
  async stop(): Promise<void> {
    if (this.child.pid) await terminate(this.child.pid, 10_000);
  }
}

function startWorker(ns: Netns, name: string, args: readonly string[]): Worker {
  if (!existsSync(WORKER_JS)) throw new Error(`${WORKER_JS} missing: run npm run build`);
  const logName = `${ns.name}-${name}.log`;
  const prof = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR, '--cpu-prof-name', `bfd-${name}.cpuprofile`] : [];
  const child = ns.spawn(['node', ...prof, WORKER_JS, ...args], { log: logName });
  if (child.pid === undefined) throw new Error('worker did not start');
  return new Worker(child, join(ns.lab.dir, logName));
}

function iptablesRestore(ns: Netns, rules: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'iptables-restore', '--noflush'], { input: rules, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`iptables-restore in ${ns.name}: ${r.stderr}`);
}
const blackhole = (op: '-I' | '-D'): string => `*filter\n${op} INPUT -s ${WK} -j DROP\n${op} OUTPUT -d ${WK} -j DROP\nCOMMIT\n`;

/** Send times (epoch ms) of the periodic packets from `src` in a capture: state Up, no Poll or Final. */
function txTimes(file: string, src: string): number[] {
  const filter = `ip.src == ${src} && udp.dstport == 3784 && bfd.sta == 3 && bfd.flags.p == 0 && bfd.flags.f == 0`;
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-Y', filter], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((x) => Number(x) * 1000);
}

/** Intervals (ms) between consecutive packets, each with the time it ended. */
function intervals(ts: readonly number[]): { at: number; ms: number }[] {
  return ts.slice(1).map((t, i) => ({ at: t, ms: t - ts[i]! }));
}

function txIntervals(file: string, src: string): number[] {
  return intervals(txTimes(file, src)).map((x) => x.ms);
}

interface DetectResult {
  readonly ours: number[];
  readonly bgpAfterBfd: number[];
  readonly frr: number[];
  readonly iptablesMs: number[];
  readonly idleTx: number[];
}

async function detection(lab: Lab): Promise<DetectResult> {
  const tor = await lab.netns('tor');
  const wk = await lab.netns('wk');
  const { aIf: torIf } = await lab.link(tor, wk, { aAddr: [`${TOR}/26`], bAddr: [`${WK}/26`] });
  const frr = await startFrr(tor, { asn: TOR_AS, routerId: TOR, families: ['ipv4-unicast'], installRoutes: false, neighbors: [{ address: WK, asn: WK_AS, bfd: true }], bfd: TIMERS });
  const worker = startWorker(wk, 'speaker', ['--mode', 'bgp', '--peer', TOR, '--asn', String(WK_AS), '--peer-asn', String(TOR_AS), '--router-id', WK]);
  const bfddLog = join(lab.dir, `${tor.name}-bfdd.log`);
  const both = async (): Promise<boolean> => {
    const ev = worker.events();
    const lastBfd = ev.filter((e) => e.event === 'bfd').at(-1);
    const lastBgp = ev.filter((e) => e.event === 'bgp').at(-1);
    if (lastBfd?.to !== 'Up' || lastBgp?.to !== 'Established') return false;
    const p = await frr.bfdPeer(WK);
    return p?.status === 'up' && (await frr.peerState(WK)) === 'Established';
  };
  const res: DetectResult = { ours: [], bgpAfterBfd: [], frr: [], iptablesMs: [], idleTx: [] };
  // Idle transmit intervals first: 20 s of our packets as the ToR receives them.
  await waitFor(both, { what: 'BFD Up and BGP Established on both sides', timeoutMs: 60_000, intervalMs: 100 });
  const cap = await startCapture(tor, torIf, join(lab.dir, 'idle.pcap'), 'udp port 3784');
  await new Promise((r) => setTimeout(r, 20_000));
  await cap.stop();
  res.idleTx.push(...txIntervals(cap.file, WK));
  for (let i = 0; i < BLACKHOLES; i++) {
    await waitFor(both, { what: `run ${i + 1}: BFD Up and BGP Established on both sides`, timeoutMs: 60_000, intervalMs: 100 });
    // A random phase against the 300 ms packet clock.
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 300));
    const before = worker.events().length;
    const frrBefore = frrBfdDowns(readFileSync(bfddLog, 'utf8'), WK).length;
    const t1 = Date.now();
    iptablesRestore(tor, blackhole('-I'));
    const t0 = Date.now();
    await waitFor(
      () => {
        const ev = worker.events().slice(before);
        const frrDowns = frrBfdDowns(readFileSync(bfddLog, 'utf8'), WK);
        return ev.some((e) => e.event === 'bfd' && e.from === 'Up') && ev.some((e) => e.event === 'bgp' && e.from === 'Established') && frrDowns.length > frrBefore;
      },
      { what: `run ${i + 1}: both sides down`, timeoutMs: 15_000, intervalMs: 50 },
    );
    const ev = worker.events().slice(before);
    const bfdDown = ev.find((e) => e.event === 'bfd' && e.from === 'Up')!.t;
    const bgpDown = ev.find((e) => e.event === 'bgp' && e.from === 'Established')!.t;
    const frrDown = frrBfdDowns(readFileSync(bfddLog, 'utf8'), WK)[frrBefore]!;
    res.ours.push(bfdDown - t0);
    res.bgpAfterBfd.push(bgpDown - bfdDown);
    res.frr.push(frrDown - t0);
    res.iptablesMs.push(t0 - t1);
    log(`run ${i + 1}/${BLACKHOLES}: ours ${ms(bfdDown - t0)} (BGP +${(bgpDown - bfdDown).toFixed(1)} ms), FRR bfdd ${ms(frrDown - t0)}`);
    iptablesRestore(tor, blackhole('-D'));
  }
  await worker.stop();
  await frr.stop();
  return res;
}

interface CpuWindow {
  readonly oursMs: number;
  readonly oursUserMs: number;
  readonly oursSysMs: number;
  readonly bfddMs: number;
  readonly seconds: number;
  readonly load: number;
}

interface CpuResult {
  readonly windows: CpuWindow[];
  /** The worker's rates from all Up to its stop (its 'rates' line). */
  readonly rates: WorkerEvent | null;
}

async function cpu(lab: Lab): Promise<CpuResult> {
  const tor = await lab.netns('tor');
  const wk = await lab.netns('wk');
  const { aIf, bIf } = await lab.link(tor, wk, { aAddr: [`${TOR}/26`], bAddr: [`${WK}/26`] });
  for (let i = 1; i <= SESSIONS; i++) {
    await wk.addAddress(bIf, `198.18.0.${i}/16`);
    await tor.addAddress(aIf, `198.18.1.${i}/16`);
  }
  const peers = Array.from({ length: SESSIONS }, (_, k) => [
    ` peer 198.18.0.${k + 1} local-address 198.18.1.${k + 1}`,
    `  receive-interval ${TIMERS.minRx}`,
    `  transmit-interval ${TIMERS.minTx}`,
    `  detect-multiplier ${TIMERS.multiplier}`,
    ' exit',
  ]).flat();
  // bgpd needs a neighbor with bfd for the harness to start bfdd; the BFD peers are static.
  const frr: Frr = await startFrr(tor, { asn: TOR_AS, routerId: TOR, families: ['ipv4-unicast'], installRoutes: false, neighbors: [{ address: WK, asn: WK_AS, bfd: true, shutdown: true }], bfd: TIMERS });
  await frr.configure(['bfd', ...peers, 'exit']);
  const worker = startWorker(wk, 'sessions', ['--mode', 'sessions', '--count', String(SESSIONS)]);
  await waitFor(() => worker.events().some((e) => e.event === 'all-up'), { what: `${SESSIONS} sessions Up at 300 ms`, timeoutMs: 120_000, intervalMs: 200 });
  await waitFor(async () => (await frr.bfdPeers()).filter((p) => p.status === 'up').length >= SESSIONS, { what: 'bfdd: all up', timeoutMs: 60_000, intervalMs: 500 });
  await new Promise((r) => setTimeout(r, 3000));
  const bfdd = frr.bfddPid!;
  const windows: CpuWindow[] = [];
  for (let i = 0; i < CPU_RUNS; i++) {
    const o0 = cpuMs(worker.pid);
    const s0 = cpuSplit(worker.pid);
    const f0 = cpuMs(bfdd);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
    const seconds = (Date.now() - t0) / 1000;
    const s1 = cpuSplit(worker.pid);
    const w: CpuWindow = { oursMs: cpuMs(worker.pid) - o0, oursUserMs: s1.user - s0.user, oursSysMs: s1.sys - s0.sys, bfddMs: cpuMs(bfdd) - f0, seconds, load: loadavg()[0]! };
    windows.push(w);
    log(`window ${i + 1}/${CPU_RUNS}: routectl worker ${w.oursMs} ms (user ${w.oursUserMs}, system ${w.oursSysMs}); bfdd ${w.bfddMs} ms; load ${w.load.toFixed(2)}`);
  }
  const flapped = worker.events().filter((e) => e.event === 'not-all-up').length;
  if (flapped > 0) log(`warning: sessions left Up ${flapped} times during the CPU windows`);
  await worker.stop();
  const rates = worker.events().find((e) => e.event === 'rates') ?? null;
  await frr.stop();
  return { windows, rates };
}

interface BurstResult {
  readonly idle: { ours: number[]; frr: number[] };
  readonly burst: { ours: number[]; frr: number[] };
  readonly burstMs: number;
  readonly bfdChanges: number;
  readonly agentCpuMs: number;
}

/**
 * The agent itself (docker runtime, BFD with the FRR ToR) wires `BURST` containers started
 * at once, while the ToR captures the BFD packets of both sides.
 */
async function burst(lab: Lab): Promise<BurstResult> {
  const tor = await lab.netns('tor');
  const w = await lab.netns('w');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR}/26`], bAddr: [`${WK}/26`] });
  await w.addRoute('default', { via: TOR });
  const frr = await startFrr(tor, { asn: TOR_AS, routerId: TOR, families: ['ipv4-unicast'], neighbors: [{ address: WK, asn: WK_AS, bfd: true }], bfd: TIMERS });
  let dockerd: Dockerd | undefined;
  try {
    dockerd = await startDockerd(w);
    await dockerd.importBusybox();
    const dir = join(lab.dir, 'agent');
    spawnSync('mkdir', ['-p', join(dir, 'store')]);
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(cfg, stringify({
      node: 'w1', routerId: WK, asn: WK_AS,
      bgp: { listen: { address: '::', port: 0 }, holdTime: 9, connectRetryTime: 1, peers: [{ address: TOR, asn: TOR_AS, families: ['ipv4-unicast'], bfd: {} }] },
      pools: [{ cidr: '198.51.100.0/25', zone: 'bench' }],
      runtime: { docker: { socket: dockerd.sock } },
      store: { local: { path: join(dir, 'store') } },
      api: { socket: join(dir, 'routectl.sock') },
      metrics: { listen: '127.0.0.1:9273' },
      zones: [{ name: 'bench', cidrs: ['198.51.100.0/24'], ingress: [{ from: 'world', ports: ['tcp/80'] }] }],
    }));
    if (!existsSync(ROUTECTL)) throw new Error(`${ROUTECTL} missing: run npm run build`);
    const agentPid = w.spawn(asService([process.execPath, ROUTECTL, 'agent', '--config', cfg]), { nsenter: true, log: 'agent.log' }).pid ?? 0;
    await waitFor(async () => (await frr.bfdPeer(WK))?.status === 'up' && (await frr.peerState(WK)) === 'Established', { what: 'the agent: BFD Up, BGP Established', timeoutMs: 60_000, intervalMs: 200 });
    const names = Array.from({ length: BURST }, (_, i) => `b${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(names.slice(i, i + 10).map((name) => dockerd!.docker(['create', '--net', 'none', '--name', name, '--label', 'routectl.zone=bench', BUSYBOX_IMAGE, 'sleep', '3600'])));
    }
    const cap = await startCapture(tor, 'fab0', join(lab.dir, 'bfd.pcap'), 'udp port 3784');
    await new Promise((r) => setTimeout(r, 15_000));
    const logBefore = readFileSync(join(lab.dir, 'agent.log'), 'utf8').split('\n').length;
    const cpu0 = cpuMs(agentPid);
    const t0 = Date.now();
    log(`burst: starting ${BURST} containers`);
    await Promise.all(Array.from({ length: Math.ceil(BURST / 10) }, (_, i) => dockerd!.docker(['start', ...names.slice(i * 10, i * 10 + 10)])));
    const routectl = (args: string[]) => w.exec([process.execPath, ROUTECTL, ...args, '--socket', join(dir, 'routectl.sock')], { timeoutMs: 20_000 });
    await waitFor(async () => {
      const r = await routectl(['endpoints', '--json']);
      return (JSON.parse(r.stdout) as { endpoints: { state: string }[] }).endpoints.filter((e) => e.state === 'ready').length === BURST;
    }, { what: `${BURST} endpoints ready`, timeoutMs: 180_000, intervalMs: 250 });
    const t1 = Date.now();
    const agentCpuMs = cpuMs(agentPid) - cpu0;
    log(`burst: ${BURST} endpoints ready after ${t1 - t0} ms`);
    await new Promise((r) => setTimeout(r, 2000));
    await cap.stop();
    const bfdChanges = readFileSync(join(lab.dir, 'agent.log'), 'utf8').split('\n').slice(logBefore).filter((l) => l.includes('"op":"bfd.session"')).length;
    const split = (src: string): { idle: number[]; burst: number[] } => {
      const iv = intervals(txTimes(cap.file, src));
      return { idle: iv.filter((x) => x.at < t0).map((x) => x.ms), burst: iv.filter((x) => x.at >= t0 && x.at <= t1).map((x) => x.ms) };
    };
    const ours = split(WK);
    const theirs = split(TOR);
    return { idle: { ours: ours.idle, frr: theirs.idle }, burst: { ours: ours.burst, frr: theirs.burst }, burstMs: t1 - t0, bfdChanges, agentCpuMs };
  } finally {
    await dockerd?.cleanup().catch(() => undefined);
    await frr.stop();
  }
}

function burstMarkdown(b: BurstResult | string): string {
  if (typeof b === 'string') return b;
  const row = (name: string, xs: number[]): string[] => [name, String(xs.length), ms(percentile(xs, 50)), ms(percentile(xs, 99)), ms(Math.max(...xs)), String(xs.filter((x) => x > TIMERS.minTx).length)];
  return [
    markdownTable(['sender', 'intervals', 'p50', 'p99', 'max', `over ${TIMERS.minTx} ms`], [
      row('routectl agent, idle', b.idle.ours),
      row(`routectl agent, during the burst`, b.burst.ours),
      row('FRR bfdd (ToR), idle', b.idle.frr),
      row('FRR bfdd (ToR), during the burst', b.burst.frr),
    ]),
    '',
    `Intervals between consecutive periodic packets (Up, no Poll or Final) as captured on the ToR; expected 225-300 ms (300 ms, 75-100 % jitter). The burst: ${BURST} containers started at once (docker start in batches of 10, in parallel) until all were ready in \`routectl endpoints\`: ${(b.burstMs / 1000).toFixed(1)} s, the agent using ${ms(b.agentCpuMs)} of CPU in that time. BFD state changes logged by the agent during the burst: ${b.bfdChanges}.`,
  ].join('\n');
}

function write(d: DetectResult | string, c: CpuResult | string, burst: string, load0: number[]): void {
  const m = machineInfo(['frr']);
  const L: string[] = ['# bench/bfd', '', machineMarkdown(m), `- Load average: ${load0.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`, ''];
  L.push(`Timers on both sides: ${TIMERS.minTx} ms / ${TIMERS.minRx} ms / multiplier ${TIMERS.multiplier} (FRR's defaults): detection time ${DETECT_MS} ms after the last packet received.`, '');
  L.push(`## Detection after a blackhole (${typeof d === 'string' ? 0 : d.ours.length} runs)`, '');
  if (typeof d === 'string') L.push(`failed: ${d}`, '');
  else {
    const row = (name: string, xs: number[]): string[] => [name, ms(percentile(xs, 50)), ms(percentile(xs, 99)), ms(Math.min(...xs)), ms(Math.max(...xs))];
    L.push(
      markdownTable(['', 'p50', 'p99', 'min', 'max'], [
        row('routectl: BFD Down', d.ours),
        row('FRR bfdd: BFD Down (detecting us)', d.frr),
        ['routectl / FRR', ratio(percentile(d.ours, 50), percentile(d.frr, 50)), ratio(percentile(d.ours, 99), percentile(d.frr, 99)), '', ''],
        row('routectl: BGP down after its BFD Down', d.bgpAfterBfd),
      ]),
      '',
      `From the moment the DROP rules were in place (iptables-restore returned; it took ${ms(percentile(d.iptablesMs, 50))} at p50). Our times are the worker's own stamps; FRR's are bfdd's log (ms precision). The target is BGP down within detection time + 100 ms = ${DETECT_MS + 100} ms.`,
      '',
      `Transmit intervals of our packets as the ToR received them, idle (${d.idleTx.length} intervals, Up, 300 ms with 75-100 % jitter: 225-300 ms expected): p1 ${ms(percentile(d.idleTx, 1))}, p50 ${ms(percentile(d.idleTx, 50))}, p99 ${ms(percentile(d.idleTx, 99))}, max ${ms(Math.max(...d.idleTx))}.`,
      '',
    );
  }
  L.push(`## CPU per session (${SESSIONS} sessions at 300 ms)`, '');
  if (typeof c === 'string') L.push(`failed: ${c}`, '');
  else {
    const w = c.windows;
    const secs = percentile(w.map((x) => x.seconds), 50);
    const shareOf = (x: CpuWindow, v: number): number => (v / (x.seconds * 1000)) * 100;
    const med = (f: (x: CpuWindow) => number): number => percentile(w.map(f), 50);
    const ours = med((x) => shareOf(x, x.oursMs));
    const theirs = med((x) => shareOf(x, x.bfddMs));
    const pct = (x: number, d = 2): string => `${x.toFixed(d)} %`;
    L.push(
      markdownTable(['process', `CPU per ${secs.toFixed(0)} s (median of ${w.length})`, `share of one core (${SESSIONS} sessions)`, 'per session', 'every window'], [
        ['routectl (worker: Node, the speaker\'s BFD runner)', ms(med((x) => x.oursMs)), pct(ours), pct(ours / SESSIONS, 4), w.map((x) => pct(shareOf(x, x.oursMs))).join(', ')],
        ['FRR bfdd', ms(med((x) => x.bfddMs)), pct(theirs), pct(theirs / SESSIONS, 4), w.map((x) => pct(shareOf(x, x.bfddMs))).join(', ')],
        ['routectl / bfdd', ratio(ours, theirs), '', '', ''],
      ]),
      '',
      `Target: ${SESSIONS} sessions under 2 % of one core. CPU from /proc/<pid>/stat (10 ms ticks), user + system; routectl's system share per window: ${w.map((x) => pct((100 * x.oursSysMs) / Math.max(1, x.oursMs), 0)).join(', ')}. Load average (1 min) after each window: ${w.map((x) => x.load.toFixed(2)).join(', ')}. Both sides run on one veth pair, so a sender's system time includes the kernel's delivery into the other namespace's socket (the receive path a real link would put on the other box); that is the same for both processes.`,
      '',
    );
    const r = c.rates;
    if (r) {
      L.push(
        `routectl worker, from all Up to its stop (${(r.seconds ?? 0).toFixed(0)} s): ${r.sentPerS} packets sent and ${r.receivedPerS} received a second, in ${r.wakeupsPerS} wake-ups of its BFD scheduler a second; ${r.batchedPerS} packets a second read in ${r.batchesPerS} batches (recvmmsg), ${r.messagesPerS} one at a time.`,
        '',
      );
    }
  }
  L.push('## Transmit jitter under a burst of container starts', '', burst, '');
  writeFileSync(OUT, `${L.join('\n')}\n`);
  log(`wrote ${OUT}`);
}

const load0 = loadavg();
let d: DetectResult | string = 'not run (--parts)';
let c: CpuResult | string = 'not run (--parts)';
if (PARTS.includes('detect')) {
  const lab = await Lab.create();
  try {
    d = await detection(lab);
  } catch (e) {
    d = (e as Error).message.split('\n')[0]!;
    log(`detection failed: ${(e as Error).message}`);
  } finally {
    await lab.cleanup();
  }
}
if (PARTS.includes('cpu')) {
  const lab = await Lab.create();
  try {
    c = await cpu(lab);
  } catch (e) {
    c = (e as Error).message.split('\n')[0]!;
    log(`cpu failed: ${(e as Error).message}`);
  } finally {
    await lab.cleanup();
  }
}
let b: BurstResult | string = BURST > 0 ? 'not run (--parts)' : 'skipped (--burst 0)';
if (PARTS.includes('burst') && BURST > 0) {
  const lab = await Lab.create();
  try {
    b = await burst(lab);
  } catch (e) {
    b = `failed: ${(e as Error).message.split('\n')[0]!}`;
    log(`burst failed: ${(e as Error).message}`);
  } finally {
    await lab.cleanup();
  }
}
write(d, c, burstMarkdown(b), load0);
