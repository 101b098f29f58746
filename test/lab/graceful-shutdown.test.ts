/**
 * `routectl drain` with RFC 8326 graceful shutdown, against a real FRR ToR: two workers
 * announce the same service address (an anycast VIP), w2 with a longer AS path, so the
 * ToR prefers w1:
 *
 *   w1 (agent, AS 65001, bgp.gracefulShutdown.wait) ── tor (FRR, AS 65000) ── w2 (agent, AS 65002, prepend 2)
 *
 * w1 drains. While it waits, the ToR has w1's path with the GRACEFUL_SHUTDOWN community
 * and, as FRR does on receipt from an external peer, LOCAL_PREF 0: the path via w2 is
 * best although its AS path is longer, and the ToR forwards the VIP to w2 while w1 still
 * announces it. After the wait w1 withdraws, ends its session and exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLab, startAgent, stopRunning, type LabAgent, type LabAgentConfig } from './agent-helper.js';
// The fabric's two-link addresses, here the ToR's links to the two workers.
import { TOR_A as TOR_W1, TOR_B as TOR_W2, WK_A as W1, WK_B as W2 } from './harness/fabric.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';

const VIP = '198.51.100.77/32';
const WAIT = 15;

let lab: Lab | undefined;
let tor: Netns;
let w1ns: Netns;
let w2ns: Netns;
let frr: Frr | undefined;
let w1: LabAgent | undefined;
let w2: LabAgent | undefined;

const w1Config: LabAgentConfig = {
  node: 'w1',
  routerId: W1,
  asn: 65001,
  peers: [{ address: TOR_W1, asn: 65000 }],
  advertise: [VIP],
  bgpExtra: { gracefulShutdown: { wait: WAIT } },
};
const w2Config: LabAgentConfig = {
  node: 'w2',
  routerId: W2,
  asn: 65002,
  peers: [{ address: TOR_W2, asn: 65000, export: { prepend: 2 } }],
  advertise: [VIP],
};

interface FrrPath {
  readonly peer?: { readonly peerId?: string };
  readonly bestpath?: { readonly overall?: boolean };
  readonly locPrf?: number;
  readonly community?: { readonly string?: string };
  readonly aspath?: { readonly string?: string };
}

/** The ToR's paths for the VIP, by the worker they came from. */
async function vipPaths(): Promise<Map<string, FrrPath>> {
  const r = JSON.parse(await frr!.vtysh(`show bgp ipv4 unicast ${VIP} json`)) as { paths?: FrrPath[] };
  const m = new Map<string, FrrPath>();
  for (const p of r.paths ?? []) if (p.peer?.peerId) m.set(p.peer.peerId, p);
  return m;
}

/** The ToR's FIB next hops for the VIP. */
async function fibNextHops(): Promise<string[]> {
  const out = (await tor.exec(['ip', '-4', 'route', 'show', VIP])).stdout;
  return [...out.matchAll(/via (\S+)/g)].map((m) => m[1]!).sort();
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('tor');
  w1ns = await lab.netns('gsw1');
  w2ns = await lab.netns('gsw2');
  await lab.link(tor, w1ns, { aName: 'fab1', bName: 'fab0', aAddr: [`${TOR_W1}/30`], bAddr: [`${W1}/30`] });
  await lab.link(tor, w2ns, { aName: 'fab2', bName: 'fab0', aAddr: [`${TOR_W2}/30`], bAddr: [`${W2}/30`] });
  frr = await startFrr(tor, {
    asn: 65000,
    routerId: TOR_W1,
    families: ['ipv4-unicast'],
    neighbors: [
      { address: W1, asn: 65001 },
      { address: W2, asn: 65002 },
    ],
  });
  [w1, w2] = await Promise.all([startAgent(w1ns, w1Config, { name: 'w1' }), startAgent(w2ns, w2Config, { name: 'w2' })]);
  await Promise.all([w1.waitEstablished(TOR_W1), w2.waitEstablished(TOR_W2)]);
}, 120_000);

afterAll(async () => {
  await endLab(lab, () => stopRunning(w1, w2));
});

describe('drain with graceful shutdown (RFC 8326), FRR ToR', () => {
  it('the ToR prefers w1 for the VIP before the drain', async () => {
    const paths = await waitFor(async () => {
      const m = await vipPaths();
      return m.get(W1)?.bestpath?.overall && m.has(W2) ? m : undefined;
    }, { what: `the ToR to have the VIP from both workers, best via ${W1}`, timeoutMs: 30_000, intervalMs: 200 });
    expect(paths.get(W1)!.community?.string ?? '').not.toContain('graceful-shutdown');
    expect(await waitFor(async () => ((await fibNextHops()).join() === W1 ? W1 : undefined), { what: 'the ToR FIB via w1', timeoutMs: 10_000 })).toBe(W1);
  }, 60_000);

  it('w1 drains: GRACEFUL_SHUTDOWN first (FRR: LOCAL_PREF 0, traffic to w2), then the withdrawal, exit 0', async () => {
    const r = await w1!.cli<{ draining: boolean; gracefulShutdownWait: number }>(['drain', '--json']);
    expect(r.json).toMatchObject({ draining: true, gracefulShutdownWait: WAIT });
    // While w1 waits: its path is still there, marked and depreferenced; w2's is best.
    const during = await waitFor(async () => {
      const m = await vipPaths();
      const p = m.get(W1);
      return p?.community?.string?.includes('graceful-shutdown') && m.get(W2)?.bestpath?.overall ? m : undefined;
    }, { what: 'the ToR to see GRACEFUL_SHUTDOWN on the path via w1 and choose w2', timeoutMs: 10_000, intervalMs: 100 });
    const marked = during.get(W1)!;
    expect(marked.locPrf).toBe(0);
    expect(marked.bestpath?.overall ?? false).toBe(false);
    expect(await waitFor(async () => ((await fibNextHops()).join() === W2 ? W2 : undefined), { what: 'the ToR FIB via w2 during the wait', timeoutMs: 10_000 })).toBe(W2);
    expect(w1!.running, 'w1 still runs (and announces) during the wait').toBe(true);
    expect((await vipPaths()).has(W1)).toBe(true);
    // Then the withdrawal and the exit.
    expect(await w1!.waitExit((WAIT + 20) * 1000)).toBe(0);
    const after = await waitFor(async () => {
      const m = await vipPaths();
      return !m.has(W1) ? m : undefined;
    }, { what: 'the path via w1 withdrawn', timeoutMs: 10_000, intervalMs: 200 });
    expect(after.get(W2)?.bestpath?.overall).toBe(true);
    const stopping = w1!.logLines().find((l) => l.event === 'stopping');
    expect(stopping?.gracefulShutdownWait).toBe(WAIT);
  }, 90_000);
});
