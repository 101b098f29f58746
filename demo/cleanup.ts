/**
 * Removing what an earlier demo left behind (a `--keep` run, or a crashed one), by the
 * demo's own naming only: lab directories under the demo's lab root whose owner process
 * is gone, and the `rtc-demo*` namespaces they claim.
 *
 * `Lab.sweepStale` kills the processes the lab recorded and deletes namespaces in which
 * nothing runs any more. dockerd's helpers (containerd, shims) were not recorded, and the
 * containers run in namespaces of their own; so before the sweep, for each stale demo
 * namespace that still exists: the children of its containerd shims (the containers)
 * are killed, then everything still running inside the namespace (all of it started
 * there by the demo), then dockerd's leftover mounts under the stale directory are
 * unmounted so that the directory can be removed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, Lab, LAB_ROOT, terminate } from '../test/lab/harness/index.js';
import { NETNS_SWEEP_PREFIX } from './topology.js';

export interface SweepReport {
  readonly namespaces: readonly string[];
  readonly processes: number;
  readonly skipped: readonly string[];
}

function ownerAlive(dir: string): boolean {
  try {
    const [pid, start] = readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ');
    const stat = readFileSync(`/proc/${Number(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === start;
  } catch {
    return false;
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

async function pidsIn(ns: string): Promise<number[]> {
  return (await exec(['ip', 'netns', 'pids', ns])).stdout.split('\n').filter(Boolean).map(Number);
}

/** Stop what runs in one stale demo namespace: containers first (children of its shims), then the rest. */
async function emptyNamespace(ns: string): Promise<number> {
  const inNs = await pidsIn(ns);
  const shims = new Set(inNs.filter((p) => cmdline(p).includes('containerd-shim')));
  const containers = shims.size === 0 ? [] : readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => shims.has(ppidOf(p) ?? -1));
  await Promise.all(containers.map((p) => terminate(p, 0)));
  const rest = await pidsIn(ns);
  await Promise.all(rest.map((p) => terminate(p, 2000)));
  return containers.length + rest.length;
}

async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await exec(['umount', '-l', m]);
}

/** Remove every earlier demo whose driver is no longer running. A demo still running is left alone. */
export async function sweepPreviousDemos(): Promise<SweepReport> {
  let processes = 0;
  const live = new Set((await exec(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? ''));
  if (existsSync(LAB_ROOT)) {
    for (const id of readdirSync(LAB_ROOT)) {
      const dir = join(LAB_ROOT, id);
      if (!existsSync(join(dir, 'owner')) || ownerAlive(dir)) continue;
      const claimed = existsSync(join(dir, 'netns')) ? readFileSync(join(dir, 'netns'), 'utf8').split('\n').filter(Boolean) : [];
      for (const ns of claimed) {
        if (ns.startsWith(NETNS_SWEEP_PREFIX) && live.has(ns)) processes += await emptyNamespace(ns);
      }
      await unmountUnder(dir);
    }
  }
  const swept = await Lab.sweepStale({ prefix: NETNS_SWEEP_PREFIX });
  return { namespaces: swept.namespaces, processes: processes + swept.pids.length, skipped: swept.skipped };
}
