/**
 * gobgpd in a lab namespace: a TOML config, its gRPC API on 127.0.0.1:<port> inside the
 * namespace (so several instances never collide), and the `gobgp` CLI pointed at it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { BOTH_FAMILIES, daemonDir, isV6, OneProcessDaemon, waitLab, type Family, type RouterOptions } from './daemon.js';

export interface GobgpOptions extends Omit<RouterOptions, 'installRoutes' | 'listenDefaultOriginate'> {
  /** gRPC API port on 127.0.0.1 inside the namespace. Default 50051. */
  readonly apiPort?: number;
  /**
   * RFC 4724 graceful restart on every configured neighbor and family; `helperOnly`:
   * only keep a restarting peer's routes, never restart gracefully itself.
   */
  readonly gracefulRestart?: { readonly helperOnly?: boolean; readonly restartTime?: number };
}

function peerAsToml(a: number | 'external' | 'internal', own: number): string {
  if (typeof a === 'number') return `peer-as = ${a}`;
  if (a === 'internal') return `peer-as = ${own}`;
  throw new Error("gobgpd needs a numeric peer AS ('external' is not supported)");
}

export function gobgpConfig(o: GobgpOptions): string {
  const fams = o.families ?? BOTH_FAMILIES;
  const hold = o.holdTime ?? 9;
  const L: string[] = ['[global.config]', `  as = ${o.asn}`, `  router-id = "${o.routerId}"`, ''];
  const gr = o.gracefulRestart;
  const afis = (list: readonly Family[], ind: string) =>
    list.flatMap((f) => [
      `${ind}[[neighbors.afi-safis]]`,
      `${ind}  [neighbors.afi-safis.config]`,
      `${ind}  afi-safi-name = "${f}"`,
      ...(gr ? [`${ind}  [neighbors.afi-safis.mp-graceful-restart.config]`, `${ind}  enabled = true`] : []),
    ]);
  for (const n of o.neighbors ?? []) {
    if (n.defaultOriginate) throw new Error('gobgpd: add a default route with gobgp(["global","rib","add",...]) instead');
    L.push('[[neighbors]]', '  [neighbors.config]', n.interface ? `  neighbor-interface = "${n.address}"` : `  neighbor-address = "${n.address}"`, `  ${peerAsToml(n.asn, o.asn)}`);
    if (n.shutdown) L.push('  admin-down = true');
    if (n.password !== undefined) L.push(`  auth-password = "${n.password}"`);
    L.push('  [neighbors.timers.config]', '  connect-retry = 2', `  hold-time = ${hold}`, `  keepalive-interval = ${Math.max(1, Math.floor(hold / 3))}`);
    if (n.passive) L.push('  [neighbors.transport.config]', '  passive-mode = true');
    if (n.ttlSecurityHops !== undefined) L.push('  [neighbors.ttl-security.config]', '  enabled = true', `  ttl-min = ${256 - n.ttlSecurityHops}`);
    if (gr) {
      L.push('  [neighbors.graceful-restart.config]', '  enabled = true');
      if (gr.helperOnly) L.push('  helper-only = true');
      if (gr.restartTime !== undefined) L.push(`  restart-time = ${gr.restartTime}`);
    }
    L.push(...afis(n.families ?? fams, '  '), '');
  }
  if (o.listenRange) {
    const as = peerAsToml(typeof o.listenAsn === 'number' ? o.listenAsn : 'internal', o.asn);
    L.push('[[peer-groups]]', '  [peer-groups.config]', '  peer-group-name = "dyn"', `  ${as}`);
    for (const f of fams) L.push('  [[peer-groups.afi-safis]]', '    [peer-groups.afi-safis.config]', `    afi-safi-name = "${f}"`);
    L.push('[[dynamic-neighbors]]', '  [dynamic-neighbors.config]', `  prefix = "${o.listenRange}"`, '  peer-group = "dyn"', '');
  }
  if (o.extraConfig) L.push(o.extraConfig);
  return `${L.join('\n')}\n`;
}

export class Gobgp extends OneProcessDaemon {
  readonly dir: string;
  readonly conf: string;
  readonly apiPort: number;

  private constructor(
    readonly ns: Netns,
    readonly opts: GobgpOptions,
  ) {
    super();
    this.dir = daemonDir(ns, 'gobgp');
    this.conf = join(this.dir, 'gobgpd.toml');
    this.apiPort = opts.apiPort ?? 50051;
    writeFileSync(this.conf, gobgpConfig(opts));
  }

  static async start(ns: Netns, opts: GobgpOptions): Promise<Gobgp> {
    const g = new Gobgp(ns, opts);
    await g.startDaemon();
    for (const p of opts.networks ?? []) await g.gobgp(['global', 'rib', 'add', '-a', isV6(p) ? 'ipv6' : 'ipv4', p]);
    return g;
  }

  protected async startDaemon(): Promise<void> {
    this.proc = this.ns.spawn(
      ['gobgpd', '-f', this.conf, '-t', 'toml', '-p', '--pprof-disable', `--api-hosts=127.0.0.1:${this.apiPort}`],
      { log: `${this.ns.name}-gobgpd.log` },
    );
    await waitLab(this.ns, async () => (await this.ns.exec(this.cli(['global']))).code === 0, {
      what: `gobgpd in ${this.ns.name} to answer its API`,
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  }

  private cli(argv: readonly string[]): string[] {
    return ['gobgp', '-u', '127.0.0.1', '-p', String(this.apiPort), ...argv];
  }

  /** Run the gobgp CLI against this instance (inside the namespace); throws on failure. */
  gobgp(argv: readonly string[]): Promise<string> {
    return this.ns.run(this.cli(argv), { timeoutMs: 30_000 });
  }

  async peerState(peer: string): Promise<string | undefined> {
    const j = JSON.parse(await this.gobgp(['neighbor', peer, '-j'])) as { state?: { session_state?: number | string } };
    const s = j.state?.session_state;
    // gobgp's API enum: 1 IDLE … 6 ESTABLISHED.
    const names = ['UNKNOWN', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];
    return typeof s === 'number' ? names[s] : s === undefined ? undefined : String(s);
  }

  async waitEstablished(peer: string, timeoutMs = 30_000): Promise<void> {
    await waitLab(this.ns, async () => /^established$/i.test((await this.peerState(peer)) ?? ''), {
      what: `gobgpd in ${this.ns.name}: session to ${peer} Established`,
      timeoutMs,
      intervalMs: 200,
    });
  }

  /** Best paths of one family from `gobgp global rib -j`: prefix → next hops. */
  async rib(family: Family): Promise<Map<string, string[]>> {
    type Path = { best?: boolean; nexthop?: string; attrs?: { type: number; nexthop?: string; nexthops?: string[] }[] };
    const out = await this.gobgp(['global', 'rib', '-a', family === 'ipv6-unicast' ? 'ipv6' : 'ipv4', '-j']);
    const j = JSON.parse(out.trim() || '{}') as Record<string, Path[]>;
    const res = new Map<string, string[]>();
    for (const [prefix, paths] of Object.entries(j)) {
      const best = paths.find((p) => p.best) ?? paths[0];
      if (!best) continue;
      const nh = new Set<string>();
      if (best.nexthop) nh.add(best.nexthop);
      for (const a of best.attrs ?? []) {
        if (a.nexthop) nh.add(a.nexthop);
        for (const x of a.nexthops ?? []) nh.add(x);
      }
      res.set(prefix, [...nh]);
    }
    return res;
  }
}

export const startGobgp = (ns: Netns, opts: GobgpOptions): Promise<Gobgp> => Gobgp.start(ns, opts);
