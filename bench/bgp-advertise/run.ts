/**
 * bench/bgp-advertise: how long a ToR takes to learn 100k IPv4 /32 + 100k IPv6 /128
 * from one worker, for each ToR (FRR, BIRD) and each worker speaker (routectl's own,
 * BIRD with a static protocol as Calico runs it, gobgpd preloaded over gRPC), in one run.
 *
 *   npm run build && node dist/bench/bgp-advertise/run.js [--v4 100000] [--v6 100000]
 *     [--tors frr,bird] [--workers routectl,bird,gobgp] [--runs 1] [--timeout 240]
 *     [--out bench/results/bgp-advertise.md] [--cpu-prof]
 *
 * Needs root. Every scenario gets a fresh lab (namespaces rtc-bn-<4 hex>: a ToR and a
 * worker joined by a veth, one eBGP session over IPv4 carrying both families, the ToR
 * passive), and the lab is torn down in `finally`, also on failure or Ctrl-C. The
 * worker has every route loaded before its session comes up. Times run from the
 * moment the ToR itself says the session is Established (FRR: bgpTimerUpMsec; BIRD:
 * its millisecond protocol timestamp) until (a) its RIB holds every prefix from the
 * worker (`show bgp summary json` pfxRcd / BIRD channel "imported", polled as fast as
 * the daemon answers) and (b) its namespace's kernel FIB holds them (kernel counters
 * read every 10 ms through /proc/<pid>/net, see bench/lib/fib.ts; the end state is
 * confirmed by an exact `ip route show proto …` count).
 * With --cpu-prof the routectl worker runs under `node --cpu-prof`; its profile is
 * copied to $TMPDIR/rtc-bench-prof/ and its hottest functions printed.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, startBird, startGobgp, terminate, waitFor, type Netns } from '../../test/lab/harness/index.js';
import { birdStaticConfig } from '../lib/bird-static.js';
import { cpuMs, cpuMsOf, runqueueWaitMsOf } from '../lib/cpu.js';
import { hotFunctions } from '../lib/cpuprofile.js';
import { fibCount, dumpCount } from '../lib/fib.js';
import { gobgpLoader } from '../lib/gobgp-load.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { benchPrefixes } from '../lib/prefixes.js';
import { markdownTable, median, ratio, secs, thousands } from '../lib/table.js';
import { startTor, type TorKind } from '../lib/tor.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';

expectArgs(
  'usage: node dist/bench/bgp-advertise/run.js [--v4 100000] [--v6 100000] [--tors frr,bird] [--workers routectl,bird,gobgp] [--runs 1] [--timeout 240] [--out bench/results/bgp-advertise.md] [--cpu-prof]',
  ['v4', 'v6', 'tors', 'workers', 'runs', 'timeout', 'out'],
  ['cpu-prof'],
);

const here = dirname(fileURLToPath(import.meta.url));
/** Where --cpu-prof keeps profiles (outside the repository). */
const PROF_DIR = join(tmpdir(), 'rtc-bench-prof');
const REPO = resolve(here, '../../..');

type WorkerKind = 'routectl' | 'bird' | 'gobgp';
const WORKER_LABEL: Record<WorkerKind, string> = { routectl: 'routectl', bird: 'BIRD (static)', gobgp: 'GoBGP' };
const TOR_LABEL: Record<TorKind, string> = { frr: 'FRR', bird: 'BIRD' };

const TOR_AS = 4200000001;
const WORKER_AS = 4200000002;
const TOR_V4 = '203.0.113.1';
const WK_V4 = '203.0.113.2';
const TOR_V6 = '2001:db8:f::1';
const WK_V6 = '2001:db8:f::2';

const N4 = numberFlag('v4', 100000);
const N6 = numberFlag('v6', 100000);
const TORS = flag('tors', 'frr,bird').split(',') as TorKind[];
const WORKERS = flag('workers', 'routectl,bird,gobgp').split(',') as WorkerKind[];
const RUNS = numberFlag('runs', 1);
const TIMEOUT_MS = numberFlag('timeout', 240) * 1000;
const OUT = resolve(REPO, flag('out', 'bench/results/bgp-advertise.md'));
const CPU_PROF = process.argv.includes('--cpu-prof');
for (const t of TORS) if (!(t in TOR_LABEL)) throw new Error(`--tors: unknown ${t}`);
for (const w of WORKERS) if (!(w in WORKER_LABEL)) throw new Error(`--workers: unknown ${w}`);

