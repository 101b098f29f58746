/**
 * The zone policy enforced by the built agent, end to end, on two workers:
 *
 *                     tor (FRR, AS 65000, listen range, default-originate v4+v6) = "world"
 *        fab 203.0.113.1/30 2001:db8:ffff::1/64      fab 203.0.113.5/30 2001:db8:fffe::1/64
 *        fab 203.0.113.2/30 2001:db8:ffff::2/64      fab 203.0.113.6/30 2001:db8:fffe::2/64
 *   w1 (dockerd, agent, AS 65001): dmz1 app1 backend1    w2 (dockerd, agent, AS 65002): app2 backend2
 *
 * Zones dmz/app/backend as in the issue (world → dmz tcp/80, dmz → app tcp/8080,
 * app → backend tcp/5432), every container a busybox httpd on 80, 8080, 22 and 5432.
 * Each verdict is real traffic (busybox nc from the ToR or from inside a container's
 * namespace; allowed = the HTTP answer came back, so replies flow), in IPv4 and IPv6,
 * locally and across workers, and for each: `routectl policy check` gives the same verdict
 * and names the rule whose counter (`routectl policy show`) moved. Then: a dmz container
 * forging a backend source gets nothing through (UDP NoPorts in the target stays put,
 * w1's spoof-drop counter moves; the same datagrams from a real backend arrive); containers
 * cannot reach the worker's BGP and metrics ports (the ToR can) nor its API socket; drops in
 * /metrics; agent restarted → identical own rules and sets, one jump each; a chain flushed
 * by hand → repaired by the next pass; SIGHUP to another model → the new verdicts hold and
 * a probe loop that both models deny got nothing through during the switch.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointEntry } from '../../src/api/types.js';
import type { PolicyCheckResponse, PolicyShowResponse } from '../../src/api/policy-types.js';
import { startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startDockerd, BUSYBOX_IMAGE, type Dockerd } from './harness/docker.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';

const TOR = { v4a: '203.0.113.1', v6a: '2001:db8:ffff::1', v4b: '203.0.113.5', v6b: '2001:db8:fffe::1' };
const W1 = { v4: '203.0.113.2', v6: '2001:db8:ffff::2' };
const W2 = { v4: '203.0.113.6', v6: '2001:db8:fffe::2' };

const ZONES_A = [
  { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80', 'tcp/443'] }] },
  { name: 'app', cidrs: ['198.51.100.64/26', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] },
  { name: 'backend', cidrs: ['198.51.100.128/26', '2001:db8:c:3::/64'], isolated: false, ingress: [{ from: 'app', ports: ['tcp/5432', 'udp/53'] }] },
];
// B: dmz reaches app on 22 instead of 8080; dmz → backend and world → backend stay denied.
const ZONES_B = ZONES_A.map((z) => (z.name === 'app' ? { ...z, ingress: [{ from: 'dmz', ports: ['tcp/22'] }] } : z));

function pools(n: 1 | 2): unknown[] {
  const o = n === 1 ? 0 : 16;
  const v6 = n === 1 ? '' : '1';
  return [
    { cidr: `198.51.100.${o}/28`, zone: 'dmz' },
    { cidr: `198.51.100.${64 + o}/28`, zone: 'app' },
    { cidr: `198.51.100.${128 + o}/28`, zone: 'backend' },
    { cidr: `2001:db8:c:1::${v6}00/120`, zone: 'dmz' },
    { cidr: `2001:db8:c:2::${v6}00/120`, zone: 'app' },
    { cidr: `2001:db8:c:3::${v6}00/120`, zone: 'backend' },
  ];
}

function agentConfig(n: 1 | 2, sock: string, zones: unknown[]): LabAgentConfig {
  const w = n === 1 ? W1 : W2;
  return {
    node: `w${n}`,
    routerId: w.v4,
    asn: 65000 + n,
    peers: [{ address: n === 1 ? TOR.v4a : TOR.v4b, asn: 65000 }],
    extra: {
      pools: pools(n),
      zones,
      policy: { defaultAction: 'drop', logDrops: true },
      runtime: { docker: { socket: sock }, reconcileInterval: 2 },
      // On every address, so "containers cannot reach it" is a policy verdict, not a bind choice.
      metrics: { listen: '[::]:9273' },
    },
  };
}

interface Ctr {
  readonly name: string;
  readonly worker: 1 | 2;
  readonly pid: number;
  readonly v4: string;
  readonly v6: string;
}

let lab: Lab | undefined;
let tor: Netns;
const ws: Netns[] = [];
let frr: Frr | undefined;
const dockerds: Dockerd[] = [];
const agents: (LabAgent | undefined)[] = [undefined, undefined];
const ctrs = new Map<string, Ctr>();
const cfgs: LabAgentConfig[] = [];
const ctr = (n: string): Ctr => {
  const c = ctrs.get(n);
  if (!c) throw new Error(`no container ${n}`);
  return c;
};

type From = { readonly ns: Netns } | { readonly ctr: string };
type Fam = 4 | 6;
const addr = (c: Ctr, f: Fam): string => (f === 4 ? c.v4 : c.v6);

/** busybox nc from the source's namespace; 'ok' with `body` when the server answered. */
async function connect(from: From, to: string, port: number, payload = 'GET / HTTP/1.0\r\n\r\n'): Promise<{ outcome: 'answered' | 'connected' | 'timeout' | 'refused' | 'error'; text: string }> {
  const script = `printf '${payload.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}' | busybox nc -w 2 ${to} ${port}`;
  const argv = 'ns' in from ? ['ip', 'netns', 'exec', from.ns.name, 'busybox', 'sh', '-c', script] : ['nsenter', '-t', String(ctr(from.ctr).pid), '-n', 'busybox', 'sh', '-c', script];
  const r = await exec(argv, { timeoutMs: 15_000 });
  const text = `${r.stdout}${r.stderr}`;
  if (r.stdout.startsWith('HTTP/1.')) return { outcome: 'answered', text };
  if (/timed out/i.test(r.stderr)) return { outcome: 'timeout', text };
  if (/refused/i.test(r.stderr)) return { outcome: 'refused', text };
  return { outcome: r.code === 0 ? 'connected' : 'error', text };
}

