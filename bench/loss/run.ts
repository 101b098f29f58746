/**
 * bench/loss: how long traffic to a worker is lost when the link to one ToR is
 * blackholed (iptables DROP in the ToR's namespace: the link stays up, so only BFD or
 * the hold timer can tell), with and without BFD, for a worker dual-homed to an FRR and
 * a BIRD ToR and for one single-homed to the FRR ToR.
 *
 *   npm run build && node dist/bench/loss/run.js [--runs 3] [--hold 3] [--targets 8]
 *     [--interval 10] [--setups dual,single] [--out bench/results/loss.md]
 *
 *                 ┌─ torA (FRR)  ═ upA ─┐
 *   h ────────────┤    │ iBGP           ├─ wk (routectl agent, `--targets` /32s on lo)
 *                 └─ torB (BIRD) ═ upB ─┘
 *
 * h sends an ICMP echo to every target each `--interval` ms (test/lab/harness/loss.ts:
 * a raw-socket sender that keeps going through errors) over an ECMP route via both ToRs
 * (single-homed: via torA only); the worker answers over its learned ECMP default. Every
 * run: a second of echoes, then DROP rules for everything to and from the worker on
 * torA's worker link (INPUT, OUTPUT, FORWARD), kept for a fixed window (detection bound
 * + 5 s), lifted, and three more seconds of echoes. The longest run of consecutive lost
 * echoes of any target is the loss of that run. Between runs both sessions (and BFD)
 * come back.
 *
 * Bounds: with BFD (300 ms × 3 on every side) the detection time, 900 ms; without, the
 * hold time (`--hold`, on every side). Dual-homed, loss past the bound is failover work
 * (route withdrawals, FIB updates) or a route kept where it should have gone.
 * Single-homed, nothing can route around the blackhole: the loss is the window itself,
 * and the table shows how long after the lift traffic took to come back.
 *
 * Needs root, FRR, BIRD and a build. Namespaces rtc-<role>-<4 hex>, torn down in `finally`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { Lab, lossGaps, startBird, startFrr, startLossCounter, waitFor, type Bird, type Frr, type LossGap, type Netns } from '../../test/lab/harness/index.js';
import { H, hostBehind, TOR_A, TOR_AS, TOR_B, TOR_PAIR_BIRD, TOR_PAIR_FRR, TORA_H, uplinks, WK_A, WK_AS, WK_B } from '../../test/lab/harness/fabric.js';
import { terminate } from '../../test/lab/harness/proc.js';
import { expectArgs, flag, numberFlag } from '../lib/args.js';
import { REPO, ROUTECTL_JS as ROUTECTL } from '../lib/paths.js';
import { asService } from '../lib/cpu.js';
import { machineInfo, machineMarkdown } from '../lib/machine.js';
import { markdownTable, median } from '../lib/table.js';

expectArgs(
  'usage: node dist/bench/loss/run.js [--runs 3] [--hold 3] [--targets 8] [--interval 10] [--setups dual,single] [--bfd on,off] [--out bench/results/loss.md]',
  ['runs', 'hold', 'targets', 'interval', 'setups', 'bfd', 'out'],
);

const RUNS = numberFlag('runs', 3);
const HOLD_S = numberFlag('hold', 3);
const TARGETS = numberFlag('targets', 8);
const INTERVAL = numberFlag('interval', 10);
const SETUPS = flag('setups', 'dual,single').split(',') as ('dual' | 'single')[];
const BFD_MODES = flag('bfd', 'on,off').split(',').map((x) => x === 'on');
const OUT = resolve(REPO, flag('out', 'bench/results/loss.md'));

const BFD = { minRx: 300, minTx: 300, multiplier: 3 };
const DETECT_MS = BFD.minRx * BFD.multiplier;
const TARGET_ADDRS = Array.from({ length: TARGETS }, (_, i) => `198.51.100.${i + 1}`);

const log = (s: string): void => {
  process.stderr.write(`[loss ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

interface Setup {
  readonly homes: 'dual' | 'single';
  readonly bfd: boolean;
}

interface RunResult {
  /** Longest run of lost echoes of any target (ms). */
  readonly lossMs: number;
  /** When that loss started and ended (the first lost echo's send time, plus the loss), from the moment the DROP rules were asked for. */
  readonly fromMs: number;
  readonly toMs: number;
  /** From the DROP rules to the agent's torA session leaving Established (null: it stayed up). */
  readonly sessionDownMs: number | null;
  /** How long the blackhole stayed. */
  readonly windowMs: number;
  /** Targets with any loss / all. */
  readonly hit: number;
  /** Targets whose echoes (forward) or replies (return) crossed torA before the blackhole. */
  readonly viaA: { forward: number; back: number };
}

