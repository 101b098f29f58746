/**
 * dockerd in a lab namespace, with everything private to the lab: data root, exec root
 * (which also holds the managed containerd's state and socket), pid file, API socket,
 * daemon.json and the CLI's config directory. It is started with `nsenter --net=`
 * (docs/lab.md: `ip netns exec` remounts /sys and dockerd then fails with "Devices cgroup
 * isn't mounted"), and the image `rtc-bb:latest` is made from /bin/busybox
 * (busybox-static) because there is no registry.
 *
 * Stopping is by PID only. dockerd runs in the root mount namespace, so a dockerd that
 * died without cleaning up leaves its mounts (per-container shm, netns bind mounts)
 * under the lab directory: `stop()` unmounts exactly those (mount points under our own
 * roots) so that the directory can be removed. Container processes live in their own
 * network namespaces (`--net none`), so the lab's "kill what runs in my namespaces" sweep
 * would not see them; `stop()` finds them as children of the containerd shims that run
 * in this lab's namespace and checks that they are gone.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, copyFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { cmdlineOf, exec, gone, run, stopChild, terminate, type ExecOptions, type ExecResult } from './proc.js';
import { daemonDir, waitLab } from './daemon.js';

export const BUSYBOX_IMAGE = 'rtc-bb:latest';
/** What the lab's containers run: a shell, a PID 1 that sleeps, a web server, netcat, ip and ping. */
export const BUSYBOX_APPLETS: readonly string[] = ['sh', 'sleep', 'httpd', 'nc', 'ip', 'ping', 'ping6', 'ls', 'cat', 'echo', 'ifconfig', 'wget'];

export interface DockerdOptions {
  /** Keep containers running while dockerd is down (dockerd `--live-restore`). */
  readonly liveRestore?: boolean;
  /** More dockerd flags. */
  readonly extraArgs?: readonly string[];
}

/** One running container's identity as the lab sees it. */
export interface LabContainer {
  readonly id: string;
  readonly name: string;
  readonly pid: number;
}

export class Dockerd {
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly sock: string;
  readonly pidfile: string;
  private readonly configFile: string;
  private readonly cliConfig: string;
  private proc: ChildProcess | undefined;
  private starts = 0;

  private constructor(
    readonly ns: Netns,
    readonly opts: DockerdOptions,
  ) {
    this.dir = daemonDir(ns, 'docker');
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = join(this.dir, 'exec');
    this.sock = join(this.dir, 'docker.sock');
    this.pidfile = join(this.dir, 'dockerd.pid');
    this.configFile = join(this.dir, 'daemon.json');
    this.cliConfig = join(this.dir, 'cli');
    mkdirSync(this.cliConfig, { recursive: true });
    // Our own daemon.json, so that a host /etc/docker/daemon.json cannot change the lab.
    writeFileSync(this.configFile, '{}\n');
  }

  static async start(ns: Netns, opts: DockerdOptions = {}): Promise<Dockerd> {
    const d = new Dockerd(ns, opts);
    await d.startDaemon();
    return d;
  }