async function policyShow(i: 0 | 1 = 0): Promise<PolicyShowResponse> {
  const r = await agents[i]!.cli<PolicyShowResponse>(['policy', 'show', '--json']);
  if (r.code !== 0) throw new Error(`routectl policy show: ${r.stderr}`);
  return r.json;
}

async function policyCheck(src: string, dst: string, traffic: string): Promise<{ code: number; json: PolicyCheckResponse }> {
  const r = await agents[0]!.cli<PolicyCheckResponse>(['policy', 'check', src, dst, traffic, '--json']);
  if (r.json === undefined) throw new Error(`routectl policy check ${src} ${dst} ${traffic}: exit ${r.code} ${r.stderr}`);
  return { code: r.code, json: r.json };
}

/** Policy log lines of an agent after the first `skip` lines (the log file outlives restarts). */
const policyLogs = (a: LabAgent, skip = 0) => a.logLines().slice(skip).filter((l) => l.op === 'policy');

const ruleCount = (s: PolicyShowResponse, id: string): number => s.rules.find((r) => r.id === id)?.packets ?? s.system.filter((r) => r.id === id).reduce((n, r) => n + r.packets, 0);

/** Our own rules and sets in a worker: iptables-save lines of ROUTECTL chains and jumps (no counters), set names. */
async function ownState(ns: Netns): Promise<{ rules: string[]; sets: string[]; jumps: number }> {
  const rules: string[] = [];
  let jumps = 0;
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    const text = await ns.run([cmd, '-t', 'filter']);
    for (const l of text.split('\n')) {
      if (!/ROUTECTL|routectl:/.test(l)) continue;
      const line = l.replace(/ \[\d+:\d+\]$/, '');
      rules.push(`${cmd}: ${line}`);
      if (/^-A (FORWARD|INPUT) .*routectl:jump/.test(line)) jumps++;
    }
  }
  const sets = (await ns.run(['ipset', 'list', '-n'])).split('\n').filter((s) => s.startsWith('rtc-')).sort();
  return { rules, sets, jumps };
}