interface SetupResult {
  readonly setup: Setup;
  readonly runs: RunResult[];
  readonly error?: string;
}

const boundMs = (s: Setup): number => (s.bfd ? DETECT_MS : HOLD_S * 1000);

/** The blackhole: everything to and from the worker on torA's link to it, in torA's namespace. */
function dropRules(op: '-I' | '-D'): string {
  return ['*filter', `${op} INPUT -i worker -j DROP`, `${op} OUTPUT -o worker -j DROP`, `${op} FORWARD -i worker -j DROP`, `${op} FORWARD -o worker -j DROP`, 'COMMIT', ''].join('\n');
}

async function iptablesRestore(ns: Netns, rules: string): Promise<void> {
  const file = join(ns.lab.dir, `rules-${Date.now()}`);
  writeFileSync(file, rules);
  await ns.run(['iptables-restore', '--noflush', file]);
}

interface AgentLine {
  readonly time: string;
  readonly op?: string;
  readonly peer?: string;
  readonly from?: string;
  readonly to?: string;
}

function agentLines(file: string): AgentLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as AgentLine];
    } catch {
      return [];
    }
  });
}

async function bench(lab: Lab, s: Setup): Promise<RunResult[]> {
  const dual = s.homes === 'dual';
  const { torA, torB, wk } = await uplinks(lab, { tors: dual ? 2 : 1 });
  const h = await hostBehind(lab, torA, torB);
  for (const a of TARGET_ADDRS) await wk.ip(['addr', 'add', `${a}/32`, 'dev', 'lo']);

  const frr: Frr = await startFrr(torA, {
    asn: TOR_AS,
    routerId: TOR_A,
    families: ['ipv4-unicast'],
    holdTime: HOLD_S,
    bfd: BFD,
    neighbors: [{ address: WK_A, asn: WK_AS, defaultOriginate: true, bfd: s.bfd }],
    extraConfig: torB ? TOR_PAIR_FRR : undefined,
  });
  const bird: Bird | undefined = torB
    ? await startBird(torB, {
        asn: TOR_AS,
        routerId: TOR_B,
        families: ['ipv4-unicast'],
        holdTime: HOLD_S,
        bfd: BFD,
        neighbors: [{ address: WK_B, asn: WK_AS, defaultOriginate: true, bfd: s.bfd }],
        extraConfig: TOR_PAIR_BIRD,
      })
    : undefined;

  const dir = join(lab.dir, 'agent');
  mkdirSync(join(dir, 'store'), { recursive: true });
  const cfg = join(dir, 'agent.yaml');
  const peer = (address: string, description: string): Record<string, unknown> => ({ address, asn: TOR_AS, families: ['ipv4-unicast'], description, ...(s.bfd ? { bfd: {} } : {}) });
  writeFileSync(cfg, stringify({
    node: 'w1',
    routerId: WK_A,
    asn: WK_AS,
    bgp: {
      listen: { address: '::', port: 179 },
      holdTime: HOLD_S,
      connectRetryTime: 1,
      peers: [peer(TOR_A, 'torA'), ...(torB ? [peer(TOR_B, 'torB')] : [])],
      advertise: TARGET_ADDRS.map((a) => `${a}/32`),
      import: ['0.0.0.0/0'],
    },
    runtime: {},
    store: { local: { path: join(dir, 'store') } },
    api: { socket: join(dir, 'routectl.sock') },
    metrics: { listen: '127.0.0.1:9273' },
  }));
  const agentLog = join(lab.dir, 'agent.log');
  const agent = wk.spawn(asService([process.execPath, ROUTECTL, 'agent', '--config', cfg]), { nsenter: true, log: 'agent.log' });

  const defaultVia = async (): Promise<number> => {
    const r = await wk.ipJson<{ gateway?: string; nexthops?: unknown[] }[]>(['-4', 'route', 'show', 'default', 'proto', '88']);
    return r[0] ? (r[0].nexthops?.length ?? (r[0].gateway ? 1 : 0)) : 0;
  };
  const ready = async (): Promise<boolean> => {
    if ((await frr.peerState(WK_A)) !== 'Established') return false;
    if (bird && (await bird.peerState(WK_B)) !== 'Established') return false;
    if (s.bfd && (await frr.bfdPeer(WK_A))?.status !== 'up') return false;
    if ((await defaultVia()) !== (dual ? 2 : 1)) return false;
    const rib = await frr.ribPrefixes('ipv4-unicast');
    // torA routes every target straight to the worker again (not via torB).
    return TARGET_ADDRS.every((a) => rib.get(`${a}/32`)?.includes(WK_A));
  };

  const runs: RunResult[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      await waitFor(ready, { what: 'both sessions up, the ECMP default, torA routing to the worker', timeoutMs: 90_000, intervalMs: 200, diagnostics: () => lab.logTails(20) });
      // Which targets' traffic crosses torA: h's choice for the echo, the worker's for the reply.
      let forward = 0;
      let back = 0;
      for (const a of TARGET_ADDRS) {
        if ((await h.ip(['route', 'get', a])).includes(` via ${TORA_H} `)) forward++;
        if ((await wk.ip(['route', 'get', H, 'from', a])).includes(` via ${TOR_A} `)) back++;
      }
      const counter = await startLossCounter(h, TARGET_ADDRS, INTERVAL);
      try {
        await waitFor(() => counter.sent() >= 1000 / INTERVAL, { what: 'a second of echoes', timeoutMs: 5000, intervalMs: 10 });
        const logBefore = agentLines(agentLog).length;
        // t0: the moment the rules were asked for (they take effect during the call).
        const t0 = Date.now();
        await iptablesRestore(torA, dropRules('-I'));
        const windowMs = boundMs(s) + 5000;
        await new Promise((r) => setTimeout(r, windowMs));
        await iptablesRestore(torA, dropRules('-D'));
        const tLift = Date.now();
        await new Promise((r) => setTimeout(r, 3000));
        const report = await counter.finish();
        const gaps: LossGap[] = lossGaps(report);
        const worst = gaps[0];
        const down = agentLines(agentLog).slice(logBefore).find((l) => l.op === 'bgp.session' && l.peer === TOR_A && l.from === 'Established');
        const r: RunResult = {
          lossMs: worst?.durationMs ?? 0,
          fromMs: worst ? worst.fromMs - t0 : 0,
          toMs: worst ? worst.fromMs + worst.durationMs - t0 : 0,
          sessionDownMs: down ? Date.parse(down.time) - t0 : null,
          windowMs: tLift - t0,
          hit: new Set(gaps.map((g) => g.target)).size,
          viaA: { forward, back },
        };
        runs.push(r);
        log(`${s.homes} bfd=${s.bfd} run ${i + 1}: loss ${r.lossMs} ms (${r.fromMs}..${r.toMs} ms after the DROP, window ${r.windowMs} ms), session down after ${r.sessionDownMs ?? '-'} ms, ${r.hit}/${TARGETS} targets hit, via torA ${forward} out, ${back} back`);
      } finally {
        counter.kill();
      }
    }
  } finally {
    if (agent.pid) await terminate(agent.pid, 10_000);
  }
  return runs;
}

