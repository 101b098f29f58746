/**
 * routectl-cni against a real agent in-process (CNI spec 1.1.0 conformance): runAgent
 * with pools and no Docker runtime, its container side on the in-memory kernel and a
 * MemoryStore, a stand-in speaker; the plugin's own code (runPlugin over the unix socket)
 * drives it. Every verb, every error path, DEL twice, DEL with the netns gone, GC with a
 * partial valid-attachments list, CHECK catching a deleted host route, STATUS 50/51,
 * adoption of persisted attachments by a restarted agent.
 */
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type Agent, type SpeakerPeerStatus } from '../../../src/agent.js';
import { ApiClient } from '../../../src/api/client.js';
import type { ContainerInspector } from '../../../src/cni/inspect.js';
import { netnsProblem } from '../../../src/cni/netns.js';
import { runPlugin } from '../../../src/cni/plugin.js';
import type { CniErrorBody, CniResult } from '../../../src/cni/types.js';
import { parseConfig } from '../../../src/config/index.js';
import { startContainerRuntime } from '../../../src/endpoints/containers.js';
import { MemoryStore } from '../../../src/store/index.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';
import { captureLog, FakeSpeaker } from '../helpers/agent-fakes.js';

let dir: string;
let agent: Agent | undefined;
const logs = captureLog();
const log = logs.log;

const yaml = (grace = 120) => `node: w1
routerId: 203.0.113.2
asn: 65001
bgp:
  listen: { port: 0 }
pools:
  - { cidr: 198.51.100.0/29, zone: app }
  - { cidr: "2001:db8:c:1::/120", zone: app }
  - { cidr: 198.51.100.16/30, zone: dmz }
zones:
  - { name: app, cidrs: [198.51.100.0/29, "2001:db8:c:1::/64"] }
  - { name: dmz, cidrs: [198.51.100.16/30] }
runtime: { reconcileInterval: 3600 }
store: { local: { path: ${dir}/store } }
api: { socket: ${dir}/routectl.sock }
metrics: { readyGraceSeconds: ${grace} }
`;

/** CHECK's look into a container, answered from the fake kernel's container state. */
const inspectorOf = (kernel: FakeKernel): ContainerInspector => ({
  async inspect(netns, ifName) {
    const c = kernel.containers.get(netns);
    if (!c) throw new Error(`${netns}: no such file`);
    if (!c.links.has(ifName) || c.config?.ifName !== ifName) return null;
    const s = c.config;
    return {
      addresses: [...(s.ipv4 ? [`${s.ipv4}/32`] : []), ...(s.ipv6 ? [`${s.ipv6}/128`] : [])],
      routes: [...(s.ipv4 ? [`${s.gateway4}/32`, `0.0.0.0/0 via ${s.gateway4}`] : []), ...(s.ipv6 ? [`::/0 via ${s.gateway6}`] : [])],
    };
  },
});

async function start(opts: { store?: MemoryStore; kernel?: FakeKernel; grace?: number; inspector?: (k: FakeKernel) => ContainerInspector } = {}) {
  const kernel = opts.kernel ?? new FakeKernel();
  const store = opts.store ?? new MemoryStore();
  let speaker!: FakeSpeaker;
  agent = await runAgent(parseConfig(yaml(opts.grace), join(dir, 'agent.yaml')), {
    log: log(),
    handleSignals: false,
    metricsListen: null,
    createSpeaker: (cfg) => (speaker = new FakeSpeaker(cfg)),
    cniInspector: (opts.inspector ?? inspectorOf)(kernel),
    startContainers: (cfg, deps) => startContainerRuntime(cfg, { ...deps, store, kernel }),
  });
  return { kernel, store, speaker, client: new ApiClient(agent.api.path) };
}

const NETCONF = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'rnet', type: 'routectl-cni', zone: 'app', socket: join(dir, 'routectl.sock'), ...extra });
const cid = (n: number) => `c${n}`.padEnd(64, 'f');
const nsOf = (n: number) => `/run/netns/cni-${n}`;

