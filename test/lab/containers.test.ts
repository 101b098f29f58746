/**
 * Containers get routed, end to end, with a real dockerd and a real FRR ToR:
 *
 *   tor (FRR, AS 65000, listen range, default-originate v4+v6)
 *    │ fab0 203.0.113.1/30 2001:db8:ffff::1/64
 *    │ fab0 203.0.113.2/30 2001:db8:ffff::2/64
 *   w (dockerd --live-restore, the built `routectl agent`, AS 65001)
 *    ├─ rtc…/eth0 ─ c1   each container: `docker run --net none --label routectl.zone=app
 *    ├─ rtc…/eth0 ─ c2   rtc-bb httpd -f -p 80`
 *    └─ rtc…/eth0 ─ c3
 *
 * The agent runs inside the worker namespace (`ip netns exec`, test/lab/agent-helper.ts).
 * It advertises but does not install what it learns, so the worker's own default routes
 * (which proxy ARP for 169.254.1.1 needs, docs/lab.md) are static routes towards the ToR.
 *
 * Shows, each step asserted: three containers reachable from the ToR over IPv4 and IPv6
 * (ping, and an HTTP GET over TCP with busybox nc); one stopped → route gone from the
 * ToR, host routes, veth and allocation gone; the agent SIGKILLed, a container removed
 * and another started meanwhile, the agent restarted → orphan cleaned, the new one wired,
 * the others reachable; dockerd restarted → resync with no duplicates; a host route
 * deleted by hand → restored. With the three containers ready, `endpoints`, `inspect c1`
 * and `routes --kernel/--received` (human and JSON) are compared with golden files.
 * Timings (docker start → runtime add → routed+advertised → ToR FIB) are printed from
 * the agent's log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointEntry, InspectResponse } from '../../src/api/types.js';
import { expectGolden, maskJson, OPEN_APP_ZONE, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startDockerd, BUSYBOX_IMAGE, type Dockerd } from './harness/docker.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { endpointsOf, fibPrefixes, httpGet, ownState, ping as pingFrom } from './views.js';

const TOR4 = '203.0.113.1';
const W4 = '203.0.113.2';
const TOR6 = '2001:db8:ffff::1';
const W6 = '2001:db8:ffff::2';

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;

const config: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000 }],
  import: ['0.0.0.0/0', '::/0'],
  extra: {
    ...OPEN_APP_ZONE,
    // Set per test run once dockerd's socket is known.
    runtime: {},
  },
};

interface Ctr {
  name: string;
  id: string;
  ipv4: string;
  ipv6: string;
  hostVeth: string;
}
const ctrs = new Map<string, Ctr>();

const endpoints = (): Promise<EndpointEntry[]> => endpointsOf(agent!);

const torRoutes = (): Promise<Set<string>> => fibPrefixes(tor);

const workerOwn = (): Promise<{ routes: string[]; links: string[] }> => ownState(w);

const ping = (addr: string): Promise<boolean> => pingFrom(tor, addr);

const http = (addr: string): Promise<string> => httpGet(tor, addr);

async function reachable(c: Ctr): Promise<void> {
  for (const a of [c.ipv4, c.ipv6]) {
    expect(await waitFor(() => ping(a), { what: `ping ${c.name} at ${a} from the ToR`, timeoutMs: 10_000, intervalMs: 200 }), a).toBe(true);
    expect(await http(a), `HTTP to ${c.name} at ${a}`).toBe('rtc');
  }
}

function ipamEndpoints(): Record<string, { ipv4?: string; ipv6?: string }> {
  const doc = JSON.parse(readFileSync(join(agent!.dir, 'store', 'ipam.json'), 'utf8')) as {
    entries: Record<string, { v: { endpoints: Record<string, { ipv4?: string; ipv6?: string }> } }>;
  };
  const host = doc.entries['ipam/hosts/w1'];
  if (!host) throw new Error('no IPAM document for w1 in the store');
  return host.v.endpoints;
}

async function runContainer(name: string): Promise<string> {
  return dockerd!.runContainer(['--net', 'none', '--name', name, '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
}

async function waitReady(name: string): Promise<Ctr> {
  const e = await waitFor(async () => (await endpoints()).find((x) => x.name === name && x.state === 'ready'), {
    what: `${name} ready in routectl endpoints`,
    timeoutMs: 20_000,
    intervalMs: 100,
    diagnostics: () => agent!.logTail(),
  });
  const c = { name, id: e.id, ipv4: e.ipv4!, ipv6: e.ipv6!, hostVeth: e.hostVeth! };
  ctrs.set(name, c);
  return c;
}

const logsOf = (event: string, name?: string) =>
  agent!.logLines().filter((l) => l.event === event && (name === undefined || l.name === name || (l as { container?: string }).container === ctrs.get(name)?.id));

/**
 * Volatile fields of the container views, for golden files: the lab directory, times,
 * container ids (full or short) and the hex host veth names made from them, the
 * container's eth0 MAC (random per container; the host side's fixed ee:ee:ee:ee:ee:ee
 * stays), pids (`PID:` in inspect) and the ToR's IPv6 link-local next hop. Addresses
 * stay: the pools hand them out in order, c1 first; so does the host veth's fixed
 * fe80::ecee:eeff:feee:eeee gateway.
 */
