/**
 * What the FRR, BIRD and gobgpd wrappers share: option types for neighbors and the
 * families they carry, a lab-private directory per daemon instance, and waiting on a
 * daemon with its log tail in the error.
 */
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Netns } from './netns.js';
import { waitFor, type WaitOptions } from './wait.js';
import { stopChild } from './proc.js';
import type { ChildProcess } from 'node:child_process';

export type Family = 'ipv4-unicast' | 'ipv6-unicast';
export const BOTH_FAMILIES: readonly Family[] = ['ipv4-unicast', 'ipv6-unicast'];

/** A peer's AS: a number, or FRR/BIRD's "whatever it says, as long as it is (not) ours". */
export type PeerAs = number | 'external' | 'internal';

export interface NeighborOptions {
  /** The neighbor's address; with `interface`, the name of the link it is on (unnumbered). */
  readonly address: string;
  /** Unnumbered: `address` is an interface (FRR `neighbor eth1 interface`, GoBGP `neighbor-interface`). */
  readonly interface?: boolean;
  readonly asn: PeerAs;
  /** Families activated on this (IPv4) session. Default: the router's families. */
  readonly families?: readonly Family[];
  /** Send a default route (0.0.0.0/0 and/or ::/0) to this neighbor. true = every family. */
  readonly defaultOriginate?: boolean | readonly Family[];
  /** Do not connect; wait for the peer. */
  readonly passive?: boolean;
  /** Configured administratively down (FRR: with this RFC 9003 shutdown message if a string). */
  readonly shutdown?: boolean | string;
  /** BFD with this neighbor (FRR: bfdd and `neighbor X bfd`; BIRD: `protocol bfd` and `bfd on`). */
  readonly bfd?: boolean;
  /** RFC 2385 TCP-MD5 password for this session. */
  readonly password?: string;
  /** RFC 5082 GTSM: the neighbor is at most this many hops away (FRR ttl-security hops N; BIRD ttl security on, with multihop N above 1). */
  readonly ttlSecurityHops?: number;
}

/** BFD timers of the router (ms), for the neighbors with `bfd`. Default: 300, 300, 3. */
export interface BfdTimersOptions {
  readonly minRx: number;
  readonly minTx: number;
  readonly multiplier: number;
}
export const DEFAULT_BFD: BfdTimersOptions = { minRx: 300, minTx: 300, multiplier: 3 };

export interface RouterOptions {
  readonly asn: number;
  readonly routerId: string;
  readonly neighbors?: readonly NeighborOptions[];
  /** Accept sessions from any address in this range (dynamic neighbors). */
  readonly listenRange?: string;
  /** The AS expected from dynamic neighbors. Default 'external'. */
  readonly listenAsn?: PeerAs;
  /** Send a default route to dynamic neighbors. */
  readonly listenDefaultOriginate?: boolean | readonly Family[];
  /** Families the router runs. Default both. */
  readonly families?: readonly Family[];
  /** Prefixes this router originates (as static / network routes), both families mixed. */
  readonly networks?: readonly string[];
  /** Hold time offered in OPEN (seconds). Default 9 (keepalive a third of it). */
  readonly holdTime?: number;
  /** Install learned routes into the namespace's kernel FIB. Default true. */
  readonly installRoutes?: boolean;
  /** Appended verbatim to the generated configuration. */
  readonly extraConfig?: string;
  /** BFD timers for the neighbors with `bfd: true`. */
  readonly bfd?: BfdTimersOptions;
  /** Put before each daemon's command (e.g. a session and a priority of its own); it must exec the daemon in place. */
  readonly spawnPrefix?: readonly string[];
}

export function familiesOf(f: boolean | readonly Family[] | undefined, all: readonly Family[]): readonly Family[] {
  if (f === undefined || f === false) return [];
  return f === true ? all : f;
}

export const isV6 = (prefix: string): boolean => prefix.includes(':');

/** A fresh directory under the lab dir, optionally owned by a system user (FRR drops to `frr`). */
export function daemonDir(ns: Netns, kind: string, owner?: string): string {
  const dir = join(ns.lab.dir, `${ns.name}-${kind}-${randomBytes(2).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (owner) {
    const ids = lookupUser(owner);
    chownSync(dir, ids.uid, ids.gid);
  }
  return dir;
}

export function lookupUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`user ${name} not found (is the package installed?)`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** waitFor whose timeout error carries the tails of every log in the lab directory. */
export function waitLab<T>(ns: Netns, fn: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  return waitFor(fn, {
    ...opts,
    diagnostics: async () => {
      const own = opts.diagnostics ? `${await opts.diagnostics()}\n` : '';
      return own + ns.lab.logTails();
    },
  });
}

/**
 * A routing daemon that is one foreground process the lab tracks (BIRD, gobgpd): start,
 * stop, a crash (SIGKILL: its kernel routes stay behind, as they would) and a restart.
 */
export abstract class OneProcessDaemon {
  protected proc: ChildProcess | undefined;

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns the process and waits until it answers. */
  protected abstract startDaemon(): Promise<void>;

  async stop(): Promise<void> {
    await stopChild(this.proc);
  }

  async kill(): Promise<void> {
    await stopChild(this.proc, true);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.startDaemon();
  }
}