async function pidOf(d: Dockerd, name: string): Promise<number> {
  return Number(await d.docker(['inspect', '--format', '{{.State.Pid}}', name]));
}

/** /proc/net/snmp(6) UDP NoPorts of a container: datagrams that arrived for a closed port. */
async function udpNoPorts(c: Ctr, f: Fam): Promise<number> {
  const file = f === 4 ? '/proc/net/snmp' : '/proc/net/snmp6';
  const r = await exec(['nsenter', '-t', String(c.pid), '-n', 'cat', file]);
  if (f === 6) return Number(/^Udp6NoPorts\s+(\d+)/m.exec(r.stdout)?.[1] ?? NaN);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [head, vals] = lines.map((l) => l.split(/\s+/));
  return Number(vals?.[head?.indexOf('NoPorts') ?? -1] ?? NaN);
}

/** N UDP datagrams from inside a container's namespace, from `src` (bound: possibly not its own address). */
async function sendUdp(c: Ctr, src: string, dst: string, n: number): Promise<void> {
  const fam = dst.includes(':') ? 'AF_INET6' : 'AF_INET';
  const py = `import socket\ns=socket.socket(socket.${fam},socket.SOCK_DGRAM)\ns.bind(('${src}',0))\nfor _ in range(${n}): s.sendto(b'x',('${dst}',9999))`;
  const r = await exec(['nsenter', '-t', String(c.pid), '-n', 'python3', '-c', py], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`send from ${c.name}: ${r.stderr}`);
}

async function endpointsReady(i: 0 | 1, n: number): Promise<EndpointEntry[]> {
  return waitFor(async () => {
    const r = await agents[i]!.cli<{ endpoints: EndpointEntry[] }>(['endpoints', '--json']);
    const ready = r.json?.endpoints.filter((e) => e.state === 'ready') ?? [];
    return ready.length === n ? ready : undefined;
  }, { what: `${n} endpoints ready on w${i + 1}`, timeoutMs: 30_000, intervalMs: 200, diagnostics: () => agents[i]!.logTail() });
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('pator');
  for (const [i, w, t] of [[0, W1, { v4: TOR.v4a, v6: TOR.v6a }], [1, W2, { v4: TOR.v4b, v6: TOR.v6b }]] as const) {
    const ns = await lab.netns(`paw${i + 1}`);
    ws.push(ns);
    await lab.link(tor, ns, { aName: `fab${i}`, bName: 'fab0', aAddr: [`${t.v4}/30`, `${t.v6}/64`], bAddr: [`${w.v4}/30`, `${w.v6}/64`] });
    await ns.addRoute('default', { via: t.v4 });
    await ns.addRoute('default', { via: t.v6 });
  }
  frr = await startFrr(tor, { asn: 65000, routerId: TOR.v4a, listenRange: '203.0.113.0/26', listenDefaultOriginate: true });
  const [d1, d2] = await Promise.all(ws.map((ns) => startDockerd(ns)));
  dockerds.push(d1!, d2!);
  await Promise.all(dockerds.map((d) => d.importBusybox()));
  cfgs.push(agentConfig(1, d1!.sock, ZONES_A), agentConfig(2, d2!.sock, ZONES_A));
  agents[0] = await startAgent(ws[0]!, cfgs[0]!, { name: 'pa-agent1' });
  agents[1] = await startAgent(ws[1]!, cfgs[1]!, { name: 'pa-agent2' });
  const servers = 'httpd -p 8080 -h /www; httpd -p 22 -h /www; httpd -p 5432 -h /www; exec httpd -f -p 80 -h /www';
  const plan: [string, 1 | 2, string][] = [['dmz1', 1, 'dmz'], ['app1', 1, 'app'], ['backend1', 1, 'backend'], ['app2', 2, 'app'], ['backend2', 2, 'backend']];
  for (const [name, n, zone] of plan) {
    await dockerds[n - 1]!.runContainer(['--net', 'none', '--name', name, '--label', `routectl.zone=${zone}`, BUSYBOX_IMAGE, 'sh', '-c', servers]);
  }
  const ready = [...(await endpointsReady(0, 3)), ...(await endpointsReady(1, 2))];
  for (const [name, n] of plan) {
    const e = ready.find((x) => x.name === name);
    if (!e?.ipv4 || !e.ipv6) throw new Error(`${name} has no addresses: ${JSON.stringify(e)}`);
    ctrs.set(name, { name, worker: n, pid: await pidOf(dockerds[n - 1]!, name), v4: e.ipv4, v6: e.ipv6 });
  }
  await Promise.all(agents.map((a, i) => a!.waitEstablished(i === 0 ? TOR.v4a : TOR.v4b)));
  // Every container's /32 and /128 in the ToR's FIB: the fabric carries the cross-worker cases.
  await waitFor(async () => {
    const r = `${await tor.run(['ip', '-4', 'route'])}\n${await tor.run(['ip', '-6', 'route'])}`;
    return [...ctrs.values()].every((c) => r.includes(`${c.v4} `) && r.includes(`${c.v6} `));
  }, { what: 'every container route in the ToR FIB', timeoutMs: 30_000, intervalMs: 200 });
}, 170_000);

