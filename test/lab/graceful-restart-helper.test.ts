/**
 * The agent as graceful restart helper (RFC 4724 4.2) for a real FRR ToR whose bgpd
 * crashes and comes back:
 *
 *   tor (FRR, AS 65000, `bgp graceful-restart`, F = 1) ── w (agent, AS 65001)
 *
 * The ToR sends a default route and two prefixes per family. Its bgpd is SIGKILLed (zebra
 * stays, as with a bgpd crash) and started again with one prefix per family fewer. The
 * agent keeps every route of the ToR, marked stale in `routectl routes --received
 * --json`, through the restart; once the ToR is back the re-sent routes lose the mark,
 * and the prefixes the ToR no longer has go on its End-of-RIB (long before the restart
 * time or the stale-path time would take them). No route of the ToR is missing from
 * the agent's view at any point.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteEntry } from '../../src/api/types.js';
import { endLab, ensureBuilt, startAgent, stopRunning, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { TOR4, torWorker, W4 } from './harness/fabric.js';
import { frrBgpConfig, startFrr, type Frr, type FrrOptions } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { learnedRoutes, receivedFrom } from './views.js';

const KEPT = ['198.51.100.128/26', '2001:db8:100::/48'];
const DROPPED = ['198.51.100.192/26', '2001:db8:101::/48'];
const DEFAULTS = ['0.0.0.0/0', '::/0'];
/** Longer than any wait below: a sweep seen within them came from End-of-RIB. */
const RESTART_TIME = 300;

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let agent: LabAgent | undefined;
/** Ends a test's watch loop, also when the test failed before it could (before the namespaces go). */
let stopWatcher: (() => void) | undefined;

const agentCfg: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000 }],
  import: ['0.0.0.0/0 le 32', '::/0 le 128'],
};

const torOpts = (networks: readonly string[]): FrrOptions => ({
  asn: 65000,
  routerId: TOR4,
  neighbors: [{ address: W4, asn: 65001, defaultOriginate: true }],
  networks,
  gracefulRestart: { restartTime: RESTART_TIME },
});

const received = (): Promise<Map<string, RouteEntry>> => receivedFrom(agent!, TOR4);

