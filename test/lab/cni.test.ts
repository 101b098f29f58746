/**
 * routectl-cni driven by real CNI clients, end to end, with a real FRR ToR:
 *
 *   tor (FRR, AS 65000, listen range, default-originate v4+v6)
 *    │ fab0 203.0.113.1/30 2001:db8:ffff::1/64
 *    │ fab0 203.0.113.2/30 2001:db8:ffff::2/64
 *   w (the built `routectl agent`, pools and no Docker runtime: CNI only, AS 65001;
 *      podman 4.3 with its CNI backend, run with nsenter --net=w)
 *    ├─ rtc…/eth0 ─ p1   `podman run --network routectl rtc-bb httpd …`
 *    ├─ rtc…/eth0 ─ p2
 *    └─ rtc…/eth0 ─ p3
 *
 * podman executes the built routectl-cni (a two-line wrapper in the lab's CNI bin dir)
 * with the conflist from deploy/podman/; the plugin asks the agent over its socket.
 *
 * Shows, each step asserted: containers reachable from the ToR over IPv4 and IPv6 (ping
 * and HTTP over TCP) and in their zone policy (anti-spoofing set members), the addresses
 * podman reports being the agent's; `podman rm` → DEL →
 * routes withdrawn from the ToR, veth, host routes and allocation gone; the container's
 * netns destroyed before DEL → DEL still succeeds and frees the address; and the same
 * plugin driven by a libcni client (bench/cni/cnitool, built with Debian's
 * golang-github-appc-cni-dev 1.1.2) for ADD, CHECK (also catching a deleted host route) and DEL.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointEntry } from '../../src/api/types.js';
import { endpointIdOf } from '../../src/cni/attachments.js';
import { OPEN_APP_ZONE, REPO_ROOT, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec, type ExecResult } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { endpointsOf, fibPrefixes, httpGet, ownState, ping as pingFrom } from './views.js';

const TOR4 = '203.0.113.1';
const W4 = '203.0.113.2';
const TOR6 = '2001:db8:ffff::1';
const W6 = '2001:db8:ffff::2';
const IMAGE = 'localhost/rtc-bb:latest';
const NETWORK = 'routectl';
/** The plugin as installed: the CommonJS build (tsconfig.cni.json). */
const CNI_PLUGIN_JS = join(REPO_ROOT, 'dist/cni/src/cli/routectl-cni.js');

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let agent: LabAgent | undefined;
let pdir = '';
let cniBin = '';
let cnitool: string | null = null;
let cnitoolWhy = '';

const config: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000 }],
  import: ['0.0.0.0/0', '::/0'],
  extra: {
    ...OPEN_APP_ZONE,
    runtime: { reconcileInterval: 5 },
  },
};

