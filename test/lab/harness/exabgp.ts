/**
 * ExaBGP (4.2) in a lab namespace: a BGP speaker that sends what its config says,
 * including generic path attributes (`attribute [ code flags value ]`) no router sets on
 * its own, such as unknown optional transitive ones. Foreground, logs to stdout (the lab
 * log), no API pipes, listening on its local address; it runs as root inside the namespace (no privilege drop: the lab
 * directory is root's).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { daemonDir, OneProcessDaemon, waitLab } from './daemon.js';

/** One IPv4 route ExaBGP announces, with its attributes in ExaBGP's own syntax. */
export interface ExabgpRoute {
  readonly prefix: string;
  readonly nextHop: string;
  /** Generic attributes: [type code, flags, hex value], e.g. [0x63, 0xc0, '0102']. */
  readonly attributes?: readonly (readonly [code: number, flags: number, value: string])[];
  /** ExaBGP route keywords appended as written, e.g. 'community [ 65003:1 ]'. */
  readonly extra?: string;
}

export interface ExabgpOptions {
  readonly asn: number;
  readonly routerId: string;
  readonly localAddress: string;
  readonly neighbor: { readonly address: string; readonly asn: number };
  readonly holdTime?: number;
  readonly routes?: readonly ExabgpRoute[];
}

const hexByte = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

export function exabgpConfig(o: ExabgpOptions): string {
  const routes = (o.routes ?? []).map((r) => {
    const attrs = (r.attributes ?? []).map(([code, flags, value]) => `attribute [ ${hexByte(code)} ${hexByte(flags)} 0x${value} ]`);
    return `    route ${r.prefix} next-hop ${r.nextHop}${attrs.length ? ` ${attrs.join(' ')}` : ''}${r.extra ? ` ${r.extra}` : ''};`;
  });
  return [
    `neighbor ${o.neighbor.address} {`,
    `  router-id ${o.routerId};`,
    `  local-address ${o.localAddress};`,
    `  local-as ${o.asn};`,
    `  peer-as ${o.neighbor.asn};`,
    `  hold-time ${o.holdTime ?? 9};`,
    '  family {',
    '    ipv4 unicast;',
    '  }',
    '  static {',
    ...routes,
    '  }',
    '}',
    '',
  ].join('\n');
}

export class Exabgp extends OneProcessDaemon {
  readonly dir: string;
  readonly conf: string;
  readonly log: string;

  private constructor(
    readonly ns: Netns,
    readonly opts: ExabgpOptions,
  ) {
    super();
    this.dir = daemonDir(ns, 'exabgp');
    this.conf = join(this.dir, 'exabgp.conf');
    this.log = `${ns.name}-exabgp.log`;
    writeFileSync(this.conf, exabgpConfig(opts));
  }

  static async start(ns: Netns, opts: ExabgpOptions): Promise<Exabgp> {
    const x = new Exabgp(ns, opts);
    await x.startDaemon();
    return x;
  }

  protected async startDaemon(): Promise<void> {
    // ExaBGP reads its settings from the environment (exabgp.<section>.<key>).
    const env = {
      ...process.env,
      'exabgp.daemon.daemonize': 'false',
      'exabgp.daemon.user': 'root',
      'exabgp.daemon.drop': 'false',
      'exabgp.log.destination': 'stdout',
      'exabgp.log.level': 'INFO',
      'exabgp.api.cli': 'false',
      // It listens on its own address as well as connecting out: a peer that only
      // connects (routectl's default) finds it either way (RFC 4271 6.8 sorts out both).
      'exabgp.tcp.bind': this.opts.localAddress,
      'exabgp.tcp.port': '179',
    };
    this.proc = this.ns.spawn(['exabgp', this.conf], { log: this.log, env });
    const proc = this.proc;
    await waitLab(this.ns, () => proc.exitCode === null && proc.pid !== undefined, {
      what: `exabgp in ${this.ns.name} to start`,
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  }

  /** The process log (stdout and stderr), for assertions on what ExaBGP saw. */
  logText(): string {
    try {
      return readFileSync(join(this.ns.lab.dir, this.log), 'utf8');
    } catch {
      return '';
    }
  }
}

export const startExabgp = (ns: Netns, opts: ExabgpOptions): Promise<Exabgp> => Exabgp.start(ns, opts);