function maskCtr(s: string): string {
  return s
    .split(agent!.dir)
    .join('<DIR>')
    .replace(/\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<TIME>')
    .replace(/\brtc[0-9a-f]{11}\b/g, 'rtc<ID>')
    .replace(/\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b/g, '<ID>')
    .replace(/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/g, (m) => (m === 'ee:ee:ee:ee:ee:ee' ? m : '<MAC>'))
    .replace(/^(PID:\s+)\d+$/m, '$1<PID>')
    .replace(/fe80::[0-9a-f:]+/g, (m) => (m === 'fe80::ecee:eeff:feee:eeee' ? m : '<LINK-LOCAL>'));
}
/** Human tables: also the column padding, which follows the masked values' widths. */
const maskTable = (s: string): string => maskCtr(s).replace(/ {2,}/g, '  ');
const CTR_JSON_MASK = { id: '<ID>', pid: '<PID>', hwaddr: '<MAC>', since: '<TIME>' };

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('tor');
  w = await lab.netns('w');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, `${TOR6}/64`], bAddr: [`${W4}/30`, `${W6}/64`] });
  await w.addRoute('default', { via: TOR4 });
  await w.addRoute('default', { via: TOR6 });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, listenRange: '203.0.113.0/26', listenDefaultOriginate: true });
  dockerd = await startDockerd(w, { liveRestore: true });
  await dockerd.importBusybox();
  (config.extra as { runtime: unknown }).runtime = { docker: { socket: dockerd.sock }, reconcileInterval: 5 };
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
});

