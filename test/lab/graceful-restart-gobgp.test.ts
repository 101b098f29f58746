/**
 * A GoBGP ToR as graceful restart helper (RFC 4724 4.2) across an agent restart:
 *
 *   tor (gobgpd, AS 65000, graceful-restart helper-only) ── w (agent, AS 65001)
 *
 * The agent advertises two static prefixes and is SIGKILLed: gobgpd keeps both, stale.
 * The agent starts again advertising one of them: once its End-of-RIB is in, gobgpd has
 * the one re-sent, no longer stale, and has swept the other (long before its restart
 * time would). The prefix the agent still advertises is in gobgpd's table throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLab, ensureBuilt, startAgent, stopRunning, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { TOR4, torWorker, W4 } from './harness/fabric.js';
import { startGobgp, type Gobgp } from './harness/gobgp.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';

const KEPT = '198.51.100.16/28';
const DROPPED = '198.51.100.32/28';
/** Longer than any wait below: a sweep seen within them came from End-of-RIB. */
const RESTART_TIME = 300;

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let gobgp: Gobgp | undefined;
let agent: LabAgent | undefined;
/** Ends a test's watch loop, also when the test failed before it could (before the namespaces go). */
let stopWatcher: (() => void) | undefined;

const config = (advertise: readonly string[]): LabAgentConfig => ({
  routerId: W4,
  asn: 65001,
  peers: [{ address: TOR4, asn: 65000, families: ['ipv4-unicast'] }],
  advertise,
});

/** gobgpd's IPv4 table for the worker: prefix -> stale. */
async function torTable(): Promise<Map<string, boolean>> {
  const raw = await gobgp!.gobgp(['global', 'rib', '-a', 'ipv4', '-j']);
  const rib = JSON.parse(raw === '' ? '{}' : raw) as Record<string, { 'neighbor-ip'?: string; stale?: boolean }[]>;
  const out = new Map<string, boolean>();
  for (const [prefix, paths] of Object.entries(rib)) {
    for (const p of paths) if (p['neighbor-ip'] === W4) out.set(prefix, p.stale === true);
  }
  return out;
}

const view = (m: Map<string, boolean>): string[] => [...m].map(([p, s]) => `${p}${s ? ' stale' : ''}`).sort();

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ tor, w } = await torWorker(lab));
  gobgp = await startGobgp(tor, {
    asn: 65000,
    routerId: TOR4,
    families: ['ipv4-unicast'],
    neighbors: [{ address: W4, asn: 65001 }],
    gracefulRestart: { helperOnly: true, restartTime: RESTART_TIME },
  });
  agent = await startAgent(w, config([KEPT, DROPPED]), { name: 'agent' });
  await agent.waitEstablished(TOR4);
}, 180_000);

afterAll(async () => {
  stopWatcher?.();
  await endLab(lab, () => stopRunning(agent));
});

describe('graceful restart: GoBGP keeps the agent routes across an agent restart', () => {
  it('stale while the agent is away, swept on its End-of-RIB when it is back', async () => {
    const before = await waitFor(async () => {
      const t = await torTable();
      return t.size === 2 ? t : undefined;
    }, { what: 'both prefixes at gobgpd', timeoutMs: 30_000, intervalMs: 100 });
    expect(view(before)).toEqual([DROPPED, KEPT].sort());

    let watching = true;
    stopWatcher = () => (watching = false);
    let keptMissing = 0;
    const watcher = (async () => {
      while (watching) {
        if (!(await torTable()).has(KEPT)) keptMissing++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // A failed test leaves the loop to afterAll; its last call may fail as the namespaces go.
    watcher.catch(() => undefined);

    agent!.signal('SIGKILL');
    await agent!.waitExit();
    const away = await waitFor(async () => {
      const t = await torTable();
      return t.size === 2 && [...t.values()].every((s) => s) ? t : undefined;
    }, { what: 'gobgpd to keep both prefixes stale', timeoutMs: 30_000, intervalMs: 50 });
    expect(view(away)).toEqual([`${DROPPED} stale`, `${KEPT} stale`].sort());

    agent = await startAgent(w, config([KEPT]), { name: 'agent' });
    await agent.waitEstablished(TOR4);
    const after = await waitFor(async () => {
      const t = await torTable();
      return !t.has(DROPPED) && t.get(KEPT) === false ? t : undefined;
    }, { what: "the agent's End-of-RIB to sweep gobgpd's stale routes", timeoutMs: 60_000, intervalMs: 50, diagnostics: () => agent!.logTail() });
    watching = false;
    await watcher;
    expect(view(after)).toEqual([KEPT]);
    expect(keptMissing, `${KEPT} missing from gobgpd during the restart`).toBe(0);
  }, 180_000);
});
