/**
 * bench/bgp-ingest: 1M prefixes sent by BIRD (a static protocol with every route,
 * exported over eBGP) to routectl's speaker, which accepts everything into its
 * Adj-RIB-In. Reports prefixes/s from the first UPDATE until all are in, and RSS (and
 * V8 heap) per path after forced GC. For scale, the same table is then sent by the same
 * BIRD config to a second BIRD: its time from Established and its own `show memory`
 * and process RSS growth per path.
 *
 *   npm run build && node dist/bench/bgp-ingest/run.js [--v4 131072] [--v6 868928]
 *     [--peers routectl,bird] [--runs 1] [--cpu-prof] [--timeout 300] [--out bench/results/bgp-ingest.md]
 *
 * Needs root. Namespaces rtc-bn-<4 hex> (sender and receiver joined by a veth, one eBGP
 * session over IPv4 carrying both families), torn down in `finally`, also on failure.
 * The IPv4 prefixes are /32s in 198.18.0.0/15 (at most 131,072), the IPv6 ones /128s in
 * 2001:db8:1000::/96: the default 131,072 + 868,928 is 1,000,000 paths.
 * With --cpu-prof the receiver runs under `node --cpu-prof`, the profile is kept in
 * $TMPDIR/rtc-bench-prof/ and its hottest functions are printed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, startBird, waitFor, birdProtocolName, type Bird, type Netns } from '../../test/lab/harness/index.js';
import { birdStaticConfig, BULK_PROTOCOLS } from '../lib/bird-static.js';
import { cpuMs } from '../lib/cpu.js';
import { hotFunctions } from '../lib/cpuprofile.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { benchPrefixes } from '../lib/prefixes.js';
import { markdownTable, secs, thousands } from '../lib/table.js';
import { birdImported } from '../lib/tor.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';

expectArgs(
  'usage: node dist/bench/bgp-ingest/run.js [--v4 131072] [--v6 868928] [--peers routectl,bird] [--runs 1] [--cpu-prof] [--timeout 300] [--out bench/results/bgp-ingest.md]',
  ['v4', 'v6', 'peers', 'runs', 'timeout', 'out'],
  ['cpu-prof'],
);

const here = dirname(fileURLToPath(import.meta.url));
/** Where --cpu-prof keeps profiles (outside the repository). */
const PROF_DIR = join(tmpdir(), 'rtc-bench-prof');
const REPO = resolve(here, '../../..');

const SND_AS = 4200000011;
const RCV_AS = 4200000012;
const SND_V4 = '203.0.113.5';
const RCV_V4 = '203.0.113.6';
const SND_V6 = '2001:db8:f:1::5';
const RCV_V6 = '2001:db8:f:1::6';

const N4 = numberFlag('v4', 131072);
const N6 = numberFlag('v6', 868928);
const N = N4 + N6;
const PEERS = flag('peers', 'routectl,bird').split(',');
const CPU_PROF = process.argv.includes('--cpu-prof');
const RUNS = numberFlag('runs', 1);
const TIMEOUT_MS = numberFlag('timeout', 300) * 1000;
const OUT = resolve(REPO, flag('out', 'bench/results/bgp-ingest.md'));