/** podman inside the worker namespace, on the lab's own storage and config. */
function podman(args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: join(pdir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(pdir, 'storage.conf') };
  delete env.DOCKER_CONFIG;
  return exec(['nsenter', `--net=${w.path}`, 'podman', ...args], { env, timeoutMs });
}
async function podmanOk(args: readonly string[]): Promise<string> {
  const r = await podman(args);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} (exit ${r.code}): ${r.stderr}\n${agent?.logTail() ?? ''}`);
  return r.stdout.trim();
}

function setupPodman(dir: string): void {
  pdir = join(dir, 'podman');
  for (const d of ['net', 'storage', 'run', 'tmp', 'bin', 'bb/bin', 'bb/www', 'bb/tmp']) mkdirSync(join(pdir, d), { recursive: true });
  cniBin = join(pdir, 'bin');
  // The plugin podman executes: the built routectl-cni (its CommonJS build) under this node.
  const plugin = join(cniBin, 'routectl-cni');
  writeFileSync(plugin, `#!/bin/sh\nexec env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS '${process.execPath}' '${CNI_PLUGIN_JS}' "$@"\n`);
  chmodSync(plugin, 0o755);
  writeFileSync(
    join(pdir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${cniBin}", "/usr/lib/cni"]`,
      `network_config_dir = "${join(pdir, 'net')}"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(pdir, 'events.log')}"`,
      'runtime = "runc"',
      `tmp_dir = "${join(pdir, 'tmp')}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(pdir, 'storage.conf'), ['[storage]', 'driver = "vfs"', `graphroot = "${join(pdir, 'storage')}"`, `runroot = "${join(pdir, 'run')}"`, ''].join('\n'));
  // deploy/podman's conflist, pointed at this agent's socket.
  const conf = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/podman/routectl.conflist'), 'utf8')) as { name: string; plugins: Record<string, unknown>[] };
  expect(conf.name).toBe(NETWORK);
  conf.plugins[0]!.socket = agent!.socket;
  writeFileSync(join(pdir, 'net', 'routectl.conflist'), JSON.stringify(conf, null, 2));
}

async function importImage(): Promise<void> {
  const root = join(pdir, 'bb');
  await exec(['cp', '/bin/busybox', join(root, 'bin', 'busybox')]);
  for (const a of ['sh', 'sleep', 'httpd', 'ip']) await exec(['ln', '-sf', 'busybox', join(root, 'bin', a)]);
  writeFileSync(join(root, 'www', 'index.html'), 'rtc\n');
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: join(pdir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(pdir, 'storage.conf') };
  delete env.DOCKER_CONFIG;
  const r = await exec(['sh', '-c', `tar -C '${root}' -c . | nsenter --net='${w.path}' podman import - ${IMAGE}`], { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`podman import: ${r.stderr}`);
}

/** bench/cni/cnitool built against Debian's libcni 1.1.2 (GOPATH mode, docs/lab.md); null with the reason when it cannot be. */
async function buildCnitool(dir: string): Promise<string | null> {
  if (!existsSync('/usr/share/gocode/src/github.com/containernetworking/cni/libcni')) {
    cnitoolWhy = 'golang-github-appc-cni-dev is not installed';
    return null;
  }
  const gopath = join(dir, 'gopath');
  mkdirSync(join(gopath, 'src', 'rtccnitool'), { recursive: true });
  writeFileSync(join(gopath, 'src', 'rtccnitool', 'main.go'), readFileSync(join(REPO_ROOT, 'bench/cni/cnitool/main.go')));
  const out = join(dir, 'cnitool');
  const r = await exec(['go', 'build', '-o', out, 'rtccnitool'], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(dir, 'gocache'), GOFLAGS: '' },
    timeoutMs: 300_000,
  }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (r.code !== 0) {
    cnitoolWhy = `go build failed: ${r.stderr.trim().slice(0, 300)}`;
    return null;
  }
  return out;
}

const endpoints = (): Promise<EndpointEntry[]> => endpointsOf(agent!);

const torRoutes = (): Promise<Set<string>> => fibPrefixes(tor);

const workerOwn = (): Promise<{ routes: string[]; links: string[] }> => ownState(w);

/** Members of the zone policy's anti-spoofing sets (address,host veth), both families. */
async function policyMembers(): Promise<string[]> {
  const out: string[] = [];
  for (const set of ['rtc-ep-4', 'rtc-ep-6']) {
    const r = await w.exec(['ipset', 'list', set]);
    if (r.code !== 0) throw new Error(`ipset list ${set}: ${r.stderr}`);
    out.push(...r.stdout.split('\n').slice(r.stdout.split('\n').indexOf('Members:') + 1).map((l) => l.trim()).filter(Boolean));
  }
  return out;
}

const ping = (addr: string): Promise<boolean> => pingFrom(tor, addr);

const http = (addr: string): Promise<string> => httpGet(tor, addr);

function ipamEndpointIds(): string[] {
  const doc = JSON.parse(readFileSync(join(agent!.dir, 'store', 'ipam.json'), 'utf8')) as { entries: Record<string, { v: { endpoints: Record<string, unknown> } }> };
  return Object.keys(doc.entries['ipam/hosts/w1']?.v.endpoints ?? {});
}

interface Pod {
  readonly name: string;
  readonly id: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly sandbox: string;
  readonly endpoint: EndpointEntry;
}
const pods = new Map<string, Pod>();

async function runPod(name: string): Promise<Pod> {
  const t0 = Date.now();
  const id = await podmanOk(['run', '-d', '--name', name, '--network', NETWORK, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
  const ms = Date.now() - t0;
  const nets = JSON.parse(await podmanOk(['inspect', '--format', '{{json .NetworkSettings.Networks}}', name])) as Record<string, { IPAddress: string; GlobalIPv6Address: string }>;
  const sandbox = await podmanOk(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', name]);
  const net = nets[NETWORK];
  expect(net, `podman reports ${name} on ${NETWORK}`).toBeDefined();
  // podman passes K8S_POD_NAME (the container name) in CNI_ARGS: the agent names the endpoint after it.
  const ep = (await endpoints()).find((e) => e.id === endpointIdOf(NETWORK, id, 'eth0'));
  expect(ep, `agent endpoint for ${name}`).toBeDefined();
  expect(ep).toMatchObject({ state: 'ready', zone: 'app', ipv4: net!.IPAddress, ipv6: net!.GlobalIPv6Address, name: expect.stringMatching(new RegExp(`/${name}$`)) as unknown });
  console.log(`podman run ${name}: ${ms} ms (ADD included) → ${net!.IPAddress} ${net!.GlobalIPv6Address}`);
  const p = { name, id, ipv4: net!.IPAddress, ipv6: net!.GlobalIPv6Address, sandbox, endpoint: ep! };
  pods.set(name, p);
  return p;
}

async function withdrawn(addrs: readonly string[], what: string): Promise<void> {
  await waitFor(async () => {
    const t = await torRoutes();
    return addrs.every((a) => !t.has(a));
  }, { what, timeoutMs: 15_000, intervalMs: 50, diagnostics: () => agent!.logTail() });
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('cnitor');
  w = await lab.netns('cniw');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, `${TOR6}/64`], bAddr: [`${W4}/30`, `${W6}/64`] });
  await w.addRoute('default', { via: TOR4 });
  await w.addRoute('default', { via: TOR6 });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, listenRange: '203.0.113.0/26', listenDefaultOriginate: true });
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  setupPodman(lab.dir);
  await importImage();
  cnitool = await buildCnitool(lab.dir);
}, 420_000);

afterAll(async () => {
  try {
    if (pdir !== '') {
      const all = await podman(['ps', '-aq']);
      for (const id of all.stdout.split('\n').filter(Boolean)) await podman(['rm', '-f', '-t', '0', id]);
    }
    if (agent?.running) await agent.stop().catch(() => undefined);
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
    // podman keeps CNI results under /var/lib/cni/results: none of ours may stay.
    const results = (await exec(['sh', '-c', `ls /var/lib/cni/results 2>/dev/null | grep '^${NETWORK}-' || true`])).stdout.trim();
    expect(results).toBe('');
  }
}, 120_000);

describe('routectl-cni driven by podman (CNI backend) and a libcni client', () => {
  it('podman run on the routectl network → each container reachable from the ToR over IPv4 and IPv6', async () => {
    for (const n of ['p1', 'p2', 'p3']) await runPod(n);
    for (const p of pods.values()) {
      await waitFor(async () => {
        const t = await torRoutes();
        return t.has(`${p.ipv4}/32`) && t.has(`${p.ipv6}/128`);
      }, { what: `${p.name}'s /32 and /128 in the ToR FIB`, timeoutMs: 15_000, intervalMs: 20, diagnostics: () => agent!.logTail() });
      for (const a of [p.ipv4, p.ipv6]) {
        expect(await waitFor(() => ping(a), { what: `ping ${p.name} at ${a}`, timeoutMs: 10_000, intervalMs: 200 }), a).toBe(true);
        expect(await http(a), `HTTP to ${p.name} at ${a}`).toBe('rtc');
      }
    }
    const own = await workerOwn();
    expect(own.links).toEqual([...pods.values()].map((p) => p.endpoint.hostVeth).sort());
    expect(own.routes).toHaveLength(6);
    // In its zone's policy: each address bound to its own veth (anti-spoofing members).
    const members = await policyMembers();
    for (const p of pods.values()) {
      expect(members).toContain(`${p.ipv4},${p.endpoint.hostVeth}`);
      expect(members).toContain(`${p.ipv6},${p.endpoint.hostVeth}`);
    }
    // The container side is what the result said: eth0 with the /32, default via 169.254.1.1.
    const p1 = pods.get('p1')!;
    const inside = await exec(['nsenter', `--net=${p1.sandbox}`, 'ip', '-4', 'route', 'show']);
    expect(inside.stdout).toContain('default via 169.254.1.1 dev eth0');
  });

  it('podman rm → DEL → routes withdrawn from the ToR; veth, host routes and allocation gone', async () => {
    const p3 = pods.get('p3')!;
    await podmanOk(['rm', '-f', '-t', '0', 'p3']);
    await withdrawn([`${p3.ipv4}/32`, `${p3.ipv6}/128`], 'p3 withdrawn from the ToR');
    const own = await workerOwn();
    expect(own.links).not.toContain(p3.endpoint.hostVeth);
    expect(own.routes).not.toContain(`${p3.ipv4}/32`);
    expect(ipamEndpointIds()).not.toContain(p3.endpoint.id);
    expect((await policyMembers()).some((m) => m.startsWith(`${p3.ipv4},`))).toBe(false);
    expect(agent!.logLines().some((l) => l.op === 'cni' && l.event === 'del' && l.container === p3.id)).toBe(true);
    expect(await ping(p3.ipv4)).toBe(false);
    pods.delete('p3');
  });

  it('the container netns destroyed before DEL → DEL still succeeds and frees the address', async () => {
    const p2 = pods.get('p2')!;
    const pid = await podmanOk(['inspect', '--format', '{{.State.Pid}}', 'p2']);
    // Drop the runtime's bind mount, then the last process in the namespace: the kernel
    // destroys it (and the veth with it) while the attachment still exists.
    await exec(['umount', p2.sandbox]);
    await exec(['rm', '-f', p2.sandbox]);
    await exec(['kill', '-9', pid]);
    await waitFor(async () => !(await workerOwn()).links.includes(p2.endpoint.hostVeth!), { what: 'p2 veth gone with its netns', timeoutMs: 10_000, intervalMs: 50 });
    // podman 4.3 does not call DEL once its netns mount is gone (seen here: it removes the
    // container and leaves its CNI result behind), so the DEL comes the way kubelet's CRI
    // runtimes send it: CNI_NETNS naming the vanished namespace — from the libcni client,
    // or from the plugin executed with the spec's environment when that was not built.
    const env = { ...process.env, CNI_PATH: `${cniBin}:/usr/lib/cni`, NETCONFPATH: join(pdir, 'net'), CNI_CACHE_DIR: join(pdir, 'cni-cache') };
    const del = () =>
      cnitool !== null
        ? exec(['nsenter', `--net=${w.path}`, cnitool, 'del', NETWORK, p2.sandbox, p2.id], { env, timeoutMs: 30_000 })
        : exec([join(cniBin, 'routectl-cni')], {
            env: { ...process.env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: p2.id, CNI_NETNS: p2.sandbox, CNI_IFNAME: 'eth0', CNI_PATH: cniBin },
            input: JSON.stringify({ cniVersion: '1.0.0', name: NETWORK, type: 'routectl-cni', zone: 'app', socket: agent!.socket }),
            timeoutMs: 30_000,
          });
    expect(existsSync(p2.sandbox)).toBe(false);
    const first = await del();
    expect(first.code, `${first.stdout}${first.stderr}`).toBe(0);
    expect(agent!.logLines().some((l) => l.op === 'cni' && l.event === 'del' && l.container === p2.id)).toBe(true);
    await withdrawn([`${p2.ipv4}/32`, `${p2.ipv6}/128`], 'p2 withdrawn from the ToR');
    expect(ipamEndpointIds()).not.toContain(p2.endpoint.id);
    expect((await endpoints()).map((e) => e.id)).toEqual([pods.get('p1')!.endpoint.id]);
    expect((await workerOwn()).routes.filter((r) => r.startsWith(p2.ipv4))).toEqual([]);
    // A second DEL (podman's own, or a retry) succeeds too.
    expect((await del()).code).toBe(0);
    await podmanOk(['rm', '-f', '-t', '0', 'p2']);
    await exec(['rm', '-f', `/var/lib/cni/results/${NETWORK}-${p2.id}-eth0`]);
    pods.delete('p2');
  });

  it('a libcni client (cnitool add/check/del) drives the same plugin; CHECK catches a deleted host route', async (ctx) => {
    if (cnitool === null) {
      // scripts/setup.sh installs Debian's libcni, so under the test command (and in CI)
      // a client that cannot be built is a failure, not a skip.
      if (process.env.CI || process.env.RTC_REQUIRE_CNITOOL) throw new Error(`cnitool could not be built: ${cnitoolWhy}`);
      console.log(`cnitool part skipped: ${cnitoolWhy}`);
      ctx.skip();
      return;
    }
    const ns = await lab!.netns('cnic');
    const env = { ...process.env, CNI_PATH: `${cniBin}:/usr/lib/cni`, NETCONFPATH: join(pdir, 'net'), CNI_CACHE_DIR: join(pdir, 'cni-cache') };
    const tool = (...args: string[]) => exec(['nsenter', `--net=${w.path}`, cnitool!, ...args], { env, timeoutMs: 30_000 });
    const added = await tool('add', NETWORK, ns.path, 'cnitool-c1');
    expect(added.code, added.stderr).toBe(0);
    const res = JSON.parse(added.stdout) as { ips: { address: string }[]; interfaces: { name: string; sandbox?: string }[] };
    expect(res.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: ns.path });
    const v4 = res.ips[0]!.address.replace('/32', '');
    const v6 = res.ips[1]!.address.replace('/128', '');
    await waitFor(async () => (await torRoutes()).has(`${v4}/32`), { what: 'cnitool container in the ToR FIB', timeoutMs: 15_000, intervalMs: 20 });
    expect(await waitFor(() => ping(v4), { what: `ping ${v4}`, timeoutMs: 10_000, intervalMs: 200 })).toBe(true);
    expect(await waitFor(() => ping(v6), { what: `ping ${v6}`, timeoutMs: 10_000, intervalMs: 200 })).toBe(true);
    expect((await tool('check', NETWORK, ns.path, 'cnitool-c1')).code).toBe(0);
    // Drift left in place (repair paused), so CHECK sees it.
    expect((await agent!.cli(['reconcile', 'pause'])).code).toBe(0);
    await w.delRoute(`${v4}/32`, { proto: 88 });
    const bad = await tool('check', NETWORK, ns.path, 'cnitool-c1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`host route ${v4.replace(/\./g, '\\.')}/32 dev rtc[0-9a-f]{11} is missing`));
    expect((await agent!.cli(['reconcile', 'resume'])).code).toBe(0);
    await waitFor(async () => (await tool('check', NETWORK, ns.path, 'cnitool-c1')).code === 0, { what: 'CHECK clean after repair', timeoutMs: 15_000, intervalMs: 200 });
    expect((await tool('del', NETWORK, ns.path, 'cnitool-c1')).code).toBe(0);
    expect((await tool('del', NETWORK, ns.path, 'cnitool-c1')).code).toBe(0);
    await withdrawn([`${v4}/32`, `${v6}/128`], 'cnitool container withdrawn');
  });
});
