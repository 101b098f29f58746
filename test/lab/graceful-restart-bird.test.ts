/**
 * Agent restarts lose no packets with one BIRD ToR, as most workers run today
 * (single-homed; RFC 4724 graceful restart, BIRD a helper by default):
 *
 *   h (host, 203.0.113.10) ── tor (BIRD, AS 65000) ── w (agent, AS 65001, dockerd)
 *                                                     ├─ c1 c2 c3
 *
 * A loss counter on h (harness/loss.ts) pings the three containers every 50 ms while the
 * agent is killed with SIGKILL and started again, then stopped with SIGTERM and started
 * again. Each time: no echo unanswered; BIRD kept the worker's routes in its kernel
 * table while the agent was away; the worker kept the default BIRD sent it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLab, ensureBuilt, OPEN_APP_ZONE, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startBird, type Bird } from './harness/bird.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { Lab } from './harness/lab.js';
import { lossSummary, startLossCounter, type LossCounter } from './harness/loss.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { endpointsOf, fibPrefixes, learnedRoutes } from './views.js';

const TOR4 = '203.0.113.1';
const W4 = '203.0.113.2';
const TORH = '203.0.113.9';
const H4 = '203.0.113.10';

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let h: Netns;
let bird: Bird | undefined;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
const addrs: string[] = [];
const counters: LossCounter[] = [];

const config: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000, families: ['ipv4-unicast'] }],
  import: ['0.0.0.0/0'],
  extra: { ...OPEN_APP_ZONE, runtime: {} },
};

/** BIRD's kernel table: which container /32s it routes to the worker. */
async function torRoutes(): Promise<string[]> {
  const fib = await fibPrefixes(tor);
  return addrs.filter((a) => fib.has(`${a}/32`));
}

async function restartWithoutLoss(how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  const counter = await startLossCounter(h, addrs);
  counters.push(counter);
  await waitFor(() => counter.sent() >= 10, { what: 'ten echo rounds', timeoutMs: 5000, intervalMs: 20 });
  if (how === 'SIGKILL') {
    agent!.signal('SIGKILL');
    await agent!.waitExit();
  } else {
    expect(await agent!.stop()).toBe(0);
  }
  // BIRD notices the session is gone and keeps the routes (RFC 4724 4.2).
  await waitFor(async () => ((await bird!.peerState(W4)) !== 'Established' ? true : undefined), { what: 'BIRD to see the session end', timeoutMs: 15_000, intervalMs: 50 });
  expect(await torRoutes()).toEqual(addrs);
  expect(await learnedRoutes(w)).toContain('0.0.0.0/0');
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  await bird!.waitEstablished(W4);
  expect(agent.logLines().find((l) => l.event === 'restart'), 'the agent saw the previous run in the kernel').toBeDefined();
  // Every container re-advertised (End-of-RIB follows them), then a second of echoes.
  await agent.waitPeer(TOR4, (p) => p.prefixesSent !== undefined && p.prefixesSent >= addrs.length, 'the containers re-advertised');
  const mark = counter.sent();
  await waitFor(() => counter.sent() >= mark + 20, { what: 'twenty more echo rounds', timeoutMs: 5000, intervalMs: 20 });
  const report = await counter.finish();
  console.log(`${how} and restart (BIRD):\n  ${lossSummary(report)}`);
  expect(await torRoutes()).toEqual(addrs);
  for (const a of addrs) {
    expect(report.targets[a]?.sent ?? 0, a).toBeGreaterThan(30);
    expect(report.targets[a]?.lost, `${a}: echoes lost across the ${how} restart`).toEqual([]);
  }
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  tor = await lab.netns('tor');
  w = await lab.netns('w');
  h = await lab.netns('h');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`], bAddr: [`${W4}/30`] });
  await lab.link(tor, h, { aName: 'fab1', bName: 'fab0', aAddr: [`${TORH}/30`], bAddr: [`${H4}/30`] });
  await h.addRoute('default', { via: TORH });
  bird = await startBird(tor, { asn: 65000, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: W4, asn: 65001, defaultOriginate: true }] });
  dockerd = await startDockerd(w, { liveRestore: true });
  await dockerd.importBusybox();
  (config.extra as { runtime: unknown }).runtime = { docker: { socket: dockerd.sock }, reconcileInterval: 5 };
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  await waitFor(async () => ((await learnedRoutes(w)).includes('0.0.0.0/0') ? true : undefined), { what: 'the default from BIRD in the worker kernel', timeoutMs: 30_000 });
  for (const n of ['c1', 'c2', 'c3']) {
    await dockerd.runContainer(['--net', 'none', '--name', n, '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600']);
  }
  const ready = await waitFor(async () => {
    const eps = (await endpointsOf(agent!)).filter((e) => e.state === 'ready');
    return eps.length === 3 ? eps : undefined;
  }, { what: 'three containers ready', timeoutMs: 30_000, intervalMs: 100, diagnostics: () => agent!.logTail() });
  addrs.push(...ready.map((e) => e.ipv4!).sort());
  await waitFor(async () => ((await torRoutes()).length === addrs.length ? true : undefined), { what: 'the containers in the BIRD FIB', timeoutMs: 15_000, intervalMs: 50 });
}, 240_000);

afterAll(async () => {
  await endLab(lab, async () => {
    for (const c of counters) c.kill();
    if (agent?.running) await agent.stop().catch(() => undefined);
    await dockerd?.cleanup();
  });
});

describe('graceful restart: agent restarts lose no packets (one BIRD ToR)', () => {
  it('agent SIGKILLed and started again: 0 echoes lost', async () => {
    await restartWithoutLoss('SIGKILL');
  }, 120_000);

  it('agent stopped with SIGTERM and started again: 0 echoes lost', async () => {
    await restartWithoutLoss('SIGTERM');
  }, 120_000);
});
