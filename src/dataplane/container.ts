/**
 * The container side, configured from inside the container's network namespace.
 *
 * A netlink socket talks to the namespace it was created in, and Node cannot setns(2)
 * (and must not: the agent's own thread would leave the worker namespace). So the
 * container side is one short-lived helper per container:
 *   nsenter --net=<netns> sh -c '<script>'   (absolute paths, C locale: findHelperTools)
 * started as soon as the container is known, before its address is allocated and its
 * veth exists: by the time the veth is there, the helper is already inside the namespace,
 * usually with `ip -batch` running and waiting on stdin, so its start-up is off the
 * critical path (containerScript says what it is told, and when). One process per container,
 * never one per route; the per-route hot path (host routes) stays on the agent's own
 * netlink socket. IPv6 sysctls cannot be set over netlink, and /proc/sys/net always shows
 * the namespace of the process that opens it (not that of /proc/<pid>/…), hence the
 * shell inside the namespace.
 *
 * What it sets (Calico's layout; see docs/design.md "Decisions"):
 *   eth0 up; the /32; 169.254.1.1 on-link; default via 169.254.1.1 — the host veth
 *   answers ARP for 169.254.1.1 by proxy ARP, so no address is needed on the host side.
 *   IPv6: disable_ipv6=0 (`--net none` Docker containers start with `all` and `default`
 *   at 1) once the addresses are allocated — nothing is changed in a container whose
 *   allocation fails. Writing `all` sets `default` too and every interface that exists,
 *   so the veth's end has IPv6 on whether it was created before or after; where `all`
 *   was on already and only `default` was off, the interface's own is switched on once
 *   it exists. The /128 with nodad (no duplicate can exist: IPAM owns it);
 *   default via the host veth's link-local address, which is fixed.
 *   Each sysctl is read first and written only when it differs: writing disable_ipv6
 *   takes the kernel's rtnl lock, busy-retrying while others hold it.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { ContainerSide } from './kernel.js';

export const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

const disableIpv6 = (c: string): string => `/proc/sys/net/ipv6/conf/${c}/disable_ipv6`;
/**
 * Sets a sysctl file ($1 in a shell function) to 0 unless it already is, and then notes
 * that it changed something. `read` fails at the end of the file: /proc/sys answers a read
 * at a non-zero offset (the shell reads one byte at a time) with end-of-file, before the
 * newline.
 */
const ZERO = 'zero() { v=; read -r v < "$1" || :; [ "$v" = 0 ] || { echo 0 > "$1"; changed=1; }; }';

/**
 * The helper's script. Its stdin:
 *   "<4|6>"         as soon as the addresses are allocated: with 6, IPv6 is switched on in
 *                   the namespace. `all` first: writing it switches on `default` and every
 *                   interface there is, so the veth's end has IPv6 on whenever it is
 *                   created, and `ip -batch` starts at once (Docker's case). Only if `all`
 *                   was on already and `default` had to be switched on may an end created
 *                   before have IPv6 off: then the shell waits for the interface line.
 *   "# <ifname>"    once the veth exists. When the shell waits for it (above), it switches
 *                   the interface's own on and then starts `ip`; otherwise `ip`, already
 *                   running, reads it as a comment. No answer is needed: the agent sends
 *                   the same either way.
 *   the `ip -batch` input.
 * A stdin closed early (cancelled) exits 0 having changed nothing more: before the first
 * line, before the interface line, or as an `ip -batch` given no command. The interface
 * name is checked against IFNAME_RE before it is written.
 */
export function containerScript(ip = 'ip'): string {
  return [
    'set -e',
    ZERO,
    'changed=0',
    'read -r early || exit 0',
    `if [ "$early" = 6 ]; then zero ${disableIpv6('all')}; if [ "$changed" = 1 ]; then changed=0; else zero ${disableIpv6('default')}; fi; fi`,
    `if [ "$changed" = 1 ]; then read -r dev || exit 0; dev=\${dev#"# "}; zero ${disableIpv6('"$dev"')}; fi`,
    `exec ${ip} -batch -`,
  ].join('\n');
}
export const CONTAINER_SCRIPT = containerScript();

/** The helper's first line: which families the endpoint has. */
export function containerEarly(opts: { readonly ipv6: boolean }): string {
  return opts.ipv6 ? '6\n' : '4\n';
}

/** The interface line, read by the shell or as a comment by `ip -batch` (see containerScript). */
export function containerDevLine(side: ContainerSide): string {
  if (!IFNAME_RE.test(side.ifName)) throw new RangeError(`not an interface name: ${JSON.stringify(side.ifName)}`);
  return `# ${side.ifName}\n`;
}

/** `ip -batch` input. */
export function containerBatch(side: ContainerSide): string {
  const dev = side.ifName;
  const lines = [`link set dev ${dev} up`];
  if (side.ipv4 !== undefined) {
    lines.push(
      `address add ${side.ipv4}/32 dev ${dev}`,
      `route add ${side.gateway4}/32 dev ${dev} scope link`,
      `route add 0.0.0.0/0 via ${side.gateway4} dev ${dev}`,
    );
  }
  if (side.ipv6 !== undefined) {
    lines.push(`address add ${side.ipv6}/128 dev ${dev} nodad`, `route add ::/0 via ${side.gateway6} dev ${dev}`);
  }
  return lines.join('\n') + '\n';
}

export interface HelperTools {
  readonly nsenter: string;
  readonly sh: string;
  readonly ip: string;
}

export function nsenterArgv(netnsPath: string, tools: HelperTools = { nsenter: 'nsenter', sh: 'sh', ip: 'ip' }): string[] {
  return [tools.nsenter, `--net=${netnsPath}`, '--', tools.sh, '-c', containerScript(tools.ip)];
}

/**
 * A spare helper (launcher.ts), started before its container is known: it waits for the
 * namespace's path on its first line, then becomes nsenterArgv's helper.
 */
const SPARE_WRAPPER = 'read -r ns || exit 0; exec "$0" --net="$ns" -- "$1" -c "$2"';

export function spareArgv(tools: HelperTools): string[] {
  return [tools.sh, '-c', SPARE_WRAPPER, tools.nsenter, tools.sh, containerScript(tools.ip)];
}

/** What makes a spare into the helper for `netnsPath`; undefined for a path a line cannot carry. */
export function spareFirstLine(netnsPath: string): string | undefined {
  return /[\n\r]/.test(netnsPath) ? undefined : `${netnsPath}\n`;
}

const SAFE_PATH = /^\/[A-Za-z0-9._/+-]*$/;

/**
 * The helper's three programs as absolute paths, looked up on PATH once: a bare name makes
 * every helper search PATH again, one failed execve(2) per directory before the right one,
 * twice (nsenter, then sh) while the agent waits for its child's exec. A name that is not
 * found, or whose path the script could not carry as it is, stays bare.
 */
export function findHelperTools(path = process.env.PATH ?? ''): HelperTools {
  const find = (name: string): string => {
    for (const dir of path.split(':')) {
      if (!dir.startsWith('/')) continue;
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        if (SAFE_PATH.test(p)) return p;
      } catch {
        /* not here */
      }
    }
    return name;
  };
  return { nsenter: find('nsenter'), sh: find('sh'), ip: find('ip') };
}

/**
 * The helper's environment: the agent's PATH and the C locale, nothing else. With a
 * UTF-8 LANG, nsenter, sh and ip each load locale files at start (tens of system calls).
 */
export function helperEnv(path = process.env.PATH ?? ''): Record<string, string> {
  return { PATH: path, LC_ALL: 'C' };
}