afterAll(async () => {
  try {
    if (agent?.running) await agent.stop().catch(() => undefined);
    await dockerd?.cleanup();
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
});

describe('containers routed by the agent (real dockerd, FRR ToR)', () => {
  it('three containers started → each reachable from the ToR over IPv4 and IPv6 (ping and TCP)', async () => {
    // One at a time, so each container's path to the ToR FIB is timed on its own.
    const timings: string[] = [];
    for (const n of ['c1', 'c2', 'c3']) {
      const id = await runContainer(n);
      const startedAt = Date.parse((await dockerd!.docker(['inspect', '--format', '{{.State.StartedAt}}', id])).trim());
      const c = await waitReady(n);
      const torAt = await waitFor(async () => {
        const t = await torRoutes();
        return t.has(`${c.ipv4}/32`) && t.has(`${c.ipv6}/128`) ? Date.now() : undefined;
      }, { what: `${n}'s /32 and /128 in the ToR FIB`, timeoutMs: 15_000, intervalMs: 10, diagnostics: () => agent!.logTail() });
      const add = logsOf('add', n)[0];
      const ready = logsOf('ready', n)[0];
      expect(ready, `ready log line for ${n}`).toBeDefined();
      timings.push(
        `${n}: docker start → runtime add ${add ? Date.parse(add.time) - startedAt : '?'} ms → routed+advertised ${Date.parse(ready!.time) - startedAt} ms ` +
          `(alloc ${String(ready!.allocMs)} / plumb ${String(ready!.plumbMs)} / advertise ${String(ready!.advertiseMs)} ms) → ToR FIB seen ≤ ${torAt - startedAt} ms`,
      );
      expect(c.hostVeth).toBe(`rtc${c.id.slice(0, 11)}`);
    }
    console.log(`timings:\n  ${timings.join('\n  ')}`);
    for (const c of ctrs.values()) await reachable(c);
    // c1's start was inspected and showed where dockerd puts the cgroups; c2's and c3's PIDs
    // were read from theirs (each was inspected at create).
    expect(agent!.logLines().filter((l) => l.event === 'cgroups-found')).toEqual([expect.objectContaining({ where: expect.stringMatching(/\/docker\/<id>$/) })]);
    expect(['c1', 'c2', 'c3'].map((n) => logsOf('add', n)[0]?.pidFrom)).toEqual(['inspect', 'cgroup', 'cgroup']);

    const own = await workerOwn();
    expect(own.links).toEqual([...ctrs.values()].map((c) => c.hostVeth).sort());
    expect(own.routes).toHaveLength(6);
    const status = await agent!.status();
    expect(status.json).toMatchObject({ endpoints: 3, routes: 6 });
    const ins = await agent!.cli<InspectResponse>(['inspect', 'c2', '--json']);
    expect(ins.json).toMatchObject({
      container: { name: 'c2', id: ctrs.get('c2')!.id },
      ipv4: `${ctrs.get('c2')!.ipv4}/32`,
      hostVeth: ctrs.get('c2')!.hostVeth,
      gateway: { ipv4: '169.254.1.1', ipv6: 'fe80::ecee:eeff:feee:eeee' },
      advertisedTo: [TOR4],
    });
    // The container's eth0 carries the MAC inspect reports.
    const pid = (await dockerd!.docker(['inspect', '--format', '{{.State.Pid}}', 'c2'])).trim();
    const link = JSON.parse((await exec(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[];
    expect(link[0]?.address).toBe(ins.json.hwaddr);
  });

  it('three containers ready: endpoints, inspect c1, routes --kernel/--received match their golden files (human and JSON)', async () => {
    expect([...ctrs.keys()].sort()).toEqual(['c1', 'c2', 'c3']);
    // FRR sends our own /32 and /128 back (eBGP, no sender-side loop check) when its
    // update timer fires: wait for the 2 defaults + 6 looped routes to be in, so the
    // received view is read in one state (a mismatch then shows as the golden diff).
    await waitFor(async () => ((await agent!.routes('received')).json?.routes.length ?? 0) >= 8, {
      what: 'the ToR to send back the six looped prefixes',
      timeoutMs: 10_000,
      intervalMs: 100,
    }).catch(() => undefined);
    for (const [args, name] of [
      [['endpoints'], 'lab-endpoints'],
      [['inspect', 'c1'], 'lab-inspect-c1'],
      [['routes', '--kernel'], 'lab-routes-kernel'],
      // The ToR's default-originate: 0.0.0.0/0 and ::/0, accepted by the import filter.
      [['routes', '--received'], 'lab-routes-received-defaults'],
    ] as const) {
      const h = await agent!.cli(args);
      expect([h.code, h.stderr], args.join(' ')).toEqual([0, '']);
      expectGolden(`${name}.txt`, maskTable(h.stdout));
      const j = await agent!.cli([...args, '--json']);
      expect([j.code, j.stderr], `${args.join(' ')} --json`).toEqual([0, '']);
      expect(j.json, `${args.join(' ')} --json parses`).toBeDefined();
      expectGolden(`${name}.json`, maskJson(j.json, CTR_JSON_MASK, maskCtr));
    }
  });

  it('a container stopped → its routes leave the ToR; host routes, veth and allocation are gone', async () => {
    const c3 = ctrs.get('c3')!;
    await dockerd!.docker(['rm', '-f', 'c3']);
    await waitFor(async () => {
      const t = await torRoutes();
      return !t.has(`${c3.ipv4}/32`) && !t.has(`${c3.ipv6}/128`);
    }, { what: 'c3 withdrawn from the ToR', timeoutMs: 15_000, intervalMs: 50 });
    // The withdraw goes first (so that the ToR stops sending), then the veth, the host
    // routes and the allocation go: wait for those too.
    const own = await waitFor(async () => {
      const o = await workerOwn();
      const gone = !o.links.includes(c3.hostVeth) && !o.routes.includes(`${c3.ipv4}/32`) && !o.routes.includes(`${c3.ipv6}/128`) && ipamEndpoints()[c3.id] === undefined;
      return gone ? o : undefined;
    }, { what: 'c3 unplumbed and its addresses released', timeoutMs: 15_000, intervalMs: 50 });
    expect(own.links).not.toContain(c3.hostVeth);
    expect(own.routes).not.toContain(`${c3.ipv4}/32`);
    expect(own.routes).not.toContain(`${c3.ipv6}/128`);
    expect(ipamEndpoints()[c3.id]).toBeUndefined();
    expect((await endpoints()).map((e) => e.name).sort()).toEqual(['c1', 'c2']);
    expect(await ping(c3.ipv4)).toBe(false);
    ctrs.delete('c3');
  });

  it('agent SIGKILLed; c2 removed and c4 started meanwhile; restarted → orphan cleaned, c4 wired, c1 reachable', async () => {
    const c1 = ctrs.get('c1')!;
    const c2 = ctrs.get('c2')!;
    agent!.signal('SIGKILL');
    await agent!.waitExit();
    // Kernel routes survive the agent: the worker still routes to c1.
    const own = await workerOwn();
    expect(own.routes).toEqual(expect.arrayContaining([`${c1.ipv4}/32`, `${c1.ipv6}/128`]));
    // The ToR notices the session is gone; with graceful restart (RFC 4724) it keeps the
    // routes as stale and goes on forwarding: the container stays reachable meanwhile.
    const down = Date.now();
    await waitFor(async () => ((await frr!.peerState(W4)) ?? 'gone') !== 'Established', { what: 'the ToR to see the session down', timeoutMs: 20_000, intervalMs: 100 });
    const torKeeps = (await torRoutes()).has(`${c1.ipv4}/32`) && (await torRoutes()).has(`${c1.ipv6}/128`);
    const pingDuring = (await ping(c1.ipv4)) && (await ping(c1.ipv6));
    console.log(`agent down: ToR saw the session down after ${Date.now() - down} ms; its routes to c1 ${torKeeps ? 'kept (stale)' : 'withdrawn'}; ping from the ToR ${pingDuring ? 'ok' : 'fails'}`);
    expect(torKeeps).toBe(true);
    expect(pingDuring).toBe(true);
    expect(await http(c1.ipv4)).toBe('rtc');
    // The worker itself still forwards to c1 (kernel routes): from the worker namespace.
    expect((await w.exec(['busybox', 'ping', '-c', '1', '-W', '2', c1.ipv4])).code).toBe(0);

    await dockerd!.docker(['rm', '-f', 'c2']);
    await runContainer('c4');
    // c2's namespace went with it, and the kernel deletes both veth ends and its routes
    // (netns teardown runs in a kernel work queue: later under load, so wait for it);
    // its allocation is leaked until the agent is back.
    await waitFor(async () => !(await workerOwn()).links.includes(c2.hostVeth), {
      what: "the kernel to delete c2's veth with its namespace",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(ipamEndpoints()[c2.id]).toBeDefined();
    // An own veth whose other end outlived its container (held elsewhere), with an own route.
    await w.ip(['link', 'add', 'rtc0000dead00', 'type', 'veth', 'peer', 'name', 'stray0']);
    await w.ip(['link', 'set', 'rtc0000dead00', 'up']);
    await w.addRoute('198.51.100.15/32', { dev: 'rtc0000dead00', proto: 88 });

    agent = await startAgent(w, config, { name: 'agent' });
    await agent.waitEstablished(TOR4);
    const c4 = await waitReady('c4');
    await waitFor(async () => !(await workerOwn()).links.includes('rtc0000dead00'), { what: 'the orphan veth removed', timeoutMs: 15_000, intervalMs: 100 });
    const after = await workerOwn();
    expect(after.links).toEqual([c1.hostVeth, c4.hostVeth].sort());
    expect(after.routes).toEqual([`${c1.ipv4}/32`, `${c4.ipv4}/32`, `${c1.ipv6}/128`, `${c4.ipv6}/128`].sort());
    expect(Object.keys(ipamEndpoints()).sort()).toEqual([c1.id, c4.id].sort());
    const adopted = agent.logLines().filter((l) => l.event === 'adopted').at(-1);
    // c1 kept as it was (not rebuilt), c4 plumbed, the orphan removed, c2's addresses freed.
    expect(adopted, JSON.stringify(adopted)).toMatchObject({
      endpoints: 2,
      linksKept: 1,
      linksCreated: 1,
      orphansRemoved: ['rtc0000dead00'],
      addressesFreed: [`${c2.ipv4} ${c2.ipv6}`],
    });
    // Its peer went with it; the route through it too.
    expect((await exec(['ip', '-n', w.name, 'link', 'show', 'stray0'])).code).not.toBe(0);
    ctrs.delete('c2');
    await reachable(c1);
    await reachable(c4);
  });

  it('dockerd restarted → status shows it unreachable meanwhile; the agent resyncs with no duplicates', async () => {
    const syncs = () => agent!.logLines().filter((l) => l.op === 'runtime.docker' && l.event === 'sync').length;
    const before = syncs();
    const readyBefore = logsOf('ready').length;
    await dockerd!.restart(async () => {
      await waitFor(async () => (await agent!.status()).json?.docker?.connected === false, { what: 'status to show dockerd unreachable', timeoutMs: 10_000, intervalMs: 100 });
      const s = await agent!.cli(['status']);
      expect(s.stdout).toMatch(/^Docker: unreachable since .*; next attempt in \d+ s/m);
      expect(s.stdout).toMatch(/endpoints: 2;/); // what is routed stays routed
    });
    await waitFor(() => syncs() > before, { what: 'the runtime to resync after dockerd restarted', timeoutMs: 60_000, intervalMs: 200, diagnostics: () => agent!.logTail() });
    await agent!.cli(['endpoints', '--json']);
    const eps = await endpoints();
    expect(eps.map((e) => `${e.name} ${e.state}`).sort()).toEqual(['c1 ready', 'c4 ready']);
    expect(logsOf('ready').length).toBe(readyBefore);
    expect(logsOf('replumbed')).toEqual([]);
    const own = await workerOwn();
    expect(own.links).toEqual([ctrs.get('c1')!.hostVeth, ctrs.get('c4')!.hostVeth].sort());
    expect(own.routes).toHaveLength(4);
    await reachable(ctrs.get('c1')!);
  });

  it('a host route deleted by hand comes back', async () => {
    const c1 = ctrs.get('c1')!;
    await w.delRoute(`${c1.ipv4}/32`, { proto: 88 });
    await waitFor(async () => (await workerOwn()).routes.includes(`${c1.ipv4}/32`), { what: 'the deleted host route restored', timeoutMs: 10_000, intervalMs: 50 });
    expect(agent!.logLines().some((l) => l.event === 'repaired' && Array.isArray(l.routesAdded) && (l.routesAdded as string[]).some((r) => r.includes(`${c1.ipv4}/32`)))).toBe(true);
    await reachable(c1);
  });
});
