/**
 * The reload matrix, with real traffic: no SIGHUP may widen what reaches a running
 * container through a zone removed or shrunk (policy/reload.ts, docs/security.md).
 *
 *   world (203.0.113.1, 2001:db8:ffff::1) ─── fab ─── w1 (dockerd, built agent): c1 c2 (app), b1 (backend)
 *     lo: 198.51.100.10, 2001:db8:c:1::10    a dmz host of another worker
 *         198.51.100.100, 2001:db8:c:2::100  an app host of another worker
 *
 * Zones dmz/app/backend; pools of app and backend on w1 only. Every container runs httpd
 * on 80, 8080, 22 and 5432. For each row — zone removed, zone ranges shrunk (a container
 * outside / all inside), ingress rule removed, ingress rule added, pool moved to another
 * zone, defaultAction drop → reject, a zone removed that widens what world may reach, a
 * zone removed once its containers are gone — the same probes run before and after the
 * reload, in IPv4 and IPv6: a TCP connection from the world namespace (from the world,
 * dmz or app address) or from inside a container's namespace; allowed = the HTTP answer
 * came back. For each probe the agent's policy check (GET /v1/policy/check, what `routectl
 * policy check` asks) gives the same verdict. A refused
 * reload leaves the kernel's rules and sets byte for byte, logs `event: refused` with the
 * zone and the containers, and `routectl status` (text and --json) says why.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { PolicyCheckResponse } from '../../src/api/policy-types.js';
import { ApiClient } from '../../src/api/client.js';
import type { EndpointEntry, StatusResponse } from '../../src/api/types.js';
import { agentConfig as fileConfig, startAgent, type AgentLogLine, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';

const WORLD = { v4: '203.0.113.1', v6: '2001:db8:ffff::1' };
const W1 = { v4: '203.0.113.2', v6: '2001:db8:ffff::2' };
const DMZH = { v4: '198.51.100.10', v6: '2001:db8:c:1::10' };
const APPH = { v4: '198.51.100.100', v6: '2001:db8:c:2::100' };

interface ZoneDef {
  readonly name: string;
  readonly cidrs: readonly string[];
  readonly ingress: readonly { readonly from: string; readonly ports: readonly string[] }[];
  readonly isolated?: boolean;
}
interface Model {
  readonly zones: readonly ZoneDef[];
  readonly pools: readonly { readonly cidr: string; readonly zone: string }[];
  readonly defaultAction?: 'drop' | 'reject';
}

const DMZ: ZoneDef = { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80'] }] };
const APP: ZoneDef = { name: 'app', cidrs: ['198.51.100.64/26', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }, { from: 'world', ports: ['tcp/80'] }] };
const BACKEND: ZoneDef = { name: 'backend', cidrs: ['198.51.100.128/26', '2001:db8:c:3::/64'], ingress: [{ from: 'app', ports: ['tcp/5432'] }] };
const APP_POOLS = [{ cidr: '198.51.100.64/28', zone: 'app' }, { cidr: '2001:db8:c:2::/120', zone: 'app' }];
const BACKEND_POOLS = [{ cidr: '198.51.100.128/28', zone: 'backend' }, { cidr: '2001:db8:c:3::/120', zone: 'backend' }];
const START: Model = { zones: [DMZ, APP, BACKEND], pools: [...APP_POOLS, ...BACKEND_POOLS] };

let lab: Lab | undefined;
let world: Netns;
let w1: Netns;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
let sock = '';
const ctrs = new Map<string, { pid: number; v4: string; v6: string }>();

function config(m: Model): LabAgentConfig {
  return {
    node: 'w1',
    routerId: W1.v4,
    asn: 65001,
    peers: [],
    extra: {
      pools: m.pools,
      zones: m.zones,
      policy: { defaultAction: m.defaultAction ?? 'drop', logDrops: false },
      runtime: { docker: { socket: sock }, reconcileInterval: 2 },
    },
  };
}

/** Rewrite agent.yaml, SIGHUP, and wait for the reload's outcome line (applied, refused or invalid). */
async function reload(m: Model): Promise<AgentLogLine> {
  const a = agent!;
  const before = a.logLines().filter((l) => l.op === 'config.reload' && l.event !== 'needs-restart').length;
  writeFileSync(a.configPath, stringify(fileConfig(config(m), a.dir)), { mode: 0o600 });
  a.signal('SIGHUP');
  return waitFor(() => a.logLines().filter((l) => l.op === 'config.reload' && l.event !== 'needs-restart')[before], {
    what: 'the reload outcome in the agent log', timeoutMs: 15_000, intervalMs: 50, diagnostics: () => a.logTail(),
  });
}

