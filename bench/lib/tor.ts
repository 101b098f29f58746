/**
 * A ToR under measurement, FRR or BIRD, started with the lab harness and seen through
 * what a benchmark needs: when its session became Established (by its own clock, to the
 * millisecond), how many prefixes of each family its RIB holds from the worker, the PID
 * whose /proc/<pid>/net shows its namespace's FIB, and the routing protocol its kernel
 * routes carry.
 */
import { readFileSync } from 'node:fs';
import { startBird, startFrr, birdProtocolName, type Bird, type Frr, type Netns } from '../../test/lab/harness/index.js';

export type TorKind = 'frr' | 'bird';

export interface TorOptions {
  readonly asn: number;
  readonly routerId: string;
  readonly peer: string;
  readonly peerAsn: number;
  /** Install learned routes into the kernel (default true). */
  readonly installRoutes?: boolean;
  /** Put before each daemon's command (bench/lib/cpu.ts servicePrefix: a session and a priority of its own). */
  readonly spawnPrefix?: readonly string[];
}

export interface Tor {
  readonly kind: TorKind;
  readonly label: string;
  /** A PID inside the ToR's namespace (zebra for FRR, bird for BIRD). */
  readonly fibPid: number;
  /** The ToR's BGP and FIB-programming processes (for CPU accounting). */
  readonly pids: readonly number[];
  /** `proto` of the routes it installs (`ip route show proto …`). */
  readonly kernelProto: string;
  /** Wall-clock ms when the session to `peer` became Established, or null while it is not. */
  establishedAt(): Promise<number | null>;
  /** Prefixes received and accepted from `peer`, per family. */
  ribCount(): Promise<{ v4: number; v6: number }>;
  stop(): Promise<void>;
}

const HOLD = 90; // generous: keepalives must survive two busy CPUs

export async function startTor(kind: TorKind, ns: Netns, o: TorOptions): Promise<Tor> {
  const neighbors = [{ address: o.peer, asn: o.peerAsn, passive: true }];
  const common = { asn: o.asn, routerId: o.routerId, neighbors, holdTime: HOLD, installRoutes: o.installRoutes ?? true, ...(o.spawnPrefix ? { spawnPrefix: o.spawnPrefix } : {}) };
  return kind === 'frr' ? frrTor(await startFrr(ns, common), o.peer) : birdTor(await startBird(ns, { ...common, extraConfig: 'timeformat protocol iso long ms;' }), o.peer);
}

function frrTor(frr: Frr, peer: string): Tor {
  const zebraPid = readPid(`${frr.dir}/zebra.pid`);
  return {
    kind: 'frr',
    label: 'FRR',
    fibPid: zebraPid,
    pids: [zebraPid, readPid(`${frr.dir}/bgpd.pid`)],
    kernelProto: 'bgp',
    async establishedAt() {
      const sent = Date.now();
      const j = await frr.json<Record<string, { bgpState?: string; bgpTimerUpMsec?: number }>>(`show bgp neighbors ${peer} json`);
      const n = j[peer];
      if (n?.bgpState !== 'Established' || typeof n.bgpTimerUpMsec !== 'number') return null;
      return Math.round((sent + Date.now()) / 2) - n.bgpTimerUpMsec;
    },
    async ribCount() {
      type Sum = Record<string, { peers?: Record<string, { pfxRcd?: number }> }>;
      const s = await frr.json<Sum>('show bgp summary json');
      return { v4: s.ipv4Unicast?.peers?.[peer]?.pfxRcd ?? 0, v6: s.ipv6Unicast?.peers?.[peer]?.pfxRcd ?? 0 };
    },
    stop: () => frr.stop(),
  };
}

function birdTor(bird: Bird, peer: string): Tor {
  const name = birdProtocolName(peer);
  if (bird.pid === undefined) throw new Error('BIRD has no PID');
  return {
    kind: 'bird',
    label: 'BIRD',
    fibPid: bird.pid,
    pids: [bird.pid],
    kernelProto: 'bird',
    async establishedAt() {
      // With `timeformat protocol iso long ms` the Since column is "YYYY-MM-DD HH:MM:SS.mmm" (local time).
      const out = await bird.birdc(`show protocols ${name}`);
      const m = new RegExp(`^${name}\\s+BGP\\s+\\S+\\s+up\\s+(\\d{4}-\\d\\d-\\d\\d) (\\d\\d:\\d\\d:\\d\\d\\.\\d{3})\\s+Established`, 'm').exec(out);
      if (!m) return null;
      return new Date(`${m[1]}T${m[2]}`).getTime();
    },
    async ribCount() {
      return birdImported(await bird.birdc(`show protocols all ${name}`));
    },
    stop: () => bird.stop(),
  };
}

/** Imported route counts per channel from BIRD's `show protocols all NAME`. */
export function birdImported(text: string): { v4: number; v6: number } {
  const res = { v4: 0, v6: 0 };
  let ch: 'v4' | 'v6' | null = null;
  for (const line of text.split('\n')) {
    const c = /^\s+Channel (ipv4|ipv6)/.exec(line);
    if (c) ch = c[1] === 'ipv4' ? 'v4' : 'v6';
    const r = /^\s+Routes:\s+(\d+) imported/.exec(line);
    if (r && ch) res[ch] = Number(r[1]);
  }
  return res;
}

/** The PID a daemon wrote at start (startFrr returns only after both daemons answer). */
function readPid(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no PID in ${file}`);
  return pid;
}
