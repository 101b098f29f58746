/**
 * Dataplane against the real kernel, in throwaway namespaces (rtc-dp-*):
 *
 *   tor ──fab0── worker ──rtc…/eth0── c1, c2, c3 (and a few for failure cases)
 *   203.0.113.1/30   .2/30
 *
 * How the agent runs inside the worker namespace: Node cannot setns(), and the dataplane
 * must run with the worker as its own namespace (it writes forwarding sysctls there, and
 * `/proc/sys/net` follows the opener). So the test bundles test/src/dataplane/lab-agent.ts
 * (a small JSON-lines driver around Dataplane + NetlinkKernel) with rolldown into one .mjs
 * and starts it as `ip netns exec <worker> node <bundle>`; the test process itself stays
 * in the root namespace, builds the lab with `ip`, sends commands, and checks the kernel
 * with `ip -n` and pings from the tor namespace (`busybox ping`). Nothing touches the
 * root namespace; every namespace and process is removed in afterAll, also on failure.
 *
 * The tor has routes to the containers via the worker, and the worker a default route via
 * the tor: proxy ARP for 169.254.1.1 answers only where the worker has a route to it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readlinkSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, run } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { bundleEntry } from '../src/store/child-bundle.js';
import { hostIfNameFor, type EndpointPlumbing } from '../../src/dataplane/plumbing.js';

const sfx = randomBytes(2).toString('hex');
const W = `rtc-dp-w${sfx}`;
const T = `rtc-dp-t${sfx}`;
const C = (n: number | string): string => `rtc-dp-c${n}${sfx}`;
const BURST = 6;
const burstNs = Array.from({ length: BURST }, (_, i) => C(`b${i}`));
const namespaces = [W, T, C(1), C(2), C(3), C('bad'), ...burstNs];
const ids = [1, 2, 3].map((n) => `${n}${sfx}0c0ffee${n}`.padEnd(16, '0'));

let agent: ChildProcessWithoutNullStreams | undefined;
let sleeper: ChildProcessWithoutNullStreams | undefined;
let bundle = '';
const pending = new Map<number, (m: { ok: boolean; result?: unknown; error?: string }) => void>();
const drift: unknown[] = [];
let seq = 0;

function call<T = unknown>(op: string, arg?: unknown): Promise<T> {
  const id = ++seq;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, (m) => (m.ok ? resolve(m.result as T) : reject(new Error(m.error))));
    agent!.stdin.write(JSON.stringify({ id, op, arg }) + '\n');
  });
}

const ipn = (ns: string, args: string): Promise<string> => run(['ip', '-n', ns, ...args.split(' ')]);
const nsx = (ns: string, args: string[]): Promise<string> => run(['ip', 'netns', 'exec', ns, ...args]);
const ping = async (addr: string): Promise<boolean> =>
  (await exec(['ip', 'netns', 'exec', T, 'busybox', addr.includes(':') ? 'ping6' : 'ping', '-c', '1', '-W', '1', addr])).code === 0;
const ownRoutes = async (): Promise<string> =>
  (await ipn(W, 'route show proto 88')) + (await ipn(W, '-6 route show proto 88'));

function endpoint(n: number, netns: EndpointPlumbing['containerNetns']): EndpointPlumbing {
  const id = ids[n - 1]!;
  return {
    id,
    hostIfName: hostIfNameFor(id),
    containerNetns: netns,
    ifName: 'eth0',
    ipv4: `198.51.100.${10 + n}`,
    ipv6: `2001:db8:c:1::${10 + n}`,
  };
}
let eps: EndpointPlumbing[] = [];

beforeAll(async () => {
  bundle = await bundleEntry(join(import.meta.dirname, '../src/dataplane/lab-agent.ts'), ['netlink']);
  for (const ns of namespaces) {
    await run(['ip', 'netns', 'add', ns]);
    await ipn(ns, 'link set lo up');
  }
  // Fabric link; its name must not start with rtc (that prefix is the agent's).
  await run(['ip', '-n', W, 'link', 'add', 'fab0', 'type', 'veth', 'peer', 'name', 'fab0', 'netns', T]);
  await ipn(T, 'addr add 203.0.113.1/30 dev fab0');
  await ipn(W, 'addr add 203.0.113.2/30 dev fab0');
  await ipn(T, 'addr add 2001:db8:ffff::1/64 dev fab0 nodad');
  await ipn(W, 'addr add 2001:db8:ffff::2/64 dev fab0 nodad');
  await ipn(T, 'link set fab0 up');
  await ipn(W, 'link set fab0 up');
  await ipn(W, 'route add default via 203.0.113.1');
  await ipn(W, '-6 route add default via 2001:db8:ffff::1');
  await ipn(T, 'route add 198.51.100.0/24 via 203.0.113.2');
  await ipn(T, '-6 route add 2001:db8:c::/48 via 2001:db8:ffff::2');
  // Routes that are not ours, inside what the agent manages: never to be touched.
  await ipn(W, 'route add 198.51.100.200/32 dev fab0 proto static');
  await ipn(W, 'route add 198.51.100.201/32 via 203.0.113.1 proto boot');
  await ipn(W, '-6 route add 2001:db8:c:1::200/128 dev fab0 proto static');
  // c2 starts with IPv6 off, as Docker's `--net none` containers do: the agent turns it on.
  for (const k of ['all', 'default']) await run(['ip', 'netns', 'exec', C(2), 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  // c3 is found by the pid of a process inside it, as a Docker container would be.
  // `ip netns exec` execs the command in place (no fork), so the child's pid is the sleep's;
  // wait until it has entered the namespace.
  sleeper = spawn('ip', ['netns', 'exec', C(3), 'sleep', '600']);
  const sleepPid = sleeper.pid!;
  const c3Inode = statSync(`/var/run/netns/${C(3)}`).ino;
  await waitFor(() => readlinkSync(`/proc/${sleepPid}/ns/net`) === `net:[${c3Inode}]`, { what: 'sleeper inside c3' });
  eps = [endpoint(1, { path: `/var/run/netns/${C(1)}` }), endpoint(2, { path: `/var/run/netns/${C(2)}` }), endpoint(3, { pid: sleepPid })];

  agent = spawn('ip', ['netns', 'exec', W, process.execPath, bundle], { stdio: ['pipe', 'pipe', 'pipe'] });
  agent.stderr.on('data', (d: Buffer) => process.stderr.write(`[agent] ${d.toString()}`));
  createInterface({ input: agent.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as { id?: number; event?: string; ok: boolean };
    if (m.event) drift.push(m);
    else if (m.id !== undefined) {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }
  });
});

afterAll(async () => {
  if (agent?.exitCode === null) {
    await call('exit').catch(() => undefined);
    if (agent.exitCode === null && agent.pid) agent.kill('SIGKILL');
  }
  if (sleeper?.pid) sleeper.kill('SIGKILL');
  for (const ns of namespaces) await exec(['ip', 'netns', 'del', ns]);
  if (bundle) rmSync(dirname(bundle), { recursive: true, force: true });
});

describe('dataplane in network namespaces', () => {
  it('plumbs 3 endpoints; the tor reaches each /32 and /128', async () => {
    for (const e of eps) await call('add', e);
    const own = await call<{ links: { name: string; mac: string; up: boolean }[] }>('listOwn');
    expect(own.links.map((l) => l.name).sort()).toEqual(eps.map((e) => e.hostIfName).sort());
    for (const l of own.links) expect(l).toMatchObject({ mac: 'ee:ee:ee:ee:ee:ee', up: true });
    const routes = await ownRoutes();
    for (const e of eps) {
      expect(routes).toContain(`${e.ipv4} dev ${e.hostIfName} scope link`);
      expect(routes).toContain(`${e.ipv6} dev ${e.hostIfName} metric`);
    }
    // Container side as specified.
    const c1 = await ipn(C(1), 'route show') + (await ipn(C(1), '-6 route show'));
    expect(c1).toMatch(/default via 169\.254\.1\.1 dev eth0/);
    expect(c1).toMatch(/169\.254\.1\.1 dev eth0 scope link/);
    expect(c1).toMatch(/default via fe80::ecee:eeff:feee:eeee dev eth0/);
    expect((await nsx(W, ['cat', `/proc/sys/net/ipv4/conf/${eps[0]!.hostIfName}/proxy_arp`])).trim()).toBe('1');
    expect((await nsx(W, ['cat', `/proc/sys/net/ipv4/neigh/${eps[0]!.hostIfName}/proxy_delay`])).trim()).toBe('0');
    // The host side's one IPv6 address: the fixed link-local, usable at once (no DAD), and
    // no other generated (addrgenmode none).
    const hostLink = await ipn(W, `-d link show dev ${eps[0]!.hostIfName}`);
    expect(hostLink).toMatch(/addrgenmode none/);
    // One TX and one RX queue per end, asked for at creation (codec.ts encodeNewVeth).
    expect(hostLink).toMatch(/numtxqueues 1 numrxqueues 1 /);
    expect(await ipn(C(1), '-d link show dev eth0')).toMatch(/numtxqueues 1 numrxqueues 1 /);
    const v6 = await ipn(W, `-6 addr show dev ${eps[0]!.hostIfName}`);
    expect(v6.match(/inet6 \S+/g)).toEqual(['inet6 fe80::ecee:eeff:feee:eeee/64']);
    expect(v6).not.toMatch(/tentative/);
    // Settling a veth reaches both ends: the host end, and the container's through the
    // host end's peer index and namespace id (RTM_GETLINK runs the link watch for each).
    for (const e of eps) expect(await call('settle', e.hostIfName)).toEqual([e.hostIfName, 'eth0']);
    // The container that had IPv6 off has it on for its eth0.
    expect((await nsx(C(2), ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).trim()).toBe('0');
    expect((await nsx(W, ['cat', '/proc/sys/net/ipv4/ip_forward'])).trim()).toBe('1');
    expect((await nsx(W, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).trim()).toBe('1');
    for (const e of eps) {
      await waitFor(() => ping(e.ipv4!), { what: `ping ${e.ipv4} from the tor`, timeoutMs: 10_000 });
      await waitFor(() => ping(e.ipv6!), { what: `ping6 ${e.ipv6} from the tor`, timeoutMs: 10_000 });
    }
  });

  it('a host route deleted by hand comes back (netlink notification -> reconcile)', async () => {
    await call('setDesired', eps);
    await call('watch');
    await ipn(W, `route del ${eps[1]!.ipv4}/32`);
    await ipn(W, `-6 route del ${eps[1]!.ipv6}/128`);
    await waitFor(async () => {
      const r = await ownRoutes();
      return r.includes(`${eps[1]!.ipv4} dev`) && r.includes(`${eps[1]!.ipv6} dev`);
    }, { what: 'deleted host routes restored', timeoutMs: 5_000 });
    expect(drift.length).toBeGreaterThan(0);
    expect(await ping(eps[1]!.ipv4!)).toBe(true);
  });

  it('a veth deleted by hand comes back, container side included', async () => {
    await ipn(W, `link del ${eps[0]!.hostIfName}`);
    await waitFor(async () => (await ownRoutes()).includes(`${eps[0]!.ipv4} dev ${eps[0]!.hostIfName}`), {
      what: 'veth and routes recreated',
      timeoutMs: 5_000,
    });
    await waitFor(() => ping(eps[0]!.ipv4!), { what: 'ping after veth repair', timeoutMs: 10_000 });
    await waitFor(() => ping(eps[0]!.ipv6!), { what: 'ping6 after veth repair', timeoutMs: 10_000 });
  });

  it('own orphans are removed, routes that are not ours stay', async () => {
    drift.length = 0;
    await run(['ip', '-n', W, 'link', 'add', 'rtcdeadbeef000', 'type', 'veth', 'peer', 'name', 'tmp0']);
    await ipn(W, 'route add 198.51.100.99/32 dev fab0 proto 88 scope link');
    // The watch sees both appear (notifications) and its reconcile removes them; an explicit
    // apply afterwards finds nothing left to do.
    await waitFor(async () => !(await ipn(W, 'link show')).includes('rtcdeadbeef000') && !(await ownRoutes()).includes('198.51.100.99'), {
      what: 'orphan link and route removed',
      timeoutMs: 5_000,
    });
    const reports = drift.map((d) => JSON.stringify(d)).join('\n');
    expect(reports).toContain('rtcdeadbeef000');
    expect(reports).toContain('198.51.100.99/32');
    const report = await call<{ linksDeleted: string[]; routesDeleted: string[]; routesAdded: string[] }>('apply');
    expect(report).toMatchObject({ linksDeleted: [], routesDeleted: [], routesAdded: [] });
    const all = (await ipn(W, 'route show')) + (await ipn(W, '-6 route show'));
    expect(all).toContain('198.51.100.200 dev fab0 proto static');
    expect(await ipn(W, 'route show proto boot')).toContain('198.51.100.201 via 203.0.113.1 dev fab0');
    expect(all).toContain('2001:db8:c:1::200 dev fab0 proto static');
    expect(all).toContain('default via 203.0.113.1 dev fab0');
    expect(all).not.toContain('198.51.100.99');
  });

  it('ADD failing midway rolls back; a gone namespace fails cleanly', async () => {
    // The container already has a default route: the container step fails after the veth exists.
    await ipn(C('bad'), 'route add default dev lo');
    const bad: EndpointPlumbing = { ...endpoint(1, { path: `/var/run/netns/${C('bad')}` }), id: `bad${sfx}`, hostIfName: hostIfNameFor(`bad${sfx}`), ipv4: '198.51.100.50', ipv6: '2001:db8:c:1::50' };
    await expect(call('add', bad)).rejects.toThrow(/File exists|exit/);
    expect(await ipn(W, 'link show')).not.toContain(bad.hostIfName);
    expect(await ipn(C('bad'), 'link show')).not.toContain('eth0');
    expect(await ownRoutes()).not.toContain('198.51.100.50');
    // The /32 is someone else's route (proto static): the host-route step fails with EEXIST
    // (the first message of its batch, so this is the no-ack error path), the veth is
    // rolled back, and the foreign route is not replaced.
    const clash: EndpointPlumbing = { ...bad, id: `clash${sfx}`, hostIfName: hostIfNameFor(`clash${sfx}`), containerNetns: { path: `/var/run/netns/${C('bad')}` }, ipv4: '198.51.100.200' };
    await ipn(C('bad'), 'route del default dev lo');
    await expect(call('add', clash)).rejects.toThrow(/EEXIST/);
    expect(await ipn(W, 'link show')).not.toContain(clash.hostIfName);
    expect(await ipn(W, 'route show 198.51.100.200/32')).toContain('dev fab0 proto static');
    const gone: EndpointPlumbing = { ...bad, id: `gone${sfx}`, hostIfName: hostIfNameFor(`gone${sfx}`), containerNetns: { path: `/var/run/netns/rtc-dp-nope${sfx}` } };
    await expect(call('add', gone)).rejects.toThrow(/ENOENT/);
    expect(await ipn(W, 'link show')).not.toContain(gone.hostIfName);
  });

  it('remove: veth and routes gone, a second remove succeeds, the others still answer', async () => {
    const e = eps[2]!;
    await call('remove', e.id);
    await call('remove', e.id);
    expect(await ipn(W, 'link show')).not.toContain(e.hostIfName);
    const routes = await ownRoutes();
    expect(routes).not.toContain(e.ipv4!);
    expect(routes).not.toContain(e.ipv6!);
    expect(await ping(e.ipv4!)).toBe(false);
    expect(await ping(eps[0]!.ipv4!)).toBe(true);
    // The watch did not resurrect it: it is no longer desired.
    await new Promise((r) => setTimeout(r, 100));
    expect(await ipn(W, 'link show')).not.toContain(e.hostIfName);
  });

  it('added as the agent adds a container (its namespace opened ahead with its helper): plumbed, and no namespace is left open; nor by one given up', async () => {
    const e = eps[2]!; // removed just before
    await call('addPrepared', e);
    expect(await ipn(W, 'link show')).toContain(e.hostIfName);
    await waitFor(() => ping(e.ipv4!), { what: `ping ${e.ipv4} from the tor`, timeoutMs: 10_000 });
    await waitFor(async () => (await call<number>('netnsFds')) === 0, { what: 'no network namespace held open after the add', timeoutMs: 5_000 });
    await call('prepareAndCancel', { path: `/var/run/netns/${C(1)}` });
    await waitFor(async () => (await call<number>('netnsFds')) === 0, { what: 'no network namespace held open after a cancel', timeoutMs: 5_000 });
    await call('remove', e.id);
    expect(await ipn(W, 'link show')).not.toContain(e.hostIfName);
  });

  it('endpoints plumbed at the same moment: each one\'s host routes are in the FIB when it is reported sent (advertised)', async () => {
    const burst = burstNs.map((ns, i) => {
      const id = `b${i}${sfx}0burst`.padEnd(16, '0');
      return { id, hostIfName: hostIfNameFor(id), containerNetns: { path: `/var/run/netns/${ns}` }, ifName: 'eth0', ipv4: `198.51.100.${40 + i}`, ipv6: `2001:db8:c:1::${40 + i}` };
    });
    const seen = await call<Record<string, { ipv4: boolean; ipv6: boolean } | null>>('addAllCheckingSent', burst);
    expect(Object.keys(seen).sort()).toEqual(burst.map((e) => e.id).sort());
    for (const e of burst) expect(seen[e.id], e.id).toEqual({ ipv4: true, ipv6: true });
    // And the check itself sees what `ip` sees.
    const routes = await ownRoutes();
    for (const e of burst) expect(routes).toContain(`${e.ipv4} dev ${e.hostIfName}`);
    for (const e of burst) await call('remove', e.id);
  });

  it('blackholes for aggregated blocks carry proto 88', async () => {
    await call('setBlackholes', ['198.51.100.0/26', '2001:db8:c:1::/122']);
    await call('apply');
    const r = await ownRoutes();
    // `ip route show proto 88` lists only proto-88 routes (and so does not print the proto).
    expect(r).toContain('blackhole 198.51.100.0/26');
    expect(r).toContain('blackhole 2001:db8:c:1::/122 dev lo');
    expect(await ping(eps[0]!.ipv4!)).toBe(true); // the /32 still wins over the block
  });
});
