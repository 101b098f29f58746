/**
 * Convergence benchmark: how fast a started container becomes reachable through the
 * fabric, and what routectl's speaker adds on the host route → ToR FIB leg compared with
 * BIRD configured as Calico runs it. See bench/convergence/scenarios.ts for the setups
 * and bench/README.md for how to run it.
 *
 *   node dist/bench/convergence/run.js [--n 100] [--runs 1] [--tors frr,bird] [--workers routectl,calico]
 *     [--spacing 10] [--load 1] [--v6 1] [--cpu-prof] [--out bench/results/convergence.md] [--samples FILE]
 *
 * For each ToR, routectl runs first; the Calico-style run then writes the same /32s at the
 * same offsets the agent's host routes appeared at (without a routectl run: one every
 * --spacing ms), while dockerd starts as many containers the same way, so that both runs
 * share the CPUs with the same load (--load 0: an idle worker instead).
 *
 * --runs R repeats that pair R times per ToR, each in fresh namespaces; the legs'
 * percentiles are then taken over the R × N samples pooled (the p99 of 100 samples is
 * the second-worst one, and moves a lot from run to run), and a table gives each run's own.
 *
 * --samples FILE also writes every sample's times (JSON, by scenario and run), to look at
 * legs per container.
 *
 * Legs, per ToR (percentiles are nearest-rank over the N containers / routes):
 * - docker start event (`timeNano`) → read by a bare subscriber (dockerd's own delivery)
 * - docker start event (`timeNano`) → the agent's `add` (negative when the agent wired the
 *   container as soon as runc had created it, before dockerd's event) and host /32 in the
 *   worker's FIB; the agent's `add` → the /32 in the ToR's FIB
 * - docker start event → the /32 in the ToR's FIB (target: p99 ≤ 100 ms)
 * - docker start event → first TCP handshake from the ToR to the container's httpd
 * - host route in the worker's FIB → ToR FIB: routectl vs Calico-style BIRD (target ratio ≤ 1.0)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab } from '../../test/lab/harness/index.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable } from '../lib/table.js';
import type { TorKind } from '../lib/tor.js';
import { percentile } from './monitor.js';
import { runCalico, runRoutectl, type Sample, type ScenarioResult } from './scenarios.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';

expectArgs(
  'usage: node dist/bench/convergence/run.js [--n 100] [--runs 1] [--tors frr,bird] [--workers routectl,calico] [--spacing 10] [--load 1] [--v6 1] [--cpu-prof] [--out bench/results/convergence.md] [--samples FILE]',
  ['n', 'runs', 'tors', 'workers', 'spacing', 'load', 'v6', 'out', 'samples'],
  ['cpu-prof'],
);


const N = numberFlag('n', 100);
/** Each ToR's pair of runs (routectl, then Calico replaying it) this many times; samples pooled. */
const RUNS = numberFlag('runs', 1);
const TORS = flag('tors', 'frr,bird').split(',') as TorKind[];
/** Calico-style host routes: one every SPACING ms, unless the routectl run's own timing can be replayed. */
const SPACING = numberFlag('spacing', 10);
const WORKERS = flag('workers', 'routectl,calico').split(',');
const OUT = flag('out', 'bench/results/convergence.md');
/** Every sample's times as JSON, to look at the legs container by container. */
const SAMPLES = flag('samples', '');
/** Calico-style run: start the same containers meanwhile (same CPU load as the routectl run); --load 0 to skip. */
const LOAD = numberFlag('load', 1) !== 0;
/** routectl run: containers get an IPv4 and an IPv6 address (1, default) or IPv4 only (0, like the Calico-style run). */
const V6 = numberFlag('v6', 1) !== 0;
/** Run the agent under `node --cpu-prof`; profiles kept in PROF_DIR, hottest functions printed. */
const CPU_PROF = process.argv.includes('--cpu-prof');
const PROF_DIR = join(tmpdir(), 'rtc-bench-prof');
const say = (s: string): void => void process.stderr.write(`${s}\n`);

type Leg = (s: Sample) => number | undefined;
const diff = (a: keyof Sample, b: keyof Sample): Leg => (s) => {
  const x = s[a];
  const y = s[b];
  return typeof x === 'number' && typeof y === 'number' ? y - x : undefined;
};

