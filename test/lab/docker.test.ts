/**
 * DockerRuntime against a real dockerd (Debian docker.io) in a lab namespace (rtc-rt-*),
 * with private data/exec roots and socket, `--live-restore` so that containers outlive a
 * dockerd crash, and the busybox image `rtc-bb:latest`.
 *
 * Shows: the first list and the event stream give exactly the right adds (with PIDs whose
 * /proc/<pid>/ns/net is the container's own namespace) and one invalid, the started
 * containers' PIDs read from their cgroups (dockerd's cgroupfs layout, learnt from the
 * listed one), equal to what dockerd's inspect says; `docker rm -f` →
 * remove; dockerd SIGKILLed, a container killed meanwhile, dockerd restarted on the same
 * roots → reconnect, a 'sync' that is the truth, no duplicate adds; stop() leaves no
 * timer. afterAll stops dockerd by PID and checks that its containers' processes went
 * with it, that its mounts are gone, and deletes the namespace.
 */
import { createHook } from 'node:async_hooks';
import { existsSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { exec } from './harness/proc.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { pino } from 'pino';
import { DockerRuntime } from '../../src/runtime/docker.js';
import type { InvalidContainer, SyncDiff, WantedEndpoint } from '../../src/runtime/types.js';

type Rec =
  | { t: 'sync'; ids: string[]; diff: SyncDiff }
  | { t: 'add'; ep: WantedEndpoint }
  | { t: 'remove'; id: string; reason: string }
  | { t: 'invalid'; inv: InvalidContainer };

let lab: Lab | undefined;
let ns: Netns;
let dockerd: Dockerd | undefined;
let rt: DockerRuntime | undefined;
const log: Rec[] = [];
/** The runtime's log lines. */
const lines: Record<string, unknown>[] = [];
/** Every container PID seen, to check at the end that none outlived the lab. */
const containerPids = new Set<number>();
// Timers the runtime's own code creates (known by their creation stack): stop() must leave none.
const runtimeTimers = new Set<number>();
let runtimeTimersCreated = 0;
const timerHook = createHook({
  init(asyncId, type) {
    if (type !== 'Timeout' || !(new Error().stack ?? '').includes('/src/runtime/')) return;
    runtimeTimers.add(asyncId);
    runtimeTimersCreated++;
  },
  destroy(asyncId) {
    runtimeTimers.delete(asyncId);
  },
});

const since = (n: number): Rec[] => log.slice(n);
const adds = (): WantedEndpoint[] => log.flatMap((r) => (r.t === 'add' ? [r.ep] : []));

/** docker run; `createFirst`: docker create, then docker start once the runtime has read the create. */
async function run(name: string, labels: Record<string, string>, createFirst = false): Promise<{ id: string; pid: number }> {
  const l = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const args = ['--net', 'none', '--name', name, ...l, BUSYBOX_IMAGE, 'sleep', '3600'];
  let id: string;
  if (createFirst) {
    id = await dockerd!.docker(['create', ...args]);
    await new Promise((r) => setTimeout(r, 300));
    await dockerd!.docker(['start', id]);
  } else {
    id = await dockerd!.runContainer(args);
  }
  const pid = Number(await dockerd!.docker(['inspect', '--format', '{{.State.Pid}}', id]));
  containerPids.add(pid);
  return { id, pid };
}

function nsInode(pid: number | 'self'): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

beforeAll(async () => {
  timerHook.enable();
  lab = await Lab.create();
  ns = await lab.netns('rt');
  dockerd = await startDockerd(ns, { liveRestore: true });
  await dockerd.importBusybox();
});

afterAll(async () => {
  timerHook.disable();
  await rt?.stop();
  try {
    if (dockerd) {
      const { leftover } = await dockerd.cleanup();
      // dockerd took its containers with it: nothing had to be killed after it was gone.
      expect(leftover).toEqual([]);
      for (const pid of containerPids) expect(existsSync(`/proc/${pid}`), `container pid ${pid} still alive`).toBe(false);
      expect(await dockerd.containerProcesses()).toEqual([]);
      expect(existsSync(dockerd.dir)).toBe(false);
    }
  } finally {
    const name = lab?.namespaceNames[0];
    await lab?.cleanup();
    if (name) expect((await exec(['ip', 'netns', 'list'])).stdout).not.toContain(name);
  }
});

describe('DockerRuntime with a real dockerd', () => {
  const c: Record<string, { id: string; pid: number }> = {};

  it('lists at start, then follows events: the right adds, one invalid, unlabelled ignored', async () => {
    c.a1 = await run('a1', { 'routectl.zone': 'app' });
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    rt = new DockerRuntime({ socket: dockerd!.sock, zones: ['app', 'dmz'], backoff: { initialMs: 100, maxMs: 1000 }, logger });
    rt.on('sync', (eps, diff) => log.push({ t: 'sync', ids: eps.map((e) => e.id).sort(), diff }));
    rt.on('add', (ep) => log.push({ t: 'add', ep }));
    rt.on('remove', (ep, reason) => log.push({ t: 'remove', id: ep.id, reason }));
    rt.on('invalid', (inv) => log.push({ t: 'invalid', inv }));
    await rt.start();
    expect(log).toEqual([{ t: 'sync', ids: [c.a1.id], diff: { added: [c.a1.id], removed: [], changed: [] } }]);

    const n = log.length;
    c.a2 = await run('a2', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.77' });
    c.bad = await run('bad', { 'routectl.zone': 'Backend' });
    c.plain = await run('plain', {});
    c.a3 = await run('a3', { 'routectl.zone': 'app', 'routectl.ipv6': '2001:DB8:C:1::0:33' }, true);
    await waitFor(() => since(n).length >= 3, { what: 'two adds and one invalid', timeoutMs: 10_000, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 300)); // and nothing more (plain is not ours)
    expect(since(n)).toEqual([
      { t: 'add', ep: { id: c.a2.id, name: 'a2', pid: c.a2.pid, zone: 'app', ipv4: '198.51.100.77', labels: { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.77' } } },
      { t: 'invalid', inv: { id: c.bad.id, name: 'bad', error: expect.stringContaining('label routectl.zone="Backend" is not a zone name') } },
      { t: 'add', ep: { id: c.a3.id, name: 'a3', pid: c.a3.pid, zone: 'app', ipv6: '2001:db8:c:1::33', labels: { 'routectl.zone': 'app', 'routectl.ipv6': '2001:DB8:C:1::0:33' } } },
    ]);
    // The PIDs lead to each container's own network namespace (neither ours nor the worker's).
    const workerNs = nsInode(dockerd!.pid!);
    for (const ep of rt.endpoints()) {
      expect(existsSync(`/proc/${ep.pid}/ns/net`)).toBe(true);
      expect(nsInode(ep.pid)).not.toBe(nsInode('self'));
      expect(nsInode(ep.pid)).not.toBe(workerNs);
    }
    expect(new Set(rt.endpoints().map((e) => nsInode(e.pid))).size).toBe(3);
    // Created with a label: inspected then; the PID from the container's cgroup, read when
    // runc had created it (runc's state directory learnt from a1), before the start event.
    // a2's create (docker run) may still be read when it starts: then at its start event.
    expect(lines.find((l) => l.event === 'runc-found')).toMatchObject({ root: `${dockerd!.execRoot}/runtime-runc/moby` });
    const addLines = lines.filter((l) => l.event === 'add');
    expect(addLines.map((l) => [l.name, l.pidFrom, l.pid, l.at])).toEqual([
      ['a2', 'cgroup', c.a2.pid, expect.stringMatching(/^(created|start)$/)],
      ['a3', 'cgroup', c.a3.pid, 'created'],
    ]);
    expect(rt.status()).toEqual({
      connected: true,
      since: expect.any(String),
      lastError: null,
      retryAt: null,
      containers: 3,
      invalid: [{ id: c.bad.id, name: 'bad', error: expect.stringContaining('known zones: app, dmz') }],
    });
  });

  it('a container whose command is not in the image: docker run fails, and nothing is left wanted for it', async () => {
    const n = log.length;
    const r = await dockerd!.exec(['run', '-d', '--net', 'none', '--name', 'nocmd', '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'no-such-command']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no-such-command');
    const id = await dockerd!.docker(['inspect', '--format', '{{.Id}}', 'nocmd']);
    // Wired when runc had created it only if its process was still there; then removed
    // when that process went with no start event (the check runs every second).
    await waitFor(() => !rt!.endpoints().some((e) => e.id === id), { what: 'nocmd not wanted', timeoutMs: 5000, intervalMs: 50 });
    await new Promise((res) => setTimeout(res, 1500));
    expect(rt!.endpoints().some((e) => e.id === id)).toBe(false);
    const mine = since(n).filter((x) => (x.t === 'add' ? x.ep.id : x.t === 'remove' ? x.id : '') === id);
    expect(mine.length === 0 || (mine.length === 2 && mine[1]!.t === 'remove')).toBe(true);
    await dockerd!.docker(['rm', '-f', id]);
  });

  it('docker rm -f → remove', async () => {
    const n = log.length;
    await dockerd!.docker(['rm', '-f', c.a2!.id]);
    await waitFor(() => since(n).length >= 1, { what: 'remove of a2', timeoutMs: 10_000, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 200)); // destroy follows die and adds nothing
    expect(since(n)).toEqual([{ t: 'remove', id: c.a2!.id, reason: 'die' }]);
    expect(rt!.endpoints().map((e) => e.id).sort()).toEqual([c.a1!.id, c.a3!.id].sort());
  });

  it('dockerd killed and restarted, a container killed meanwhile → reconnect, sync is the truth, no duplicates', async () => {
    const n = log.length;
    await dockerd!.kill();
    await waitFor(() => !rt!.status().connected, { what: 'runtime to notice dockerd is gone', timeoutMs: 10_000, intervalMs: 20 });
    expect(rt!.status().lastError).toBeTruthy();
    expect(rt!.status().retryAt).not.toBeNull(); // a reconnect is scheduled
    // live-restore: the containers survived the crash; kill a3 while nobody watches.
    expect(existsSync(`/proc/${c.a1!.pid}`)).toBe(true);
    process.kill(c.a3!.pid, 'SIGKILL');
    await waitFor(() => !existsSync(`/proc/${c.a3!.pid}`), { what: 'a3 gone', timeoutMs: 5000, intervalMs: 20 });
    await dockerd!.restart();
    await waitFor(() => rt!.status().connected, { what: 'runtime reconnected', timeoutMs: 15_000, intervalMs: 50 });
    await new Promise((r) => setTimeout(r, 300));
    const after = since(n);
    expect(after.filter((r) => r.t === 'sync')).toHaveLength(1);
    expect(after).toEqual([{ t: 'sync', ids: [c.a1!.id], diff: { added: [], removed: [c.a3!.id], changed: [] } }]);
    expect(rt!.endpoints()).toEqual([expect.objectContaining({ id: c.a1!.id, pid: c.a1!.pid })]);
    // The invalid container survived too and is still reported (once, not again).
    expect(rt!.status().invalid.map((i) => i.id)).toEqual([c.bad!.id]);
    expect(log.filter((r) => r.t === 'invalid')).toHaveLength(1);
    // No container was ever added twice.
    const ids = adds().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Events flow on the new stream.
    const m = log.length;
    c.a4 = await run('a4', { 'routectl.zone': 'app' });
    await waitFor(() => since(m).length >= 1, { what: 'add of a4', timeoutMs: 10_000, intervalMs: 20 });
    expect(since(m)).toEqual([{ t: 'add', ep: expect.objectContaining({ id: c.a4.id, pid: c.a4.pid }) }]);
  });

  it('stop() leaves no timers and emits nothing after', async () => {
    await rt!.stop();
    expect(rt!.status().connected).toBe(false);
    // Retry timers were made while dockerd was down (so this check is not vacuous) …
    expect(runtimeTimersCreated).toBeGreaterThan(0);
    // … and none is left, fired or cancelled.
    expect([...runtimeTimers]).toEqual([]);
    const n = log.length;
    await run('late', { 'routectl.zone': 'app' });
    await new Promise((r) => setTimeout(r, 300));
    expect(since(n)).toEqual([]);
  });
});
