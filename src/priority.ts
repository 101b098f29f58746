/**
 * The agent's CPU priority. A nice value orders the processes that compete inside one
 * scheduling group, and only there. The kernel first shares the CPUs between groups:
 *   - a cpu cgroup per systemd service, per container and per Kubernetes pod, whose
 *     weight is set by the service manager (systemd `CPUWeight=`, pod CPU requests);
 *   - otherwise, with `kernel.sched_autogroup_enabled=1`, an autogroup per session
 *     (setsid(2)): every daemon started by a supervisor, every containerd shim, every
 *     terminal; its weight comes from `/proc/<pid>/autogroup`, nice 0 by default.
 * So the agent's nice alone does not put it ahead of runc, containerd and the containers
 * being started, which run in groups of their own: a new container then waits for its
 * route behind them. When the agent leads its own session in the root cpu cgroup, it
 * also sets its autogroup's nice; the group holds only the agent and the helpers it
 * starts. In a cgroup, the cgroup's weight decides (deploy/routectl.service sets
 * CPUWeight); in someone else's session (a terminal), the group is not the agent's to
 * change, and it says so.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from './log.js';

/**
 * The agent's default nice value. On a busy worker the CPU goes to the containers being
 * started (runc, containerd, dockerd); the agent's share decides how long a new container
 * waits for its route. -10 lets it, and the helpers it starts, run first when both are
 * ready. Its work per container is a few milliseconds, so it cannot starve the rest.
 * Leading its own session, the agent gives its autogroup the same nice (below).
 */
export const DEFAULT_NICE = -10;

/** What the priority code reads and writes; tests replace it. */
export interface PrioritySystem {
  readonly pid: number;
  read(path: string): string;
  write(path: string, data: string): void;
  setNice(nice: number): void;
  getNice(): number;
}

const realSystem: PrioritySystem = {
  pid: process.pid,
  read: (path) => readFileSync(path, 'utf8'),
  write: (path, data) => writeFileSync(path, data),
  setNice: (nice) => setPriority(0, nice),
  getNice: () => getPriority(0),
};

/** The session id in a /proc/<pid>/stat line (the 6th field; the name in parentheses may hold spaces). */
export function sessionOf(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const sid = Number(rest[3]);
  if (!Number.isInteger(sid)) throw new Error(`cannot read the session from /proc/self/stat: ${JSON.stringify(stat.slice(0, 80))}`);
  return sid;
}

/**
 * The process's cpu cgroup from /proc/self/cgroup: the cgroup v1 hierarchy that holds the
 * `cpu` controller, else the cgroup v2 one ("0::/path").
 */
export function cpuCgroupOf(cgroup: string): string | undefined {
  let v2: string | undefined;
  for (const line of cgroup.split('\n')) {
    const [, , controllers, path] = /^(\d+):([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (controllers === undefined || path === undefined) continue;
    if (controllers.split(',').includes('cpu')) return path;
    if (controllers === '') v2 = path;
  }
  return v2;
}

export type AutogroupOutcome =
  | { readonly set: true; readonly group: string }
  | { readonly set: false; readonly why: string };

/** Sets the autogroup's nice when the process leads its own session in the root cpu cgroup. */
export function setAutogroupNice(nice: number, sys: PrioritySystem = realSystem): AutogroupOutcome {
  let enabled: string;
  try {
    enabled = sys.read('/proc/sys/kernel/sched_autogroup_enabled').trim();
  } catch {
    return { set: false, why: 'the kernel has no autogroups' };
  }
  if (enabled !== '1') return { set: false, why: 'autogroups are off (kernel.sched_autogroup_enabled=0)' };
  const cgroup = cpuCgroupOf(sys.read('/proc/self/cgroup'));
  if (cgroup !== undefined && cgroup !== '/') {
    return { set: false, why: `the agent runs in cpu cgroup ${cgroup}, whose weight decides its share (systemd CPUWeight=, pod CPU requests)` };
  }
  const sid = sessionOf(sys.read('/proc/self/stat'));
  if (sid === 0) {
    return { set: false, why: 'the agent\'s session leader is outside its PID namespace (run it from a service manager, or under setsid)' };
  }
  if (sid !== sys.pid) {
    return { set: false, why: `the agent shares session ${sid} with the processes that started it (run it from a service manager, or under setsid)` };
  }
  sys.write('/proc/self/autogroup', String(nice));
  return { set: true, group: sys.read('/proc/self/autogroup').trim() };
}

/**
 * Sets the nice value, then the autogroup's (see above), before any thread or helper
 * exists (they inherit both). What cannot be done is logged; the agent runs as it is.
 */
export function setCpuPriority(nice: number, log: Logger, sys: PrioritySystem = realSystem): void {
  const l = log.child({ op: 'agent.start' });
  try {
    sys.setNice(nice);
    l.info({ event: 'priority', nice: sys.getNice() }, `CPU priority: nice ${sys.getNice()}`);
  } catch (err) {
    l.warn({ event: 'priority-failed', nice, err }, `cannot set nice ${nice}: ${(err as Error).message}; running at nice ${sys.getNice()}`);
    return;
  }
  try {
    const r = setAutogroupNice(nice, sys);
    if (r.set) l.info({ event: 'autogroup', nice, group: r.group }, `CPU priority of the agent's session: ${r.group}`);
    else l.info({ event: 'autogroup-left', reason: r.why }, `autogroup nice not set: ${r.why}`);
  } catch (err) {
    l.warn({ event: 'autogroup-failed', nice, err }, `cannot set the autogroup's nice: ${(err as Error).message}`);
  }
}
