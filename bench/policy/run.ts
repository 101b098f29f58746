/**
 * Zone policy at scale: 10k running endpoints (synthetic: ipset and iptables need no real
 * interfaces for them) in a fresh network namespace with real ipset and iptables (nf_tables
 * backend), driven through the agent's glue (src/policy AgentPolicy over the policy/
 * applier), next to the per-rule `iptables` approach a naive CNI policy takes.
 *
 *   npm run build && node dist/bench/policy/run.js [--endpoints 10000] [--starts 30] [--runs 3] [--naive-sample 30]
 *
 * Needs root; namespaces rtc-pb-<hex>, deleted at the end, also on failure or Ctrl-C.
 * Writes bench/results/policy.md (or --out FILE).
 *
 * routectl: (a) a container start = AgentPolicy.addEndpoint (one `ipset -exist restore`
 * holding one add per family); the iptables-save text and the rule count are compared
 * before and after all starts (target: identical: no rule or set changes besides the
 * elements); (b) a changed model = AgentPolicy.configure(other model): the applier builds
 * the other set generation, rewrites our chains in one iptables-restore transaction per
 * family, refills the endpoint sets by temp + swap and destroys the old generation
 * (target < 1 s); the steady reconcile pass (read back, nothing to change) is shown too.
 *
 * naive: per endpoint and family, one `iptables -A` per rule: anti-spoofing (`-i veth !
 * -s addr -j DROP`), one ACCEPT per (source zone range, port) of the endpoint's zone and a
 * final per-endpoint DROP; loaded for all endpoints with iptables-restore (setup, not
 * timed). (a) a container start = that endpoint's `iptables -A`/`ip6tables -A` calls, each
 * a process, timed at full table size; (b) a changed model = at least every rule that
 * differs: for each app endpoint and family a `-D` of the old ACCEPT and an `-I` of the
 * new one. Timed for --naive-sample endpoints at full size and extrapolated linearly to
 * every affected endpoint (marked so): the per-call cost only grows with the table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildModel, type PolicyModel } from '../../policy/model.js';
import { ChildProcessExecutor } from '../../policy/exec.js';
import type { HostPolicy } from '../../policy/compiler.js';
import { AgentPolicy, type PolicyEndpoint } from '../../src/policy/index.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable, median, ratio } from '../lib/table.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';

expectArgs(
  'usage: node dist/bench/policy/run.js [--endpoints 10000] [--starts 30] [--runs 3] [--naive-sample 30] [--out bench/results/policy.md]',
  ['endpoints', 'starts', 'runs', 'naive-sample', 'out'],
  [],
);

const here = dirname(fileURLToPath(import.meta.url));
const N = numberFlag('endpoints', 10_000);
const STARTS = numberFlag('starts', 30);
const RUNS = numberFlag('runs', 3);
const SAMPLE = numberFlag('naive-sample', 30);
const OUT = resolve(flag('out', join(here, '../../../bench/results/policy.md')));
if (!Number.isInteger(N) || N < 3 || N > 60_000) throw new Error('--endpoints: 3..60000');

// ---- the model and the synthetic endpoints ----

const ZONES = [
  { name: 'dmz', cidrs: ['198.18.0.0/18', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80', 'tcp/443'] }] },
  { name: 'app', cidrs: ['198.18.64.0/18', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] },
  { name: 'backend', cidrs: ['198.18.128.0/17', '2001:db8:c:3::/64'], ingress: [{ from: 'app', ports: ['tcp/5432', 'udp/53'] }] },
];
const MODEL_A: PolicyModel = buildModel(ZONES, { defaultAction: 'drop' });
// B: dmz reaches app on tcp/22 instead of tcp/8080 (every app endpoint's naive rule changes).
const MODEL_B: PolicyModel = buildModel(ZONES.map((z) => (z.name === 'app' ? { ...z, ingress: [{ from: 'dmz', ports: ['tcp/22'] }] } : z)), { defaultAction: 'drop' });
const HOST: HostPolicy = { addresses: ['203.0.113.2', '2001:db8:ffff::2'], protectedPorts: ['tcp/179', 'tcp/9273'], open: [] };

interface Ep extends PolicyEndpoint {
  readonly zone: 'dmz' | 'app' | 'backend';
}

const ZONE_V4_BASE = { dmz: 0xc6120000, app: 0xc6124000, backend: 0xc6128000 } as const; // 198.18.0.0, .64.0, .128.0
const ZONE_V6 = { dmz: '2001:db8:c:1', app: '2001:db8:c:2', backend: '2001:db8:c:3' } as const;

/** Endpoint i: zones round-robin, the k-th address of its zone, host veth rtc + 11 hex. */
function endpoint(i: number): Ep {
  const zone = (['dmz', 'app', 'backend'] as const)[i % 3]!;
  const k = Math.floor(i / 3) + 1;
  const n = ZONE_V4_BASE[zone] + k;
  return {
    id: `bench${i}`,
    zone,
    hostVeth: `rtc${i.toString(16).padStart(11, '0')}`,
    ipv4: `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`,
    ipv6: `${ZONE_V6[zone]}::${k.toString(16)}`,
  };
}

