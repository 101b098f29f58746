/**
 * BIRD 2.0 in a lab namespace: one config file, control socket and pid file in a lab
 * directory. Learned BGP routes are exported into the namespace's kernel FIB (and only
 * those: static routes stay in BIRD), originated prefixes are static blackhole routes
 * exported over BGP, and a static default route is exported only to the neighbors that
 * ask for it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { exec } from './proc.js';
import {
  BOTH_FAMILIES,
  DEFAULT_BFD,
  daemonDir,
  familiesOf,
  isV6,
  OneProcessDaemon,
  waitLab,
  type Family,
  type NeighborOptions,
  type PeerAs,
  type RouterOptions,
} from './daemon.js';

export interface BirdOptions extends RouterOptions {
  /** Lines added inside every `protocol bgp` block (e.g. `enable as4 off;`, `enable extended messages on;`). */
  readonly peerConfig?: string;
  /**
   * RFC 4724 restarting speaker as well as helper: `graceful restart on` on the BGP
   * sessions it generates (BIRD's default, `aware`, is a helper only) and on the kernel
   * protocols, so that after `Bird.gracefulRestart()` the kernel table is synchronized
   * (stale routes pruned) only once the recovery ends, not when BIRD starts.
   */
  readonly gracefulRestart?: { readonly restartTime?: number };
}

const CH: Record<Family, 'ipv4' | 'ipv6'> = { 'ipv4-unicast': 'ipv4', 'ipv6-unicast': 'ipv6' };

function peerAs(a: PeerAs): string {
  return typeof a === 'number' ? `as ${a}` : a;
}

/** Name of the BIRD protocol for a configured neighbor. */
export function birdProtocolName(address: string): string {
  return `peer_${address.replace(/[^0-9a-fA-F]/g, '_')}`;
}

function channels(fams: readonly Family[], active: readonly Family[], dflt: readonly Family[], indent: string): string[] {
  const L: string[] = [];
  for (const fam of fams) {
    if (!active.includes(fam)) continue;
    const c = CH[fam];
    const def = dflt.includes(fam) ? ` || proto = "def${c.slice(-1)}"` : '';
    L.push(`${indent}${c} {`, `${indent}  import all;`);
    // Static protocols named net4*/net6* are originated (extraConfig may add more, e.g. with attributes).
    L.push(`${indent}  export where proto ~ "net${c.slice(-1)}*" || source = RTS_BGP${def};`, `${indent}};`);
  }
  return L;
}

/** The bird.conf text for these options. */
export function birdConfig(o: BirdOptions, logFile: string): string {
  const fams = o.families ?? BOTH_FAMILIES;
  const hold = o.holdTime ?? 9;
  const keep = Math.max(1, Math.floor(hold / 3));
  const L: string[] = [`log "${logFile}" all;`, `router id ${o.routerId};`, 'protocol device { scan time 10; }'];
  for (const fam of fams) {
    const c = CH[fam];
    const v = c.slice(-1);
    const nets = (o.networks ?? []).filter((p) => isV6(p) === (c === 'ipv6'));
    L.push(`protocol static net${v} {`, `  ${c};`, ...nets.map((p) => `  route ${p} blackhole;`), '}');
    // The default route exists only to be exported to the peers that ask for it (and
    // only when one does: otherwise it would shadow a default learned from a peer).
    const wants = [...(o.neighbors ?? []).map((n) => n.defaultOriginate), o.listenRange ? o.listenDefaultOriginate : undefined];
    if (wants.some((w) => familiesOf(w, fams).includes(fam))) {
      L.push(`protocol static def${v} {`, `  ${c};`, `  route ${c === 'ipv6' ? '::/0' : '0.0.0.0/0'} blackhole;`, '}');
    }
    // Only BGP-learned routes go to the kernel: the static ones are BIRD-internal.
    const exp = o.installRoutes === false ? 'none' : 'where source = RTS_BGP';
    const gr = o.gracefulRestart ? ['  graceful restart on;'] : [];
    L.push(`protocol kernel kernel${v} {`, `  ${c} { import none; export ${exp}; };`, '  merge paths yes;', ...gr, '}');
  }
  const common = [`  local as ${o.asn};`, `  hold time ${hold};`, `  keepalive time ${keep};`, '  connect retry time 2;', '  error wait time 1, 10;'];
  if (o.gracefulRestart) {
    common.push('  graceful restart on;');
    if (o.gracefulRestart.restartTime !== undefined) common.push(`  graceful restart time ${o.gracefulRestart.restartTime};`);
  }
  if (o.peerConfig) common.push(...o.peerConfig.split('\n').map((l) => `  ${l.trim()}`));
  for (const n of o.neighbors ?? ([] as NeighborOptions[])) {
    L.push(`protocol bgp ${birdProtocolName(n.address)} {`);
    if (n.shutdown) L.push('  disabled;');
    L.push(...common, `  neighbor ${n.address} ${peerAs(n.asn)};`);
    if (n.passive) L.push('  passive on;');
    if (n.bfd) L.push('  bfd on;');
    if (n.password !== undefined) L.push(`  password "${n.password}";`);
    // BIRD: `ttl security on` sends TTL 255 and accepts 256 - hops, hops being 1 or the multihop value.
    if (n.ttlSecurityHops !== undefined) L.push('  ttl security on;', ...(n.ttlSecurityHops > 1 ? [`  multihop ${n.ttlSecurityHops};`] : []));
    L.push(...channels(fams, n.families ?? fams, familiesOf(n.defaultOriginate, fams), '  '), '}');
  }
  if (o.listenRange) {
    L.push('protocol bgp dyn {', ...common, `  neighbor range ${o.listenRange} ${peerAs(o.listenAsn ?? 'external')};`);
    L.push(...channels(fams, fams, familiesOf(o.listenDefaultOriginate, fams), '  '), '}');
  }
  if ((o.neighbors ?? []).some((n) => n.bfd)) {
    const t = o.bfd ?? DEFAULT_BFD;
    L.push('protocol bfd {', `  interface "*" { min rx interval ${t.minRx} ms; min tx interval ${t.minTx} ms; multiplier ${t.multiplier}; };`, '}');
  }
  if (o.extraConfig) L.push(o.extraConfig);
  return `${L.join('\n')}\n`;
}