interface Stat {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Over the samples of every run given, pooled. */
function stat(rs: readonly ScenarioResult[] | undefined, leg: Leg): Stat | undefined {
  if (!rs) return undefined;
  const xs = rs.flatMap((r) => r.samples.map(leg)).filter((x): x is number => x !== undefined);
  if (xs.length === 0) return undefined;
  return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) };
}

/** Milliseconds; under 1 ms with two decimals (the host route → ToR FIB legs are fractions of one). */
const num = (x: number): string => x.toFixed(Math.abs(x) < 1 ? 2 : 1);
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${num(x)} ms`);
const rat = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b <= 0 ? 'n/a' : `${(a / b).toFixed(2)}`);

function dockerVersion(): string {
  const r = spawnSync('dockerd', ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').trim().replace(/^Docker version /, '') || 'unknown';
}

async function main(): Promise<number> {
  await Lab.sweepStale({ prefix: 'rtc-cv' });
  const machine = machineInfo(['frr', 'bird']);
  const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ');
  if (!Number.isInteger(RUNS) || RUNS < 1) {
    say(`--runs must be a whole number of at least 1, not ${RUNS}`);
    return 2;
  }
  /** By `${tor}/${worker}`: one result per run that completed. */
  const results = new Map<string, ScenarioResult[]>();
  const record = (k: string, r: ScenarioResult): void => void results.set(k, [...(results.get(k) ?? []), r]);
  const failures: string[] = [];
  for (const tor of TORS) for (let run = 1; run <= RUNS; run++) {
    const of = RUNS > 1 ? ` (run ${run} of ${RUNS})` : '';
    let addrs: string[] = Array.from({ length: N }, (_, i) => `198.51.100.${i}`);
    let offsets: number[] = addrs.map((_, i) => i * SPACING);
    let addrs6: string[] | undefined = V6 ? addrs.map((_, i) => `2001:db8:18::${(i + 1).toString(16)}`) : undefined;
    if (WORKERS.includes('routectl')) {
      try {
        say(`${tor} ToR, routectl worker${of}`);
        if (CPU_PROF) mkdirSync(PROF_DIR, { recursive: true });
        const prof = CPU_PROF ? join(PROF_DIR, `convergence-${tor}${RUNS > 1 ? `-${run}` : ''}.cpuprofile`) : undefined;
        const r = await runRoutectl(tor, N, V6, prof);
        if (r.hot !== undefined) say(`  the agent's hottest functions (self time) during the burst, profile in ${prof}:\n${r.hot}`);
        record(`${tor}/routectl`, r);
        const timed = r.samples.filter((s) => s.hostRoute !== undefined);
        const first = Math.min(...timed.map((s) => s.hostRoute!));
        addrs = timed.map((s) => s.addr);
        addrs6 = V6 && timed.every((s) => s.addr6 !== undefined) ? timed.map((s) => s.addr6!) : undefined;
        offsets = timed.map((s) => s.hostRoute! - first);
      } catch (e) {
        failures.push(`${tor}/routectl${of}: ${e instanceof Error ? e.message.split('\n').slice(0, 6).join(' / ') : String(e)}`);
      }
    }
    if (WORKERS.includes('calico')) {
      try {
        say(`${tor} ToR, Calico-style BIRD worker${of}`);
        record(`${tor}/calico-bird`, await runCalico(tor, addrs, offsets, LOAD ? N : 0, addrs6));
      } catch (e) {
        failures.push(`${tor}/calico-bird${of}: ${e instanceof Error ? e.message.split('\n').slice(0, 6).join(' / ') : String(e)}`);
      }
    }
  }
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');

  const legRows: string[][] = [];
  const sumRows: string[][] = [];
  const runRows: string[][] = [];
  let missed = false;
  for (const tor of TORS) {
    const ours = results.get(`${tor}/routectl`);
    const calico = results.get(`${tor}/calico-bird`);
    const label = tor === 'frr' ? 'FRR' : 'BIRD';
    const legs: [string, string, readonly ScenarioResult[] | undefined, Leg][] = [
      ['routectl', 'docker start event → a bare subscriber reads it (dockerd\'s delivery alone, at the observers\' priority)', ours, diff('dockerEvent', 'subscriberRead')],
      ['routectl', 'docker start event → agent `add` log line (negative: wired when runc had created the container, before the event)', ours, diff('dockerEvent', 'agentAdd')],
      ['routectl', 'agent `add` → host /32 in worker FIB (address, veth, routes)', ours, diff('agentAdd', 'hostRoute')],
      ['routectl', 'agent `add` → /32 in ToR FIB', ours, diff('agentAdd', 'torFib')],
      ['routectl', 'docker start event → host /32 in worker FIB', ours, diff('dockerEvent', 'hostRoute')],
      ['routectl', 'docker start event → /32 in ToR FIB', ours, diff('dockerEvent', 'torFib')],
      ['routectl', 'docker start event → first TCP handshake from the ToR', ours, diff('dockerEvent', 'reach')],
      ['routectl', 'ToR FIB → first TCP handshake', ours, diff('torFib', 'reach')],
      ['routectl', 'host route in worker FIB → ToR FIB', ours, diff('hostRoute', 'torFib')],
      ['routectl', '  of which: host route → UPDATE at the ToR (worker speaker)', ours, diff('hostRoute', 'update')],
      ['routectl', '    host route → agent advertises (routes handed to the kernel; `ip monitor` reads them after)', ours, diff('hostRoute', 'agentAdvertised')],
      ['routectl', '    agent advertises → UPDATE at the ToR (speaker sends)', ours, diff('agentAdvertised', 'update')],
      ['routectl', '  of which: UPDATE at the ToR → ToR FIB (ToR)', ours, diff('update', 'torFib')],
      ['Calico BIRD', 'host route in worker FIB → ToR FIB', calico, diff('hostRoute', 'torFib')],
      ['Calico BIRD', '  of which: host route → UPDATE at the ToR (worker BIRD)', calico, diff('hostRoute', 'update')],
      ['Calico BIRD', '  of which: UPDATE at the ToR → ToR FIB (ToR)', calico, diff('update', 'torFib')],
    ];
    for (const [who, leg, r, f] of legs) {
      const s = stat(r, f);
      legRows.push([label, who, leg, s ? String(s.n) : '0', ms(s?.p50), ms(s?.p99), ms(s?.max)]);
    }
    const o = stat(ours, diff('hostRoute', 'torFib'));
    const c = stat(calico, diff('hostRoute', 'torFib'));
    const e2e = stat(ours, diff('dockerEvent', 'torFib'));
    const ratioOk = o !== undefined && c !== undefined && o.p99 <= c.p99 && o.p50 <= c.p50;
    const e2eOk = e2e !== undefined && e2e.p99 <= 100;
    if (!ratioOk || !e2eOk) missed = true;
    for (let i = 0; i < RUNS; i++) {
      const one = (rs: readonly ScenarioResult[] | undefined): ScenarioResult[] | undefined => (rs?.[i] ? [rs[i]!] : undefined);
      const oi = stat(one(ours), diff('hostRoute', 'torFib'));
      const ci = stat(one(calico), diff('hostRoute', 'torFib'));
      const ei = stat(one(ours), diff('dockerEvent', 'torFib'));
      runRows.push([label, String(i + 1), `${ms(oi?.p50)} / ${ms(oi?.p99)}`, `${ms(ci?.p50)} / ${ms(ci?.p99)}`, `${rat(oi?.p50, ci?.p50)} / ${rat(oi?.p99, ci?.p99)}`, `${ms(ei?.p50)} / ${ms(ei?.p99)}`]);
    }
    sumRows.push([
      label,
      `${ms(o?.p50)} / ${ms(o?.p99)}`,
      `${ms(c?.p50)} / ${ms(c?.p99)}`,
      `${rat(o?.p50, c?.p50)} / ${rat(o?.p99, c?.p99)}`,
      `${ms(e2e?.p99)} ${e2eOk ? '(met)' : '(missed)'}`,
    ]);
  }
  const spreads = [...results.entries()].flatMap(([k, rs]) => rs.map((r, i) => {
    const name = RUNS > 1 ? `${k} run ${i + 1}` : k;
    const ph = Object.entries(r.phases ?? {}).map(([name, xs]) => `${name.replace(/Ms$/, '')} ${num(percentile(xs, 50))}/${num(percentile(xs, 99))} ms`);
    const phText = ph.length > 0 ? `; the agent's own per-endpoint phases (\`ready\` log, p50/p99): ${ph.join(', ')}` : '';
    return `${name}: ${r.worker === 'routectl' ? 'docker start events' : 'host routes installed'} spread over ${r.spreadMs.toFixed(0)} ms; ${r.notes.join('; ')}${phText}`;
  }));
  const md = [
    '# Convergence: container start → route in the ToR FIB',
    '',
    'Produced by `node dist/bench/convergence/run.js' + (process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : '') + '` (bench/convergence/).',
    '',
    machineMarkdown(machine),
    `- Docker: ${dockerVersion()}`,
    `- Load average (1/5/15 min) at start: ${loadStart}; at end: ${loadEnd}`,
    `- ${RUNS > 1 ? `${RUNS} runs of each scenario per ToR, in turn (routectl, then Calico replaying it), each in fresh namespaces; every percentile below is over the ${RUNS} runs' samples pooled, except in "Run by run"` : 'One run of each scenario per ToR'}`,
    `- ${N} containers per routectl run (created first, then started by ${Math.ceil(N / 10)} parallel \`docker start\` of 10), each with ${V6 ? 'an IPv4 and an IPv6 address (a /32 and a /128 advertised)' : 'an IPv4 address only (a /32 advertised)'}; Calico-style: the same host routes (${V6 ? 'each /32 with its /128' : 'the /32s'}) written by a script (\`ip -batch -\`) at the offsets the routectl run's host routes appeared at (one every ${SPACING} ms when there was no routectl run)${LOAD ? `, while dockerd starts ${N} containers the same way (no routing) for the same CPU load` : ', with no containers started meanwhile'}`,
    '- Priorities (each process in a session of its own): observers real-time (SCHED_FIFO 30), ToR daemons real-time (SCHED_FIFO 20: a box of their own), the routectl agent nice -10 for the process and its autogroup (its default, which it sets itself) and Calico\'s BIRD on the worker the same, dockerd and the containers 0',
    '',
    '## Summary',
    '',
    markdownTable(
      ['ToR', 'routectl host route → ToR FIB p50 / p99', 'Calico BIRD host route → ToR FIB p50 / p99', 'ratio ours/BIRD p50 / p99 (target ≤ 1.0)', 'docker event → ToR FIB p99 (target ≤ 100 ms)'],
      sumRows,
    ),
    '',
    '## Every leg',
    '',
    markdownTable(['ToR', 'worker', 'leg', 'n', 'p50', 'p99', 'max'], legRows),
    '',
    ...(RUNS > 1
      ? [
          '## Run by run',
          '',
          markdownTable(['ToR', 'run', 'routectl host route → ToR FIB p50 / p99', 'Calico BIRD host route → ToR FIB p50 / p99', 'ratio p50 / p99', 'docker event → ToR FIB p50 / p99'], runRows),
          '',
        ]
      : []),
    '## Notes',
    '',
    ...spreads.map((s) => `- ${s}`),
    ...failures.map((f) => `- FAILED ${f}`),
    '- Times: docker `timeNano` of the `start` event; when a bare subscriber to dockerd\'s `GET /events` (bench/convergence/events.ts; like every observer, real-time in a session of its own) read it; `ip -ts -4 monitor route` (µs, wall clock) in the worker and ToR namespaces;',
    '  the agent\'s pino `time` (ms resolution: legs that use it are ±1 ms) and its `advertisedAtMs` (µs, `performance.timeOrigin + performance.now()`); the prober\'s completed TCP handshakes (the same clock).',
    '  UPDATE arrival: tshark on the ToR\'s fabric interface (pcap µs stamps). All are the same machine\'s wall clock.',
    '  Percentiles are nearest-rank; each leg\'s p50/p99 is taken on its own, so the parts need not add up to the whole.',
    '',
  ].join('\n');
  writeFileSync(OUT, md);
  if (SAMPLES !== '') writeFileSync(SAMPLES, JSON.stringify(Object.fromEntries([...results].map(([k, rs]) => [k, rs.map((r) => r.samples)])), null, 1));
  process.stdout.write(md);
  say(`written to ${OUT}`);
  if (missed) say("a target was missed: see the summary table");
  return failures.length > 0 ? 1 : 0;
}

process.exit(await main());
