/**
 * Kernel route programming: N /32s through the dataplane (batched rtnetlink, see
 * src/dataplane/netlink/socket.ts) vs `ip -batch`, each in a fresh network namespace,
 * in one run. Target: the dataplane at least 0.8x ip -batch.
 *
 *   npm run build && node dist/bench/kernel-routes/run.js [--routes 10000,100000 | --100k] [--runs 3]
 *
 * Needs root (it creates namespaces rtc-dp-b*, deleted at the end, also on failure).
 * Each run: add N routes `198.18.x.y/32 dev bench0 proto 88 scope link`, check that all N
 * are in the table, delete them, check that none is left. The median of the runs is
 * reported. ip's time includes its process start (a few ms); the dataplane's is measured
 * inside the process, as the agent would experience it. Writes bench/results/kernel-routes.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DEV, BENCH_PROTO, benchPrefix, MAX_ROUTES } from './common.js';
import { expectArgs, numberFlag, numberListFlag } from '../lib/args.js';

expectArgs(
  'usage: node dist/bench/kernel-routes/run.js [--routes 10000,100000 | --100k] [--runs 3]',
  ['routes', 'runs'],
  ['100k'],
);

const here = dirname(fileURLToPath(import.meta.url));
const SIZES = [...numberListFlag('routes', [10_000]), ...(process.argv.includes('--100k') ? [100_000] : [])];
const RUNS = numberFlag('runs', 3);
for (const n of SIZES) if (!Number.isInteger(n) || n < 1 || n > MAX_ROUTES) throw new Error(`--routes: each size must be 1..${MAX_ROUTES}`);
let N = 0;

const created: string[] = [];
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });

function freshNs(): string {
  const ns = `rtc-dp-b${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', ns]);
  created.push(ns);
  // No dummy module on every machine: a veth pair gives the routes an up device.
  sh('ip', ['-n', ns, 'link', 'add', BENCH_DEV, 'type', 'veth', 'peer', 'name', `${BENCH_DEV}p`]);
  sh('ip', ['-n', ns, 'link', 'set', BENCH_DEV, 'up']);
  sh('ip', ['-n', ns, 'link', 'set', `${BENCH_DEV}p`, 'up']);
  return ns;
}

function dropNs(ns: string): void {
  spawnSync('ip', ['netns', 'del', ns]);
  created.splice(created.indexOf(ns), 1);
}

const countOwn = (ns: string): number =>
  sh('ip', ['-n', ns, 'route', 'show', 'proto', String(BENCH_PROTO)]).split('\n').filter(Boolean).length;

interface Timing {
  add: number;
  del: number;
  dump?: number;
}

function ipBatch(tmp: string): Timing {
  const ns = freshNs();
  try {
    const addFile = join(tmp, 'add.batch');
    const delFile = join(tmp, 'del.batch');
    const lines = (verb: string): string =>
      Array.from({ length: N }, (_, i) => `route ${verb} ${benchPrefix(i)} dev ${BENCH_DEV} proto ${BENCH_PROTO} scope link`).join('\n') + '\n';
    writeFileSync(addFile, lines('add'));
    writeFileSync(delFile, lines('del'));
    let t = process.hrtime.bigint();
    sh('ip', ['-n', ns, '-batch', addFile]);
    const add = Number(process.hrtime.bigint() - t) / 1e9;
    const have = countOwn(ns);
    if (have !== N) throw new Error(`ip -batch: ${have} routes after adding ${N}`);
    t = process.hrtime.bigint();
    sh('ip', ['-n', ns, '-batch', delFile]);
    const del = Number(process.hrtime.bigint() - t) / 1e9;
    if (countOwn(ns) !== 0) throw new Error('ip -batch: routes left after delete');
    return { add, del };
  } finally {
    dropNs(ns);
  }
}

function dataplane(): Timing {
  const ns = freshNs();
  try {
    const out = sh('ip', ['netns', 'exec', ns, process.execPath, join(here, 'worker.js'), String(N)]);
    const r = JSON.parse(out) as { add: number; dump: number; del: number; addErrors: number; delErrors: number; listed: number; left: number };
    if (r.addErrors || r.delErrors || r.listed !== N || r.left !== 0) throw new Error(`dataplane: inconsistent result ${out}`);
    return { add: r.add, del: r.del, dump: r.dump };
  } finally {
    dropNs(ns);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const rate = (n: number, s: number): string => Math.round(n / s).toLocaleString('en-US');
const sections: string[] = [];
const verdicts: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'rtc-dp-bench-'));
try {
  for (const size of SIZES) {
    N = size;
    const ip: Timing[] = [];
    const ours: Timing[] = [];
    for (let r = 0; r < RUNS; r++) {
      // Alternate which goes first so neither always runs on a warmer machine.
      if (r % 2 === 0) {
        ip.push(ipBatch(tmp));
        ours.push(dataplane());
      } else {
        ours.push(dataplane());
        ip.push(ipBatch(tmp));
      }
    }
    const ipAdd = median(ip.map((x) => x.add));
    const ipDel = median(ip.map((x) => x.del));
    const dpAdd = median(ours.map((x) => x.add));
    const dpDel = median(ours.map((x) => x.del));
    const dpDump = median(ours.map((x) => x.dump ?? 0));
    const table = [
      `| method | operation | routes | seconds (median of ${RUNS}) | routes/s | vs ip -batch |`,
      '|---|---|---:|---:|---:|---:|',
      `| ip -batch | add | ${N} | ${ipAdd.toFixed(3)} | ${rate(N, ipAdd)} | 1.00x |`,
      `| routectl dataplane | add | ${N} | ${dpAdd.toFixed(3)} | ${rate(N, dpAdd)} | ${(ipAdd / dpAdd).toFixed(2)}x |`,
      `| ip -batch | delete | ${N} | ${ipDel.toFixed(3)} | ${rate(N, ipDel)} | 1.00x |`,
      `| routectl dataplane | delete | ${N} | ${dpDel.toFixed(3)} | ${rate(N, dpDel)} | ${(ipDel / dpDel).toFixed(2)}x |`,
      `| routectl dataplane | dump (reconcile read) | ${N} | ${dpDump.toFixed(3)} | ${rate(N, dpDump)} | — |`,
    ].join('\n');
    console.log(`\n${N} routes\n${table}`);
    sections.push(`## ${N.toLocaleString('en-US')} routes\n\n${table}`);
    verdicts.push(`${N}: ${(ipAdd / dpAdd).toFixed(2)}× (${ipAdd / dpAdd >= 0.8 ? 'meets' : 'misses'})`);
  }
} finally {
  for (const ns of [...created]) dropNs(ns);
  rmSync(tmp, { recursive: true, force: true });
}

const md = `# Kernel route programming: routectl dataplane vs ip -batch

${new Date().toISOString()} · ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}) · Linux ${sh('uname', ['-r']).trim()} · Node ${process.version}

Each run uses a fresh network namespace per method: N \`/32 dev bench0 proto ${BENCH_PROTO} scope link\` routes from
198.18.0.0/15 added, verified (all N present), deleted, verified (none left). "vs ip -batch" is ip's time divided
by ours (above 1 = faster than ip). The dataplane path is \`NetlinkKernel.addRoutes/deleteRoutes\` (batched
rtnetlink, the writer \`Dataplane.apply()\` uses); the dump is \`listRoutes()\`, what every reconcile pass reads.
ip's times include its process start; ours are measured inside the process.

${sections.join('\n\n')}

Target (add ≥ 0.8× ip -batch): ${verdicts.join('; ')}.

Reproduce: \`npm run build && node dist/bench/kernel-routes/run.js --routes ${SIZES.join(',')} --runs ${RUNS}\`
`;
// Runs from dist/bench/kernel-routes; results live in the source tree's bench/results.
const outDir = resolve(here, here.split('/').includes('dist') ? '../../../bench/results' : '../results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, 'kernel-routes.md');
writeFileSync(outFile, md);
console.log(`\nwritten to ${outFile}`);