/** One line of `birdc show bfd sessions`. */
export interface BirdBfdSession {
  readonly address: string;
  readonly state: string;
  readonly interval: string;
  readonly timeout: string;
}

export interface BirdProtocol {
  readonly name: string;
  readonly proto: string;
  readonly state: string;
  readonly info: string;
  readonly bgpState?: string;
  readonly neighbor?: string;
}

/** One route of `Bird.routeDetails`. */
export interface BirdRoute {
  readonly protocol: string;
  readonly via: readonly string[];
  /** `BGP.<name>: value` lines, keyed by name. */
  readonly attributes: Readonly<Record<string, string>>;
}

export class Bird extends OneProcessDaemon {
  readonly dir: string;
  readonly sock: string;
  readonly conf: string;
  /** BIRD's own log (`log "…" all`): every run of this instance, appended. */
  readonly logFile: string;

  private constructor(
    readonly ns: Netns,
    readonly opts: BirdOptions,
  ) {
    super();
    this.dir = daemonDir(ns, 'bird');
    this.sock = join(this.dir, 'bird.ctl');
    this.conf = join(this.dir, 'bird.conf');
    this.logFile = join(this.dir, 'bird.log');
    writeFileSync(this.conf, birdConfig(opts, this.logFile));
  }

  static async start(ns: Netns, opts: BirdOptions): Promise<Bird> {
    const b = new Bird(ns, opts);
    await b.startDaemon();
    return b;
  }

