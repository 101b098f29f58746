/**
 * FRR 8.4 (zebra + bgpd) in a lab namespace, with every file private to this instance:
 * config, zserv socket, vty sockets and pid files live in a lab directory owned by
 * `frr` (the daemons drop privileges), nothing is read from /etc/frr, and vtysh talks to
 * this instance only (`--vty_socket DIR`).
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { exec, gone, stopChild } from './proc.js';
import {
  BOTH_FAMILIES,
  DEFAULT_BFD,
  daemonDir,
  familiesOf,
  isV6,
  waitLab,
  type Family,
  type NeighborOptions,
  type PeerAs,
  type RouterOptions,
} from './daemon.js';

export interface FrrOptions extends RouterOptions {
  /** Also log every UPDATE (verbose; off by default). */
  readonly debugUpdates?: boolean;
  /**
   * RFC 4724 graceful restart, both roles (`bgp graceful-restart`), with the forwarding
   * state kept across a bgpd restart (F = 1, `preserve-fw-state`; zebra keeps the routes).
   */
  readonly gracefulRestart?: { readonly restartTime?: number };
}

const FRR_LIB = '/usr/lib/frr';
const AF: Record<Family, string> = { 'ipv4-unicast': 'ipv4 unicast', 'ipv6-unicast': 'ipv6 unicast' };

function remoteAs(a: PeerAs): string {
  return typeof a === 'number' ? String(a) : a;
}

/** The bgpd.conf text for these options (exported so a test or the README can show it). */
export function frrBgpConfig(o: FrrOptions): string {
  const fams = o.families ?? BOTH_FAMILIES;
  const hold = o.holdTime ?? 9;
  const keep = Math.max(1, Math.floor(hold / 3));
  const L: string[] = ['frr defaults traditional', `hostname rtr-${o.routerId}`, 'log stdout informational', 'debug bgp neighbor-events'];
  if (o.debugUpdates) L.push('debug bgp updates');
  L.push('!', `router bgp ${o.asn}`, ` bgp router-id ${o.routerId}`, ' no bgp ebgp-requires-policy');
  // Networks are originated whether or not a matching route is in the RIB (the lab has none).
  L.push(' no bgp network import-check', ' bgp log-neighbor-changes', ` timers bgp ${keep} ${hold}`);
  if (o.gracefulRestart) {
    L.push(' bgp graceful-restart', ' bgp graceful-restart preserve-fw-state');
    if (o.gracefulRestart.restartTime !== undefined) L.push(` bgp graceful-restart restart-time ${o.gracefulRestart.restartTime}`);
  }
  const nbrs: readonly NeighborOptions[] = o.neighbors ?? [];
  for (const n of nbrs) {
    L.push(` neighbor ${n.address}${n.interface ? ' interface' : ''} remote-as ${remoteAs(n.asn)}`);
    // FRR's traditional connect-retry is 120 s: far too slow for a lab where peers come and go.
    L.push(` neighbor ${n.address} timers connect 2`);
    if (n.passive) L.push(` neighbor ${n.address} passive`);
    if (n.bfd) L.push(` neighbor ${n.address} bfd profile rtc`);
    if (n.password !== undefined) L.push(` neighbor ${n.address} password ${n.password}`);
    if (n.ttlSecurityHops !== undefined) L.push(` neighbor ${n.address} ttl-security hops ${n.ttlSecurityHops}`);
    if (n.shutdown) {
      L.push(` neighbor ${n.address} shutdown${typeof n.shutdown === 'string' ? ` message ${n.shutdown}` : ''}`);
    }
  }
  if (o.listenRange) {
    L.push(' neighbor DYN peer-group', ` neighbor DYN remote-as ${remoteAs(o.listenAsn ?? 'external')}`);
    L.push(` bgp listen range ${o.listenRange} peer-group DYN`);
  }
  // One (IPv4) session carries both families: IPv4 unicast is on by default, IPv6 unicast must be activated.
  L.push(' no bgp default ipv4-unicast');
  for (const fam of fams) {
    L.push(' !', ` address-family ${AF[fam]}`);
    for (const p of o.networks ?? []) if (isV6(p) === (fam === 'ipv6-unicast')) L.push(`  network ${p}`);
    for (const n of nbrs) {
      if (!(n.families ?? fams).includes(fam)) continue;
      L.push(`  neighbor ${n.address} activate`);
      if (familiesOf(n.defaultOriginate, fams).includes(fam)) L.push(`  neighbor ${n.address} default-originate`);
    }
    if (o.listenRange) {
      L.push('  neighbor DYN activate');
      if (familiesOf(o.listenDefaultOriginate, fams).includes(fam)) L.push('  neighbor DYN default-originate');
    }
    L.push(' exit-address-family');
  }
  L.push('exit', '!');
  if (o.extraConfig) L.push(o.extraConfig);
  return `${L.join('\n')}\n`;
}

