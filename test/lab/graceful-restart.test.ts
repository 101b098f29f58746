/**
 * Agent restarts lose no packets (RFC 4724 graceful restart), with a real FRR
 * ToR, a real dockerd and the built agent:
 *
 *   h (host, 203.0.113.10) ── tor (FRR, AS 65000, GR helper by default) ── w (agent, AS 65001, dockerd)
 *                                                                          ├─ c1 c2 c3
 *
 * A loss counter on h (test/lab/harness/loss.ts: a raw ICMP sender that keeps sending
 * through errors) pings the three containers every 50 ms while the agent is
 * killed with SIGKILL and started again, then stopped with SIGTERM and started again.
 * Each time: no echo unanswered, the new agent's OPEN carries R=1 and F=1, and the ToR
 * had the agent's routes stale in between (it keeps them) and none once the agent's
 * End-of-RIB came. `routectl drain` then withdraws everything and exits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerdFor, endRestartLab, expectNoLoss, OPEN_APP_ZONE, readyAddresses, runAppContainers, startAgent, stopAgentBy, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import type { Dockerd } from './harness/docker.js';
import { TOR4, TOR6, torWorkerHost, W4 } from './harness/fabric.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import { finishLossCounter, startWarmLossCounter, type LossCounter } from './harness/loss.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes } from './views.js';

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let h: Netns;
let frr: Frr | undefined;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
const addrs: string[] = [];
const counters: LossCounter[] = [];

const config: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000 }],
  import: ['0.0.0.0/0', '::/0'],
  extra: { ...OPEN_APP_ZONE, runtime: {} },
};

/** FRR's view of the worker: its routes, how many are stale, and the worker's GR bits. */
async function torView(): Promise<{ stale: number; routes: number; restartBit: boolean | undefined }> {
  const r = JSON.parse(await frr!.vtysh('show bgp ipv4 unicast json')) as { routes?: Record<string, { stale?: boolean; peerId?: string }[]> };
  let stale = 0;
  let routes = 0;
  for (const [, paths] of Object.entries(r.routes ?? {})) {
    for (const path of paths) {
      if (path.peerId !== W4) continue;
      routes++;
      if (path.stale) stale++;
    }
  }
  const n = JSON.parse(await frr!.vtysh(`show bgp neighbors ${W4} json`)) as Record<string, { gracefulRestartInfo?: { remoteGrMode?: string }; neighborCapabilities?: { gracefulRestart?: unknown; gracefulRestartCapability?: unknown } }>;
  const caps = JSON.stringify(n[W4]?.neighborCapabilities ?? {});
  return { stale, routes, restartBit: caps.includes('"rBit":true') ? true : caps.includes('"rBit":false') ? false : undefined };
}

async function restartWithoutLoss(how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  // Some answered echoes before the restart: the path works.
  const counter = await startWarmLossCounter(h, addrs);
  counters.push(counter);
  await stopAgentBy(agent!, how);
  // The ToR keeps the worker's routes, stale, while the agent is away (RFC 4724 4.2).
  const away = await waitFor(async () => {
    const v = await torView();
    return v.stale > 0 ? v : undefined;
  }, { what: 'the ToR to mark the worker routes stale', timeoutMs: 10_000, intervalMs: 50 });
  expect(away.stale).toBe(away.routes);
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  // The agent's End-of-RIB ends the stale marks; nothing was swept.
  const after = await waitFor(async () => {
    const v = await torView();
    return v.stale === 0 && v.routes >= addrs.length ? v : undefined;
  }, { what: 'End-of-RIB to clear the stale marks on the ToR', timeoutMs: 20_000, intervalMs: 50, diagnostics: () => agent!.logTail() });
  expect(after.routes).toBeGreaterThanOrEqual(addrs.length);
  expect(after.restartBit).not.toBe(false);
  const restartLog = agent.logLines().find((l) => l.event === 'restart');
  expect(restartLog, 'the agent saw the previous run in the kernel').toBeDefined();
  // A second of echoes after the sweep, then the count.
  const report = await finishLossCounter(counter, `${how} and restart`);
  expectNoLoss(report, addrs, `the ${how} restart`);
}

beforeAll(async () => {
  lab = await Lab.create();
  ({ tor, w, h } = await torWorkerHost(lab, { ipv6: true }));
  await tor.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await w.addRoute('default', { via: TOR4 });
  await w.addRoute('default', { via: TOR6 });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, listenRange: '203.0.113.0/30', listenDefaultOriginate: true });
  dockerd = await dockerdFor(w, config);
  agent = await startAgent(w, config, { name: 'agent' });
  await agent.waitEstablished(TOR4);
  await runAppContainers(dockerd, ['c1', 'c2', 'c3']);
  addrs.push(...(await readyAddresses(agent, 3, 30_000)));
  await waitFor(async () => {
    const t = await fibPrefixes(tor);
    return addrs.every((a) => t.has(`${a}/32`));
  }, { what: 'the containers in the ToR FIB', timeoutMs: 15_000, intervalMs: 50 });
}, 240_000);

afterAll(() => endRestartLab(lab, counters, agent, dockerd));

describe('graceful restart: agent restarts lose no packets (FRR ToR)', () => {
  it('agent SIGKILLed and started again: 0 echoes lost, the ToR kept the routes stale until End-of-RIB', async () => {
    await restartWithoutLoss('SIGKILL');
  }, 120_000);

  it('agent stopped with SIGTERM and started again: 0 echoes lost', async () => {
    await restartWithoutLoss('SIGTERM');
  }, 120_000);

  it('routectl drain: every route withdrawn from the ToR, then the agent exits 0', async () => {
    const r = await agent!.cli<{ draining: boolean; routes: number }>(['drain', '--json']);
    expect(r.json).toMatchObject({ draining: true });
    expect(r.json.routes).toBeGreaterThanOrEqual(addrs.length);
    expect(await agent!.waitExit()).toBe(0);
    // The ToR's FIB follows its RIB a moment later (FRR installs and removes through zebra).
    const t = await waitFor(async () => {
      const f = await fibPrefixes(tor);
      return addrs.every((a) => !f.has(`${a}/32`)) ? f : undefined;
    }, { what: 'every container route gone from the ToR FIB after drain', timeoutMs: 20_000 });
    for (const a of addrs) expect(t.has(`${a}/32`), a).toBe(false);
  }, 60_000);
});
