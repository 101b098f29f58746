/**
 * The dataplane as a child process for the lab tests: started inside the worker namespace
 * (`ip netns exec <worker> node <bundle>`), it drives a real Dataplane over NetlinkKernel
 * and takes commands as JSON lines on stdin: {id, op, arg} -> {id, ok, result | error}.
 * With `watch`, drift reports arrive unasked as {event: "drift", report}.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Dataplane, NetlinkKernel, type ApplyReport } from '../../../src/dataplane/index.js';
import type { EndpointPlumbing } from '../../../src/dataplane/plumbing.js';
import { parseAddress } from '../../../src/net.js';

/** An address as a hex number of its family's width (network order), via the project's parser. */
function hexOf(a: string): string {
  const p = parseAddress(a);
  if (p === null) throw new Error(`not an address: ${a}`);
  return p.value.toString(16).padStart(p.family === 4 ? 8 : 32, '0');
}
/** /proc/net/route's Destination column: the IPv4 address in host (little-endian) byte order. */
const procRoute4 = (a: string): string => (hexOf(a).match(/../g) ?? []).reverse().join('').toUpperCase();
/** /proc/net/ipv6_route's destination column: the 128 bits in hex, network order. */
const procRoute6 = hexOf;
/** Whether the kernel's FIB holds the endpoint's host routes right now (read synchronously). */
function inFib(e: EndpointPlumbing): { ipv4: boolean; ipv6: boolean } {
  const v4 = readFileSync('/proc/net/route', 'utf8');
  const v6 = readFileSync('/proc/net/ipv6_route', 'utf8');
  return {
    ipv4: e.ipv4 === undefined || v4.split('\n').some((l) => l.startsWith(`${e.hostIfName}\t${procRoute4(e.ipv4!)}\t`)),
    ipv6: e.ipv6 === undefined || v6.split('\n').some((l) => l.startsWith(`${procRoute6(e.ipv6!)} 80 `) && l.trim().endsWith(e.hostIfName)),
  };
}

const kernel = new NetlinkKernel();
const dp = new Dataplane(kernel, { driftDebounceMs: 10 });
let stopWatch: (() => void) | undefined;

const send = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};
const plainReport = (r: ApplyReport) => ({ ...r, errors: r.errors.map((e) => ({ ...e, error: e.error.message })) });

type Cmd = { id: number; op: string; arg?: unknown };
const ops: Record<string, (arg: any) => Promise<unknown> | unknown> = {
  setDesired: (eps) => dp.setDesired(eps),
  setBlackholes: (p) => dp.setBlackholes(p),
  apply: async () => plainReport(await dp.apply()),
  add: (e) => dp.addEndpoint(e),
  /** As the agent adds a container: its helper (and namespace) prepared first. */
  addPrepared: (e: EndpointPlumbing) => dp.addEndpoint(e, dp.prepareContainer(e.containerNetns)),
  /** A container prepared for, then given up (it died before its addresses were chosen). */
  prepareAndCancel: (netns: EndpointPlumbing['containerNetns']) => void dp.prepareContainer(netns).cancel(),
  /**
   * How many network namespaces this process holds open: fds that are `net:[…]` (opened
   * as /proc/<pid>/ns/net) or a bind mount under /run/netns (shown by its path).
   */
  netnsFds: () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        const l = readlinkSync(`/proc/self/fd/${fd}`);
        return l.startsWith('net:[') || l.startsWith('/run/netns/') || l.startsWith('/var/run/netns/');
      } catch {
        return false; // the fd of the directory listing itself, closed by now
      }
    }).length,
  /** Kernel.settleLink on a host veth, by name: the links it reached. */
  settle: async (name: string) => {
    const link = await kernel.getLink(name);
    if (!link) throw new Error(`no link ${name}`);
    return kernel.settleLink(link.index);
  },
  /**
   * Plumbs these endpoints all at once, and reports, for each, whether its host routes were
   * in the kernel's FIB at the moment the dataplane said they were sent (when the agent
   * advertises them).
   */
  addAllCheckingSent: async (list: EndpointPlumbing[]) => {
    const seen: Record<string, { ipv4: boolean; ipv6: boolean } | null> = {};
    await Promise.all(list.map((e) => {
      seen[e.id] = null;
      const add = dp.addEndpoint(e);
      void add.routesSent.then(() => void (seen[e.id] = inFib(e)));
      return add;
    }));
    return seen;
  },
  remove: (id) => dp.removeEndpoint(id),
  listOwn: () => dp.listOwn(),
  watch: () => {
    stopWatch ??= dp.watch(
      (r) => send({ event: 'drift', report: plainReport(r) }),
      (err) => send({ event: 'driftError', error: err.message }),
    );
  },
  exit: () => {
    stopWatch?.();
    kernel.close();
    setImmediate(() => process.exit(0));
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as Cmd;
  const fn = ops[cmd.op];
  try {
    if (!fn) throw new Error(`unknown op ${cmd.op}`);
    send({ id: cmd.id, ok: true, result: (await fn(cmd.arg)) ?? null });
  } catch (err) {
    const e = err as Error;
    send({ id: cmd.id, ok: false, error: `${e.message}${e.cause instanceof Error ? ` <- ${e.cause.message}` : ''}` });
  }
}
