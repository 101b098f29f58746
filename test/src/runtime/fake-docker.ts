/**
 * A dockerode-like client in memory for the runtime's unit tests: containers with
 * labels, network mode and PIDs; an event stream per getEvents() (newline-delimited JSON,
 * like dockerd's); a switch that makes "dockerd" go away (streams end, calls fail)
 * and come back; and the files a cgroup v1 host shows for them (`readFile`: mountinfo,
 * /proc/<pid>/cgroup, each container's cgroup.procs under /docker or its cgroup parent).
 * Given an exec root (a temporary directory), it also plays runc's part in it: each
 * started container's state file at `<exec-root>/runtime-runc/moby/<id>/state.json`, and
 * `runcCreate` makes a container's state (its process waiting, no start event yet) the
 * way runc does: a directory, then state.json renamed into place.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { DockerClient } from '../../../src/runtime/docker.js';

interface FakeContainer {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number };
  HostConfig: { NetworkMode: string; CgroupParent: string };
  Config: { Labels: Record<string, string> };
  NetworkSettings?: { SandboxKey: string };
}

export class FakeDocker implements DockerClient {
  readonly containers = new Map<string, FakeContainer>();
  private streams: PassThrough[] = [];
  private nextPid = 1000;
  down = false;
  /** Awaited before an inspect looks the container up (the container may change meanwhile). */
  inspectGate: ((id: string) => Promise<void>) | undefined;
  /** Awaited after an inspect took its answer (an answer in flight while dockerd moves on). */
  answerGate: ((id: string) => Promise<void>) | undefined;
  inspects = 0;
  lists = 0;
  /** Reads of cgroup.procs files. */
  procsReads = 0;
  /** Extra processes in a container's cgroup (a `docker exec`), by id. */
  readonly extraPids = new Map<string, number[]>();
  /** Containers runc has created and dockerd not started yet: their waiting process. */
  readonly createdPids = new Map<string, number>();

  /** @param execRoot dockerd's exec root, where runc's states are kept (none: no runc part). */
  constructor(readonly execRoot?: string) {}

  static id(n: number): string {
    return n.toString(16).padStart(64, 'c');
  }

  private refused(): Error {
    return Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
  }

  async listContainers(): Promise<{ Id: string; Labels: Record<string, string> }[]> {
    this.lists++;
    if (this.down) throw this.refused();
    return [...this.containers.values()].filter((c) => c.State.Running).map((c) => ({ Id: c.Id, Labels: { ...c.Config.Labels } }));
  }

  getContainer(id: string): { inspect(): Promise<unknown> } {
    return {
      inspect: async () => {
        this.inspects++;
        if (this.inspectGate) await this.inspectGate(id);
        if (this.down) throw this.refused();
        const c = this.containers.get(id);
        if (!c) throw Object.assign(new Error(`(HTTP code 404) no such container - No such container: ${id}`), { statusCode: 404 });
        const answer = structuredClone(c);
        if (this.answerGate) await this.answerGate(id);
        return answer;
      },
    };
  }

  async getEvents(): Promise<NodeJS.ReadableStream> {
    if (this.down) throw this.refused();
    const s = new PassThrough();
    this.streams.push(s);
    return s;
  }

  get openStreams(): number {
    return this.streams.filter((s) => !s.destroyed && !s.writableEnded).length;
  }

  /** Write raw text to every open event stream (to test framing). */
  writeRaw(text: string): void {
    for (const s of this.streams) if (!s.destroyed && !s.writableEnded) s.write(text);
  }

  event(action: string, c: FakeContainer): void {
    const line = JSON.stringify({
      Type: 'container',
      Action: action,
      Actor: { ID: c.Id, Attributes: { ...c.Config.Labels, name: c.Name.slice(1), image: 'rtc-bb:latest' } },
      scope: 'local',
      time: Math.floor(Date.now() / 1000),
      timeNano: Date.now() * 1e6,
    });
    if (!this.down) this.writeRaw(`${line}\n`);
  }

  /**
   * Create and start (docker run -d): a create event, then a start event. `silent`: no
   * events (it happened while nobody listened); `startOnly`: the create went unseen.
   */
  run(n: number, labels: Record<string, string>, opts: { mode?: string; silent?: boolean; startOnly?: boolean; cgroupParent?: string } = {}): string {
    const c = this.create(n, labels, { ...opts, silent: opts.silent === true || opts.startOnly === true });
    this.runcState(c.Id);
    c.State = { Running: true, Pid: this.nextPid++ };
    c.NetworkSettings = { SandboxKey: this.sandboxKey(c.Id) };
    if (!opts.silent) this.event('start', c);
    return c.Id;
  }

  /** docker create: the container exists, not started (a create event unless silent). */
  create(n: number, labels: Record<string, string>, opts: { mode?: string; silent?: boolean; cgroupParent?: string } = {}): FakeContainer {
    const c: FakeContainer = {
      Id: FakeDocker.id(n),
      Name: `/c${n}`,
      State: { Running: false, Pid: 0 },
      HostConfig: { NetworkMode: opts.mode ?? 'none', CgroupParent: opts.cgroupParent ?? '' },
      Config: { Labels: labels },
      NetworkSettings: { SandboxKey: '' },
    };
    this.containers.set(c.Id, c);
    if (!opts.silent) this.event('create', c);
    return c;
  }

  private sandboxKey(id: string): string {
    return this.execRoot === undefined ? '' : join(this.execRoot, 'netns', id.slice(-12));
  }

  /** runc's state file for a container (nothing without an exec root). */
  private runcState(id: string): void {
    if (this.execRoot === undefined) return;
    const dir = join(this.execRoot, 'runtime-runc', 'moby', id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json.tmp'), '{"status":"created"}\n');
    renameSync(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
  }

  /** runc create: the container's process waits in its cgroup, its state file is written; dockerd says nothing yet. */
  runcCreate(id: string): number {
    const pid = this.nextPid++;
    this.createdPids.set(id, pid);
    this.runcState(id);
    return pid;
  }

  /** dockerd has the created container started: the same process runs, the start event goes out. */
  finishStart(id: string): void {
    const c = this.must(id);
    const pid = this.createdPids.get(id);
    if (pid === undefined) throw new Error(`fake: ${id} was not created by runc`);
    this.createdPids.delete(id);
    c.State = { Running: true, Pid: pid };
    c.NetworkSettings = { SandboxKey: this.sandboxKey(id) };
    this.event('start', c);
  }

  /** `runc create` failed after its state file: the process and the state go; dockerd sends no event. */
  failCreate(id: string): void {
    this.createdPids.delete(id);
    if (this.execRoot !== undefined) rmSync(join(this.execRoot, 'runtime-runc', 'moby', id), { recursive: true, force: true });
  }

  /** A process's network namespace: the host's for 'self', one per live container process. */
  readonly netnsOf = (pid: number | 'self'): string | undefined => {
    if (pid === 'self') return 'net:[4026531840]';
    const live = [...this.containers.values()].some((c) => c.State.Running && c.State.Pid === pid) || [...this.createdPids.values()].includes(pid);
    return live ? `net:[${4026532000 + pid}]` : undefined;
  };

  /** The cgroup directory (v1, pids hierarchy) of a container with this parent. */
  private cgroupPath(c: FakeContainer): string {
    return `${c.HostConfig.CgroupParent === '' ? '/docker' : c.HostConfig.CgroupParent}/${c.Id}`;
  }

  /** The host's pseudo-files about containers, as a FileReader (throws ENOENT for anything else). */
  readonly readFile = (path: string): string => {
    const enoent = (): Error => Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    if (path === '/proc/self/mountinfo') {
      return [
        '25 1 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
        '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
        '31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
        '36 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids',
        '',
      ].join('\n');
    }
    const proc = /^\/proc\/(\d+)\/cgroup$/.exec(path);
    if (proc) {
      const c = [...this.containers.values()].find((x) => x.State.Running && x.State.Pid === Number(proc[1]));
      if (!c) throw enoent();
      return `12:pids:${this.cgroupPath(c)}\n1:name=systemd:${this.cgroupPath(c)}\n0::/\n`;
    }
    for (const c of this.containers.values()) {
      if (path !== `/sys/fs/cgroup/pids${this.cgroupPath(c)}/cgroup.procs`) continue;
      this.procsReads++;
      const created = this.createdPids.get(c.Id);
      if (created !== undefined) return [created, ...(this.extraPids.get(c.Id) ?? [])].map((p) => `${p}\n`).join('');
      // runc removes the cgroup when the container stops.
      if (!c.State.Running) throw enoent();
      return [c.State.Pid, ...(this.extraPids.get(c.Id) ?? [])].map((p) => `${p}\n`).join('');
    }
    throw enoent();
  };

  /** Start a stopped container again: a new PID. */
  restart(id: string, opts: { silent?: boolean } = {}): void {
    const c = this.must(id);
    this.runcState(id);
    c.State = { Running: true, Pid: this.nextPid++ };
    if (!opts.silent) this.event('start', c);
  }

  stop(id: string, opts: { silent?: boolean } = {}): void {
    const c = this.must(id);
    c.State = { Running: false, Pid: 0 };
    if (this.execRoot !== undefined) rmSync(join(this.execRoot, 'runtime-runc', 'moby', id), { recursive: true, force: true });
    if (!opts.silent) this.event('die', c);
  }

  /** docker rm -f: die (if running) then destroy. */
  rm(id: string, opts: { silent?: boolean } = {}): void {
    const c = this.must(id);
    if (c.State.Running) this.stop(id, opts);
    this.containers.delete(id);
    if (!opts.silent) this.event('destroy', c);
  }

  /** dockerd goes away: streams end, calls fail until up(). */
  crash(): void {
    this.down = true;
    for (const s of this.streams) s.end();
    this.streams = [];
  }

  up(): void {
    this.down = false;
  }

  private must(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`fake: no container ${id}`);
    return c;
  }
}
