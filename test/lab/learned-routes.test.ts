/**
 * Learned routes into the worker's kernel, dual-homed to two ToRs (docs/dual-homed.md):
 *
 *   torA (FRR, AS 65000)  203.0.113.1/30 ═ 203.0.113.2/30 (upA) ┐
 *                                                                ├ wk (routectl agent, AS 65001)
 *   torB (BIRD, AS 65000) 203.0.113.5/30 ═ 203.0.113.6/30 (upB) ┘
 *   (and 2001:db8:f:1::/64, 2001:db8:f:2::/64 on the two links)
 *
 * - both ToRs send a default route (both families): the worker's kernel has one ECMP
 *   default via both, protocol 88 metric 20, and `status` exits 0;
 * - FRR also sends every kind of forbidden route (the container pool itself, a route
 *   inside it, one covering the zone range, 169.254.0.0/16 and inside it, the uplink's
 *   subnet, the worker's own address, the zone's IPv6 range): each shows in
 *   `routes --received` as filtered with a hijack-guard reason and none is in the kernel;
 *   an ordinary route (2001:db8:a::/48) is installed;
 * - the uplink to torA set down: that session is down at once (the reason names the
 *   interface, which the hold timer would not), the default keeps only torB's next hop,
 *   `status` exits 1 while the peer is down; the link back up: session and ECMP return;
 * - torA in graceful shutdown (`bgp graceful-shutdown`): its routes carry GRACEFUL_SHUTDOWN
 *   (RFC 8326), which the agent counts as LOCAL_PREF 0: the default keeps only torB's next
 *   hop until torA leaves graceful shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startAgent, OPEN_APP_ZONE, type LabAgent } from './agent-helper.js';
import { dualUplinks, TOR_A, TOR_AS, TOR_B, WK_A, WK_AS, WK_B } from './harness/fabric.js';
import { Lab, startBird, startFrr, waitFor, type Bird, type Frr, type Netns } from './harness/index.js';
import { learnedGateways } from './views.js';

const FORBIDDEN = [
  '198.51.100.0/28', // equals the container pool
  '198.51.100.4/30', // inside the pool
  '198.51.0.0/16', // covers the zone range 198.51.100.0/24
  '169.254.0.0/16',
  '169.254.1.0/24',
  '203.0.113.0/30', // the uplink's subnet
  '203.0.113.2/32', // the worker's own address
  '2001:db8:c:1::/64', // the zone's IPv6 range
];
const ALLOWED6 = '2001:db8:a::/48';

let lab: Lab;
let torA: Netns;
let torB: Netns;
let wk: Netns;
let frr: Frr;
let bird: Bird;
let agent: LabAgent;
let upA: string;

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  protocol?: string | number;
  nexthops?: { gateway: string; dev: string }[];
}

/** Gateways of our (protocol 88) route for `dst` in the main table, sorted; [] when there is none. */
const gateways = (v: 4 | 6, dst: string): Promise<string[]> => learnedGateways(wk, v, dst);

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  // upA keeps its IPv6 addresses when it goes down (uplinks with ipv6).
  ({ torA, torB, wk, upA } = await dualUplinks(lab, { ipv6: true }));
  agent = await startAgent(wk, {
    routerId: WK_A,
    asn: WK_AS,
    peers: [
      { address: TOR_A, asn: TOR_AS, description: 'FRR ToR' },
      { address: TOR_B, asn: TOR_AS, description: 'BIRD ToR' },
    ],
    // Everything is accepted by the prefix list: the hijack guard alone must refuse.
    import: ['0.0.0.0/0 le 32', '::/0 le 128'],
    extra: { ...OPEN_APP_ZONE },
  });
  frr = await startFrr(torA, { asn: TOR_AS, routerId: TOR_A, neighbors: [{ address: WK_A, asn: WK_AS, defaultOriginate: true }], networks: [...FORBIDDEN, ALLOWED6] });
  bird = await startBird(torB, { asn: TOR_AS, routerId: TOR_B, neighbors: [{ address: WK_B, asn: WK_AS, defaultOriginate: true }] });
  await agent.waitEstablished(TOR_A, 60_000);
  await agent.waitEstablished(TOR_B, 60_000);
}, 240_000);

afterAll(async () => {
  await lab?.cleanup();
});