function ms(x: number | null): string {
  return x === null ? '-' : `${Math.round(x)} ms`;
}

function write(results: SetupResult[], load0: number[]): void {
  const m = machineInfo(['frr', 'bird']);
  const L: string[] = ['# bench/loss', '', machineMarkdown(m), `- Load average: ${load0.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`, ''];
  L.push(
    `The link between the worker and torA (FRR) blackholed by iptables DROP rules in torA's namespace (INPUT, OUTPUT and FORWARD on its worker interface; the link stays up) for a fixed window, then lifted. A host behind the ToRs sends an echo to each of ${TARGETS} addresses on the worker every ${INTERVAL} ms; loss is the longest run of consecutive unanswered echoes of any one address (to within ${INTERVAL} ms). BFD: ${BFD.minTx} ms / ${BFD.minRx} ms / multiplier ${BFD.multiplier} on every side (detection time ${DETECT_MS} ms). Hold time ${HOLD_S} s on every side (keepalive ${Math.max(1, Math.floor(HOLD_S / 3))} s). ${RUNS} runs per row; cells are medians, the notes list every run.`,
    '',
  );
  const rows = results.map((r) => {
    const s = r.setup;
    const name = `${s.homes === 'dual' ? 'dual-homed (FRR + BIRD)' : 'single-homed (FRR)'}, ${s.bfd ? 'BFD' : 'no BFD'}`;
    if (r.error !== undefined || r.runs.length === 0) return [name, ms(boundMs(s)), `failed: ${r.error ?? 'no runs'}`, '', '', ''];
    const loss = median(r.runs.map((x) => x.lossMs));
    const downs = r.runs.map((x) => x.sessionDownMs).filter((x): x is number => x !== null);
    const window = median(r.runs.map((x) => x.windowMs));
    const afterLift = median(r.runs.map((x) => x.toMs - x.windowMs));
    return [
      name,
      `${ms(boundMs(s))} (${s.bfd ? 'BFD detection' : 'hold time'})`,
      ms(loss),
      downs.length ? ms(median(downs)) : 'stayed up',
      ms(window),
      s.homes === 'single' ? ms(Math.max(0, afterLift)) : loss >= window ? `${ms(afterLift)} (loss lasted the whole blackhole)` : 'ended before the lift',
    ];
  });
  L.push(markdownTable(['setup', 'bound', 'loss (median)', 'worker: torA session down after', 'blackhole window', 'loss after the lift'], rows), '');
  L.push('## Every run', '');
  for (const r of results) {
    L.push(`- ${r.setup.homes}, ${r.setup.bfd ? 'BFD' : 'no BFD'}:${r.error !== undefined ? ` failed: ${r.error}` : ''}`);
    for (const x of r.runs) {
      L.push(`  - loss ${ms(x.lossMs)} from ${ms(x.fromMs)} to ${ms(x.toMs)} after the DROP (window ${ms(x.windowMs)}); session down after ${ms(x.sessionDownMs)}; ${x.hit}/${TARGETS} addresses lost echoes; via torA: ${x.viaA.forward} echoes, ${x.viaA.back} replies`);
    }
  }
  writeFileSync(OUT, `${L.join('\n')}\n`);
  log(`wrote ${OUT}`);
}

const load0 = loadavg();
const results: SetupResult[] = [];
for (const homes of SETUPS) {
  for (const bfd of BFD_MODES) {
    const setup: Setup = { homes, bfd };
    const lab = await Lab.create();
    try {
      results.push({ setup, runs: await bench(lab, setup) });
    } catch (e) {
      log(`${homes} bfd=${bfd} failed: ${(e as Error).message}`);
      results.push({ setup, runs: [], error: (e as Error).message.split('\n')[0]! });
    } finally {
      await lab.cleanup();
    }
  }
}
write(results, load0);