type Src = 'world' | 'dmzh' | 'apph' | 'c1' | 'c2' | 'b1';
type Fam = 4 | 6;
interface Probe {
  readonly from: Src;
  readonly to: 'c1' | 'c2' | 'b1';
  readonly port: number;
}
type Outcome = 'answered' | 'timeout' | string;

const hostAddr: Record<'world' | 'dmzh' | 'apph', { v4: string; v6: string }> = { world: WORLD, dmzh: DMZH, apph: APPH };
const ctr = (n: string) => {
  const c = ctrs.get(n);
  if (!c) throw new Error(`no container ${n}`);
  return c;
};
const addrOf = (s: Src, f: Fam): string => {
  const a = s === 'world' || s === 'dmzh' || s === 'apph' ? hostAddr[s] : ctr(s);
  return f === 4 ? a.v4 : a.v6;
};

/** One TCP connection: from the world namespace bound to the host's address, or from a container's namespace. */
async function connect(p: Probe, f: Fam): Promise<Outcome> {
  const dst = addrOf(p.to, f);
  const inWorld = p.from === 'world' || p.from === 'dmzh' || p.from === 'apph';
  const bind = inWorld ? `s.bind(('${addrOf(p.from, f)}', 0))` : 'pass';
  const py = [
    'import socket, errno',
    `s = socket.socket(socket.AF_INET${f === 6 ? '6' : ''}, socket.SOCK_STREAM)`,
    's.settimeout(3)',
    bind,
    'try:',
    `    s.connect(('${dst}', ${p.port}))`,
    "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')",
    "    print('answered' if s.recv(16).startswith(b'HTTP/1.') else 'connected')",
    'except socket.timeout:',
    "    print('timeout')",
    'except OSError as e:',
    "    print(errno.errorcode.get(e.errno, 'error'))",
  ].join('\n');
  const argv = inWorld ? ['ip', 'netns', 'exec', world.name, 'python3', '-c', py] : ['nsenter', '-t', String(ctr(p.from).pid), '-n', 'python3', '-c', py];
  const r = await exec(argv, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`probe ${p.from} -> ${p.to}:${p.port}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * `routectl policy check`'s API (GET /v1/policy/check) over the agent's socket, in-process:
 * ~40 checks a row would otherwise start ~40 CLI processes on a shared 2-core machine.
 * The CLI itself (text, exit codes) is run where a row quotes it.
 */
async function policyCheck(p: Probe, f: Fam): Promise<PolicyCheckResponse> {
  // Hosts by address; containers by name for IPv4 (the agent resolves them), by address for IPv6.
  const side = (s: Src): string => (f === 4 && (s === 'c1' || s === 'c2' || s === 'b1') ? s : addrOf(s, f));
  const q = new URLSearchParams({ src: side(p.from), dst: side(p.to), traffic: `tcp/${p.port}` });
  return new ApiClient(agent!.socket, { timeoutMs: 20_000 }).get<PolicyCheckResponse>(`/v1/policy/check?${q.toString()}`);
}

const key = (p: Probe, f: Fam): string => `IPv${f} ${p.from}->${p.to}:${p.port}`;

/**
 * The probes in both families: what the traffic did and what `policy check` said; a
 * disagreement between the two is a problem in itself.
 */
async function observe(probes: readonly Probe[]): Promise<{ seen: Map<string, Outcome>; problems: string[] }> {
  const seen = new Map<string, Outcome>();
  const problems: string[] = [];
  const jobs = probes.flatMap((p) => ([4, 6] as const).map((f) => ({ p, f })));
  const one = async ({ p, f }: { p: Probe; f: Fam }): Promise<void> => {
    const [out, chk] = await Promise.all([connect(p, f), policyCheck(p, f)]);
    seen.set(key(p, f), out);
    const allowed = out === 'answered';
    if ((chk.verdict === 'allow') !== allowed) problems.push(`${key(p, f)}: traffic ${out}, policy check ${chk.verdict} (${chk.rule})`);
    if (chk.rule === 'not-ours') problems.push(`${key(p, f)}: judged not-ours (a container in no zone)`);
  };
  for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map(one));
  return { seen, problems };
}

/** Expected: the probes that answer (every other probe must not). */
function verdicts(seen: Map<string, Outcome>): { allowed: string[]; denied: string[] } {
  const allowed = [...seen].filter(([, o]) => o === 'answered').map(([k]) => k).sort();
  const denied = [...seen].filter(([, o]) => o !== 'answered').map(([k]) => k).sort();
  return { allowed, denied };
}
const both = (...ps: Probe[]): string[] => ps.flatMap((p) => [key(p, 4), key(p, 6)]).sort();

/** Our own rules and sets (no counters): what a refused reload must leave as it was. */
async function ownState(): Promise<string[]> {
  const out: string[] = [];
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    for (const l of (await w1.run([cmd, '-t', 'filter'])).split('\n')) if (/ROUTECTL|routectl:/.test(l)) out.push(`${cmd}: ${l.replace(/ \[\d+:\d+\]$/, '')}`);
  }
  const sets = (await w1.run(['ipset', 'save'])).split('\n').filter((l) => / rtc-/.test(l)).sort();
  return [...out, ...sets];
}

const P = {
  worldC1_80: { from: 'world', to: 'c1', port: 80 },
  worldC1_22: { from: 'world', to: 'c1', port: 22 },
  worldC2_22: { from: 'world', to: 'c2', port: 22 },
  dmzC1_8080: { from: 'dmzh', to: 'c1', port: 8080 },
  dmzC1_22: { from: 'dmzh', to: 'c1', port: 22 },
  appC1_22: { from: 'apph', to: 'c1', port: 22 },
  c1B1_5432: { from: 'c1', to: 'b1', port: 5432 },
  worldB1_5432: { from: 'world', to: 'b1', port: 5432 },
  worldB1_22: { from: 'world', to: 'b1', port: 22 },
} as const satisfies Record<string, Probe>;
const ALL: readonly Probe[] = Object.values(P);

async function status(): Promise<StatusResponse> {
  const r = await agent!.status();
  if (r.json === undefined) throw new Error(`routectl status --json: ${r.code} ${r.stderr}`);
  return r.json;
}

/** A refused reload: the outcome line, the kernel untouched, the verdicts the same, status saying why. */
async function expectRefused(next: Model, what: { zone: string; kind: string; containers: string[] }): Promise<{ line: AgentLogLine; seen: Map<string, Outcome> }> {
  const kernel = await ownState();
  const before = await observe(ALL);
  expect(before.problems).toEqual([]);
  const line = await reload(next);
  const after = await observe(ALL);
  // What reaches the containers first: that is the point (and the clearest failure).
  expect(verdicts(after.seen), `verdicts after the reload (${line.event}: ${line.msg})`).toEqual(verdicts(before.seen));
  expect(after.problems).toEqual([]);
  expect(line.event, line.msg).toBe('refused');
  expect(line.zones).toEqual(expect.arrayContaining([what.zone]));
  expect(line.kinds).toEqual(expect.arrayContaining([what.kind]));
  expect(line.containers).toEqual(what.containers);
  expect(await ownState()).toEqual(kernel);
  const s = await status();
  expect(s.lastReload).toMatchObject({ result: 'refused', containers: what.containers });
  expect(s.lastReload!.problems.join('\n')).toContain(`zone "${what.zone}"`);
  return { line, seen: after.seen };
}

/** An applied reload: the verdicts before and after, both agreeing with policy check. */
async function expectApplied(next: Model): Promise<{ before: Map<string, Outcome>; after: Map<string, Outcome> }> {
  const before = await observe(ALL);
  expect(before.problems).toEqual([]);
  const line = await reload(next);
  expect(line.event, line.msg).toBe('applied');
  const after = await observe(ALL);
  expect(after.problems).toEqual([]);
  expect((await status()).lastReload).toMatchObject({ result: 'applied', problems: [] });
  return { before: before.seen, after: after.seen };
}

async function endpointsReady(n: number): Promise<EndpointEntry[]> {
  return waitFor(async () => {
    const r = await agent!.endpoints();
    const ready = r.json?.endpoints.filter((e) => e.state === 'ready') ?? [];
    return ready.length === n ? ready : undefined;
  }, { what: `${n} endpoints ready`, timeoutMs: 30_000, intervalMs: 200, diagnostics: () => agent!.logTail() });
}

beforeAll(async () => {
  lab = await Lab.create();
  world = await lab.netns('prworld');
  w1 = await lab.netns('prw1');
  await lab.link(world, w1, { aName: 'fab0', bName: 'fab0', aAddr: [`${WORLD.v4}/30`, `${WORLD.v6}/64`], bAddr: [`${W1.v4}/30`, `${W1.v6}/64`] });
  await w1.addRoute('default', { via: WORLD.v4 });
  await w1.addRoute('default', { via: WORLD.v6 });
  // The container ranges are behind w1 (static: the BGP side is not what this test is about).
  await world.addRoute('198.51.100.0/24', { via: W1.v4 });
  await world.addRoute('2001:db8:c::/48', { via: W1.v6 });
  for (const a of [DMZH.v4, APPH.v4]) await world.addAddress('lo', `${a}/32`);
  for (const a of [DMZH.v6, APPH.v6]) await world.addAddress('lo', `${a}/128`);
  dockerd = await startDockerd(w1);
  await dockerd.importBusybox();
  sock = dockerd.sock;
  agent = await startAgent(w1, config(START), { name: 'pr-agent' });
  const servers = 'httpd -p 8080 -h /www; httpd -p 22 -h /www; httpd -p 5432 -h /www; exec httpd -f -p 80 -h /www';
  for (const [name, zone] of [['c1', 'app'], ['c2', 'app'], ['b1', 'backend']] as const) {
    await dockerd.runContainer(['--net', 'none', '--name', name, '--label', `routectl.zone=${zone}`, BUSYBOX_IMAGE, 'sh', '-c', servers]);
  }
  for (const e of await endpointsReady(3)) {
    if (!e.ipv4 || !e.ipv6 || e.name === null) throw new Error(`endpoint without addresses: ${JSON.stringify(e)}`);
    const pid = Number(await dockerd.docker(['inspect', '--format', '{{.State.Pid}}', e.name]));
    ctrs.set(e.name, { pid, v4: e.ipv4, v6: e.ipv6 });
  }
  expect([...ctrs.keys()].sort()).toEqual(['b1', 'c1', 'c2']);
}, 170_000);

afterAll(async () => {
  try {
    if (agent?.running) await agent.stop().catch(() => undefined);
    await dockerd?.cleanup().catch(() => undefined);
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
}, 60_000);

// The rows run in order, each from the state the previous one left (`now`).
let now: Model = START;

describe('reload matrix: what reaches a running container, before and after (real traffic, IPv4 and IPv6)', () => {
  it('start: the verdicts of the starting model', async () => {
    const { seen, problems } = await observe(ALL);
    expect(problems).toEqual([]);
    expect(verdicts(seen).allowed).toEqual(both(P.worldC1_80, P.dmzC1_8080, P.appC1_22, P.c1B1_5432));
  }, 120_000);

  it('zone removed (app and its pools) under running containers: refused; c1 and c2 stay in app, nothing opens', async () => {
    const next: Model = { zones: [DMZ, { ...BACKEND, ingress: [] }], pools: BACKEND_POOLS };
    const { line, seen } = await expectRefused(next, { zone: 'app', kind: 'endpoint-reclassified', containers: ['c1', 'c2'] });
    // Both pools of app (IPv4 and IPv6) would lose their zone.
    expect(line.kinds).toEqual(['endpoint-reclassified', 'pool-orphaned', 'pool-orphaned']);
    expect(line.msg).toMatch(/zone "app" still holds running containers c1 \(198\.51\.100\.\d+, 2001:db8:c:2::\w*\), c2 .*: the new config removes zone "app"/);
    expect(seen.get(key(P.worldC2_22, 4))).toBe('timeout');
    // The check the issue quotes answers from the zone, not "not-ours".
    const chk = await agent!.cli<PolicyCheckResponse>(['policy', 'check', 'world', 'c2', 'tcp/22', '--json']);
    expect([chk.code, chk.json.verdict, chk.json.rule, chk.json.dst.zone]).toEqual([1, 'deny', 'deny world->app', 'app']);
    const text = (await agent!.cli(['status'])).stdout;
    expect(text).toMatch(/^Config: reload .* REFUSED, running config kept: it would widen what reaches running containers \(c1, c2\)$/m);
    expect(text).toMatch(/^ {2}- zone "app" still holds running containers c1 /m);
    expect(text).toMatch(/^ {2}- pools\[0\] \(198\.51\.100\.64\/28\) gives addresses to zone "app" until a restart/m);
    console.log(`$ routectl status   # after the refused reload\n${text}`);
  }, 240_000);

  it('zone ranges shrunk so that running containers fall outside: refused', async () => {
    // A valid file moves its pool into the new range too; the running pool stays until a restart.
    const next: Model = {
      zones: [DMZ, { ...APP, cidrs: ['198.51.100.96/27', '2001:db8:c:2::/64'] }, BACKEND],
      pools: [{ cidr: '198.51.100.96/28', zone: 'app' }, APP_POOLS[1]!, ...BACKEND_POOLS],
    };
    const { line } = await expectRefused(next, { zone: 'app', kind: 'endpoint-reclassified', containers: ['c1', 'c2'] });
    expect(line.kinds).toEqual(['endpoint-reclassified', 'pool-orphaned']);
    expect(line.msg).toMatch(/c1 \(198\.51\.100\.\d+\), c2 \(198\.51\.100\.\d+\): the new ranges of zone "app" \(198\.51\.100\.96\/27, 2001:db8:c:2::\/64\) no longer hold their addresses, so they would be in no zone \(world\)/);
  }, 240_000);

  it('zone ranges shrunk, every running container and pool still inside: applied; the app host left outside is world now (narrower)', async () => {
    const next: Model = { ...now, zones: [DMZ, { ...APP, cidrs: ['198.51.100.64/27', '2001:db8:c:2::/120'] }, BACKEND] };
    const { before, after } = await expectApplied(next);
    now = next;
    expect(verdicts(before).allowed).toEqual(both(P.worldC1_80, P.dmzC1_8080, P.appC1_22, P.c1B1_5432));
    // 198.51.100.100 / 2001:db8:c:2::100 lost intra-zone access to c1:22; nothing gained anything.
    expect(verdicts(after).allowed).toEqual(both(P.worldC1_80, P.dmzC1_8080, P.c1B1_5432));
  }, 240_000);

  it('ingress rule removed (app from world tcp/80): applied, narrower', async () => {
    const next: Model = { ...now, zones: now.zones.map((z) => (z.name === 'app' ? { ...z, ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] } : z)) };
    const { before, after } = await expectApplied(next);
    now = next;
    expect(verdicts(before).allowed).toContain(key(P.worldC1_80, 4));
    expect(verdicts(after).allowed).toEqual(both(P.dmzC1_8080, P.c1B1_5432));
  }, 240_000);

  it('ingress rule added (app from world tcp/22): applied, the explicit widening holds', async () => {
    const next: Model = { ...now, zones: now.zones.map((z) => (z.name === 'app' ? { ...z, ingress: [...z.ingress, { from: 'world', ports: ['tcp/22'] }] } : z)) };
    const { after } = await expectApplied(next);
    now = next;
    // The app host at .100 is world now: it gets tcp/22 as world does.
    expect(verdicts(after).allowed).toEqual(both(P.worldC1_22, P.worldC2_22, P.appC1_22, P.dmzC1_8080, P.c1B1_5432));
  }, 240_000);

  it('pool moved to another zone (app pools → dmz, its range with them): refused; c1 stays app, dmz gets no intra-zone access', async () => {
    const app = now.zones.find((z) => z.name === 'app')!;
    const next: Model = {
      zones: [
        { ...DMZ, cidrs: [...DMZ.cidrs, '198.51.100.64/27', '2001:db8:c:2::/120'] },
        { ...app, cidrs: ['198.51.100.96/27', '2001:db8:c:2:1::/80'] },
        BACKEND,
      ],
      pools: [...APP_POOLS.map((p) => ({ ...p, zone: 'dmz' })), ...BACKEND_POOLS],
    };
    const { line, seen } = await expectRefused(next, { zone: 'app', kind: 'endpoint-reclassified', containers: ['c1', 'c2'] });
    expect(line.msg).toMatch(/they would be judged as zone "dmz", which their label did not ask for/);
    expect(line.kinds).toEqual(['endpoint-reclassified', 'pool-orphaned', 'pool-orphaned']);
    // Applied, dmz → c1 would be inside one zone: everything. It stays dmz → app: 8080 only.
    expect(seen.get(key(P.dmzC1_22, 4))).toBe('timeout');
    expect(seen.get(key(P.dmzC1_22, 6))).toBe('timeout');
  }, 240_000);

  it('policy.defaultAction drop → reject: applied; the same probes are denied, now answered by an ICMP error instead of silence', async () => {
    const next: Model = { ...now, defaultAction: 'reject' };
    const { before, after } = await expectApplied(next);
    now = next;
    expect(verdicts(after)).toEqual(verdicts(before));
    for (const f of [4, 6] as const) {
      expect(before.get(key(P.worldB1_5432, f))).toBe('timeout');
      // ICMP administratively prohibited: EHOSTUNREACH (IPv4), EACCES (IPv6).
      expect(after.get(key(P.worldB1_5432, f))).toMatch(/^(EHOSTUNREACH|EACCES|ECONNREFUSED)$/);
    }
  }, 240_000);

  it('zone removed with nothing of it on this worker, but world may reach app on more than dmz could: refused; narrowing app in the same file: applied', async () => {
    // dmz has no container or pool here; its hosts (198.51.100.10) would become world, and
    // app admits tcp/22 from world but only tcp/8080 from dmz.
    const appNoDmz = (z: ZoneDef): ZoneDef => ({ ...z, ingress: z.ingress.filter((r) => r.from !== 'dmz') });
    const zones = now.zones.filter((z) => z.name !== 'dmz').map((z) => (z.name === 'app' ? appNoDmz(z) : z));
    const { line, seen } = await expectRefused({ ...now, zones }, { zone: 'dmz', kind: 'source-widened', containers: ['c1', 'c2'] });
    expect(line.msg).toMatch(/removing zone "dmz" leaves 198\.51\.100\.0\/26, 2001:db8:c:1::\/64 in no zone \(world\), and zone "app" admits tcp\/22 from world/);
    expect(seen.get(key(P.dmzC1_22, 4))).not.toBe('answered');
    // Without app's world rule nothing widens: applied, and the dmz host lost tcp/8080.
    const next: Model = { ...now, zones: zones.map((z) => (z.name === 'app' ? { ...z, ingress: [] } : z)) };
    const { after } = await expectApplied(next);
    now = next;
    expect(verdicts(after).allowed).toEqual(both(P.c1B1_5432));
  }, 300_000);

  it('zone removed once its containers are gone: still refused while its pools run (until a restart)', async () => {
    await dockerd!.docker(['rm', '-f', 'c1', 'c2']);
    await endpointsReady(1);
    await waitFor(async () => ((await agent!.endpoints()).json?.endpoints.length === 1 ? true : undefined), { what: 'c1 and c2 gone from routectl endpoints', timeoutMs: 30_000, intervalMs: 200 });
    ctrs.delete('c1');
    ctrs.delete('c2');
    const kernel = await ownState();
    const next: Model = { ...now, zones: now.zones.filter((z) => z.name !== 'app').map((z) => (z.name === 'backend' ? { ...z, ingress: [] } : z)), pools: BACKEND_POOLS };
    const line = await reload(next);
    expect(line.event).toBe('refused');
    expect(line.kinds).toEqual(['pool-orphaned', 'pool-orphaned']);
    expect(line.containers).toEqual([]);
    expect(line.msg).toMatch(/pools\[0\] \(198\.51\.100\.64\/28\) gives addresses to zone "app" until a restart/);
    expect(await ownState()).toEqual(kernel);
    const { seen, problems } = await observe([P.worldB1_5432, P.worldB1_22]);
    expect(problems).toEqual([]);
    expect(verdicts(seen).allowed).toEqual([]);
  }, 240_000);
});
