/**
 * An etcd 3.4 cluster (Debian etcd-server) in one lab namespace: members on 127.0.0.1
 * peer ports, clients on 0.0.0.0 (reached over the lab's links at `advertise`), each
 * member's data in a directory of its own, so a member killed (SIGKILL by PID) and
 * started again rejoins the cluster it was in. Health and leadership are asked over
 * etcd's HTTP endpoints with busybox nc (no client library in the test).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { waitFor } from './wait.js';

export interface EtcdMember {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
}

/** Three members, each with its own client and peer port (all in one namespace). */
export const ETCD_MEMBERS: readonly EtcdMember[] = [
  { name: 'm1', client: 2379, peer: 2380 },
  { name: 'm2', client: 2479, peer: 2480 },
  { name: 'm3', client: 2579, peer: 2580 },
];

export interface EtcdTlsFiles {
  readonly cert: string;
  readonly key: string;
}

export class LabEtcd {
  private readonly procs = new Map<string, ChildProcess>();
  readonly dir: string;

  constructor(
    readonly ns: Netns,
    /** The address workers reach the members at. */
    readonly advertise: string,
    readonly members: readonly EtcdMember[],
    readonly token: string,
    readonly tls?: EtcdTlsFiles,
  ) {
    this.dir = join(ns.lab.dir, `etcd-${token}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  get scheme(): string {
    return this.tls ? 'https' : 'http';
  }

  get endpoints(): string[] {
    return this.members.map((m) => `${this.scheme}://${this.advertise}:${m.client}`);
  }

  start(m: EtcdMember): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peer}`).join(',');
    const tls = this.tls ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key] : [];
    const child = this.ns.spawn(
      [
        'etcd',
        '--name', m.name,
        '--data-dir', join(this.dir, m.name),
        '--listen-client-urls', `${this.scheme}://0.0.0.0:${m.client}`,
        '--advertise-client-urls', `${this.scheme}://${this.advertise}:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-cluster', initial,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', this.token,
        '--log-level', 'warn',
        ...tls,
      ],
      { log: `etcd-${this.token}-${m.name}.log` },
    );
    this.procs.set(m.name, child);
  }

  startAll(): void {
    for (const m of this.members) this.start(m);
  }

  running(m: EtcdMember): boolean {
    const c = this.procs.get(m.name);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** SIGKILL by PID, and wait for the exit. */
  async kill(m: EtcdMember): Promise<void> {
    const child = this.procs.get(m.name);
    if (child?.pid === undefined) throw new Error(`etcd member ${m.name} has no pid`);
    process.kill(child.pid, 'SIGKILL');
    await waitFor(() => child.exitCode !== null || child.signalCode !== null, { what: `etcd ${m.name} to exit`, timeoutMs: 10_000, intervalMs: 50 });
  }

  /** etcd's /health of one member (true once it has a leader and serves), asked from `from`. */
  async healthy(from: Netns, m: EtcdMember): Promise<boolean> {
    const nc = this.tls
      ? `curl -sk --max-time 3 https://${this.advertise}:${m.client}/health`
      : `printf 'GET /health HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${this.advertise} ${m.client}`;
    const r = await from.exec(['sh', '-c', nc], { timeoutMs: 10_000 });
    // curl prints the body alone; nc the whole answer, whose status line must say 200.
    return r.code === 0 && (this.tls !== undefined || /^HTTP\/1\.[01] 200/.test(r.stdout)) && r.stdout.includes('"health":"true"');
  }

  /** The member that is raft leader now, from each running member's own `etcd_server_is_leader` metric. */
  async leader(): Promise<EtcdMember | undefined> {
    for (const m of this.members.filter((x) => this.running(x))) {
      const get = this.tls
        ? `curl -sk --max-time 3 https://127.0.0.1:${m.client}/metrics`
        : `printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 ${m.client}`;
      const r = await this.ns.exec(['sh', '-c', get], { timeoutMs: 10_000 });
      if (/^etcd_server_is_leader 1$/m.test(r.stdout)) return m;
    }
    return undefined;
  }

  pid(m: EtcdMember): number | undefined {
    return this.procs.get(m.name)?.pid;
  }

  async waitHealthy(from: Netns, what: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => (await Promise.all(this.members.map((m) => this.healthy(from, m)))).every(Boolean), {
      what,
      timeoutMs,
      intervalMs: 300,
      diagnostics: () => this.ns.lab.logTails(),
    });
  }

  /** Kills two of three members (no quorum left) and waits until the third says it is unhealthy. */
  async loseQuorum(from: Netns): Promise<EtcdMember[]> {
    const up = this.members.filter((m) => this.running(m));
    const [a, b, last] = up;
    if (a === undefined || b === undefined || last === undefined) throw new Error('loseQuorum needs three running members');
    await this.kill(a);
    await this.kill(b);
    await waitFor(async () => !(await this.healthy(from, last)), { what: `${last.name} unhealthy (no quorum)`, timeoutMs: 30_000, intervalMs: 300 });
    return [a, b];
  }

  async restore(from: Netns, killed: readonly EtcdMember[]): Promise<void> {
    for (const m of killed) this.start(m);
    await this.waitHealthy(from, 'three etcd members healthy again');
  }
}