  /** `unix://…`, for DOCKER_HOST and `docker -H`. */
  get host(): string {
    return `unix://${this.sock}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async startDaemon(): Promise<void> {
    const argv = [
      'dockerd',
      '--config-file', this.configFile,
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', this.pidfile,
      '-H', this.host,
      '--storage-driver', 'vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
      ...(this.opts.liveRestore ? ['--live-restore'] : []),
      ...(this.opts.extraArgs ?? []),
    ];
    this.starts++;
    this.proc = this.ns.spawn(argv, { nsenter: true, log: `${this.ns.name}-dockerd.log` });
    const proc = this.proc;
    await waitLab(
      this.ns,
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`dockerd exited (${proc.exitCode ?? proc.signalCode})`);
        return (await this.exec(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 })).code === 0;
      },
      { what: `dockerd in ${this.ns.name} to answer on ${this.sock}`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** The docker CLI against this daemon. */
  exec(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const env = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: this.cliConfig };
    return exec(['docker', ...args], { timeoutMs: 60_000, ...opts, env });
  }

  /** Like exec, but throws (with stderr) on a non-zero exit; returns trimmed stdout. */
  async docker(args: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const env = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: this.cliConfig };
    return (await run(['docker', ...args], { timeoutMs: 60_000, ...opts, env })).trim();
  }

  /** Import `tag` made of /bin/busybox and one symlink per applet. */
  async importBusybox(tag = BUSYBOX_IMAGE, applets: readonly string[] = BUSYBOX_APPLETS): Promise<void> {
    if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox missing: apt-get install busybox-static');
    const root = join(this.dir, 'bb-rootfs');
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev', 'www']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'www', 'index.html'), 'rtc\n');
    const tar = await exec(['sh', '-c', `tar -C '${root}' -c . | DOCKER_HOST='${this.host}' DOCKER_CONFIG='${this.cliConfig}' docker import - '${tag}'`], {
      timeoutMs: 60_000,
    });
    if (tar.code !== 0) throw new Error(`docker import ${tag} failed: ${tar.stderr}`);
  }

  /** `docker run -d …ARGS` and the new container's full id. */
  async runContainer(args: readonly string[]): Promise<string> {
    return this.docker(['run', '-d', ...args]);
  }

  /** Running containers with their PID (from `docker inspect`). */
  async containers(): Promise<LabContainer[]> {
    const ids = (await this.docker(['ps', '-q', '--no-trunc'])).split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const out = await this.docker(['inspect', '--format', '{{.Id}} {{.Name}} {{.State.Pid}}', ...ids]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id = '', name = '', pid = '0'] = l.split(' ');
        return { id, name: name.replace(/^\//, ''), pid: Number(pid) };
      });
  }

  /** Processes of containers started by this dockerd: the children of its containerd shims (which run in our namespace). */
  async containerProcesses(): Promise<number[]> {
    const inNs = (await exec(['ip', 'netns', 'pids', this.ns.name])).stdout.split('\n').filter(Boolean).map(Number);
    const shims = new Set(inNs.filter((p) => (cmdlineOf(p) ?? '').includes('containerd-shim') && (cmdlineOf(p) ?? '').includes(this.execRoot)));
    if (shims.size === 0) return [];
    const out: number[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (shims.has(ppid)) out.push(Number(e));
      } catch {
        // exited while we looked
      }
    }
    return out;
  }

  /** SIGKILL dockerd (a crash). With liveRestore, its containers keep running. */
  async kill(): Promise<void> {
    await stopChild(this.proc, true);
  }

  /**
   * dockerd starts its managed containerd only when the PID in containerd.pid is not
   * alive, and kill(0) says a zombie is alive. After a dockerd crash its containerd dies
   * too, but it is an orphan until this machine's init reaps it, which can take a while;
   * dockerd then waits for a containerd that will never answer ("timeout waiting for
   * containerd to start"). A pidfile naming a dead or zombie process is stale: remove it.
   */
  private clearStaleContainerdPid(): void {
    const file = join(this.execRoot, 'containerd', 'containerd.pid');
    let pid = 0;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return;
    }
    if (pid > 0 && gone(pid)) rmSync(file, { force: true });
  }

  /** Start dockerd again on the same data and exec roots; `whileDown` runs between stop and start. */
  async restart(whileDown?: () => Promise<void>): Promise<void> {
    if (this.running) await stopChild(this.proc);
    await whileDown?.();
    this.clearStaleContainerdPid();
    await this.startDaemon();
  }

  /**
   * Remove every container (SIGKILL: the lab's PID 1 is `sleep`, which ignores SIGTERM),
   * stop dockerd by PID, then make sure nothing of it is left: container processes and
   * shims killed by PID, containerd stopped, our mounts unmounted. Returns the container
   * processes that had to be killed after dockerd was gone (empty when dockerd took its
   * containers with it).
   */
  async stop(): Promise<{ leftover: number[] }> {
    if (this.running) {
      const ids = (await this.exec(['ps', '-aq', '--no-trunc'], { timeoutMs: 20_000 })).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await this.exec(['rm', '-f', ...ids], { timeoutMs: 30_000 });
      await stopChild(this.proc);
    }
    // After a crash (kill()), shims and their containers outlive dockerd: they are ours
    // (children of shims in our namespace, started for our exec root), so stop them by PID.
    const leftover = (await this.containerProcesses()).filter((p) => !gone(p));
    await Promise.all(leftover.map((p) => terminate(p, 0)));
    const inNs = (await exec(['ip', 'netns', 'pids', this.ns.name])).stdout.split('\n').filter(Boolean).map(Number);
    await Promise.all(inNs.filter((p) => (cmdlineOf(p) ?? '').includes(this.execRoot)).map((p) => terminate(p, 2000)));
    await this.unmountOwn();
    return { leftover };
  }

  /** Unmount whatever dockerd left mounted under our directory (deepest first). */
  async unmountOwn(): Promise<string[]> {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m === this.dir || m.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await exec(['umount', '-l', m]);
    return mounts;
  }

  /** stop(), then delete the data and exec roots. */
  async cleanup(): Promise<{ leftover: number[] }> {
    const r = await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
    return r;
  }

  /** How many times dockerd was started (restarts included). */
  get startCount(): number {
    return this.starts;
  }
}

export const startDockerd = (ns: Netns, opts?: DockerdOptions): Promise<Dockerd> => Dockerd.start(ns, opts);