  protected async startDaemon(extra: readonly string[] = []): Promise<void> {
    // -f: foreground, so the PID we track is BIRD itself.
    this.proc = this.ns.spawn([...(this.opts.spawnPrefix ?? []), 'bird', '-f', '-c', this.conf, '-s', this.sock, '-P', join(this.dir, 'bird.pid'), ...extra], {
      log: `${this.ns.name}-bird-stdout.log`,
    });
    await waitLab(this.ns, async () => (await exec(['birdc', '-s', this.sock, 'show status'])).stdout.includes('Daemon is up'), {
      what: `BIRD in ${this.ns.name} to answer birdc`,
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  }

  /**
   * A planned graceful restart (RFC 4724): `birdc graceful restart` (BIRD 2.0.5 and
   * later) shuts BIRD down keeping its kernel routes and closing its BGP sessions without
   * a NOTIFICATION, so its peers keep its routes, stale; once the process has exited,
   * `whileDown` runs, then BIRD starts again with `-R` (graceful restart recovery: it
   * tells its `graceful restart on` peers it restarted with its forwarding state kept,
   * waits for their End-of-RIB before it sends them anything, and a kernel protocol with
   * `graceful restart on` keeps the table as it was until then). See
   * `BirdOptions.gracefulRestart`.
   */
  async gracefulRestart(whileDown?: () => Promise<void>): Promise<void> {
    const child = this.proc;
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`BIRD in ${this.ns.name} is not running`);
    await this.birdc('graceful restart');
    await waitLab(this.ns, () => child.exitCode !== null || child.signalCode !== null, {
      what: `BIRD in ${this.ns.name} (pid ${child.pid}) to exit for its graceful restart`,
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    await whileDown?.();
    await this.startDaemon(['-R']);
  }

  /** BIRD's log so far. */
  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  async birdc(cmd: string): Promise<string> {
    const r = await exec(['birdc', '-s', this.sock, ...cmd.split(' ')], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`birdc ${cmd} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** `show protocols all`, parsed into one record per protocol. */
  async protocols(): Promise<BirdProtocol[]> {
    const out = await this.birdc('show protocols all');
    const blocks = out.split(/\n(?=\S)/).slice(1); // first block is the BIRD banner + header
    const res: BirdProtocol[] = [];
    for (const b of blocks) {
      const head = b.split('\n')[0]?.trim().split(/\s+/) ?? [];
      if (head.length < 4 || head[0] === 'Name') continue;
      const bgp = /BGP state:\s+(\S+)/.exec(b)?.[1];
      const nbr = /Neighbor address:\s+(\S+)/.exec(b)?.[1];
      res.push({
        name: head[0] ?? '',
        proto: head[1] ?? '',
        state: head[3] ?? '',
        info: head.slice(5).join(' '),
        ...(bgp === undefined ? {} : { bgpState: bgp }),
        ...(nbr === undefined ? {} : { neighbor: nbr }),
      });
    }
    return res;
  }

  /** `show bfd sessions`: "203.0.113.2  veth  Up  10:00:00.000  0.300  0.900". */
  async bfdSessions(): Promise<BirdBfdSession[]> {
    const out = await this.birdc('show bfd sessions');
    const res: BirdBfdSession[] = [];
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 6 && /^[0-9a-f:.]+$/i.test(f[0]!) && f[0]!.match(/[.:]/)) {
        res.push({ address: f[0]!, state: f[2]!, interval: f[f.length - 2]!, timeout: f[f.length - 1]! });
      }
    }
    return res;
  }

  async peerState(peer: string): Promise<string | undefined> {
    const ps = (await this.protocols()).filter((p) => p.neighbor === peer);
    return ps.find((p) => p.bgpState === 'Established')?.bgpState ?? ps[0]?.bgpState;
  }

  async waitEstablished(peer: string, timeoutMs = 30_000): Promise<void> {
    await waitLab(this.ns, async () => (await this.peerState(peer)) === 'Established', {
      what: `BIRD in ${this.ns.name}: session to ${peer} Established`,
      timeoutMs,
      intervalMs: 100,
      diagnostics: () => this.birdc('show protocols all'),
    });
  }

  /** Primary routes of one family: prefix → gateways (none for blackhole/unreachable). */
  async routes(family: Family): Promise<Map<string, string[]>> {
    const table = family === 'ipv6-unicast' ? 'master6' : 'master4';
    const out = await this.birdc(`show route primary table ${table}`);
    const res = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of out.split('\n')) {
      const m = /^(\S+\/\d+)\s+\S+/.exec(line);
      if (m?.[1]) {
        current = [];
        res.set(m[1], current);
        continue;
      }
      const via = /^\s+via (\S+)/.exec(line);
      if (via?.[1] && current) current.push(via[1]);
    }
    return res;
  }

  /**
   * Primary routes of one family with their attributes, from `show route primary all`:
   * prefix → the protocol that brought it, gateways, and the `BGP.*` lines by name
   * (e.g. `as_path` → "65001", `next_hop` → "2001:db8:f::2 fe80::1").
   */
  async routeDetails(family: Family): Promise<Map<string, BirdRoute>> {
    const table = family === 'ipv6-unicast' ? 'master6' : 'master4';
    const out = await this.birdc(`show route primary all table ${table}`);
    const res = new Map<string, BirdRoute>();
    let current: { protocol: string; via: string[]; attributes: Record<string, string> } | undefined;
    for (const line of out.split('\n')) {
      // "198.51.100.1/32      unicast [dynbgp1 20:34:54.529] * (100) [AS4200000001i]"
      const m = /^(\S+\/\d+)\s+\S+\s+\[(\S+)/.exec(line);
      if (m?.[1] && m[2]) {
        current = { protocol: m[2], via: [], attributes: {} };
        res.set(m[1], current);
        continue;
      }
      if (!current) continue;
      const via = /^\s+via (\S+)/.exec(line);
      if (via?.[1]) current.via.push(via[1]);
      const attr = /^\s+BGP\.(\S+?):\s*(.*)$/.exec(line);
      if (attr?.[1]) current.attributes[attr[1]] = (attr[2] ?? '').trim();
    }
    return res;
  }
}

export const startBird = (ns: Netns, opts: BirdOptions): Promise<Bird> => Bird.start(ns, opts);