describe('a worker dual-homed to an FRR and a BIRD ToR', () => {
  it('installs one ECMP default route via both ToRs, in both families', async () => {
    await waitFor(async () => (await gateways(4, 'default')).length === 2, { what: 'IPv4 ECMP default via both ToRs', timeoutMs: 30_000 });
    expect(await gateways(4, 'default')).toEqual([TOR_A, TOR_B]);
    await waitFor(async () => (await gateways(6, 'default')).length === 2, { what: 'IPv6 ECMP default via both ToRs', timeoutMs: 30_000 });
    expect(await gateways(6, 'default')).toEqual(['2001:db8:f:1::1', '2001:db8:f:2::1']);
    const s = await agent.status();
    expect(s.json?.forwarding?.problems).toEqual([]);
    expect(s.json?.forwarding?.installed).toBeGreaterThanOrEqual(3);
    expect(s.code).toBe(0);
  });

  it('refuses every route that overlaps its own space: filtered with the reason, never in the kernel', async () => {
    await waitFor(async () => (await gateways(6, ALLOWED6)).length === 1, { what: `${ALLOWED6} installed`, timeoutMs: 30_000 });
    const received = (await agent.routes('received', TOR_A)).json!.routes;
    for (const p of FORBIDDEN) {
      const r = received.find((x) => x.prefix === p);
      expect(r, `${p} received from FRR`).toBeDefined();
      expect(r!.accepted).toBe(false);
      expect(r!.reason).toMatch(/^hijack guard: (equals|lies inside|covers) /);
    }
    const own4 = await wk.ipJson<IpRoute[]>(['-4', 'route', 'show', 'proto', '88']);
    const own6 = await wk.ipJson<IpRoute[]>(['-6', 'route', 'show', 'proto', '88']);
    const installed = [...own4, ...own6].map((r) => r.dst);
    expect(installed.length).toBeGreaterThan(0);
    for (const p of FORBIDDEN) expect(installed).not.toContain(p);
  });

  it('takes the session down the moment its uplink goes down, keeps the other next hop, and status fails', async () => {
    await wk.ip(['link', 'set', upA, 'down']);
    const down = await agent.waitPeer(TOR_A, (p) => p.state !== 'Established', 'torA session down', 20_000);
    expect(down.lastError).toMatch(/interface upA down/);
    await waitFor(async () => (await gateways(4, 'default')).join() === TOR_B, { what: 'default via torB only', timeoutMs: 10_000 });
    const s = await agent.status();
    expect(s.code).toBe(1);
    expect((await agent.peer(TOR_B)).json?.state).toBe('Established');

    await wk.ip(['link', 'set', upA, 'up']);
    await agent.waitEstablished(TOR_A, 60_000);
    await waitFor(async () => (await gateways(4, 'default')).length === 2, { what: 'ECMP default back', timeoutMs: 30_000 });
    await waitFor(async () => (await gateways(6, 'default')).length === 2, { what: 'IPv6 ECMP default back', timeoutMs: 30_000 });
    // Routes whose next hop was not reachable yet (the link's IPv6 address still tentative) are retried.
    let last = '';
    await waitFor(
      async () => {
        const s = await agent.status();
        last = s.stdout;
        return s.code === 0;
      },
      { what: 'status exit 0 again', timeoutMs: 30_000, diagnostics: async () => last },
    );
  });

  it("a ToR in graceful shutdown (FRR's bgp graceful-shutdown, RFC 8326): its next hop leaves the ECMP route while the other ToR's stays", async () => {
    await frr.configure([`router bgp ${TOR_AS}`, 'bgp graceful-shutdown']);
    await waitFor(async () => ((await gateways(4, 'default')).join() === TOR_B ? true : undefined), {
      what: 'default via torB only while torA is in graceful shutdown',
      timeoutMs: 30_000,
      diagnostics: async () => JSON.stringify((await agent.routes('received', TOR_A)).json!.routes.find((r) => r.prefix === '0.0.0.0/0')),
    });
    const d = (await agent.routes('received', TOR_A)).json!.routes.find((r) => r.prefix === '0.0.0.0/0');
    expect(d?.communities).toContain('graceful-shutdown');
    expect(d?.accepted).toBe(true);
    await frr.configure([`router bgp ${TOR_AS}`, 'no bgp graceful-shutdown']);
    await waitFor(async () => (await gateways(4, 'default')).length === 2, { what: 'ECMP default back after graceful shutdown', timeoutMs: 30_000 });
  });
});