const log = (s: string): void => {
  process.stderr.write(`[bgp-ingest ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

interface Row {
  readonly receiver: string;
  /** The measured time (ms) the rate is computed from. */
  readonly ms: number;
  readonly rate: string;
  readonly time: string;
  readonly perPath: string;
  readonly notes: string;
}

/** A lab with the sending BIRD (every prefix as a static route) and an empty receiver namespace. */
async function senderLab(prefixes: readonly string[]): Promise<{ lab: Lab; rcv: Netns; sender: Bird; loadMs: number }> {
  const lab = await Lab.create();
  try {
    return await fillSender(lab, prefixes);
  } catch (e) {
    // The caller only owns the lab once this returns: clean up here on failure.
    await lab.cleanup();
    throw e;
  }
}

async function fillSender(lab: Lab, prefixes: readonly string[]): Promise<{ lab: Lab; rcv: Netns; sender: Bird; loadMs: number }> {
  const snd = await lab.netns('bn');
  const rcv = await lab.netns('bn');
  await lab.link(snd, rcv, { aName: 'eth-rcv', bName: 'eth-snd', aAddr: [`${SND_V4}/30`, `${SND_V6}/64`], bAddr: [`${RCV_V4}/30`, `${RCV_V6}/64`] });
  const t0 = Date.now();
  const sender = await startBird(snd, {
    asn: SND_AS, routerId: SND_V4, holdTime: 90, installRoutes: false,
    neighbors: [{ address: RCV_V4, asn: RCV_AS, passive: true }], extraConfig: birdStaticConfig(prefixes),
  });
  // startBird returns when BIRD answers; wait until the static protocols hold every route.
  await waitFor(async () => {
    let n = 0;
    for (const p of BULK_PROTOCOLS) {
      const c = birdImported(await sender.birdc(`show protocols all ${p}`));
      n += c.v4 + c.v6;
    }
    return n === prefixes.length;
  }, { what: 'sender BIRD static protocols loaded', timeoutMs: 120_000, intervalMs: 200 });
  return { lab, rcv, sender, loadMs: Date.now() - t0 };
}

interface ReceiverResult {
  prefixes: number; accepted: number; updates: number; fromFirstUpdateMs: number; fromEstablishedMs: number; cpuMs: number;
  rssBefore: number; rssAfter: number; heapBefore: number; heapAfter: number; externalBefore: number; externalAfter: number;
}

async function ingestRoutectl(prefixes: readonly string[]): Promise<Row> {
  const script = join(REPO, 'dist/bench/bgp-ingest/receiver.js');
  if (!existsSync(script)) throw new Error(`${script} missing: run npm run build`);
  const { lab, rcv, loadMs } = await senderLab(prefixes);
  try {
    const out = join(lab.dir, 'receiver.json');
    const profDir = join(lab.dir, 'prof');
    const prof = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
    const child = rcv.spawn(['node', '--expose-gc', ...prof, script, '--asn', String(RCV_AS), '--router-id', RCV_V4,
      '--peer', SND_V4, '--peer-asn', String(SND_AS), '--expect', String(N), '--out', out], { log: `${rcv.name}-receiver.log` });
    // waitFor treats a throw as "not yet", so an early exit is returned and reported after.
    const how = await waitFor(() => (existsSync(out) ? 'result' : child.exitCode !== null ? 'exited' : null), {
      what: 'routectl receiver result', timeoutMs: TIMEOUT_MS, intervalMs: 200, diagnostics: () => lab.logTails(20),
    });
    if (how === 'exited' && !existsSync(out)) throw new Error(`receiver exited (${child.exitCode}) without a result:\n${lab.logTails(20)}`);
    const r = JSON.parse(readFileSync(out, 'utf8')) as ReceiverResult;
    if (r.accepted !== N) throw new Error(`receiver accepted ${r.accepted}, want ${N}`);
    let profNote = '';
    if (CPU_PROF) {
      await waitFor(() => existsSync(profDir) && readdirSync(profDir).length > 0, { what: 'cpu profile written', timeoutMs: 20_000 });
      const file = join(profDir, readdirSync(profDir)[0]!);
      mkdirSync(PROF_DIR, { recursive: true });
      const keep = join(PROF_DIR, `bgp-ingest-${Date.now()}.cpuprofile`);
      copyFileSync(file, keep);
      process.stderr.write(`\nHottest functions (self time) of the receiver, profile in ${keep}:\n${hotFunctions(readFileSync(file, 'utf8'), 25)}\n\n`);
      profNote = '; under --cpu-prof';
    }
    const rss = (r.rssAfter - r.rssBefore) / N;
    const heap = (r.heapAfter - r.heapBefore) / N;
    const ext = (r.externalAfter - r.externalBefore) / N;
    return {
      receiver: 'routectl',
      ms: r.fromFirstUpdateMs,
      rate: `${thousands(N / (r.fromFirstUpdateMs / 1000))}/s`,
      time: `${secs(r.fromFirstUpdateMs)} from first UPDATE (${secs(r.fromEstablishedMs)} from Established)`,
      perPath: `RSS ${rss.toFixed(0)} B (V8 heap ${heap.toFixed(0)} B, external ${ext.toFixed(0)} B)`,
      notes: `${(r.cpuMs * 1000 / N).toFixed(2)} µs CPU/prefix; ${thousands(r.updates)} UPDATEs; RSS ${mb(r.rssBefore)} → ${mb(r.rssAfter)}; sender loaded in ${secs(loadMs)}${profNote}`,
    };
  } finally {
    await lab.cleanup();
  }
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** BIRD `show memory`: the "Total:" line's effective size in bytes. */
export function birdMemoryTotal(text: string): number {
  const m = /^Total:\s+([\d.]+)\s*(B|kB|MB|GB)/m.exec(text);
  if (!m) throw new Error(`no Total in BIRD show memory:\n${text}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

async function ingestBird(prefixes: readonly string[]): Promise<Row> {
  const { lab, rcv, loadMs } = await senderLab(prefixes);
  try {
    const recv = await startBird(rcv, {
      asn: RCV_AS, routerId: RCV_V4, holdTime: 90, installRoutes: false,
      neighbors: [{ address: SND_V4, asn: SND_AS, shutdown: true }],
      extraConfig: 'timeformat protocol iso long ms;',
    });
    const name = birdProtocolName(SND_V4);
    const pid = recv.pid!;
    const memBefore = birdMemoryTotal(await recv.birdc('show memory'));
    const rssBefore = vmRss(pid);
    const cpuBefore = cpuMs(pid);
    await recv.birdc(`enable ${name}`);
    const est = await waitFor(async () => {
      const m = new RegExp(`^${name}\\s+BGP\\s+\\S+\\s+up\\s+(\\S+) (\\S+)\\s+Established`, 'm').exec(await recv.birdc(`show protocols ${name}`));
      return m ? new Date(`${m[1]}T${m[2]}`).getTime() : null;
    }, { what: 'receiving BIRD Established', timeoutMs: 60_000, intervalMs: 50 });
    const done = await waitFor(async () => {
      const c = birdImported(await recv.birdc(`show protocols all ${name}`));
      return c.v4 + c.v6 >= N ? Date.now() : null;
    }, { what: 'receiving BIRD has every prefix', timeoutMs: TIMEOUT_MS, intervalMs: 50 });
    const cpuAfter = cpuMs(pid);
    const memAfter = birdMemoryTotal(await recv.birdc('show memory'));
    const rssAfter = vmRss(pid);
    const ms = done - est;
    return {
      receiver: 'BIRD',
      ms,
      rate: `${thousands(N / (ms / 1000))}/s`,
      time: `${secs(ms)} from Established`,
      perPath: `RSS ${((rssAfter - rssBefore) / N).toFixed(0)} B (show memory ${((memAfter - memBefore) / N).toFixed(0)} B)`,
      notes: `${((cpuAfter - cpuBefore) * 1000 / N).toFixed(2)} µs CPU/prefix; show memory total ${mb(memBefore)} → ${mb(memAfter)}; RSS ${mb(rssBefore)} → ${mb(rssAfter)}`,
    };
  } finally {
    await lab.cleanup();
  }
}

async function main(): Promise<void> {
  const info = machineInfo(['bird']);
  const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ');
  const prefixes = benchPrefixes(N4, N6);
  const byPeer = new Map<string, Row[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const p of PEERS) {
      log(`run ${run + 1}/${RUNS}, receiver ${p}: ${thousands(N)} prefixes from BIRD`);
      let row: Row;
      try {
        const r = p === 'routectl' ? await ingestRoutectl(prefixes) : p === 'bird' ? await ingestBird(prefixes) : null;
        if (!r) throw new Error(`unknown receiver ${p}`);
        row = r;
        log(`  ${row.rate}, ${row.time}, ${row.perPath}`);
      } catch (e) {
        log(`  failed: ${e instanceof Error ? e.message.slice(0, 4000) : String(e)}`);
        row = { receiver: p, ms: NaN, rate: 'failed', time: e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e), perPath: '', notes: '' };
      }
      byPeer.set(p, [...(byPeer.get(p) ?? []), row]);
    }
  }
  // Per receiver, the run with the median time (failures sort last); every run's rate in the notes.
  const rows = [...byPeer.values()].map((rs) => {
    const sorted = [...rs].sort((a, b) => (Number.isNaN(a.ms) ? 1 : Number.isNaN(b.ms) ? -1 : a.ms - b.ms));
    const mid = sorted[(sorted.length - 1) >> 1]!;
    return rs.length > 1 ? { ...mid, notes: `runs: ${rs.map((r) => r.rate).join(', ')}; ${mid.notes}` } : mid;
  });
  const md = [
    '# BGP ingest benchmark',
    '',
    `${thousands(N4)} IPv4 /32 + ${thousands(N6)} IPv6 /128 = ${thousands(N)} paths sent by BIRD (static protocol, one eBGP session over IPv4, both families, 4096-byte UPDATEs unless both sides offer RFC 8654).`,
    'Targets for routectl: ≥ 150,000 prefixes/s, ≤ 250 B per path (RSS growth after forced GC).' +
      (RUNS > 1 ? ` The run with the median time of ${RUNS} interleaved runs.` : ' One run.'),
    '',
    machineMarkdown(info),
    `- Load average at start / end: ${loadStart} / ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    '',
    markdownTable(['receiver', 'rate', 'time', 'memory per path', 'notes'], rows.map((r) => [r.receiver, r.rate, r.time, r.perPath, r.notes])),
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  log(`wrote ${OUT}`);
}

await main();