const view = (m: Map<string, RouteEntry>): string[] => [...m.values()].map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`).sort();

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ tor, w } = await torWorker(lab, { ipv6: true }));
  frr = await startFrr(tor, torOpts([...KEPT, ...DROPPED]));
  agent = await startAgent(w, agentCfg);
  await agent.waitEstablished(TOR4);
}, 180_000);

afterAll(async () => {
  stopWatcher?.();
  await endLab(lab, () => stopRunning(agent));
});

describe('graceful restart helper: the ToR bgpd restarts (FRR)', () => {
  it('keeps the ToR routes stale while it is away, refreshes them and sweeps the rest on its End-of-RIB', async () => {
    const all = [...DEFAULTS, ...KEPT, ...DROPPED].sort();
    const before = await waitFor(async () => {
      const m = await received();
      return m.size === all.length ? m : undefined;
    }, { what: 'the ToR routes at the agent', timeoutMs: 30_000, intervalMs: 100, diagnostics: () => agent!.logTail() });
    expect(view(before)).toEqual(all);
    const peer = await agent!.waitEstablished(TOR4);
    expect(peer.capabilities).toContain('graceful-restart');

    // Watch the agent's view through the whole restart: no route of the ToR may vanish
    // before the ToR's End-of-RIB. `missing` holds anything seen gone too early.
    const missing = new Set<string>();
    let watching = true;
    stopWatcher = () => (watching = false);
    let sawStaleAfterBack = false;
    let back = false;
    const watcher = (async () => {
      while (watching) {
        const m = await received();
        const eorSeen = back && !DROPPED.some((p) => m.has(p));
        if (!eorSeen) for (const p of all) if (!m.has(p)) missing.add(p);
        if (back && [...m.values()].some((r) => r.stale)) sawStaleAfterBack = true;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // A failed test leaves the loop to afterAll; its last call may fail as the namespaces go.
    watcher.catch(() => undefined);

    // bgpd crashes; when it comes back it no longer has DROPPED.
    writeFileSync(join(frr!.dir, 'bgpd.conf'), frrBgpConfig(torOpts(KEPT)));
    await frr!.kill();
    const away = await waitFor(async () => {
      const m = await received();
      return m.size === all.length && [...m.values()].every((r) => r.stale) ? m : undefined;
    }, { what: 'every ToR route stale at the agent', timeoutMs: 30_000, intervalMs: 50, diagnostics: () => agent!.logTail() });
    expect(view(away)).toEqual(all.map((p) => `${p} stale`).sort());
    expect((await agent!.peer(TOR4)).json.state).not.toBe('Established');

    await frr!.restart();
    await agent!.waitEstablished(TOR4, 60_000);
    back = true;
    const after = await waitFor(async () => {
      const m = await received();
      return [...m.values()].every((r) => !r.stale) ? m : undefined;
    }, { what: "the ToR's End-of-RIB to end the stale marks", timeoutMs: 60_000, intervalMs: 50, diagnostics: () => agent!.logTail() });
    watching = false;
    await watcher;
    expect(view(after)).toEqual([...DEFAULTS, ...KEPT].sort());
    expect([...missing]).toEqual([]);
    console.log(`ToR restart: stale marks seen after the ToR was back: ${sawStaleAfterBack}`);
  }, 180_000);

  it("the agent restarts: its learned routes keep forwarding; one the ToR dropped meanwhile leaves the kernel on the ToR's End-of-RIB", async () => {
    const kept = [...DEFAULTS, ...KEPT].sort();
    const gone = KEPT[0]!;
    await waitFor(async () => ((await learnedRoutes(w)).join() === kept.join() ? true : undefined), {
      what: 'the ToR routes in the worker kernel',
      timeoutMs: 30_000,
      intervalMs: 100,
      diagnostics: async () => (await learnedRoutes(w)).join(' '),
    });
    expect(await agent!.stop()).toBe(0);
    // The kernel keeps them while the agent is away; the ToR drops one meanwhile.
    expect(await learnedRoutes(w)).toEqual(kept);
    await frr!.configure(['router bgp 65000', 'address-family ipv4 unicast', `no network ${gone}`]);

    // No learned route may leave the kernel but the dropped one; watch through the restart.
    const missing = new Set<string>();
    let watching = true;
    stopWatcher = () => (watching = false);
    const watcher = (async () => {
      while (watching) {
        const now = new Set(await learnedRoutes(w));
        for (const p of kept) if (p !== gone && !now.has(p)) missing.add(p);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    watcher.catch(() => undefined);
    // A reconcile interval of an hour: only the End-of-RIB can take the dropped route away.
    agent = await startAgent(w, { ...agentCfg, extra: { runtime: { reconcileInterval: 3600 } } }, { name: 'agent2' });
    await agent.waitEstablished(TOR4, 60_000);
    await waitFor(async () => (!(await learnedRoutes(w)).includes(gone) ? true : undefined), {
      what: `${gone} to leave the worker kernel`,
      timeoutMs: 60_000,
      intervalMs: 50,
      diagnostics: () => agent!.logTail(),
    });
    watching = false;
    await watcher;
    expect(await learnedRoutes(w)).toEqual(kept.filter((p) => p !== gone));
    expect([...missing]).toEqual([]);
    const lines = agent.logLines().filter((l) => l.op === 'learned.stale');
    expect(lines.find((l) => l.event === 'adopted')?.nextHops).toBe(kept.length);
    const swept = lines.filter((l) => l.event === 'swept');
    expect(swept.map((l) => [l.reason, l.peer, l.family, l.nextHops])).toContainEqual(['end-of-rib', TOR4, 'ipv4-unicast', 1]);
    expect(swept.some((l) => l.reason === 'restart-time')).toBe(false);
  }, 180_000);
});
