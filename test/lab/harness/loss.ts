/**
 * Packet loss as a host sees it: icmp-counter.py (next to this file in the source tree)
 * runs in a namespace and sends an ICMP echo to every target on a fixed grid (every
 * `intervalMs`), from a raw socket that keeps sending through errors (busybox ping stops
 * at its first "Network is unreachable"). `finish()` ends it and returns, per target, the
 * sequence numbers never answered; `gaps()` turns those into runs of consecutive losses,
 * which is how long a path was broken (to within one interval).
 *
 * Used by the restart lab tests (0 lost) and by bench/loss (how long a failover takes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { waitFor } from './wait.js';

/** The script in the source tree; compiled copies of this module (dist/) look it up there too. */
function counterScript(): string {
  const candidates = [join(import.meta.dirname, 'icmp-counter.py'), join(import.meta.dirname, '../../../../test/lab/harness/icmp-counter.py')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`icmp-counter.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

export interface TargetLoss {
  readonly sent: number;
  readonly answered: number;
  readonly sendErrors: number;
  /** Sequence numbers (1 = the first echo) never answered. */
  readonly lost: readonly number[];
}

export interface LossReport {
  /** Wall clock (ms since the epoch) when echo 1 was sent; echo k went at start + (k - 1) × interval. */
  readonly startMs: number;
  readonly intervalMs: number;
  readonly targets: Readonly<Record<string, TargetLoss>>;
}

/** A run of consecutive lost echoes of one target. */
export interface LossGap {
  readonly target: string;
  readonly firstSeq: number;
  readonly count: number;
  /** When the first lost echo was sent (ms since the epoch). */
  readonly fromMs: number;
  /** count × interval: how long the path was broken, to within one interval. */
  readonly durationMs: number;
}

export interface LossCounter {
  /** Echo rounds sent so far (from the clock, one every interval). */
  sent(): number;
  /** Stop sending, wait for the replies in flight (1 s), and return the report. */
  finish(): Promise<LossReport>;
  /** Kill the counter without a report (cleanup after a failure). */
  kill(): void;
}

/** Start the counter in `ns`, pinging `targets` every `intervalMs` (50 by default). */
export async function startLossCounter(ns: Netns, targets: readonly string[], intervalMs = 50): Promise<LossCounter> {
  const p: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', ns.name, 'python3', counterScript(), String(intervalMs), ...targets]);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const kill = (): void => {
    if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
  };
  try {
    await waitFor(() => out.startsWith('ready'), { what: `the loss counter in ${ns.name} to start (${err})`, timeoutMs: 10_000, intervalMs: 20 });
  } catch (e) {
    kill();
    throw e;
  }
  const started = Date.now();
  return {
    sent: () => Math.floor((Date.now() - started) / intervalMs),
    kill,
    finish: async () => {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.stdin.end();
      await exited;
      const line = out.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(line) as LossReport;
      } catch (e) {
        throw new Error(`loss counter: no report (stdout ${JSON.stringify(out.slice(-500))}, stderr ${JSON.stringify(err.slice(-500))})`, { cause: e });
      }
    },
  };
}

/** startLossCounter, resolved once ten echo rounds are out: the path works before the event. */
export async function startWarmLossCounter(ns: Netns, targets: readonly string[]): Promise<LossCounter> {
  const c = await startLossCounter(ns, targets);
  try {
    await waitFor(() => c.sent() >= 10, { what: 'ten echo rounds', timeoutMs: 5000, intervalMs: 20 });
  } catch (e) {
    c.kill();
    throw e;
  }
  return c;
}

/** Twenty more echo rounds (a second at 50 ms), then the report; its summary is logged under `what`. */
export async function finishLossCounter(c: LossCounter, what: string): Promise<LossReport> {
  const mark = c.sent();
  await waitFor(() => c.sent() >= mark + 20, { what: 'twenty more echo rounds', timeoutMs: 5000, intervalMs: 20 });
  const report = await c.finish();
  console.log(`${what}:\n  ${lossSummary(report)}`);
  return report;
}

/** Every run of consecutive losses in a report, longest first. */
export function lossGaps(r: LossReport): LossGap[] {
  const gaps: LossGap[] = [];
  for (const [target, t] of Object.entries(r.targets)) {
    let first = -1;
    let prev = -2;
    const close = (): void => {
      if (first < 0) return;
      const count = prev - first + 1;
      gaps.push({ target, firstSeq: first, count, fromMs: r.startMs + (first - 1) * r.intervalMs, durationMs: count * r.intervalMs });
    };
    for (const s of t.lost) {
      if (s !== prev + 1) {
        close();
        first = s;
      }
      prev = s;
    }
    close();
  }
  return gaps.sort((a, b) => b.count - a.count);
}

/** "198.51.100.1: 120/120 answered, lost []" per target, one a line (for test output). */
export function lossSummary(r: LossReport): string {
  return Object.entries(r.targets)
    .map(([a, t]) => `${a}: ${t.answered}/${t.sent} answered, ${t.sendErrors} send errors, lost ${JSON.stringify(t.lost)}`)
    .join('\n  ');
}
