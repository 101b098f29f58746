/**
 * The agent with a container runtime, in-process: runAgent over a stand-in speaker, with
 * the real container side (Docker runtime over a fake dockerode client, IPAM on a
 * MemoryStore, dataplane on the in-memory kernel). Through the API and the CLI: status
 * counts, `routectl endpoints` (incl. a container with a bad label), `routectl inspect`
 * by name and id prefix, kernel routes, POST /v1/reconcile validation and pause/resume,
 * advertisements = bgp.advertise ∪ endpoint prefixes, also across a reload.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type Agent } from '../../../src/agent.js';
import { ApiClient } from '../../../src/api/client.js';
import type { EndpointsResponse, InspectResponse, StatusResponse } from '../../../src/api/types.js';
import { runCli } from '../../../src/cli/commands.js';
import { parseConfig } from '../../../src/config/index.js';
import { startContainerRuntime } from '../../../src/endpoints/containers.js';
import { DockerRuntime } from '../../../src/runtime/docker.js';
import { MemoryStore } from '../../../src/store/index.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';
import { captureLog, FakeSpeaker } from '../helpers/agent-fakes.js';
import { FakeDocker } from '../runtime/fake-docker.js';

let dir: string;
let agent: Agent | undefined;
const logs = captureLog();
const log = logs.log;

const yaml = (advertise: string) => `node: w1
routerId: 203.0.113.2
asn: 65001
bgp:
  listen: { port: 0 }
  advertise: [${advertise}]
pools:
  - { cidr: 198.51.100.0/28, zone: app }
  - { cidr: "2001:db8:c:1::/120", zone: app }
zones:
  - { name: app, cidrs: [198.51.100.0/24, "2001:db8:c:1::/64"] }
runtime: { docker: { socket: /nonexistent/docker.sock }, reconcileInterval: 3600 }
store: { local: { path: ${dir}/store } }
api: { socket: ${dir}/routectl.sock }
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-ep-agent-'));
  logs.clear();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  const end = Date.now() + 3000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${logs.text()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** FakeDocker ids share their first 11 characters (so would the host veth names): give each its own. */
const idOf = (n: number): string => `ab${n}0f0e0d0c0b0a`.padEnd(64, '9');
function run(docker: FakeDocker, n: number, labels: Record<string, string>, silent = false): string {
  const tmp = docker.run(n, labels, { silent: true });
  const c = docker.containers.get(tmp)!;
  docker.containers.delete(tmp);
  c.Id = idOf(n);
  docker.containers.set(c.Id, c);
  if (!silent) docker.event('start', c);
  return c.Id;
}

async function start() {
  const docker = new FakeDocker();
  const kernel = new FakeKernel();
  for (let pid = 1000; pid < 1010; pid++) kernel.addContainer(`/proc/${pid}/ns/net`);
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, yaml('203.0.113.10/32'));
  let speaker!: FakeSpeaker;
  const l = log();
  // Two containers before the agent starts (adopted at the first sync); one refused.
  const c1 = run(docker, 1, { 'routectl.zone': 'app' }, true);
  run(docker, 2, { 'routectl.zone': 'nope' }, true);
  agent = await runAgent(parseConfig(yaml('203.0.113.10/32'), file), {
    configPath: file,
    log: l,
    handleSignals: false,
    createSpeaker: (cfg) => (speaker = new FakeSpeaker(cfg, '203.0.113.1')),
    startContainers: (cfg, deps) =>
      startContainerRuntime(cfg, {
        ...deps,
        store: new MemoryStore(),
        kernel,
        runtime: new DockerRuntime({ client: docker, zones: ['app'], logger: l }),
      }),
  });
  const client = new ApiClient(agent.api.path);
  await until(async () => ((await client.status()).endpoints === 1 ? true : undefined), 'first sync adopted');
  return { docker, kernel, speaker, client, c1 };
}