interface Result {
  readonly rib: number | string;
  readonly fib: number | string;
  /** CPU ms the worker speaker used from Established until the ToR's RIB was complete. */
  readonly workerCpu: number | string;
  /** CPU ms the ToR (bgpd + zebra, or bird) used from Established until its FIB was complete. */
  readonly torCpu: number | string;
  /** ms the ToR's processes were runnable but waiting for a CPU in that time. */
  readonly torWait: number | string;
  readonly note: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string): void => {
  process.stderr.write(`[bgp-advertise ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

interface Worker {
  readonly pid: number;
  /** Extra facts for the notes column, gathered after the measurement. */
  note(establishedAt: number): string;
  /** Called after the measurement, before the lab is torn down. */
  finish?(): Promise<void>;
}

async function startWorker(kind: WorkerKind, ns: Netns, prefixes: readonly string[], loader: string | null): Promise<Worker> {
  if (kind === 'routectl') {
    const script = join(REPO, 'dist/bench/bgp-advertise/speaker-worker.js');
    if (!existsSync(script)) throw new Error(`${script} missing: run npm run build`);
    const logName = `${ns.name}-speaker.log`;
    const profDir = join(ns.lab.dir, 'prof');
    const prof = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
    const child = ns.spawn(['node', ...prof, script, '--asn', String(WORKER_AS), '--router-id', WK_V4, '--peer', TOR_V4,
      '--peer-asn', String(TOR_AS), '--v4', String(N4), '--v6', String(N6)], { log: logName });
    if (child.pid === undefined) throw new Error('speaker worker did not start');
    return {
      pid: child.pid,
      note(est) {
        const lines = readFileSync(join(ns.lab.dir, logName), 'utf8').split('\n').filter((l) => l.startsWith('{'));
        const ev = lines.map((l) => JSON.parse(l) as { t: number; event: string; updates?: number });
        const sent = ev.find((e) => e.event === 'sent');
        return sent ? `handed to socket after ${secs(sent.t - est)} (${sent.updates} UPDATEs)` : 'no "sent" event';
      },
      async finish() {
        if (!CPU_PROF || child.pid === undefined) return;
        // The profile is written when the worker exits (SIGTERM: Cease, then exit).
        await terminate(child.pid, 10_000);
        const files = existsSync(profDir) ? readdirSync(profDir) : [];
        if (!files[0]) {
          log('no CPU profile written');
          return;
        }
        mkdirSync(PROF_DIR, { recursive: true });
        const keep = join(PROF_DIR, `bgp-advertise-${ns.name}.cpuprofile`);
        copyFileSync(join(profDir, files[0]), keep);
        log(`hottest functions (self time) of the routectl worker, profile in ${keep}:\n${hotFunctions(readFileSync(keep, 'utf8'), 25)}`);
      },
    };
  }
  if (kind === 'bird') {
    const t0 = Date.now();
    const bird = await startBird(ns, {
      asn: WORKER_AS, routerId: WK_V4, holdTime: 90, installRoutes: false,
      neighbors: [{ address: TOR_V4, asn: TOR_AS }], extraConfig: birdStaticConfig(prefixes),
    });
    const ms = Date.now() - t0;
    return { pid: bird.pid!, note: () => `config with ${thousands(prefixes.length)} static routes loaded in ${secs(ms)}` };
  }
  if (!loader) throw new Error('GoBGP loader not built');
  // Administratively down until every route is in its RIB: the session starts preloaded.
  const g = await startGobgp(ns, { asn: WORKER_AS, routerId: WK_V4, holdTime: 90, neighbors: [{ address: TOR_V4, asn: TOR_AS, shutdown: true }] });
  const out = await ns.run([loader, '-api', `127.0.0.1:${g.apiPort}`, '-v4', String(N4), '-v6', String(N6), '-nh4', WK_V4, '-nh6', WK_V6], { timeoutMs: 300_000 });
  const loaded = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { loadedMs?: number };
  await g.gobgp(['neighbor', TOR_V4, 'enable']);
  return { pid: g.pid!, note: () => `loaded over gRPC (AddPathStream) in ${secs(loaded.loadedMs)}` };
}

async function scenario(torKind: TorKind, wk: WorkerKind, prefixes: readonly string[], loader: string | null): Promise<Result> {
  const lab = await Lab.create();
  try {
    const torNs = await lab.netns('bn');
    const wNs = await lab.netns('bn');
    await lab.link(torNs, wNs, { aName: 'eth-wk', bName: 'eth-tor', aAddr: [`${TOR_V4}/30`, `${TOR_V6}/64`], bAddr: [`${WK_V4}/30`, `${WK_V6}/64`] });
    const tor = await startTor(torKind, torNs, { asn: TOR_AS, routerId: TOR_V4, peer: WK_V4, peerAsn: WORKER_AS });
    const base = fibCount(tor.fibPid);
    const worker = await startWorker(wk, wNs, prefixes, loader);
    const est = await waitFor(() => tor.establishedAt(), {
      what: `${tor.label} in ${torNs.name}: session with ${WORKER_LABEL[wk]} Established`,
      timeoutMs: 90_000,
      intervalMs: 50,
      diagnostics: () => lab.logTails(15),
    });
    const workerCpu0 = cpuMs(worker.pid);
    const torCpu0 = cpuMsOf(tor.pids);
    const torWait0 = runqueueWaitMsOf(tor.pids);
    let torWait: number | string = 'n/a';
    let workerCpu: number | string = 'n/a';
    let torCpu: number | string = 'n/a';
    let rib: number | null = null;
    let fib: number | null = null;
    let lastRib = { v4: 0, v6: 0 };
    let lastFib = { v4: 0, v6: 0 };
    let nextRibPoll = 0;
    const deadline = est + TIMEOUT_MS;
    while ((rib === null || fib === null) && Date.now() < deadline) {
      const f = fibCount(tor.fibPid);
      lastFib = { v4: f.v4 - base.v4, v6: f.v6 - base.v6 };
      if (fib === null && lastFib.v4 >= N4 && lastFib.v6 >= N6) {
        fib = Date.now() - est;
        torCpu = cpuMsOf(tor.pids) - torCpu0;
        torWait = runqueueWaitMsOf(tor.pids) - torWait0;
      }
      if (rib === null && Date.now() >= nextRibPoll) {
        lastRib = await tor.ribCount();
        if (lastRib.v4 >= N4 && lastRib.v6 >= N6) {
          rib = Date.now() - est;
          workerCpu = cpuMs(worker.pid) - workerCpu0;
        }
        nextRibPoll = Date.now() + 20;
      }
      await sleep(10);
    }
    // The end state, exactly: the FIB counters above count every route in the namespace.
    const [d4, d6] = await Promise.all([dumpCount(torNs, 4, tor.kernelProto), dumpCount(torNs, 6, tor.kernelProto)]);
    const finalRib = await tor.ribCount();
    const exact = `RIB ${thousands(finalRib.v4)}+${thousands(finalRib.v6)}, FIB ${thousands(d4)}+${thousands(d6)}`;
    const ribOut = rib ?? `timeout: ${thousands(lastRib.v4)}+${thousands(lastRib.v6)} after ${secs(TIMEOUT_MS)}`;
    const fibOut = fib !== null && (d4 !== N4 || d6 !== N6) ? `count mismatch (${exact})` : fib ?? `timeout: ${thousands(lastFib.v4)}+${thousands(lastFib.v6)} after ${secs(TIMEOUT_MS)}`;
    const note = `${worker.note(est)}; end: ${exact}`;
    await worker.finish?.();
    return { rib: ribOut, fib: fibOut, workerCpu, torCpu, torWait, note };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] ?? String(e) : String(e);
    log(`${torKind}/${wk} failed: ${e instanceof Error ? e.message.slice(0, 4000) : String(e)}`);
    return { rib: `failed: ${msg}`, fib: 'failed', workerCpu: 'n/a', torCpu: 'n/a', torWait: 'n/a', note: '' };
  } finally {
    await lab.cleanup();
  }
}

type Metric = 'rib' | 'fib' | 'workerCpu' | 'torCpu' | 'torWait';

function combine(rs: readonly Result[]): Result {
  const nums = (k: Metric) => rs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
  const pick = (k: Metric): number | string => {
    const n = nums(k);
    return n.length === rs.length ? median(n) : (rs.find((r) => typeof r[k] === 'string')?.[k] ?? 'n/a');
  };
  const runs = rs.length > 1 ? `runs RIB ${rs.map((r) => secs(r.rib)).join(', ')}; ` : '';
  // Notes of the run whose RIB time is the median (or the first failure).
  const mid = [...rs].sort((a, b) => (typeof a.rib === 'number' ? a.rib : Infinity) - (typeof b.rib === 'number' ? b.rib : Infinity))[(rs.length - 1) >> 1];
  return { rib: pick('rib'), fib: pick('fib'), workerCpu: pick('workerCpu'), torCpu: pick('torCpu'), torWait: pick('torWait'), note: runs + (mid?.note ?? '') };
}

async function main(): Promise<void> {
  const info = machineInfo(['frr', 'bird', 'gobgpd']);
  const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ');
  const prefixes = benchPrefixes(N4, N6);
  const loader = WORKERS.includes('gobgp') ? await gobgpLoader(REPO) : null;
  const results = new Map<string, Result[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const t of TORS) {
      for (const w of WORKERS) {
        log(`run ${run + 1}/${RUNS}: ToR ${TOR_LABEL[t]}, worker ${WORKER_LABEL[w]}`);
        const r = await scenario(t, w, prefixes, loader);
        log(`  RIB ${secs(r.rib)}, FIB ${secs(r.fib)} ${r.note}`);
        const k = `${t}/${w}`;
        results.set(k, [...(results.get(k) ?? []), r]);
      }
    }
  }
  const sections: string[] = [];
  for (const t of TORS) {
    const rows: string[][] = [];
    const get = (w: WorkerKind): Result | undefined => {
      const rs = results.get(`${t}/${w}`);
      return rs ? combine(rs) : undefined;
    };
    for (const w of WORKERS) {
      const r = get(w);
      if (r) rows.push([WORKER_LABEL[w], secs(r.rib), secs(r.fib), secs(r.workerCpu), secs(r.torCpu), secs(r.torWait), r.note]);
    }
    const ours = get('routectl');
    for (const other of ['bird', 'gobgp'] as const) {
      const o = get(other);
      if (ours && o) {
        rows.push([`**routectl / ${WORKER_LABEL[other]}**`, ratio(ours.rib, o.rib), ratio(ours.fib, o.fib), ratio(ours.workerCpu, o.workerCpu), ratio(ours.torCpu, o.torCpu), '', '']);
      }
    }
    sections.push(`### ToR: ${TOR_LABEL[t]} ${t === 'frr' ? info.versions.frr : info.versions.bird}\n\n` +
      markdownTable(['worker speaker', 'ToR RIB complete', 'ToR FIB complete', 'worker CPU', 'ToR CPU', 'ToR waited for CPU', 'notes'], rows));
  }
  const md = [
    '# BGP advertise benchmark',
    '',
    `${thousands(N4)} IPv4 /32 + ${thousands(N6)} IPv6 /128 from one worker to one ToR over one eBGP session (IPv4, both families).`,
    'Times from Established as the ToR sees it; lower is better. Target: routectl ≤ BIRD.' +
      (RUNS > 1 ? ` Median of ${RUNS} interleaved runs (each run's RIB time in the notes).` : ' One run.'),
    '"worker CPU": CPU time the worker speaker process used from Established until the ToR\'s RIB was complete;',
    '"ToR CPU": CPU time of bgpd + zebra (FRR) or bird until the ToR\'s FIB was complete. CPU times move less',
    'with the machine\'s other load than wall-clock times do. "ToR waited for CPU": time the ToR\'s processes were',
    'runnable but not running (schedstat) until its FIB was complete: large values mean the machine\'s load set the pace.',
    '',
    machineMarkdown(info),
    `- Load average at start / end: ${loadStart} / ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  process.stdout.write(`${md}\n`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  log(`wrote ${OUT}`);
}

await main();
