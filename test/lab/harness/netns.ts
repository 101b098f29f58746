/**
 * One network namespace of a lab: run commands in it, spawn tracked daemons in it, and
 * the few `ip` / `sysctl` operations tests need. Everything goes through
 * `ip netns exec` / `ip -n`, except `spawn({ nsenter: true })`, which dockerd needs
 * (`ip netns exec` remounts /sys, and dockerd then fails with "Devices cgroup isn't
 * mounted").
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Lab } from './lab.js';
import { exec, run, spawnLogged, type ExecOptions, type ExecResult } from './proc.js';
import { waitFor } from './wait.js';

export interface SpawnOpts {
  /** Log file name under the lab directory (default `<ns>-<program>.log`). */
  readonly log?: string;
  /** Enter only the network namespace with nsenter instead of `ip netns exec`. */
  readonly nsenter?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface RouteOpts {
  readonly via?: string;
  readonly dev?: string;
  /** e.g. 'static', 'bgp', or a number. */
  readonly proto?: string | number;
  /** e.g. 'blackhole', 'unreachable'. */
  readonly type?: string;
  readonly metric?: number;
  readonly table?: number;
}

export class Netns {
  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly role: string,
  ) {}

  /** The bind-mounted namespace file, for nsenter --net= and setns(). */
  get path(): string {
    return `/var/run/netns/${this.name}`;
  }

  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return exec(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  /** Like exec, but throws a CommandError carrying stderr on a non-zero exit. */
  run(argv: readonly string[], opts?: ExecOptions): Promise<string> {
    return run(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  /** `ip -n NS ARGS…` (no fork of a shell inside the namespace). */
  ip(args: readonly string[]): Promise<string> {
    return run(['ip', '-n', this.name, ...args]);
  }

  /** `ip -j …` parsed. */
  async ipJson<T = unknown>(args: readonly string[]): Promise<T> {
    const out = await run(['ip', '-n', this.name, '-j', ...args]);
    return JSON.parse(out.trim() || '[]') as T;
  }

  /** Spawn a long-lived process in the namespace; its output goes to a log file in the lab directory, and the lab stops it on cleanup. */
  spawn(argv: readonly string[], opts: SpawnOpts = {}): ChildProcess {
    const prog = (argv[0] ?? 'proc').split('/').pop() ?? 'proc';
    const log = join(this.lab.dir, opts.log ?? `${this.name}-${prog}.log`);
    const wrapped = opts.nsenter
      ? ['nsenter', `--net=${this.path}`, '--', ...argv]
      : ['ip', 'netns', 'exec', this.name, ...argv];
    const child = spawnLogged(wrapped, log, { env: opts.env ?? process.env, cwd: opts.cwd });
    this.lab.track(child, prog, log);
    return child;
  }

  async sysctl(key: string, value: string | number): Promise<void> {
    await this.run(['sysctl', '-qw', `${key}=${value}`]);
  }

  async sysctlGet(key: string): Promise<string> {
    return (await this.run(['sysctl', '-n', key])).trim();
  }

  async addAddress(ifname: string, cidr: string): Promise<void> {
    // nodad: the lab's addresses are unique by construction; waiting for DAD only slows tests.
    const v6 = cidr.includes(':') ? ['nodad'] : [];
    await this.ip(['addr', 'add', cidr, 'dev', ifname, ...v6]);
  }

  async addRoute(dst: string, opts: RouteOpts = {}): Promise<void> {
    await this.ip(['route', 'add', ...routeArgs(dst, opts)]);
  }

  async replaceRoute(dst: string, opts: RouteOpts = {}): Promise<void> {
    await this.ip(['route', 'replace', ...routeArgs(dst, opts)]);
  }

  async delRoute(dst: string, opts: RouteOpts = {}): Promise<void> {
    await this.ip(['route', 'del', ...routeArgs(dst, opts)]);
  }

  /** The interface's IPv6 link-local address (without prefix length). */
  async linkLocal(ifname: string): Promise<string> {
    const addrs = await this.ipJson<{ addr_info: { family: string; local: string; scope: string }[] }[]>([
      '-6', 'addr', 'show', 'dev', ifname, 'scope', 'link',
    ]);
    const ll = addrs[0]?.addr_info.find((a) => a.scope === 'link');
    if (!ll) throw new Error(`${this.name}: no link-local address on ${ifname}`);
    return ll.local;
  }

  /**
   * Set up one end of a lab link: DAD off on it, addresses, up, then wait until it is
   * operationally up with no tentative address left.
   */
  async configureInterface(ifname: string, addrs: readonly string[]): Promise<void> {
    await this.run(['sysctl', '-qw', `net.ipv6.conf.${ifname}.accept_dad=0`]);
    for (const a of addrs) await this.addAddress(ifname, a);
    await this.ip(['link', 'set', ifname, 'up']);
    await waitFor(
      async () => {
        const [l] = await this.ipJson<{ operstate: string; addr_info: { tentative?: boolean }[] }[]>([
          'addr', 'show', 'dev', ifname,
        ]);
        // A veth is UP once both ends are; LOWERLAYERDOWN means the peer is not up yet.
        return l !== undefined && l.operstate === 'UP' && !l.addr_info.some((a) => a.tentative);
      },
      { what: `${this.name}/${ifname} up with usable addresses`, timeoutMs: 5000, intervalMs: 20 },
    );
  }
}

function routeArgs(dst: string, o: RouteOpts): string[] {
  const a: string[] = [];
  if (o.type) a.push(o.type);
  a.push(dst);
  if (o.via) a.push('via', o.via);
  if (o.dev) a.push('dev', o.dev);
  if (o.proto !== undefined) a.push('proto', String(o.proto));
  if (o.metric !== undefined) a.push('metric', String(o.metric));
  if (o.table !== undefined) a.push('table', String(o.table));
  return a;
}
