/**
 * The agent as long-lived graceful restart helper (RFC 9494) for a real FRR ToR whose
 * bgpd goes away for longer than its restart time:
 *
 *   tor (FRR, AS 65000, `bgp graceful-restart restart-time 3`,
 *        `bgp long-lived-graceful-restart stale-time 600`) ── w (agent, AS 65001)
 *
 * The ToR sends a default route and a prefix per family. Its bgpd is SIGKILLed (zebra
 * stays). The agent keeps the routes stale through the 3 s restart time and then as
 * long-lived stale: `routectl routes --received` shows them with the LLGR_STALE community
 * (`llgr-stale`), still in the worker's kernel (nothing else to forward by). When the ToR
 * is back and has sent its table and End-of-RIB, the routes are fresh again, the
 * community gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteEntry } from '../../src/api/types.js';
import { endLab, ensureBuilt, startAgent, stopRunning, type LabAgent } from './agent-helper.js';
import { TOR4, torWorker, W4 } from './harness/fabric.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { learnedRoutes, receivedFrom } from './views.js';

const NETWORKS = ['198.51.100.128/26', '2001:db8:100::/48'];
const ALL = ['0.0.0.0/0', '::/0', ...NETWORKS].sort();

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let agent: LabAgent | undefined;

const received = (): Promise<Map<string, RouteEntry>> => receivedFrom(agent!, TOR4);

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ tor, w } = await torWorker(lab, { ipv6: true }));
  frr = await startFrr(tor, {
    asn: 65000,
    routerId: TOR4,
    neighbors: [{ address: W4, asn: 65001, defaultOriginate: true }],
    networks: NETWORKS,
    gracefulRestart: { restartTime: 3 },
    extraConfig: 'router bgp 65000\n bgp long-lived-graceful-restart stale-time 600\nexit\n!',
  });
  agent = await startAgent(w, {
    routerId: W4,
    asn: 65001,
    peers: [{ address: TOR4, asn: 65000 }],
    import: ['0.0.0.0/0 le 32', '::/0 le 128'],
  });
  await agent.waitEstablished(TOR4);
}, 120_000);

afterAll(async () => {
  await endLab(lab, () => stopRunning(agent));
});

describe('long-lived graceful restart helper (RFC 9494): the ToR bgpd is away past its restart time (FRR)', () => {
  it('keeps its routes as long-lived stale (LLGR_STALE), in the kernel too, and refreshes them when it is back', async () => {
    const peer = await agent!.waitEstablished(TOR4);
    expect(peer.capabilities).toContain('long-lived-graceful-restart');
    await waitFor(async () => ([...(await received()).keys()].sort().join() === ALL.join() ? true : undefined), {
      what: 'the ToR routes at the agent',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    await waitFor(async () => ((await learnedRoutes(w)).join() === ALL.join() ? true : undefined), { what: 'the ToR routes in the worker kernel', timeoutMs: 30_000 });

    await frr!.kill();
    const away = await waitFor(async () => {
      const m = await received();
      return m.size === ALL.length && [...m.values()].every((r) => r.stale && r.communities.includes('llgr-stale')) ? m : undefined;
    }, { what: 'every ToR route long-lived stale at the agent', timeoutMs: 30_000, intervalMs: 100, diagnostics: () => agent!.logTail() });
    expect([...away.keys()].sort()).toEqual(ALL);
    expect((await agent!.peer(TOR4)).json.state).not.toBe('Established');
    const logged = agent!.logLines().filter((l) => l.event === 'long-lived-stale');
    expect(logged.map((l) => [l.peer, l.family, l.seconds]).sort()).toEqual([
      [TOR4, 'ipv4-unicast', 600],
      [TOR4, 'ipv6-unicast', 600],
    ]);
    // The only paths there are: they keep forwarding.
    expect(await learnedRoutes(w)).toEqual(ALL);

    await frr!.restart();
    await agent!.waitEstablished(TOR4, 60_000);
    const back = await waitFor(async () => {
      const m = await received();
      return m.size === ALL.length && [...m.values()].every((r) => !r.stale && !r.communities.includes('llgr-stale')) ? m : undefined;
    }, { what: "the ToR's routes fresh again after its End-of-RIB", timeoutMs: 60_000, intervalMs: 100, diagnostics: () => agent!.logTail() });
    expect([...back.keys()].sort()).toEqual(ALL);
    expect(await learnedRoutes(w)).toEqual(ALL);
  }, 180_000);
});