afterAll(async () => {
  try {
    for (const a of agents) if (a?.running) await a.stop().catch(() => undefined);
    for (const d of dockerds) await d.cleanup().catch(() => undefined);
    await frr?.stop().catch(() => undefined);
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
}, 60_000);

interface Case {
  readonly what: string;
  readonly from: string; // container name or 'world'
  readonly to: string; // container name
  readonly port: number;
  readonly allow: boolean;
}

const CASES: readonly Case[] = [
  { what: 'world → dmz:80', from: 'world', to: 'dmz1', port: 80, allow: true },
  { what: 'dmz → app:8080', from: 'dmz1', to: 'app1', port: 8080, allow: true },
  { what: 'dmz → app:22', from: 'dmz1', to: 'app1', port: 22, allow: false },
  { what: 'app → backend:5432', from: 'app1', to: 'backend1', port: 5432, allow: true },
  { what: 'dmz → backend:5432', from: 'dmz1', to: 'backend1', port: 5432, allow: false },
  { what: 'dmz → backend:22', from: 'dmz1', to: 'backend1', port: 22, allow: false },
  { what: 'dmz → backend:80', from: 'dmz1', to: 'backend1', port: 80, allow: false },
  { what: 'world → backend:5432', from: 'world', to: 'backend1', port: 5432, allow: false },
  { what: 'world → backend:80', from: 'world', to: 'backend1', port: 80, allow: false },
  // Across workers: the source on w1, the destination on w2.
  { what: 'dmz(w1) → app(w2):8080', from: 'dmz1', to: 'app2', port: 8080, allow: true },
  { what: 'dmz(w1) → app(w2):22', from: 'dmz1', to: 'app2', port: 22, allow: false },
  { what: 'app(w1) → backend(w2):5432', from: 'app1', to: 'backend2', port: 5432, allow: true },
  { what: 'dmz(w1) → backend(w2):5432', from: 'dmz1', to: 'backend2', port: 5432, allow: false },
];

/** Runs cases (both families) with real traffic and `policy check`; returns failures in words and the rules that decided. */
async function runCases(cases: readonly Case[]): Promise<{ problems: string[]; rules: Map<string, number> }> {
  const problems: string[] = [];
  const rules = new Map<string, number>();
  const jobs = cases.flatMap((c) => ([4, 6] as const).map((f) => ({ c, f })));
  const one = async ({ c, f }: { c: Case; f: Fam }): Promise<void> => {
    const dst = addr(ctr(c.to), f);
    const from: From = c.from === 'world' ? { ns: tor } : { ctr: c.from };
    const srcArg = c.from === 'world' ? (f === 4 ? TOR.v4a : TOR.v6a) : f === 4 ? c.from : addr(ctr(c.from), 6);
    // Containers of w2 are addresses to w1's agent; its own are asked by name (v4) or address (v6).
    const dstArg = ctr(c.to).worker === 1 && f === 4 ? c.to : dst;
    const [traffic, chk] = await Promise.all([connect(from, dst, c.port), policyCheck(srcArg, dstArg, `tcp/${c.port}`)]);
    const got = traffic.outcome === 'answered';
    if (got !== c.allow) problems.push(`IPv${f} ${c.what}: traffic ${traffic.outcome} (${traffic.text.trim().slice(0, 80)}), expected ${c.allow ? 'allow' : 'deny'}`);
    if (chk.json.verdict !== (c.allow ? 'allow' : 'deny')) problems.push(`IPv${f} ${c.what}: policy check said ${chk.json.verdict} (${chk.json.rule})`);
    if (chk.code !== (c.allow ? 0 : 1)) problems.push(`IPv${f} ${c.what}: policy check exit ${chk.code}`);
    if (!c.allow && traffic.outcome !== 'timeout') problems.push(`IPv${f} ${c.what}: a drop should time out, got ${traffic.outcome}`);
    rules.set(chk.json.rule, (rules.get(chk.json.rule) ?? 0) + 1);
  };
  // A few at a time: each denied probe waits its 2 s connect timeout.
  for (let i = 0; i < jobs.length; i += 10) await Promise.all(jobs.slice(i, i + 10).map(one));
  return { problems, rules };
}

describe('zone policy enforced by the agent (two workers, real dockerd, FRR ToR)', () => {
  it('every verdict holds in IPv4 and IPv6, locally and across workers; policy check agrees and its rule counters move', async () => {
    const before = await policyShow();
    expect(before.enabled).toBe(true);
    expect(before.host.addresses).toEqual(expect.arrayContaining([W1.v4, W1.v6]));
    expect(before.host.protectedPorts).toEqual(['tcp/179', 'udp/3784', 'udp/3785', 'udp/4784', 'tcp/9273']);
    expect(before.endpoints).toBe(3);
    const { problems, rules } = await runCases(CASES);
    expect(problems).toEqual([]);
    const after = await policyShow();
    for (const [id, n] of rules) {
      const delta = ruleCount(after, id) - ruleCount(before, id);
      expect(delta, `counter of rule "${id}" (decided ${n} probes)`).toBeGreaterThanOrEqual(n);
    }
    expect(rules.get('deny dmz->backend')).toBe(8);
    expect(after.drops.find((d) => d.from === 'dmz' && d.to === 'backend')!.packets).toBeGreaterThan(0);
    // The text form names the same rules.
    const text = (await agents[0]!.cli(['policy', 'show'])).stdout;
    expect(text).toMatch(/dmz\s+backend\s+any\s+deny\s+[1-9]\d*/);
    const deny = await agents[0]!.cli(['policy', 'check', 'dmz1', 'backend1', 'tcp/5432']);
    const allow = await agents[0]!.cli(['policy', 'check', 'world', 'dmz1', 'tcp/80']);
    expect([deny.code, allow.code]).toEqual([1, 0]);
    expect(deny.stdout).toMatch(/^DENY .*\n  rule: +deny dmz->backend\n/);
    console.log(`$ routectl policy show\n${text}\n$ routectl policy check dmz1 backend1 tcp/5432\n${deny.stdout}$ routectl policy check world dmz1 tcp/80\n${allow.stdout}`);
    // And the drop counts are metrics.
    const metrics = await ws[0]!.run([process.execPath, '-e', "fetch('http://127.0.0.1:9273/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
    const m = /routectl_policy_drops_total\{from="dmz",to="backend"\} (\d+)/.exec(metrics);
    expect(Number(m?.[1]), metrics.split('\n').filter((l) => l.includes('policy')).join('\n')).toBeGreaterThan(0);
    expect(metrics).toMatch(/routectl_policy_rule_packets_total\{family="ipv6",chain="ROUTECTL-FROM-dmz",rule="deny dmz->backend"\} [1-9]/);
  }, 90_000);

  it('a dmz container forging a backend source gets nothing through; the same datagrams from a real backend arrive', async () => {
    const dmz1 = ctr('dmz1');
    const backend1 = ctr('backend1');
    const backend2 = ctr('backend2');
    const forged = { 4: '198.51.100.140', 6: '2001:db8:c:3::99' } as const;
    // Taken away again at the end: with a backend address on eth0, dmz1's own IPv6
    // connections would pick it as their source (RFC 6724 rule 8, longest matching prefix).
    const forgedAddrs = async (op: 'add' | 'del'): Promise<void> => {
      for (const f of [4, 6] as const) {
        const r = await exec(['nsenter', '-t', String(dmz1.pid), '-n', 'ip', `-${f}`, 'addr', op, `${forged[f]}/${f === 4 ? 32 : 128}`, 'dev', 'eth0', ...(f === 6 && op === 'add' ? ['nodad'] : [])]);
        if (r.code !== 0) throw new Error(`ip addr ${op} ${forged[f]} in dmz1: ${r.stderr}`);
      }
    };
    await forgedAddrs('add');
    try {
      for (const f of [4, 6] as const) {
        // Control: backend2 (w2) → backend1 (w1) is inside one zone: allowed, the datagrams arrive.
        const n0 = await udpNoPorts(backend1, f);
        await sendUdp(backend2, addr(backend2, f), addr(backend1, f), 5);
        await waitFor(async () => (await udpNoPorts(backend1, f)) >= n0 + 5, { what: `IPv${f} control datagrams at backend1`, timeoutMs: 5000, intervalMs: 100 });
        // Forged: dmz1 claims a backend address.
        const s0 = ruleCount(await policyShow(), 'spoof-drop');
        const n1 = await udpNoPorts(backend1, f);
        await sendUdp(dmz1, forged[f], addr(backend1, f), 5);
        await new Promise((r) => setTimeout(r, 500));
        expect(await udpNoPorts(backend1, f), `IPv${f} forged datagrams reached backend1`).toBe(n1);
        expect(ruleCount(await policyShow(), 'spoof-drop') - s0).toBeGreaterThanOrEqual(5);
      }
    } finally {
      await forgedAddrs('del');
    }
  }, 30_000);

  it('containers cannot reach the worker\'s BGP or metrics port (the ToR can), nor its API socket', async () => {
    const probes = await Promise.all([
      connect({ ctr: 'dmz1' }, W1.v4, 179, ''),
      connect({ ctr: 'app1' }, W1.v6, 179, ''),
      connect({ ctr: 'dmz1' }, W1.v4, 9273),
      connect({ ctr: 'backend1' }, W1.v6, 9273),
      connect({ ns: tor }, W1.v4, 9273),
      connect({ ns: tor }, W1.v6, 9273),
    ]);
    expect(probes.map((p) => p.outcome)).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'answered', 'answered']);
    const chk = await policyCheck('dmz', 'backend', 'tcp/5432');
    expect(chk.json.rule).toBe('deny dmz->backend');
    // The API is a unix socket in the worker's filesystem: not in the container's mount namespace.
    const r = await exec(['nsenter', '-t', String(ctr('dmz1').pid), '-m', '/bin/ls', agents[0]!.socket]);
    expect(r.code).not.toBe(0);
    const show = await policyShow();
    expect(ruleCount(show, 'host protected tcp/179')).toBeGreaterThan(0);
    expect(ruleCount(show, 'host protected tcp/9273')).toBeGreaterThan(0);
  }, 30_000);

  it('agent restarted → the same rules and sets, no duplicates; containers stay protected meanwhile', async () => {
    const before = await ownState(ws[0]!);
    expect(before.jumps).toBe(4); // FORWARD and INPUT, both families
    expect(before.sets).toContain('rtc-ep-4');
    expect(await agents[0]!.stop()).toBe(0);
    expect(await ownState(ws[0]!)).toEqual(before);
    const skip = agents[0]!.logLines().length;
    agents[0] = await startAgent(ws[0]!, cfgs[0]!, { name: 'pa-agent1' });
    await endpointsReady(0, 3);
    await waitFor(() => policyLogs(agents[0]!, skip).some((l) => l.trigger === 'adopt'), { what: 'policy pass after adoption', timeoutMs: 15_000, intervalMs: 100, diagnostics: () => agents[0]!.logTail() });
    // The restarted agent found everything in place: no pass rewrote anything.
    expect(policyLogs(agents[0]!, skip).filter((l) => l.event === 'applied' && l.changed === true)).toEqual([]);
    const after = await ownState(ws[0]!);
    expect(after).toEqual(before);
    const { problems } = await runCases(CASES.filter((c) => c.to.endsWith('1') && (c.port === 8080 || c.what === 'dmz → backend:5432')));
    expect(problems).toEqual([]);
  }, 60_000);

  it('a chain flushed by hand → repaired at the next pass', async () => {
    const before = await ownState(ws[0]!);
    const count = (s: { rules: string[] }) => s.rules.filter((l) => l.startsWith('iptables-save: -A ROUTECTL-FROM-dmz ')).length;
    const skip = agents[0]!.logLines().length;
    await ws[0]!.run(['iptables', '-F', 'ROUTECTL-FROM-dmz']);
    expect(count(await ownState(ws[0]!))).toBe(0);
    const repaired = await waitFor(() => policyLogs(agents[0]!, skip).find((l) => Array.isArray(l.drift) && (l.drift as string[]).some((d) => d.includes('ROUTECTL-FROM-dmz'))), {
      what: 'the policy pass to repair ROUTECTL-FROM-dmz', timeoutMs: 15_000, intervalMs: 100, diagnostics: () => agents[0]!.logTail(),
    });
    expect(repaired.msg).toMatch(/drift repaired/);
    const after = await ownState(ws[0]!);
    expect(count(after)).toBe(count(before));
    expect(after.jumps).toBe(4);
    const { problems } = await runCases(CASES.filter((c) => c.from === 'dmz1' && c.to.endsWith('1') && (c.port === 8080 || c.port === 5432)));
    expect(problems).toEqual([]);
  }, 40_000);

  it('SIGHUP to another model → the new verdicts hold; nothing both models deny got through during the switch', async () => {
    // A probe loop dmz1 → backend1:5432 (denied by A and B) for the whole reload.
    const dst = ctr('backend1').v4;
    const py = [
      'import socket,time',
      'ok=0;n=0;end=time.time()+4',
      'while time.time()<end:',
      ' s=socket.socket();s.settimeout(0.2)',
      ` try: s.connect(('${dst}',5432));ok+=1`,
      ' except Exception: pass',
      ' finally: s.close();n+=1',
      'print(ok,n)',
    ].join('\n');
    const probe = new Promise<string>((resolve, reject) => {
      const child = spawn('nsenter', ['-t', String(ctr('dmz1').pid), '-n', 'python3', '-c', py], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.on('error', reject);
      child.on('exit', () => resolve(out.trim()));
    });
    await new Promise((r) => setTimeout(r, 500));
    const skip = agents[0]!.logLines().length;
    cfgs[0] = agentConfig(1, dockerds[0]!.sock, ZONES_B);
    await agents[0]!.reload(cfgs[0]);
    const [ok, n] = (await probe).split(' ').map(Number);
    expect(n).toBeGreaterThan(5);
    expect(ok, 'connections dmz → backend:5432 during the switch').toBe(0);
    expect(policyLogs(agents[0]!, skip).some((l) => l.event === 'applied' && l.trigger === 'configure' && l.changed === true)).toBe(true);
    const { problems } = await runCases([
      { what: 'B: dmz → app:22', from: 'dmz1', to: 'app1', port: 22, allow: true },
      { what: 'B: dmz → app:8080', from: 'dmz1', to: 'app1', port: 8080, allow: false },
      { what: 'B: dmz → backend:5432', from: 'dmz1', to: 'backend1', port: 5432, allow: false },
      { what: 'B: app → backend:5432', from: 'app1', to: 'backend1', port: 5432, allow: true },
      { what: 'B: world → dmz:80', from: 'world', to: 'dmz1', port: 80, allow: true },
    ]);
    expect(problems).toEqual([]);
    const st = await ownState(ws[0]!);
    expect(st.jumps).toBe(4);
    // One generation of zone sets only (the old one destroyed), plus the endpoint sets.
    expect(new Set(st.sets.filter((s) => /^rtc-[ab]-/.test(s)).map((s) => s[4])).size).toBe(1);
  }, 60_000);
});
