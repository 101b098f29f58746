/**
 * A dockerode-like client in memory for the runtime's unit tests: containers with
 * labels, network mode and PIDs; an event stream per getEvents() (newline-delimited JSON,
 * like dockerd's); a switch that makes "dockerd" go away (streams end, calls fail)
 * and come back; and the files a cgroup v1 host shows for them (`readFile`: mountinfo,
 * /proc/<pid>/cgroup, each container's cgroup.procs under /docker or its cgroup parent).
 */
import { PassThrough } from 'node:stream';
import type { DockerClient } from '../../../src/runtime/docker.js';

interface FakeContainer {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number };
  HostConfig: { NetworkMode: string; CgroupParent: string };
  Config: { Labels: Record<string, string> };
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
    const c: FakeContainer = {
      Id: FakeDocker.id(n),
      Name: `/c${n}`,
      State: { Running: false, Pid: 0 },
      HostConfig: { NetworkMode: opts.mode ?? 'none', CgroupParent: opts.cgroupParent ?? '' },
      Config: { Labels: labels },
    };
    this.containers.set(c.Id, c);
    if (!opts.silent && !opts.startOnly) this.event('create', c);
    c.State = { Running: true, Pid: this.nextPid++ };
    if (!opts.silent) this.event('start', c);
    return c.Id;
  }

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
      // runc removes the cgroup when the container stops.
      if (!c.State.Running) throw enoent();
      return [c.State.Pid, ...(this.extraPids.get(c.Id) ?? [])].map((p) => `${p}\n`).join('');
    }
    throw enoent();
  };

  /** Start a stopped container again: a new PID. */
  restart(id: string, opts: { silent?: boolean } = {}): void {
    const c = this.must(id);
    c.State = { Running: true, Pid: this.nextPid++ };
    if (!opts.silent) this.event('start', c);
  }

  stop(id: string, opts: { silent?: boolean } = {}): void {
    const c = this.must(id);
    c.State = { Running: false, Pid: 0 };
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
