/**
 * A started container's PID without asking dockerd: the one process in its cgroup.
 *
 * dockerd answers `inspect` slowly while it is busy starting other containers (34–59 ms
 * at p99 in bench/convergence), and a start event needs only the PID from it: the rest of
 * what the runtime reads (labels, network mode) is fixed at create time and is inspected
 * then. Where dockerd puts a container's cgroup depends on its cgroup driver, the cgroup
 * version, its `--cgroup-parent` and the container's own `--cgroup-parent`; rather than
 * guess, the layout is learnt from a container dockerd did inspect: the line of
 * /proc/<pid>/cgroup that names the container id, located under its mount point from
 * /proc/self/mountinfo, checked to hold that PID. Later containers with the same cgroup
 * parent are found at the same place with their own id.
 *
 * Anything unexpected — no layout yet, no such cgroup, none or more than one process in it
 * (a container with `--init`, an exec already running) — answers undefined, and the caller
 * inspects. All reads are of kernel pseudo-files (a few µs each), done synchronously.
 */
import { readFileSync } from 'node:fs';

/** Reads a whole file; throws when it cannot (tests inject one). */
export type FileReader = (path: string) => string;

const realRead: FileReader = (path) => readFileSync(path, 'utf8');

/** A Docker container id: 64 hex digits (only these are put into a path). */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Where containers with one cgroup parent live: `${before}${id}${after}` is the cgroup's directory. */
interface Layout {
  readonly before: string;
  readonly after: string;
}

/** One cgroup mount from /proc/self/mountinfo. */
export interface CgroupMount {
  /** The cgroup path mounted (relative to the reader's cgroup namespace). */
  readonly root: string;
  readonly mountPoint: string;
  /** 2 for cgroup2, else 1. */
  readonly version: 1 | 2;
  /** v1: the controllers and `name=` options of the hierarchy. */
  readonly options: readonly string[];
}

/** Undoes mountinfo's octal escapes (space, tab, newline, backslash). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The cgroup mounts in a mountinfo text. */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const [fstype, , superOptions = ''] = post;
    if (pre.length < 5 || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    out.push({
      root: unescape(pre[3]!),
      mountPoint: unescape(pre[4]!),
      version: fstype === 'cgroup2' ? 2 : 1,
      options: superOptions.split(','),
    });
  }
  return out;
}

/**
 * The directory of cgroup `path` of the hierarchy named by a /proc/<pid>/cgroup line's
 * controller field (`""` for cgroup v2), or undefined when it is not mounted here.
 */
export function cgroupDir(mounts: readonly CgroupMount[], controllers: string, path: string): string | undefined {
  const wanted = controllers === '' ? [] : controllers.split(',');
  for (const m of mounts) {
    if (wanted.length === 0 ? m.version !== 2 : m.version !== 1 || !wanted.every((c) => m.options.includes(c))) continue;
    let rel: string;
    if (m.root === '/') rel = path;
    else if (path === m.root) rel = '';
    else if (path.startsWith(`${m.root}/`)) rel = path.slice(m.root.length);
    else continue;
    return `${m.mountPoint.replace(/\/$/, '')}${rel === '/' ? '' : rel}`;
  }
  return undefined;
}

/** What learn() found: where the cgroups are (`fresh` the first time), or why not. */
export type LearnResult = { readonly known: true; readonly where: string; readonly fresh: boolean } | { readonly known: false; readonly why: string };

/** The PIDs listed in a cgroup.procs text. */
function pidsIn(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim()));
}

export class CgroupPids {
  /** By the container's HostConfig.CgroupParent ("" for dockerd's default). */
  private readonly layouts = new Map<string, Layout>();

  constructor(private readonly read: FileReader = realRead) {}

  /** A layout is known for this cgroup parent. */
  knows(parent: string): boolean {
    return this.layouts.has(parent);
  }

  /**
   * Learns where containers with this cgroup parent live from one that dockerd inspected
   * (its id and PID). A container whose cgroup cannot be found teaches nothing; the
   * answer says why.
   */
  learn(parent: string, id: string, pid: number): LearnResult {
    const known = this.layouts.get(parent);
    if (known) return { known: true, where: `${known.before}<id>${known.after}`, fresh: false };
    if (!CONTAINER_ID.test(id)) return { known: false, why: `container id ${JSON.stringify(id)} is not 64 hex digits` };
    if (!Number.isInteger(pid) || pid <= 0) return { known: false, why: `PID ${pid} is not a process` };
    let lines: string[];
    let mounts: CgroupMount[];
    try {
      lines = this.read(`/proc/${pid}/cgroup`).split('\n');
      mounts = cgroupMounts(this.read('/proc/self/mountinfo'));
    } catch (err) {
      return { known: false, why: err instanceof Error ? err.message : String(err) };
    }
    if (mounts.length === 0) return { known: false, why: 'no cgroup file system is mounted in this mount namespace' };
    // cgroup v2 first (its line is "0::/path"), then the v1 hierarchies in the file's order.
    const candidates = lines
      .map((l) => /^(\d+):([^:]*):(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && m[3]!.includes(id))
      .sort((a, b) => Number(a[2] !== '') - Number(b[2] !== ''));
    if (candidates.length === 0) return { known: false, why: `no line of /proc/${pid}/cgroup names the container` };
    for (const m of candidates) {
      const dir = cgroupDir(mounts, m[2]!, m[3]!);
      if (dir === undefined) continue;
      const parts = dir.split(id);
      if (parts.length !== 2) continue;
      try {
        if (!pidsIn(this.read(`${dir}/cgroup.procs`)).includes(pid)) continue;
      } catch {
        continue;
      }
      this.layouts.set(parent, { before: parts[0]!, after: parts[1]! });
      return { known: true, where: `${parts[0]!}<id>${parts[1]!}`, fresh: true };
    }
    return { known: false, why: `none of its cgroups (${candidates.map((m) => `${m[2] || 'v2'}:${m[3]}`).join(', ')}) is mounted here with PID ${pid} in it` };
  }

  /** The only process in the container's cgroup, or undefined (then ask dockerd). */
  pidOf(parent: string, id: string): number | undefined {
    const l = this.layouts.get(parent);
    if (!l || !CONTAINER_ID.test(id)) return undefined;
    let pids: number[];
    try {
      pids = pidsIn(this.read(`${l.before}${id}${l.after}/cgroup.procs`));
    } catch {
      return undefined;
    }
    const [pid] = pids;
    return pids.length === 1 && Number.isInteger(pid) && pid! > 0 ? pid : undefined;
  }
}
