/**
 * BIRD on a worker configured the way Calico's calico-node configures it (its confd
 * template for bird.cfg, translated to BIRD 2 syntax): a kernel protocol that learns the
 * host routes Felix programs (`learn; scan time 2;` — routes added by another program,
 * picked up from netlink notifications as they happen, with the 2 s scan as a backstop),
 * `persist`, `graceful restart`, `merge paths on`; a device protocol with scan time 2; a
 * direct protocol that skips the workload interfaces; and a BGP session to the ToR that
 * exports the pool's routes with `next hop self`. Nothing learned is written back to the
 * kernel (the worker's default route is static in this benchmark). With `ipv6`, the same
 * for the workloads' /128s.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_NICE } from '../../src/priority.js';
import { exec, waitFor, type Netns } from '../../test/lab/harness/index.js';
import { asService } from '../lib/cpu.js';

export interface CalicoBirdOptions {
  readonly routerId: string;
  readonly asn: number;
  readonly tor: string;
  readonly torAsn: number;
  /** Calico's IP pools: only routes inside them are exported. */
  readonly pools: readonly string[];
  /** Workload interface name pattern (Calico: "cali*"). */
  readonly ifPattern: string;
  /**
   * Also learn and export the workloads' IPv6 /128s from these pools, with this next hop
   * (the worker's global IPv6 address on the fabric): on the same session, as an
   * MP-BGP IPv6 channel, the way routectl carries both families (calico-node runs a
   * second daemon, bird6, with a session of its own over IPv6).
   */
  readonly ipv6?: { readonly pools: readonly string[]; readonly nextHop: string };
}

export function calicoBirdConfig(o: CalicoBirdOptions, logFile: string): string {
  const pools = o.pools.map((p) => `${p}{${p.split('/')[1]},32}`).join(', ');
  const v6 = o.ipv6;
  const pools6 = v6?.pools.map((p) => `${p}{${p.split('/')[1]},128}`).join(', ');
  const ipv6Filter = v6 === undefined ? '' : `
filter calico_export_to_bgp_peers_v6 {
  if ( net ~ [ ${pools6} ] ) then accept;
  reject;
}
`;
  const ipv6Parts = v6 === undefined ? '' : `
protocol kernel kernel6 {
  ipv6 { import all; export filter calico_kernel_programming; };
  learn;
  persist;
  scan time 2;
  graceful restart;
  merge paths on;
}

protocol direct direct6 {
  ipv6;
  interface -"${o.ifPattern}", "*";
}
`;
  const ipv6Channel = v6 === undefined ? '' : `
  ipv6 { import all; export filter calico_export_to_bgp_peers_v6; next hop address ${v6.nextHop}; };`;
  return `log "${logFile}" all;
router id ${o.routerId};
timeformat protocol iso long ms;

filter calico_export_to_bgp_peers {
  if ( net ~ [ ${pools} ] ) then accept;
  reject;
}
filter calico_kernel_programming {
  reject;
}
${ipv6Filter}
protocol kernel {
  ipv4 { import all; export filter calico_kernel_programming; };
  learn;             # learn all alternate routes (the host routes Felix writes)
  persist;           # do not remove routes on BIRD shutdown
  scan time 2;       # scan the kernel routing table every 2 seconds
  graceful restart;
  merge paths on;
}

protocol device {
  scan time 2;
}

protocol direct {
  ipv4;
  interface -"${o.ifPattern}", "*";
}

protocol bgp tor {
  local as ${o.asn};
  neighbor ${o.tor} as ${o.torAsn};
  hold time 90;
  connect retry time 2;
  ipv4 { import all; export filter calico_export_to_bgp_peers; next hop self; };${ipv6Channel}
}
${ipv6Parts}`;
}

/** Start BIRD (foreground, tracked by the lab) with that configuration; resolves once its BGP session is Established. */
export async function startCalicoBird(ns: Netns, o: CalicoBirdOptions): Promise<{ sock: string }> {
  const dir = join(ns.lab.dir, `${ns.name}-calico-bird`);
  await exec(['mkdir', '-p', dir]);
  const conf = join(dir, 'bird.conf');
  const sock = join(dir, 'bird.ctl');
  writeFileSync(conf, calicoBirdConfig(o, join(dir, 'bird.log')));
  // At the agent's priority (its default nice, for the process and its session): the two
  // speakers compete for the same CPUs on the same terms.
  ns.spawn(asService(['bird', '-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], DEFAULT_NICE), { log: `${ns.name}-calico-bird.log` });
  await waitFor(
    async () => /^tor\s+BGP\s+\S+\s+up\s+.*Established/m.test((await exec(['birdc', '-s', sock, 'show', 'protocols'])).stdout),
    { what: `Calico-style BIRD in ${ns.name} Established with ${o.tor}`, timeoutMs: 30_000, intervalMs: 100 },
  );
  return { sock };
}