/** The bfdd.conf text: one profile, `rtc`, with the router's BFD timers (bgpd's neighbors use it). */
export function frrBfdConfig(o: FrrOptions): string {
  const t = o.bfd ?? DEFAULT_BFD;
  return [
    `hostname rtr-${o.routerId}`,
    // State changes are debug messages in bfdd; ms timestamps for bench/bfd.
    'log stdout debugging',
    'log timestamp precision 3',
    'debug bfd peer',
    '!',
    'bfd',
    ' profile rtc',
    `  receive-interval ${t.minRx}`,
    `  transmit-interval ${t.minTx}`,
    `  detect-multiplier ${t.multiplier}`,
    ' exit',
    'exit',
    '',
  ].join('\n');
}

/** One peer of `show bfd peers json`. */
export interface FrrBfdPeer {
  readonly peer: string;
  readonly status: string;
  readonly diagnostic?: string;
  readonly 'remote-diagnostic'?: string;
  readonly 'receive-interval'?: number;
  readonly 'transmit-interval'?: number;
  readonly 'detect-multiplier'?: number;
  readonly 'remote-receive-interval'?: number;
  readonly 'remote-transmit-interval'?: number;
  readonly 'remote-detect-multiplier'?: number;
  readonly [key: string]: unknown;
}

export class Frr {
  readonly dir: string;
  private zebra: ChildProcess | undefined;
  private bgpd: ChildProcess | undefined;
  private bfdd: ChildProcess | undefined;

  private constructor(
    readonly ns: Netns,
    readonly opts: FrrOptions,
  ) {
    this.dir = daemonDir(ns, 'frr', 'frr');
    writeFileSync(join(this.dir, 'zebra.conf'), `hostname rtr-${opts.routerId}\nlog stdout informational\n`);
    writeFileSync(join(this.dir, 'bgpd.conf'), frrBgpConfig(opts));
    if (this.withBfd) writeFileSync(join(this.dir, 'bfdd.conf'), frrBfdConfig(opts));
  }

  /** bfdd runs when a neighbor asks for BFD. */
  get withBfd(): boolean {
    return (this.opts.neighbors ?? []).some((n) => n.bfd);
  }

  get bfddPid(): number | undefined {
    return this.bfdd?.pid;
  }

  static async start(ns: Netns, opts: FrrOptions): Promise<Frr> {
    const f = new Frr(ns, opts);
    await f.startZebra();
    if (f.withBfd) await f.startBfdd();
    await f.startBgpd();
    return f;
  }

