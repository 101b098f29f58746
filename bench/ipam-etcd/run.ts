/**
 * Cluster-mode IPAM against a real three-member etcd 3.4 cluster, next to the local store,
 * in one run:
 *
 *   npm run build && node dist/bench/ipam-etcd/run.js [--seq 300] [--burst 16] [--rounds 10]
 *     [--race 150] [--starts 100] [--out bench/results/ipam-etcd.md]
 *
 * Needs root, etcd-server and FRR. A worker namespace (lab harness, rtc-ipbw-<hex>) holds the
 * three etcd members (the harness's LabEtcd, reached on 127.0.0.1 at distinct client and peer
 * ports, data under the lab directory, the same file system as the local store's directory) and a ToR namespace
 * (rtc-ipbt-<hex>) runs FRR, joined by a veth (203.0.113.41/30 ↔ .42, 2001:db8:ffff:9::/64).
 *
 * 1. Allocation latency (bench/ipam-etcd/alloc.ts, run inside the worker namespace): the
 *    agent's IPAM on the local store and on etcd (dual stack, /26 and /122 blocks), `--seq`
 *    one after another and `--rounds` bursts of `--burst` at once; p50/p99, and the etcd/local
 *    ratios. Allocations that claimed a block are counted apart, and every store call is
 *    counted, to say what one allocation costs.
 * 2. Compare-and-swap under a race: three workers, `--race` allocations each at once, with
 *    hash search starts and with colliding ones: block claims lost.
 * 3. UPDATEs at the ToR: the built agent (cluster mode on the same etcd) with FRR as its
 *    peer; `--starts` container starts through routectl-cni, one after another, with
 *    `aggregate` true and false (fresh key prefix each), counted with FRR's updatesRecv
 *    once its RIB holds what it should.
 *
 * Everything is removed at the end, also on failure. Writes bench/results/ipam-etcd.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { runPlugin } from '../../src/cni/plugin.js';
import type { CniResult } from '../../src/cni/types.js';
import { ETCD_MEMBERS, Lab, LabEtcd, startFrr, waitFor, type Frr, type Netns } from '../../test/lab/harness/index.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable } from '../lib/table.js';
import type { LatencyResult, RaceResult } from './alloc.js';

expectArgs(
  'usage: node dist/bench/ipam-etcd/run.js [--seq 300] [--burst 16] [--rounds 10] [--race 150] [--starts 100] [--out bench/results/ipam-etcd.md]',
  ['seq', 'burst', 'rounds', 'race', 'starts', 'out'],
  [],
);

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const SEQ = numberFlag('seq', 300);
const BURST = numberFlag('burst', 16);
const ROUNDS = numberFlag('rounds', 10);
const RACE = numberFlag('race', 150);
const STARTS = numberFlag('starts', 100);
const ROUTECTL_JS = join(repo, 'dist/src/cli/routectl.js');
const ALLOC_JS = join(here, 'alloc.js');

const TOR4 = '203.0.113.41';
const W4 = '203.0.113.42';
const TOR6 = '2001:db8:ffff:9::1';
const W6 = '2001:db8:ffff:9::2';
/** The members' clients, reached from the worker namespace they run in. */
const endpoints = ETCD_MEMBERS.map((m) => `http://127.0.0.1:${m.client}`);

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const ms = (x: number): string => `${x.toFixed(2)} ms`;

interface UpdateRow {
  readonly aggregate: boolean;
  readonly updates: number;
  readonly prefixes: number;
  readonly blocks: number;
}