const cli = async (...args: string[]) => {
  let out = '';
  let err = '';
  const code = await runCli([...args, '--socket', join(dir, 'routectl.sock')], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
};

describe('agent with the Docker runtime', () => {
  it('wires containers; status, endpoints and inspect show them; a bad label shows as error', async () => {
    const { docker, speaker, client, c1 } = await start();
    const c3 = run(docker, 3, { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.9' });
    await until(async () => ((await client.status()).endpoints === 2 ? true : undefined), 'c3 ready');

    const s: StatusResponse = await client.status();
    expect(s.endpoints).toBe(2);
    expect(s.endpointStates).toEqual({ ready: 2, pending: 0, error: 1 });
    expect(s.docker).toMatchObject({ connected: true, lastError: null, retryInSeconds: null, containers: 2, refused: 1 });
    expect(s.routes).toBe(5); // the static /32 + 2 × (/32 + /128)
    expect([...speaker.set].sort()).toEqual(['198.51.100.0/32', '198.51.100.9/32', '2001:db8:c:1::/128', '2001:db8:c:1::1/128', '203.0.113.10/32']);

    const eps: EndpointsResponse = await client.endpoints();
    expect(eps.endpoints.map((e) => [e.name, e.state, e.ipv4])).toEqual([
      ['c1', 'ready', '198.51.100.0'],
      ['c3', 'ready', '198.51.100.9'],
      ['c2', 'error', null],
    ]);
    expect(eps.endpoints[2]!.error).toMatch(/routectl\.zone="nope" names no zone of this worker/);
    expect(eps.endpoints[0]).toMatchObject({ hostVeth: `rtc${c1.slice(0, 11)}`, advertisedTo: ['203.0.113.1'], gateway: { ipv4: '169.254.1.1' } });

    const byName: InspectResponse = await client.inspect('c3');
    expect(byName).toMatchObject({
      container: { id: c3, name: 'c3' },
      zone: 'app',
      state: 'ready',
      ipv4: '198.51.100.9/32',
      ipv6: '2001:db8:c:1::1/128',
      interface: 'eth0',
      hostMac: 'ee:ee:ee:ee:ee:ee',
      gateway: { ipv4: '169.254.1.1', ipv6: 'fe80::ecee:eeff:feee:eeee' },
      advertisedTo: ['203.0.113.1'],
    });
    expect(byName.hwaddr).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect((await client.inspect(c3.slice(0, 4))).container.id).toBe(c3);
    await expect(client.inspect('ab')).rejects.toThrow(/ab matches 3 containers \(c1, c3, c2\)/);
    await expect(client.inspect('nosuch')).rejects.toThrow(/no container named or with id nosuch/);

    const table = await cli('endpoints');
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^Container\s+Name\s+Zone\s+State\s+IPv4\s+IPv6\s+Host veth\s+Advertised to\s+Error/);
    expect(table.out).toMatch(/c2\s+-\s+error.*names no zone of this worker/);
    expect(table.out).toContain('2 of 3 ready');
    const text = await cli('inspect', 'c1');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/IPv4:\s+198\.51\.100\.0\/32/);
    expect(text.out).toMatch(/Host veth:\s+rtc[0-9a-f]{11} hwaddr ee:ee:ee:ee:ee:ee/);
    const bad = await cli('inspect', 'c2', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out)).toMatchObject({ state: 'error' });

    const kernelRoutes = await client.routes({ view: 'kernel' });
    expect(kernelRoutes.routes.map((r) => `${r.prefix} ${r.nextHops.join()}`).sort()).toEqual([
      `198.51.100.0/32 dev rtc${c1.slice(0, 11)}`,
      `198.51.100.9/32 dev rtc${c3.slice(0, 11)}`,
      `2001:db8:c:1::/128 dev rtc${c1.slice(0, 11)}`,
      `2001:db8:c:1::1/128 dev rtc${c3.slice(0, 11)}`,
    ]);

    // Removal: withdrawn, and the speaker was told only about this endpoint's prefixes.
    docker.rm(c3);
    await until(async () => ((await client.status()).endpoints === 1 ? true : undefined), 'c3 gone');
    expect(speaker.calls.at(-1)).toBe('withdraw 198.51.100.9/32 2001:db8:c:1::1/128');
    expect(logs.text()).toMatch(/"event":"ready".*"name":"c3".*"totalMs":/);
  });

  it('dockerd gone: status says since when, why and when the next attempt runs; the gauge is 0; back: connected', async () => {
    const { docker, client } = await start();
    const gauge = async (): Promise<string | undefined> =>
      (await agent!.observability.metrics.text()).split('\n').find((l) => l.startsWith('routectl_runtime_connected{'));
    expect(await gauge()).toBe('routectl_runtime_connected{runtime="docker"} 1');
    docker.crash();
    const down = await until(async () => {
      const d = (await client.status()).docker;
      return d && !d.connected ? d : undefined;
    }, 'dockerd seen gone');
    expect(down.lastError).toMatch(/event stream ended/);
    expect(down.retryInSeconds).toBeGreaterThanOrEqual(0);
    expect(down.retryInSeconds).toBeLessThanOrEqual(1); // the first retry: 0.5 s ± 20 %
    expect((await client.status()).endpoints).toBe(1); // what is routed stays routed
    expect(await gauge()).toBe('routectl_runtime_connected{runtime="docker"} 0');
    const text = await cli('status');
    expect(text.out).toMatch(/^Docker: unreachable since \S+ \S+Z: docker event stream ended; next attempt in [01] s/m);
    docker.up();
    const up = await until(async () => {
      const d = (await client.status()).docker;
      return d?.connected ? d : undefined;
    }, 'dockerd back');
    expect(up).toMatchObject({ lastError: null, retryInSeconds: null, containers: 1, refused: 1 });
    expect(Date.parse(up.since)).toBeGreaterThanOrEqual(Date.parse(down.since));
    expect(await gauge()).toBe('routectl_runtime_connected{runtime="docker"} 1');
  });

  it('a reload changes the static part only; endpoint prefixes stay', async () => {
    const { speaker } = await start();
    writeFileSync(join(dir, 'agent.yaml'), yaml('203.0.113.20/32'));
    expect(await agent!.reload()).toBe(true);
    expect([...speaker.set].sort()).toEqual(['198.51.100.0/32', '2001:db8:c:1::/128', '203.0.113.20/32']);
  });

  it('a reload that removes the zone of a running container is refused as a whole; status and the log say why', async () => {
    const { speaker, client } = await start();
    const before = agent!.config();
    // Zone and pools gone, and a new advertisement: none of it may apply.
    const text = yaml('203.0.113.20/32').replace(/pools:\n(  - .*\n)+zones:\n  - .*\n/, '');
    expect(text).not.toMatch(/zone/);
    writeFileSync(join(dir, 'agent.yaml'), text);
    expect(await agent!.reload()).toBe(false);
    expect(agent!.config()).toBe(before);
    expect(speaker.set.has('203.0.113.20/32')).toBe(false);
    const s = await client.status();
    expect(s.lastReload).toMatchObject({ result: 'refused', containers: ['c1'], needsRestart: ['pools'] });
    expect(s.lastReload!.problems[0]).toMatch(/^zone "app" still holds running containers c1 \(198\.51\.100\.0, 2001:db8:c:1::\): the new config removes zone "app"/);
    expect(s.lastReload!.problems[1]).toMatch(/^pools\[0\] \(198\.51\.100\.0\/28\) gives addresses to zone "app" until a restart/);
    expect(logs.text()).toMatch(/"op":"config.reload","event":"refused","zones":\["app"\],"containers":\["c1"\]/);
    expect(logs.text()).not.toMatch(/"event":"needs-restart"/);
    const out = await cli('status');
    expect(out.out).toMatch(/Config: reload \S+ \S+ REFUSED, running config kept: it would widen what reaches running containers \(c1\)\n  - zone "app" still holds/);
    // A change that keeps the zone applies, and status says so.
    writeFileSync(join(dir, 'agent.yaml'), yaml('203.0.113.20/32'));
    expect(await agent!.reload()).toBe(true);
    expect(speaker.set.has('203.0.113.20/32')).toBe(true);
    expect((await client.status()).lastReload).toMatchObject({ result: 'applied', problems: [], needsRestart: [] });
  });

  it('POST /v1/reconcile pauses and resumes repair; a bad body changes nothing', async () => {
    const { client, kernel } = await start();
    await expect(client.post('/v1/reconcile', { paused: 'yes' })).rejects.toThrow(/paused: Expected boolean/);
    await expect(client.post('/v1/reconcile', { paused: true, extra: 1 })).rejects.toThrow(/Unrecognized key/);
    expect(await client.setRepairPaused(true)).toEqual({ paused: true });
    kernel.handDeleteRoute('198.51.100.0/32');
    await new Promise((r) => setTimeout(r, 50));
    expect((await client.routes({ view: 'kernel' })).routes).toHaveLength(1);
    expect(await client.setRepairPaused(false)).toEqual({ paused: false });
    expect((await client.routes({ view: 'kernel' })).routes).toHaveLength(2);
  });
});
