// `routectl policy show|check` end to end over a real API server on a unix socket: the
// policy routes and handlers (src/policy/api.ts, as the agent wires them) backed by AgentPolicy (over a recording executor whose iptables-save
// reports counters), the CLI's exit codes (0 allow, 1 deny, 64 bad input, 1 no policy)
// and its text and JSON output.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../src/api/index.js';
import { policyRoutes } from '../../../src/api/policy.js';
import type { PolicyCheckResponse, PolicyShowResponse } from '../../../src/api/policy-types.js';
import { AgentPolicy, policyHandlers } from '../../../src/policy/index.js';
import { buildModel } from '../../../policy/model.js';
import type { ExecResult, Executor } from '../../../policy/exec.js';
import { fakeHandlers } from '../api/fake-handlers.js';
import { runCaptured, type CliRun } from '../cli/run.js';

const MODEL = buildModel(
  [
    { name: 'dmz', cidrs: ['198.51.100.0/26'], ingress: [{ from: 'world', ports: ['tcp/80'] }] },
    { name: 'app', cidrs: ['198.51.100.64/26'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] },
    { name: 'backend', cidrs: ['198.51.100.128/26'], ingress: [{ from: 'app', ports: ['tcp/5432'] }] },
  ],
  {},
);
const SAVE4 = '*filter\n[12:720] -A ROUTECTL-FROM-dmz -m set --match-set rtc-a-z-backend-4 dst -m comment --comment "routectl:deny dmz->backend" -j DROP\nCOMMIT\n';
const exec: Executor = {
  run: (argv: readonly string[]): Promise<ExecResult> => Promise.resolve({ code: 0, stdout: argv[0] === 'iptables-save' ? SAVE4 : '', stderr: '' }),
};
const CTRS = [
  { id: 'aaaa1111', name: 'web', ipv4: '198.51.100.5', ipv6: null },
  { id: 'bbbb2222', name: 'db', ipv4: '198.51.100.130', ipv6: null },
];

let dir: string;
const servers: ApiServer[] = [];
let withPolicy: string;
let withoutPolicy: string;

const routes = (p: AgentPolicy | undefined) => policyRoutes(policyHandlers(p, () => CTRS));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-policy-cli-'));
  const p = new AgentPolicy({ log: pino({ level: 'silent' }), intervalMs: 0, executor: exec });
  await p.configure(MODEL, { addresses: ['203.0.113.2'], protectedPorts: ['tcp/179'], open: [] });
  withPolicy = join(dir, 'a.sock');
  withoutPolicy = join(dir, 'b.sock');
  servers.push(await startApiServer(withPolicy, fakeHandlers(), { routes: routes(p) }));
  servers.push(await startApiServer(withoutPolicy, fakeHandlers(), { routes: routes(undefined) }));
});
afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (sock: string, ...args: string[]): Promise<CliRun> => runCaptured([...args, '--socket', sock]);

describe('routectl policy', () => {
  it('check: exit 0 allow, 1 deny, naming the rule; containers by name', async () => {
    const allow = await cli(withPolicy, 'policy', 'check', 'world', 'web', 'tcp/80');
    expect(allow.code).toBe(0);
    expect(allow.out).toBe('ALLOW  zone world -> web 198.51.100.5 (dmz) tcp/80\n  rule:   allow world->dmz tcp/80 zones[0].ingress[0]\n  reason: world -> 198.51.100.5 (dmz): zone "dmz" accepts tcp/80 from world (addresses in no zone) (zones[0].ingress[0])\n');
    const deny = await cli(withPolicy, 'policy', 'check', 'web', 'db', 'tcp/5432', '--json');
    expect(deny.code).toBe(1);
    const j = JSON.parse(deny.out) as PolicyCheckResponse;
    expect(j).toMatchObject({ verdict: 'deny', rule: 'deny dmz->backend', from: 'dmz', to: 'backend', src: { kind: 'container', address: '198.51.100.5' } });
  });

  it('check: exit 64 for what cannot be understood, 1 when the worker has no zones', async () => {
    const unknown = await cli(withPolicy, 'policy', 'check', 'nope', 'db', 'tcp/5432');
    expect(unknown.code).toBe(64);
    expect(unknown.err).toMatch(/source "nope" is not an address, a zone/);
    const bad = await cli(withPolicy, 'policy', 'check', 'web', 'db', 'tcp/0');
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/tcp\/5432/);
    const none = await cli(withoutPolicy, 'policy', 'check', 'web', 'db', 'tcp/5432');
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no zone policy/);
  });

  it('show: rules with counters and drops; disabled without zones', async () => {
    const t = await cli(withPolicy, 'policy', 'show');
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^dmz +backend +any +deny +12 +720B +deny dmz->backend$/m);
    expect(t.out).toContain('Dropped: dmz->backend 12; forged sources 0; to the worker 0');
    const j = JSON.parse((await cli(withPolicy, 'policy', 'show', '--json')).out) as PolicyShowResponse;
    expect(j.drops).toContainEqual({ from: 'dmz', to: 'backend', packets: 12, bytes: 720 });
    const off = await cli(withoutPolicy, 'policy', 'show');
    expect(off).toMatchObject({ code: 0, out: 'No zones configured: this worker enforces no zone policy (add zones: to agent.yaml).\n' });
  });
});