// ---- namespaces ----

const created: string[] = [];
const sh = (cmd: string, args: readonly string[], input?: string): string =>
  execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...(input !== undefined ? { input } : {}) });

function freshNs(): string {
  const ns = `rtc-pb-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', ns]);
  created.push(ns);
  return ns;
}

function dropAll(): void {
  for (const ns of created.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
}
process.once('SIGINT', () => {
  dropAll();
  process.exit(130);
});

const inNs = (ns: string, argv: readonly string[], input?: string): string => sh('ip', ['netns', 'exec', ns, ...argv], input);
const rulesText = (ns: string): string => `${inNs(ns, ['iptables-save', '-t', 'filter'])}${inNs(ns, ['ip6tables-save', '-t', 'filter'])}`.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/^:(\S+) (\S+) \[\d+:\d+\]$/, ':$1 $2')).join('\n');
const ruleCount = (text: string): number => text.split('\n').filter((l) => l.startsWith('-A ')).length;
const setEntries = (ns: string, set: string): number => Number(/Number of entries: (\d+)/.exec(inNs(ns, ['ipset', 'list', '-t', set]))?.[1] ?? NaN);
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
/** CPU ms of this process plus its waited-for children (ipset, iptables-restore): the cost, whatever the machine's load. */
function cpuNow(): number {
  const u = process.cpuUsage();
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  // Fields 16 and 17 of /proc/PID/stat (cutime, cstime) are the 14th and 15th after the name, in clock ticks (100 Hz).
  const children = (Number(f[13]) + Number(f[14])) * 10;
  return (u.user + u.system) / 1000 + children;
}
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a');

// ---- routectl ----

interface Ours {
  initialMs: number;
  startMs: number[];
  rulesBefore: number;
  rulesAfter: number;
  rulesIdentical: boolean;
  ep4Before: number;
  ep4After: number;
  changeMs: number[];
  changeCpuMs: number[];
  changeGenerations: string[];
  reconcileMs: number[];
}

async function ours(): Promise<Ours> {
  const ns = freshNs();
  const log = pino({ level: 'silent' });
  const p = new AgentPolicy({ log, intervalMs: 0, executor: new ChildProcessExecutor(['ip', 'netns', 'exec', ns]) });
  const eps = Array.from({ length: N }, (_, i) => endpoint(i));
  let t = process.hrtime.bigint();
  await p.configure(MODEL_A, HOST);
  await p.replaceEndpoints(eps);
  const initialMs = ms(t);
  if (setEntries(ns, 'rtc-ep-4') !== N) throw new Error(`rtc-ep-4 holds ${setEntries(ns, 'rtc-ep-4')}, want ${N}`);

  const before = rulesText(ns);
  const ep4Before = setEntries(ns, 'rtc-ep-4');
  const startMs: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const e = endpoint(N + i);
    t = process.hrtime.bigint();
    await p.addEndpoint(e);
    startMs.push(ms(t));
  }
  const after = rulesText(ns);
  const ep4After = setEntries(ns, 'rtc-ep-4');
  if (ep4After !== ep4Before + STARTS) throw new Error(`rtc-ep-4: ${ep4Before} → ${ep4After} after ${STARTS} starts`);

  const reconcileMs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    t = process.hrtime.bigint();
    const res = await p.reconcile();
    reconcileMs.push(ms(t));
    if (!res || res.changed) throw new Error('a steady reconcile pass changed something');
  }
  const changeMs: number[] = [];
  const changeCpuMs: number[] = [];
  const changeGenerations: string[] = [];
  for (let r = 0; r < RUNS; r++) {
    const model = r % 2 === 0 ? MODEL_B : MODEL_A;
    const c0 = cpuNow();
    t = process.hrtime.bigint();
    const res = await p.configure(model, HOST);
    changeMs.push(ms(t));
    changeCpuMs.push(cpuNow() - c0);
    if (!res?.changed) throw new Error('a model change changed nothing');
    changeGenerations.push(res.generation);
    const text = rulesText(ns);
    const want = r % 2 === 0 ? '--dport 22 ' : '--dport 8080 ';
    if (!text.includes(want)) throw new Error(`after the change the rules lack ${want}`);
    if (setEntries(ns, 'rtc-ep-4') !== N + STARTS) throw new Error('endpoint set lost members in the change');
  }
  return { initialMs, startMs, rulesBefore: ruleCount(before), rulesAfter: ruleCount(after), rulesIdentical: before === after, ep4Before, ep4After, changeMs, changeCpuMs, changeGenerations, reconcileMs };
}

// ---- naive: one iptables call per endpoint rule ----

const SRC_V4: Record<string, readonly string[]> = { world: ['!world'], dmz: ['198.18.0.0/18'], app: ['198.18.64.0/18'] };
const SRC_V6: Record<string, readonly string[]> = { world: ['!world'], dmz: ['2001:db8:c:1::/64'], app: ['2001:db8:c:2::/64'] };
const ALL_ZONES = { 4: '198.18.0.0/15', 6: '2001:db8:c::/48' } as const;

/** The naive rules of one endpoint and family, as `-A NAIVE …` argument lists. */
function naiveRules(e: Ep, fam: 4 | 6, model: PolicyModel): string[][] {
  const a = fam === 4 ? e.ipv4! : e.ipv6!;
  const rules: string[][] = [['-A', 'NAIVE', '-i', e.hostVeth, '!', '-s', a, '-j', 'DROP']];
  const zone = model.zones.find((z) => z.name === e.zone)!;
  for (const ing of zone.ingress) {
    for (const src of (fam === 4 ? SRC_V4 : SRC_V6)[ing.from] ?? []) {
      const s = src === '!world' ? ['!', '-s', ALL_ZONES[fam]] : ['-s', src];
      for (const port of ing.ports) {
        const [proto, p] = port.split('/');
        rules.push(['-A', 'NAIVE', '-d', a, ...s, '-p', proto!, '--dport', p!, '-j', 'ACCEPT']);
      }
    }
  }
  rules.push(['-A', 'NAIVE', '-d', a, '-j', 'DROP']);
  return rules;
}

interface Naive {
  rules: number;
  loadMs: number;
  startCalls: number;
  startMs: number[];
  changeCallsPerEndpoint: number;
  changeSampleMs: number;
  affected: number;
}

function naive(): Naive {
  const ns = freshNs();
  const eps = Array.from({ length: N }, (_, i) => endpoint(i));
  let rules = 0;
  let t = process.hrtime.bigint();
  for (const fam of [4, 6] as const) {
    const lines = ['*filter', ':NAIVE - [0:0]', '-A FORWARD -j NAIVE'];
    for (const e of eps) for (const r of naiveRules(e, fam, MODEL_A)) lines.push(r.join(' '));
    rules += lines.length - 3;
    lines.push('COMMIT', '');
    inNs(ns, [fam === 4 ? 'iptables-restore' : 'ip6tables-restore'], lines.join('\n'));
  }
  const loadMs = ms(t);
  const bin = (fam: 4 | 6): string => (fam === 4 ? 'iptables' : 'ip6tables');

  // (a) a container start: each of its rules is one process.
  const startMs: number[] = [];
  let startCalls = 0;
  for (let i = 0; i < Math.min(STARTS, 10); i++) {
    const e = endpoint(N + i);
    t = process.hrtime.bigint();
    startCalls = 0;
    for (const fam of [4, 6] as const) {
      for (const r of naiveRules(e, fam, MODEL_A)) {
        inNs(ns, [bin(fam), '-w', '5', ...r]);
        startCalls++;
      }
    }
    startMs.push(ms(t));
  }

  // (b) a changed model: per app endpoint and family, delete the old ACCEPT, insert the new.
  const apps = eps.filter((e) => e.zone === 'app');
  const sample = apps.slice(0, SAMPLE);
  t = process.hrtime.bigint();
  let calls = 0;
  for (const e of sample) {
    for (const fam of [4, 6] as const) {
      const old = naiveRules(e, fam, MODEL_A).filter((r) => r.includes('ACCEPT'));
      const neu = naiveRules(e, fam, MODEL_B).filter((r) => r.includes('ACCEPT'));
      for (const r of old) { inNs(ns, [bin(fam), '-w', '5', '-D', ...r.slice(1)]); calls++; }
      for (const r of neu) { inNs(ns, [bin(fam), '-w', '5', '-I', 'NAIVE', ...r.slice(2)]); calls++; }
    }
  }
  const changeSampleMs = ms(t);
  return { rules, loadMs, startCalls, startMs, changeCallsPerEndpoint: calls / sample.length, changeSampleMs, affected: apps.length };
}

// ---- report ----

async function main(): Promise<void> {
  const machine = machineInfo([]);
  const load0 = sh('cat', ['/proc/loadavg']).trim();
  let o: Ours;
  let n: Naive;
  try {
    o = await ours();
    n = naive();
  } finally {
    dropAll();
  }
  const load1 = sh('cat', ['/proc/loadavg']).trim();
  const oStart = median(o.startMs);
  const nStart = median(n.startMs);
  const oChange = median(o.changeMs);
  const nChangeExtrap = (n.changeSampleMs / SAMPLE) * n.affected;
  const table = markdownTable(
    [`operation (${N} endpoints loaded)`, 'routectl (ipset + own chains)', 'naive per-rule iptables', 'naive / routectl'],
    [
      ['container start: policy time (median)', `${f1(oStart)} ms (1 ipset batch)`, `${f1(nStart)} ms (${n.startCalls} iptables calls)`, ratio(nStart, oStart)],
      ['container start: iptables rules changed', `0 (${o.rulesBefore} before, ${o.rulesAfter} after ${STARTS} starts; text ${o.rulesIdentical ? 'identical' : 'DIFFERS'})`, `+${n.startCalls} per start`, '—'],
      ['changed model: full re-apply (median)', `${f1(oChange)} ms`, `${f1(nChangeExtrap)} ms (extrapolated: ${f1(n.changeSampleMs / SAMPLE)} ms × ${n.affected} app endpoints, ${n.changeCallsPerEndpoint} calls each)`, ratio(nChangeExtrap, oChange)],
      ['changed model: CPU time (median; agent + its ipset/iptables children)', `${f1(median(o.changeCpuMs))} ms`, '—', '—'],
      ['steady reconcile pass (read back, no change)', `${f1(median(o.reconcileMs))} ms`, '—', '—'],
      ['initial load', `${f1(o.initialMs)} ms (configure + ${N} endpoints)`, `${f1(n.loadMs)} ms (iptables-restore of ${n.rules} rules, setup)`, '—'],
    ],
  );
  const target = oChange < 1000 ? 'meets' : 'MISSES';
  const text = `# Zone policy at scale: routectl vs per-rule iptables

${machineMarkdown(machine)}
- Load average: start ${load0}; end ${load1}
- iptables: ${sh('iptables', ['--version']).trim()}; ${sh('ipset', ['--version']).trim().split('\n')[0]}

${N} synthetic endpoints (zones dmz/app/backend round-robin, IPv4 and IPv6 each) in a fresh
network namespace, real ipset and iptables (nf_tables backend). routectl goes through the
agent's glue (\`src/policy\` AgentPolicy → \`policy/\` PolicyApplier); the naive approach runs one
\`iptables\`/\`ip6tables\` process per endpoint rule (${(n.rules / N).toFixed(1)} rules per endpoint over both
families: anti-spoofing, one ACCEPT per ingress port, a final DROP). See bench/policy/run.ts.

${table}

- Container start, routectl: ${STARTS} starts, each \`AgentPolicy.addEndpoint\` = one \`ipset -exist restore\`
  with one element per family; min ${f1(Math.min(...o.startMs))} / max ${f1(Math.max(...o.startMs))} ms. rtc-ep-4 went from ${o.ep4Before} to
  ${o.ep4After} elements; iptables-save (both families, counters stripped) was ${o.rulesIdentical ? 'byte-identical' : 'DIFFERENT'} before and after.
- Changed model (A: dmz → app tcp/8080; B: tcp/22), routectl: ${RUNS} switches A→B→A…, each a set-generation swap
  (${o.changeGenerations.join(' → ')}): the other generation's sets filled, one iptables-restore transaction per family, the
  endpoint sets refilled by temp + swap (${N + STARTS} elements), the old generation destroyed. Runs: ${o.changeMs.map(f1).join(', ')} ms
  (CPU ${o.changeCpuMs.map(f1).join(', ')} ms): on a loaded machine the wall time waits for a CPU.
  Target < 1 s: **${target}** (${f1(oChange)} ms).
- Changed model, naive: only the rules that differ (a \`-D\` of the old ACCEPT and an \`-I\` of the new, per app endpoint and
  family) — a lower bound for that approach. ${SAMPLE} endpoints timed at full table size (${f1(n.changeSampleMs)} ms), then
  scaled to all ${n.affected} app endpoints. Naive container starts: ${n.startMs.map(f1).join(', ')} ms.

Reproduce: \`npm run build && node dist/bench/policy/run.js --endpoints ${N} --starts ${STARTS} --runs ${RUNS} --naive-sample ${SAMPLE}\`
`;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  process.stdout.write(`${text}\nwritten to ${OUT}\n`);
}

main().catch((err: unknown) => {
  dropAll();
  console.error(err);
  process.exit(1);
});