  private async startBfdd(): Promise<void> {
    this.bfdd = this.ns.spawn([...(this.opts.spawnPrefix ?? []), `${FRR_LIB}/bfdd`, ...this.common('bfdd')], {
      log: `${this.ns.name}-bfdd.log`,
    });
    await waitLab(this.ns, async () => (await this.vtyshRaw(['show bfd peers json'])).code === 0, {
      what: `bfdd in ${this.ns.name} to answer vtysh`,
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  }

  /** `show bfd peers json`. */
  bfdPeers(): Promise<FrrBfdPeer[]> {
    return this.json<FrrBfdPeer[]>('show bfd peers json');
  }

  async bfdPeer(peer: string): Promise<FrrBfdPeer | undefined> {
    return (await this.bfdPeers()).find((p) => p.peer === peer);
  }

  get bgpdPid(): number | undefined {
    return this.bgpd?.pid;
  }

  private common(daemon: string): string[] {
    return [
      '-f', join(this.dir, `${daemon}.conf`),
      '-z', join(this.dir, 'zserv.api'),
      '--vty_socket', this.dir,
      '-i', join(this.dir, `${daemon}.pid`),
      '-u', 'frr', '-g', 'frr',
      '-P', '0',
    ];
  }

  private running(p: ChildProcess | undefined): boolean {
    return p?.pid !== undefined && p.exitCode === null && p.signalCode === null && !gone(p.pid);
  }

  private async startZebra(): Promise<void> {
    // Sockets left by a stopped zebra would make the readiness check below pass too early.
    for (const f of ['zserv.api', 'zebra.vty']) rmSync(join(this.dir, f), { force: true });
    // -s: a netlink receive buffer large enough for benchmark-sized tables.
    this.zebra = this.ns.spawn([...(this.opts.spawnPrefix ?? []), `${FRR_LIB}/zebra`, ...this.common('zebra'), '-s', '90000000'], {
      log: `${this.ns.name}-zebra.log`,
    });
    await waitLab(this.ns, () => existsSync(join(this.dir, 'zserv.api')) && existsSync(join(this.dir, 'zebra.vty')), {
      what: `zebra in ${this.ns.name} to open its sockets`,
      timeoutMs: 10_000,
      intervalMs: 25,
    });
  }

  private async startBgpd(): Promise<void> {
    const noKernel = this.opts.installRoutes === false ? ['-n'] : [];
    this.bgpd = this.ns.spawn([...(this.opts.spawnPrefix ?? []), `${FRR_LIB}/bgpd`, ...this.common('bgpd'), ...noKernel], {
      log: `${this.ns.name}-bgpd.log`,
    });
    await waitLab(this.ns, async () => (await this.vtyshRaw(['show bgp summary json'])).code === 0, {
      what: `bgpd in ${this.ns.name} to answer vtysh`,
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  }

  private vtyshRaw(cmds: readonly string[]) {
    return exec(['vtysh', '--vty_socket', this.dir, ...cmds.flatMap((c) => ['-c', c])], { timeoutMs: 30_000 });
  }

  /** Run vtysh commands (several run in one vtysh, e.g. `configure terminal` then lines). */
  async vtysh(...cmds: string[]): Promise<string> {
    const r = await this.vtyshRaw(cmds);
    // vtysh reports command errors on stdout with exit 0 for some commands; both are checked.
    if (r.code !== 0 || /^% (Unknown|Command incomplete|Invalid|Ambiguous)/m.test(r.stdout)) {
      throw new Error(`vtysh ${cmds.join(' ; ')} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  }

  async json<T = unknown>(cmd: string): Promise<T> {
    const out = await this.vtysh(cmd);
    return JSON.parse(out) as T;
  }

  /** Apply configuration lines (as typed after `configure terminal`). */
  async configure(lines: readonly string[]): Promise<void> {
    await this.vtysh('configure terminal', ...lines);
  }

  /** `show bgp summary json` (per-family peer tables). */
  summary(): Promise<Record<string, { peers?: Record<string, { state: string; pfxRcd?: number; pfxSnt?: number }> }>> {
    return this.json('show bgp summary json');
  }

  async peerState(peer: string): Promise<string | undefined> {
    const j = await this.json<Record<string, { bgpState?: string }>>(`show bgp neighbors ${peer} json`);
    return j[peer]?.bgpState;
  }

  async waitEstablished(peer: string, timeoutMs = 30_000): Promise<void> {
    await waitLab(this.ns, async () => (await this.peerState(peer)) === 'Established', {
      what: `FRR in ${this.ns.name}: session to ${peer} Established`,
      timeoutMs,
      intervalMs: 100,
      diagnostics: async () => (await this.vtyshRaw([`show bgp neighbors ${peer}`])).stdout.slice(0, 3000),
    });
  }

  /** Best paths of one family: prefix → next hops (global and link-local as FRR lists them). */
  async ribPrefixes(family: Family): Promise<Map<string, string[]>> {
    type Path = { valid?: boolean; bestpath?: boolean; nexthops?: { ip: string }[] };
    const j = await this.json<{ routes?: Record<string, Path[]> }>(`show bgp ${AF[family]} json`);
    const out = new Map<string, string[]>();
    for (const [prefix, paths] of Object.entries(j.routes ?? {})) {
      const best = paths.find((p) => p.bestpath) ?? paths.find((p) => p.valid);
      if (best) out.set(prefix, (best.nexthops ?? []).map((n) => n.ip));
    }
    return out;
  }

  /** Stop bgpd and zebra (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await stopChild(this.bgpd);
    await stopChild(this.bfdd);
    await stopChild(this.zebra);
  }

  /** SIGKILL bgpd only, as a crash would (zebra stays, and so do its kernel routes). */
  async kill(): Promise<void> {
    await stopChild(this.bgpd, true);
  }

  /** Start again whatever is not running (after stop() or kill()): zebra if needed, then bgpd. */
  async restart(): Promise<void> {
    await stopChild(this.bgpd);
    if (!this.running(this.zebra)) await this.startZebra();
    await this.startBgpd();
  }
}

export const startFrr = (ns: Netns, opts: FrrOptions): Promise<Frr> => Frr.start(ns, opts);
