/**
 * CPU time a process has used (user + system, from /proc/<pid>/stat), in ms. On a
 * shared machine wall-clock times move with everyone else's load; the CPU a daemon
 * spends on the same work moves much less, so the benchmarks report both.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticks: number | undefined;

function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3; utime and stime are 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
}

export function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + cpuMs(p), 0);
}

/**
 * Time (ms) a process spent runnable but waiting for a CPU (/proc/<pid>/schedstat,
 * 2nd field, ns). A large value next to a long wall time means the machine's other load,
 * not the process itself, set the pace.
 */
export function runqueueWaitMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
  return Number(f[1]) / 1e6;
}

export function runqueueWaitMsOf(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + runqueueWaitMs(p), 0);
}

/**
 * A thread's time on a CPU and time runnable but waiting for one, and how many times it
 * was put on a CPU (/proc/<pid>/task/<tid>/schedstat: ns, ns, count). With `tid` left out,
 * the main thread's: for Node, the event loop's.
 */
export interface SchedStat {
  readonly runMs: number;
  readonly waitMs: number;
  readonly slices: number;
}

export function schedStat(pid: number, tid = pid): SchedStat {
  const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { runMs: f[0]! / 1e6, waitMs: f[1]! / 1e6, slices: f[2]! };
}

/**
 * argv that runs a command the way a service manager starts a daemon: in a session of its
 * own (setsid; `ip netns exec` and setsid exec in place, so the PID stays the command's).
 * With `nice`, the command also gets that nice value and so does its session's autogroup,
 * which is what the routectl agent gives itself at start (src/priority.ts): a daemon
 * compared with the agent gets the same share of the CPUs.
 */
export function asService(argv: readonly string[], nice?: number): string[] {
  return [...servicePrefix(nice), ...argv];
}

/** The part of asService() that goes before the command. */
export function servicePrefix(nice?: number): string[] {
  if (nice === undefined) return ['setsid'];
  return ['setsid', 'sh', '-c', 'echo "$0" > /proc/self/autogroup && exec nice -n "$0" "$@"', String(nice)];
}

/**
 * Before a command: a session of its own and the real-time policy SCHED_FIFO at `priority`
 * (1–99), which its children inherit. Such a process runs as soon as it is ready, ahead
 * of every normal process whatever its nice value: what a process on a box of its own
 * would get. For the lab's stand-ins for other boxes (a ToR) and for observers, never
 * for what is measured.
 */
export function realtimePrefix(priority: number): string[] {
  if (!Number.isInteger(priority) || priority < 1 || priority > 99) throw new RangeError(`real-time priority ${priority} is not 1..99`);
  return ['setsid', 'chrt', '--fifo', String(priority)];
}