/** `--starts` container starts on an agent with `aggregate`, counted at a fresh FRR. */
async function updatesFor(lab: Lab, tor: Netns, w: Netns, aggregate: boolean): Promise<UpdateRow> {
  const frr: Frr = await startFrr(tor, { asn: 65000, routerId: TOR4, neighbors: [{ address: W4, asn: 65001 }], holdTime: 90 });
  const dir = join(lab.dir, `agent-${aggregate}`);
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, 'routectl.sock');
  const cfg = {
    node: 'w1',
    routerId: W4,
    asn: 65001,
    bgp: { holdTime: 90, connectRetryTime: 1, peers: [{ address: TOR4, asn: 65000 }] },
    pools: [
      { cidr: '198.51.100.0/24', zone: 'app', aggregate },
      { cidr: '2001:db8:c:1::/112', zone: 'app', aggregate },
    ],
    zones: [{ name: 'app', cidrs: ['198.51.100.0/24', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['any'] }] }],
    runtime: { reconcileInterval: 3600 },
    // The CNI attachments in the run's own directory: the default (/var/lib/routectl) would
    // hand the first agent's containers to the second one.
    store: { etcd: { endpoints, prefix: `/bench-updates-${aggregate}/`, path: join(dir, 'state') } },
    api: { socket: sock },
    metrics: { listen: '127.0.0.1:9273' },
  };
  writeFileSync(join(dir, 'agent.yaml'), stringify(cfg));
  const agent = w.spawn([process.execPath, ROUTECTL_JS, 'agent', '--config', join(dir, 'agent.yaml')], { nsenter: true, log: `agent-${aggregate}.log` });
  try {
    const neighbor = async () => (await frr.json<Record<string, { bgpState?: string; messageStats?: { updatesRecv?: number } }>>(`show bgp neighbors ${W4} json`))[W4];
    await waitFor(async () => (await neighbor())?.bgpState === 'Established', { what: 'the agent Established with FRR', timeoutMs: 90_000, intervalMs: 200, diagnostics: () => lab.logTails() });
    // The agent's End-of-RIB for each family (an empty UPDATE) comes first: counted before the starts.
    await waitFor(async () => ((await neighbor())?.messageStats?.updatesRecv ?? 0) >= 2, { what: 'End-of-RIB for both families at the ToR', timeoutMs: 30_000, intervalMs: 100 });
    const before = (await neighbor())?.messageStats?.updatesRecv ?? NaN;
    const nets: Netns[] = [];
    for (let i = 0; i < STARTS; i++) nets.push(await lab.netns(`ic${aggregate ? 'a' : 'h'}${i}`));
    for (const [i, ns] of nets.entries()) {
      const out = await runPlugin({
        env: { CNI_COMMAND: 'ADD', CNI_PATH: '/usr/lib/cni', CNI_CONTAINERID: `bench${aggregate ? 'a' : 'h'}${i}`.padEnd(64, 'c'), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' },
        stdin: JSON.stringify({ cniVersion: '1.1.0', name: 'bench', type: 'routectl-cni', zone: 'app', socket: sock, timeoutMs: 30_000 }),
      });
      if (out.exitCode !== 0) throw new Error(`ADD ${i}: ${out.stdout}`);
      void (JSON.parse(out.stdout) as CniResult);
    }
    // What the ToR must end with: the blocks (aggregate) or one /32 and one /128 per start.
    const rib = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const af of ['ipv4', 'ipv6']) out.push(...Object.keys((await frr.json<{ routes?: Record<string, unknown> }>(`show bgp ${af} unicast json`)).routes ?? {}));
      return out;
    };
    const blocks = Math.ceil(STARTS / 64) * 2;
    const want = aggregate ? blocks : 2 * STARTS;
    await waitFor(async () => (await rib()).length === want, { what: `${want} prefixes at the ToR`, timeoutMs: 120_000, intervalMs: 200, diagnostics: async () => `the ToR has ${(await rib()).length}\n${lab.logTails()}` });
    const after = (await neighbor())?.messageStats?.updatesRecv ?? NaN;
    return { aggregate, updates: after - before, prefixes: want, blocks };
  } finally {
    try {
      if (agent.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await waitFor(() => agent.exitCode !== null || agent.signalCode !== null, { what: 'the agent to stop', timeoutMs: 20_000, intervalMs: 100 }).catch(() => undefined);
    await frr.stop();
    // The agent leaves its routes and veths in the kernel (they survive a restart): the
    // next run's agent would re-advertise them as a previous run's and withdraw them after
    // its first sync, UPDATEs that are not the next run's starts.
    for (const fam of ['-4', '-6']) await w.exec(['ip', fam, 'route', 'flush', 'proto', '88']);
    for (const l of await w.ipJson<{ ifname: string }[]>(['link', 'show'])) if (l.ifname.startsWith('rtc')) await w.exec(['ip', 'link', 'del', l.ifname]);
  }
}

function report(lat: readonly LatencyResult[], race: readonly RaceResult[], updates: readonly UpdateRow[], notes: readonly string[]): string {
  const [local, etcd] = lat as [LatencyResult, LatencyResult];
  const held = (r: LatencyResult) => r.seq.filter((_, i) => !r.claims.includes(i));
  const row = (what: string, l: readonly number[], e: readonly number[]) => [
    what,
    `${l.length}`,
    ms(quantile(l, 0.5)),
    ms(quantile(l, 0.99)),
    ms(quantile(e, 0.5)),
    ms(quantile(e, 0.99)),
    `${(quantile(e, 0.5) / quantile(l, 0.5)).toFixed(2)}x`,
    `${(quantile(e, 0.99) / quantile(l, 0.99)).toFixed(2)}x`,
  ];
  const perAlloc = (r: LatencyResult) =>
    Object.entries(r.calls)
      .sort()
      .map(([k, n]) => `${k} ${(n / r.seq.length).toFixed(2)}`)
      .join(', ');
  const latTable = markdownTable(
    ['allocations', 'n', 'local p50', 'local p99', 'etcd p50', 'etcd p99', 'etcd/local p50', 'etcd/local p99'],
    [
      row('sequential, all', local.seq, etcd.seq),
      row('sequential, not the first address of a block', held(local), held(etcd)),
      row(`bursts of ${BURST} at once (${ROUNDS} rounds), all`, local.burst, etcd.burst),
      row(`bursts of ${BURST} at once, rounds within blocks in use`, local.burstHeld, etcd.burstHeld),
      row(`bursts of ${BURST} at once, rounds crossing into a new block`, local.burstCross, etcd.burstCross),
      row('store alone: read of the worker\'s document (etcd: head and endpoint keys)', local.ops.get, etcd.ops.get),
      row('store alone: compare-and-swap write', local.ops.casPut, etcd.ops.casPut),
    ],
  );
  const raceTable = markdownTable(
    ['workers', 'allocations per worker', 'block claims lost (CAS) per worker', 'blocks per worker', 'all distinct', 'wall'],
    race.map((r) => [r.names, `${r.perWorker}`, r.casRetries.join(' / '), r.blocks.join(' / '), r.distinct ? 'yes' : 'NO', ms(r.ms)]),
  );
  const updTable = markdownTable(
    ['aggregate', 'container starts', 'prefixes at the ToR', 'UPDATEs received by the ToR'],
    updates.map((u) => [String(u.aggregate), `${STARTS}`, `${u.prefixes}`, `${u.updates}`]),
  );
  return [
    '# Cluster-mode IPAM on etcd vs the local store',
    '',
    'Written by `node dist/bench/ipam-etcd/run.js` (bench/ipam-etcd/run.ts; method in its header). Three etcd 3.4',
    'members on 127.0.0.1 of one namespace, their data on the same file system as the local store. Each',
    'allocation is IPv4 + IPv6 (pools /16 and /104, blocks /26 and /122), timed from the call until the',
    'write holding it is durable (local: temp file, fsync, rename, directory fsync; etcd: a transaction',
    'committed by the raft quorum, each member fsyncing its WAL). Target: etcd p99 ≤ 2× the local store\'s.',
    '',
    machineMarkdown(machineInfo(['frr'])),
    '',
    '## Allocation latency',
    '',
    latTable,
    '',
    `Store calls per sequential allocation: local ${perAlloc(local)}; etcd ${perAlloc(etcd)}. Sequential allocations that took the first address of a block: local ${local.claims.length}, etcd ${etcd.claims.length} of ${SEQ}. Blocks claimed ahead of need (etcd, whole run): ${etcd.prefetched}.`,
    'An allocation in a block already held is one guarded write (local: the worker\'s document rewritten; etcd: one',
    'transaction of the endpoint\'s key and the head of the worker\'s document, guarded by the revision it wrote last, not',
    'read first): its durable record. A read (local: from memory; etcd: the head and every endpoint key at one revision,',
    'a linearizable read after a quorum round) is needed only after a conflict. The next block is claimed ahead of need,',
    'in the background, once a quarter of a block or less is free (a list of the registry, a create-only write per family',
    'running low, at once, and one document write shared with the allocations in flight; those calls are in the counts',
    'above), so the allocation that crosses into it finds it held; the local store has no blocks (its first addresses of a',
    'block are counted alike for comparison). The p99 of a row is close to its slowest allocation (n ≤ 300): on this',
    'shared, loaded machine it moves by 2× or more between runs.',
    '',
    '## Compare-and-swap under a three-worker race (etcd)',
    '',
    raceTable,
    '',
    '## UPDATEs at the ToR for container starts (FRR updatesRecv, cluster mode on the same etcd)',
    '',
    `Counted from after the agent's two End-of-RIB markers until the ToR's RIB holds every prefix; ${STARTS} CNI ADDs one after another, IPv4 + IPv6 each.`,
    '',
    updTable,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

const load0 = loadavg();
const lab = await Lab.create();
try {
  const w = await lab.netns('ipbw');
  const tor = await lab.netns('ipbt');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, `${TOR6}/64`], bAddr: [`${W4}/30`, `${W6}/64`] });
  await w.addRoute('default', { via: TOR4 });
  const etcd = new LabEtcd(w, '127.0.0.1', ETCD_MEMBERS, 'rtc-bench');
  etcd.startAll();
  await etcd.waitHealthy(w, 'three etcd members healthy');
  const r = await w.exec([process.execPath, ALLOC_JS, JSON.stringify({ endpoints, dir: join(lab.dir, 'alloc'), seq: SEQ, burst: BURST, rounds: ROUNDS, race: RACE })], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`alloc.js: ${r.stderr || r.stdout}`);
  const res = JSON.parse(r.stdout) as { latency: LatencyResult[]; race: RaceResult[] };
  const updates = [await updatesFor(lab, tor, w, true), await updatesFor(lab, tor, w, false)];
  const notes = [`Load average (1/5/15 min): start ${load0.map((x) => x.toFixed(2)).join(' ')}, end ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`];
  const text = report(res.latency, res.race, updates, notes);
  writeFileSync(flag('out', join(repo, 'bench/results/ipam-etcd.md')), text);
  console.log(text);
} finally {
  await lab.cleanup();
}
