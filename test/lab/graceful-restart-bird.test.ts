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
import { dockerdFor, endRestartLab, ensureBuilt, expectNoLoss, OPEN_APP_ZONE, readyAddresses, runAppContainers, startAgent, stopAgentBy, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startBird, type Bird } from './harness/bird.js';
import type { Dockerd } from './harness/docker.js';
import { TOR4, torWorkerHost, W4 } from './harness/fabric.js';
import { Lab } from './harness/lab.js';
import { finishLossCounter, startWarmLossCounter, type LossCounter } from './harness/loss.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes, learnedRoutes } from './views.js';

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
  const counter = await startWarmLossCounter(h, addrs);
  counters.push(counter);
  await stopAgentBy(agent!, how);
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
  const report = await finishLossCounter(counter, `${how} and restart (BIRD)`);
  expect(await torRoutes()).toEqual(addrs);
  expectNoLoss(report, addrs, `the ${how} restart`);
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ tor, w, h } = await torWorkerHost(lab));
  bird = await startBird(tor, { asn: 65000, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: W4, asn: 65001, defaultOriginate: true }] });
  dockerd = await dockerdFor(w, config);
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  await waitFor(async () => ((await learnedRoutes(w)).includes('0.0.0.0/0') ? true : undefined), { what: 'the default from BIRD in the worker kernel', timeoutMs: 30_000 });
  await runAppContainers(dockerd, ['c1', 'c2', 'c3']);
  addrs.push(...(await readyAddresses(agent, 3, 30_000)));
  await waitFor(async () => ((await torRoutes()).length === addrs.length ? true : undefined), { what: 'the containers in the BIRD FIB', timeoutMs: 15_000, intervalMs: 50 });
}, 240_000);

afterAll(() => endRestartLab(lab, counters, agent, dockerd));

describe('graceful restart: agent restarts lose no packets (one BIRD ToR)', () => {
  it('agent SIGKILLed and started again: 0 echoes lost', async () => {
    await restartWithoutLoss('SIGKILL');
  }, 120_000);

  it('agent stopped with SIGTERM and started again: 0 echoes lost', async () => {
    await restartWithoutLoss('SIGTERM');
  }, 120_000);
});