async function cni(command: string, conf: unknown, env: Record<string, string> = {}) {
  const out = await runPlugin({ env: { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni', ...env }, stdin: typeof conf === 'string' ? conf : JSON.stringify(conf) });
  const json = out.stdout === '' ? undefined : (JSON.parse(out.stdout) as unknown);
  return { code: out.exitCode, json, err: json as CniErrorBody };
}
const envOf = (n: number, ifName = 'eth0') => ({ CNI_CONTAINERID: cid(n), CNI_NETNS: nsOf(n), CNI_IFNAME: ifName });
const add = async (n: number, conf = NETCONF(), ifName = 'eth0') => cni('ADD', conf, envOf(n, ifName));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-cni-'));
  logs.clear();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('VERSION', () => {
  it('lists 0.4.0, 1.0.0 and 1.1.0 without asking the agent', async () => {
    const r = await cni('VERSION', { cniVersion: '1.0.0' });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });
});

describe('ADD', () => {
  it('wires the container and answers the spec result; the /32 and /128 are advertised', async () => {
    const { kernel, speaker } = await start();
    kernel.addContainer(nsOf(1));
    const r = await add(1, NETCONF({ dns: { nameservers: ['198.51.100.53'], search: ['svc.local'] } }));
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    const res = r.json as CniResult;
    expect(res.cniVersion).toBe('1.1.0');
    expect(res.interfaces).toHaveLength(2);
    expect(res.interfaces[0]).toEqual({ name: expect.stringMatching(/^rtc[0-9a-f]{11}$/) as unknown, mac: 'ee:ee:ee:ee:ee:ee' });
    expect(res.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: nsOf(1), mac: expect.stringMatching(/^02:/) as unknown });
    expect(res.ips).toEqual([
      { address: '198.51.100.0/32', gateway: '169.254.1.1', interface: 1 },
      { address: '2001:db8:c:1::/128', gateway: 'fe80::ecee:eeff:feee:eeee', interface: 1 },
    ]);
    expect(res.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' },
    ]);
    expect(res.dns).toEqual({ nameservers: ['198.51.100.53'], search: ['svc.local'] });
    expect([...speaker.set].sort()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128']);
    expect(kernel.snapshot().routes.join('\n')).toMatch(/198\.51\.100\.0\/32/);
    expect(kernel.containers.get(nsOf(1))?.config).toMatchObject({ ifName: 'eth0', ipv4: '198.51.100.0' });
  });

  it('0.4.0 results carry each IP version', async () => {
    const { kernel } = await start();
    kernel.addContainer(nsOf(1));
    const r = await add(1, NETCONF({ cniVersion: '0.4.0' }));
    expect(r.code).toBe(0);
    expect((r.json as CniResult).ips.map((i) => i.version)).toEqual(['4', '6']);
    expect((r.json as CniResult).cniVersion).toBe('0.4.0');
  });

  it('a second ADD for the same (container id, ifname) is an error and changes nothing; another ifname is a second endpoint', async () => {
    const { kernel, client } = await start();
    kernel.addContainer(nsOf(1));
    expect((await add(1)).code).toBe(0);
    const again = await add(1);
    expect(again.code).toBe(1);
    expect(again.err).toMatchObject({ cniVersion: '1.1.0', code: 100, msg: expect.stringContaining('already has eth0 on network rnet') as unknown });
    expect((await client.endpoints()).endpoints).toHaveLength(1);
    const second = await add(1, NETCONF(), 'net1');
    expect(second.code, JSON.stringify(second.json)).toBe(0);
    expect((second.json as CniResult).ips[0]?.address).toBe('198.51.100.1/32');
    expect((await client.endpoints()).endpoints.map((e) => e.name).sort()).toEqual([`rnet:${cid(1).slice(0, 12)}`, `rnet:${cid(1).slice(0, 12)}/net1`]);
  });

  it('two ADDs for the same (container id, ifname) at once: one endpoint, the other ADD is refused', async () => {
    const { kernel, client } = await start();
    kernel.addContainer(nsOf(1));
    const both = await Promise.all([add(1), add(1)]);
    expect(both.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(both.find((r) => r.code === 1)!.err).toMatchObject({ code: 100 });
    expect((await client.endpoints()).endpoints).toHaveLength(1);
    expect((await client.endpoints()).endpoints[0]!.state).toBe('ready');
  });

  it('zone: CNI_ARGS, runtimeConfig and the pod annotation in args win over the network zone', async () => {
    const { kernel } = await start();
    for (const n of [1, 2, 3]) kernel.addContainer(nsOf(n));
    const viaArgs = await cni('ADD', NETCONF(), { ...envOf(1), CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front-1;ROUTECTL_ZONE=dmz' });
    expect((viaArgs.json as CniResult).ips[0]?.address).toBe('198.51.100.16/32');
    const viaRc = await cni('ADD', NETCONF({ runtimeConfig: { zone: 'dmz' } }), envOf(2));
    expect((viaRc.json as CniResult).ips[0]?.address).toBe('198.51.100.17/32');
    const viaAnn = await cni('ADD', NETCONF({ zone: undefined, args: { cni: { annotations: { 'routectl.io/zone': 'dmz' } } } }), envOf(3));
    expect((viaAnn.json as CniResult).ips[0]?.address).toBe('198.51.100.18/32');
  });

  it('failures are rolled back: unknown zone (7), no address left (101), wiring failed (102)', async () => {
    const { kernel, client, speaker } = await start();
    for (const n of [1, 2, 3, 4]) kernel.addContainer(nsOf(n));
    const unknown = await add(1, NETCONF({ zone: 'nope' }));
    expect(unknown.err).toMatchObject({ code: 7, msg: expect.stringContaining('zone: no pool on this worker serves zone "nope"') as unknown });
    kernel.failNext('configureContainer', 'EIO');
    const wiring = await add(2);
    expect(wiring.err.code).toBe(102);
    expect(wiring.err.msg).toMatch(/wiring failed \(addresses released\)/);
    expect((await client.endpoints()).endpoints).toHaveLength(0);
    expect(speaker.set.size).toBe(0);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual([]);
    // dmz has a /30: four addresses, then none.
    for (const n of [10, 11, 12, 13]) kernel.addContainer(nsOf(n));
    for (const n of [10, 11, 12, 13]) expect((await cni('ADD', NETCONF({ zone: 'dmz' }), envOf(n))).code).toBe(0);
    const full = await cni('ADD', NETCONF({ zone: 'dmz' }), envOf(3));
    expect(full.err.code).toBe(101);
    // The failed ADD left no attachment behind: it may be retried after a DEL of another.
    expect((await cni('DEL', NETCONF(), envOf(10))).code).toBe(0);
    expect((await cni('ADD', NETCONF({ zone: 'dmz' }), envOf(3))).code).toBe(0);
  });
});

describe('ADD: CNI_NETNS must be a network namespace, and not the agent\'s own', () => {
  it('the agent\'s own namespace, /dev/null, a regular file, a directory, a mount namespace: code 4, nothing allocated or recorded', async () => {
    // The real check (netns.ts, real files and the real kernel's answer) in front of the fake kernel.
    const { kernel, client, speaker, store } = await start({ inspector: (k) => ({ ...inspectorOf(k), netnsProblem: (p) => netnsProblem(p) }) });
    const before = JSON.stringify(await store.list(''));
    const file = join(dir, 'not-a-netns');
    writeFileSync(file, 'x');
    const rows: [string, RegExp][] = [
      ['/proc/self/ns/net', /^CNI_NETNS: \/proc\/self\/ns\/net is the agent's own network namespace \(the host's\)/],
      ['/dev/null', /^CNI_NETNS: \/dev\/null is a character device, not a network namespace$/],
      [file, /is a regular file, not a network namespace$/],
      [dir, /is a directory, not a network namespace$/],
      ['/proc/self/ns/mnt', /is a mount namespace, not a network namespace$/],
      [join(dir, 'gone'), /gone does not exist$/],
    ];
    for (const [netns, msg] of rows) {
      kernel.addContainer(netns);
      const r = await cni('ADD', NETCONF(), { ...envOf(1), CNI_NETNS: netns });
      expect(r.code, netns).toBe(1);
      expect(r.err.code, netns).toBe(4);
      expect(r.err.msg).toMatch(msg);
      expect(r.err.details).toMatch(/container's own network namespace/);
    }
    expect((await client.endpoints()).endpoints).toHaveLength(0);
    expect(speaker.set.size).toBe(0);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual([]);
    expect(logs.text()).toContain('"event":"add-refused"');
    // Nothing was claimed or allocated: the store holds what it held before (no attachment record, no address).
    expect(JSON.stringify(await store.list(''))).toBe(before);
  });
});

describe('ADD: a zone no pool serves, 100 kB long', () => {
  it('code 7 quoting 64 characters of it and its length', async () => {
    const { kernel } = await start();
    kernel.addContainer(nsOf(1));
    const r = await add(1, NETCONF({ zone: 'z'.repeat(100_000) }));
    expect(r.err).toMatchObject({ code: 7, msg: `zone: no pool on this worker serves zone "${'z'.repeat(64)}…" (100000 characters)` });
  });
});

describe('ADD: CNI_IFNAME already taken in the container', () => {
  it('code 4 naming CNI_IFNAME, rolled back: no endpoint, no veth, no allocation, no record', async () => {
    const { kernel, client, store } = await start();
    kernel.addContainer(nsOf(1));
    kernel.containers.get(nsOf(1))!.links.set('net1', { mac: '02:00:00:00:00:01', up: true });
    const r = await add(1, NETCONF(), 'net1');
    expect(r.err).toMatchObject({ code: 4, msg: `CNI_IFNAME: ${nsOf(1)} already has an interface named net1; nothing was changed` });
    expect((await client.endpoints()).endpoints).toHaveLength(0);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual([]);
    // Released: no allocation left in the store (block claims stay, as after any release).
    for (const e of await store.list('ipam')) expect((e.value as { endpoints?: object }).endpoints ?? {}).toEqual({});
    // The same container with a free name is wired (no attachment was left to refuse it).
    expect((await add(1)).code).toBe(0);
  });
});

describe('DEL', () => {
  it('is idempotent: a second DEL and a DEL of something never added succeed', async () => {
    const { kernel, speaker, client } = await start();
    kernel.addContainer(nsOf(1));
    expect((await add(1)).code).toBe(0);
    const d1 = await cni('DEL', NETCONF(), envOf(1));
    expect(d1).toMatchObject({ code: 0, json: undefined });
    expect(speaker.set.size).toBe(0);
    expect((await client.endpoints()).endpoints).toHaveLength(0);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual([]);
    expect((await cni('DEL', NETCONF(), envOf(1))).code).toBe(0);
    expect((await cni('DEL', NETCONF(), envOf(7))).code).toBe(0);
  });

  it('the released address is allocatable again (a full /30, one DEL, one more ADD)', async () => {
    const { kernel } = await start();
    const dmz = NETCONF({ zone: 'dmz' });
    for (const n of [1, 2, 3, 4, 5]) kernel.addContainer(nsOf(n));
    for (const n of [1, 2, 3, 4]) expect((await add(n, dmz)).code).toBe(0);
    expect((await add(5, dmz)).err.code).toBe(101);
    expect((await cni('DEL', dmz, envOf(2))).code).toBe(0);
    expect(((await add(5, dmz)).json as CniResult).ips[0]?.address).toBe('198.51.100.17/32');
  });

  it('frees the addresses when the netns is already gone (and without CNI_NETNS)', async () => {
    const { kernel, speaker } = await start();
    kernel.addContainer(nsOf(1));
    expect((await add(1)).code).toBe(0);
    kernel.removeContainer(nsOf(1));
    const d = await cni('DEL', NETCONF(), { CNI_CONTAINERID: cid(1), CNI_IFNAME: 'eth0' });
    expect(d.code, JSON.stringify(d.json)).toBe(0);
    expect(speaker.set.size).toBe(0);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual([]);
    // Freed: a full dmz /30 minus this one takes a new container.
    const dmz = NETCONF({ zone: 'dmz' });
    for (const n of [2, 3, 4, 5, 6]) kernel.addContainer(nsOf(n));
    expect((await add(2, dmz)).code).toBe(0);
    kernel.removeContainer(nsOf(2));
    expect((await cni('DEL', dmz, envOf(2))).code).toBe(0);
    for (const n of [3, 4, 5, 6]) expect((await add(n, dmz)).code).toBe(0);
  });
});

describe('CHECK', () => {
  it('passes on a wired container and names what is wrong: a deleted host route, a foreign prevResult, a missing interface', async () => {
    const { kernel, client } = await start();
    kernel.addContainer(nsOf(1));
    const prev = (await add(1)).json as CniResult;
    expect(await cni('CHECK', NETCONF({ prevResult: prev }), envOf(1))).toMatchObject({ code: 0 });

    const wrong = { ...prev, ips: [{ address: '198.51.100.5/32', interface: 1 }] };
    const w = await cni('CHECK', NETCONF({ prevResult: wrong }), envOf(1));
    expect(w.err.code).toBe(103);
    expect(w.err.details).toContain('prevResult address 198.51.100.5/32 is not this endpoint');

    // Left in place on purpose: with repair running the route would be back at once.
    await client.setRepairPaused(true);
    kernel.handDeleteRoute('198.51.100.0/32');
    const r = await cni('CHECK', NETCONF({ prevResult: prev }), envOf(1));
    expect(r.err.code).toBe(103);
    expect(r.err.msg).toMatch(/host route 198\.51\.100\.0\/32 dev rtc[0-9a-f]{11} is missing/);
    await client.setRepairPaused(false);
    expect((await cni('CHECK', NETCONF({ prevResult: prev }), envOf(1))).code).toBe(0);

    kernel.containers.get(nsOf(1))!.links.delete('eth0');
    const gone = await cni('CHECK', NETCONF({ prevResult: prev }), envOf(1));
    expect(gone.err.details).toContain(`interface eth0 is missing in ${nsOf(1)}`);
  });

  it('unknown attachment is code 3; no prevResult is code 7', async () => {
    await start();
    const u = await cni('CHECK', NETCONF({ prevResult: { cniVersion: '1.1.0', interfaces: [], ips: [] } }), envOf(9));
    expect(u.err.code).toBe(3);
    const n = await cni('CHECK', NETCONF(), envOf(9));
    expect(n.err).toMatchObject({ code: 7, msg: expect.stringContaining('prevResult') as unknown });
  });
});

describe('GC', () => {
  it('removes every attachment of the network not in cni.dev/valid-attachments, and only those', async () => {
    const { kernel, client, speaker } = await start();
    for (const n of [1, 2, 3]) kernel.addContainer(nsOf(n));
    for (const n of [1, 2, 3]) expect((await add(n)).code).toBe(0);
    kernel.addContainer(nsOf(4));
    expect((await add(4, NETCONF({ name: 'other' }))).code).toBe(0);
    const gc = await cni('GC', NETCONF({ 'cni.dev/valid-attachments': [{ containerID: cid(2), ifname: 'eth0' }] }));
    expect(gc).toMatchObject({ code: 0, json: undefined });
    const names = (await client.endpoints()).endpoints.map((e) => e.name).sort();
    expect(names).toEqual([`other:${cid(4).slice(0, 12)}`, `rnet:${cid(2).slice(0, 12)}`]);
    expect([...speaker.set].filter((p) => p.endsWith('/32')).sort()).toEqual(['198.51.100.1/32', '198.51.100.3/32']);
    // Nothing valid: the network is emptied.
    expect((await cni('GC', NETCONF({ 'cni.dev/valid-attachments': [] }))).code).toBe(0);
    expect((await client.endpoints()).endpoints.map((e) => e.name)).toEqual([`other:${cid(4).slice(0, 12)}`]);
  });
});

describe('STATUS', () => {
  it('ready with no peers, and with one of two sessions up; 51 when none is up after the grace; 50 when the agent is not running', async () => {
    const { speaker } = await start({ grace: 0 });
    expect(await cni('STATUS', NETCONF())).toMatchObject({ code: 0, json: undefined });
    const peer = (address: string, state: string) => ({ address, state }) as SpeakerPeerStatus;
    speaker.peers = [peer('203.0.113.1', 'Active')];
    const down = await cni('STATUS', NETCONF());
    expect(down.err).toEqual({ cniVersion: '1.1.0', code: 51, msg: 'routectl agent not ready: its BGP session is not Established (203.0.113.1 Active)', details: "new containers' routes would not reach the fabric: see routectl peers" });
    speaker.peers = [peer('203.0.113.1', 'Established'), peer('203.0.113.3', 'Connect')];
    expect(await cni('STATUS', NETCONF())).toMatchObject({ code: 0, json: undefined });
    speaker.peers = [peer('203.0.113.1', 'Idle'), peer('203.0.113.3', 'Connect')];
    expect((await cni('STATUS', NETCONF())).err).toMatchObject({ code: 51, msg: 'routectl agent not ready: none of its 2 BGP sessions is Established (203.0.113.1 Idle, 203.0.113.3 Connect)' });
    speaker.peers = [peer('203.0.113.1', 'Established')];
    expect((await cni('STATUS', NETCONF())).code).toBe(0);
    await agent?.stop();
    agent = undefined;
    const off = await cni('STATUS', NETCONF());
    expect(off.err, JSON.stringify(off.err)).toMatchObject({ code: 50, msg: expect.stringMatching(/^routectl agent is (not running|closing)/) as unknown });
  });

  it('within the startup grace, sessions still coming up are ready', async () => {
    const { speaker } = await start({ grace: 600 });
    speaker.peers = [{ address: '203.0.113.1', state: 'Connect' } as SpeakerPeerStatus];
    expect((await cni('STATUS', NETCONF())).code).toBe(0);
  });
});

describe('agent unreachable or stuck', () => {
  it('ADD without an agent: a clear error (code 11) at once', async () => {
    const t0 = Date.now();
    const r = await add(1);
    expect(r.err).toMatchObject({ code: 11, msg: `routectl agent is not running (no socket at ${join(dir, 'routectl.sock')})` });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a socket that accepts and never answers: error after the configured timeout, not a hang', async () => {
    const path = join(dir, 'stuck.sock');
    const server: Server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const t0 = Date.now();
      const r = await add(1, NETCONF({ socket: path, timeoutMs: 300 }));
      expect(r.err).toMatchObject({ code: 11, msg: expect.stringContaining('not answering') as unknown });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      server.close();
    }
  });
});

describe('malformed input: codes 1/4/6/7 naming the field', () => {
  const cases: [string, string | Record<string, unknown>, Record<string, string>, number, RegExp][] = [
    ['not JSON', '{"cniVersion": ', envOf(1), 6, /not JSON/],
    ['unsupported version', { cniVersion: '0.3.1', name: 'n', zone: 'app' }, envOf(1), 1, /cniVersion 0\.3\.1 is not supported/],
    ['missing name', { cniVersion: '1.1.0', type: 'routectl-cni', zone: 'app' }, envOf(1), 7, /name: missing/],
    ['bad name', { cniVersion: '1.1.0', name: '-x', zone: 'app' }, envOf(1), 7, /name: "-x"/],
    ['zone not a string', { cniVersion: '1.1.0', name: 'n', zone: 5 }, envOf(1), 7, /zone: must be a string/],
    ['relative socket', { cniVersion: '1.1.0', name: 'n', zone: 'app', socket: 'x.sock' }, envOf(1), 7, /socket: "x\.sock" must be an absolute path/],
    ['dns.nameservers', { cniVersion: '1.1.0', name: 'n', zone: 'app', dns: { nameservers: 'x' } }, envOf(1), 7, /dns\.nameservers: must be a list/],
    ['no zone anywhere', { cniVersion: '1.1.0', name: 'n' }, envOf(1), 7, /zone: no zone for this container/],
    ['missing CNI_CONTAINERID', { cniVersion: '1.1.0', name: 'n', zone: 'app' }, { CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, 4, /^CNI_CONTAINERID: missing/],
    ['bad CNI_IFNAME', { cniVersion: '1.1.0', name: 'n', zone: 'app' }, { ...envOf(1), CNI_IFNAME: 'a-very-long-interface' }, 4, /^CNI_IFNAME: .* is not an interface name/],
    ['relative CNI_NETNS', { cniVersion: '1.1.0', name: 'n', zone: 'app' }, { ...envOf(1), CNI_NETNS: 'netns' }, 4, /^CNI_NETNS: /],
    ['bad CNI_ARGS', { cniVersion: '1.1.0', name: 'n', zone: 'app' }, { ...envOf(1), CNI_ARGS: 'A=1;oops' }, 4, /^CNI_ARGS: "oops" is not KEY=VALUE/],
  ];
  it.each(cases)('%s', async (_t, conf, env, code, msg) => {
    const r = await cni('ADD', conf, env);
    expect(r.code).toBe(1);
    expect(r.err.code).toBe(code);
    expect(r.err.msg).toMatch(msg);
  });
  it('unknown CNI_COMMAND is code 4', async () => {
    const r = await cni('FROB', NETCONF());
    expect(r.err).toMatchObject({ code: 4, msg: expect.stringContaining('CNI_COMMAND: "FROB"') as unknown });
  });
});

describe('restart', () => {
  it('a restarted agent adopts persisted attachments (same addresses, kept veth) and DEL still frees them', async () => {
    const { kernel, store } = await start();
    kernel.addContainer(nsOf(1));
    const res = (await add(1)).json as CniResult;
    const vethBefore = kernel.snapshot().links.filter((l) => l.startsWith('rtc'));
    await agent?.stop();
    agent = undefined;
    const again = await start({ kernel, store });
    await new Promise((r) => setTimeout(r, 20));
    const eps = (await again.client.endpoints()).endpoints;
    expect(eps.map((e) => [e.state, e.ipv4])).toEqual([['ready', '198.51.100.0']]);
    expect(kernel.snapshot().links.filter((l) => l.startsWith('rtc'))).toEqual(vethBefore);
    expect(await cni('CHECK', NETCONF({ prevResult: res }), envOf(1))).toMatchObject({ code: 0 });
    expect([...again.speaker.set].sort()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128']);
    expect((await cni('DEL', NETCONF(), envOf(1))).code).toBe(0);
    expect(again.speaker.set.size).toBe(0);
  });
});
