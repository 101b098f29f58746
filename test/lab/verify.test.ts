/**
 * `routectl verify` against real state: a real dockerd and the built agent in a worker
 * namespace, peering with two real routers, one of which does not carry IPv6:
 *
 *   tor (FRR, AS 65000, listen range, default-originate v4+v6; IPv4 and IPv6 unicast)
 *    │ fab0 203.0.113.1/30 2001:db8:ffff::1/64
 *    │ fab0 203.0.113.2/30 2001:db8:ffff::2/64
 *   w (dockerd, the built `routectl agent`, AS 65001; two --net none containers, zone app)
 *    │ fab1 203.0.113.6/30
 *    │ fab1 203.0.113.5/30
 *   p2 (BIRD, AS 65002, listen range, an ipv4 channel only: its OPEN offers IPv4 unicast alone)
 *
 * The agent is configured for both families with both peers (the default), so the
 * containers' /128s are desired at p2 too, and p2 cannot be sent them: verify reports
 * exactly those two prefixes as not sent to p2, with "not negotiated" as the reason, and
 * the routers' own tables agree (FRR has all four prefixes, BIRD the two /32s).
 *
 * Then, with the repair loop paused (`routectl reconcile pause`), one container's /32 host
 * route is deleted by hand: verify exits 1 and names that route and container, and keeps
 * doing so while paused; `routectl reconcile resume` → the route is back and verify is
 * back to exactly the first set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointEntry, PeerDetail } from '../../src/api/types.js';
import type { Mismatch } from '../../src/verify/index.js';
import { OPEN_APP_ZONE, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startBird, type Bird } from './harness/bird.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from './harness/docker.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';
import { ownRoutes as ownRoutesOf } from './views.js';

const TOR4 = '203.0.113.1';
const W4 = '203.0.113.2';
const TOR6 = '2001:db8:ffff::1';
const W6 = '2001:db8:ffff::2';
const P2 = '203.0.113.5';
const W4B = '203.0.113.6';

let lab: Lab | undefined;
let tor: Netns;
let p2ns: Netns;
let w: Netns;
let frr: Frr | undefined;
let bird: Bird | undefined;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
const ctrs: EndpointEntry[] = [];

const config: LabAgentConfig = {
  routerId: W4,
  asn: 65001,
  peers: [
    { address: TOR4, asn: 65000 },
    { address: P2, asn: 65002 },
  ],
  extra: {
    ...OPEN_APP_ZONE,
    // Set once dockerd's socket is known.
    runtime: {},
  },
};

/** What verify must say about p2 while everything else is in order: each /128 not sent, and why. */
function notNegotiated(): Pick<Mismatch, 'kind' | 'subject' | 'peer' | 'endpoint' | 'message'>[] {
  return ctrs
    .map((c) => ({
      kind: 'prefix-not-sent' as const,
      subject: `${c.ipv6!}/128`,
      peer: P2,
      endpoint: c.id,
      message: `prefix ${c.ipv6!}/128 (endpoint ${c.name!} (${c.id})) not sent to peer ${P2}: ipv6-unicast not negotiated with this peer`,
    }))
    .sort((a, b) => a.subject.localeCompare(b.subject));
}

/** verify's mismatches, in its own order; exit code alongside. */
async function verifyNow(): Promise<{ code: number; mismatches: readonly Mismatch[] }> {
  const r = await agent!.verify();
  if (r.code === 2 || r.json === undefined) throw new Error(`routectl verify failed (${r.code}): ${r.stderr}`);
  return { code: r.code, mismatches: r.json.mismatches };
}

/** Wait until verify reports exactly `want` (advertisements settle a moment after a change). */
async function waitVerify(want: readonly Mismatch[] | ReturnType<typeof notNegotiated>, what: string): Promise<{ code: number; mismatches: readonly Mismatch[] }> {
  let last: unknown;
  return waitFor(
    async () => {
      const v = await verifyNow();
      last = v.mismatches;
      return JSON.stringify(v.mismatches) === JSON.stringify(want) ? v : undefined;
    },
    { what: `verify to report ${what}`, timeoutMs: 20_000, intervalMs: 250, diagnostics: () => `last: ${JSON.stringify(last, null, 2)}\n${agent!.logTail()}` },
  );
}

const ownRoutes = (): Promise<string[]> => ownRoutesOf(w);

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('vfytor');
  p2ns = await lab.netns('vfyp2');
  w = await lab.netns('vfyw');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, `${TOR6}/64`], bAddr: [`${W4}/30`, `${W6}/64`] });
  await lab.link(p2ns, w, { aName: 'fab1', bName: 'fab1', aAddr: [`${P2}/30`], bAddr: [`${W4B}/30`] });
  // The agent does not install what it learns; proxy ARP for 169.254.1.1 needs a default route (docs/lab.md).
  await w.addRoute('default', { via: TOR4 });
  await w.addRoute('default', { via: TOR6 });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, listenRange: '203.0.113.0/26', listenDefaultOriginate: true });
  bird = await startBird(p2ns, { asn: 65002, routerId: P2, listenRange: '203.0.113.0/26', families: ['ipv4-unicast'] });
  dockerd = await startDockerd(w);
  await dockerd.importBusybox();
  (config.extra as { runtime: unknown }).runtime = { docker: { socket: dockerd.sock }, reconcileInterval: 2 };
  agent = await startAgent(w, config, { name: 'agent' });
  await Promise.all([agent.waitEstablished(TOR4), agent.waitEstablished(P2)]);
  for (const name of ['v1', 'v2']) {
    await dockerd.runContainer(['--net', 'none', '--name', name, '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600']);
    ctrs.push(await agent.waitEndpointReady(name));
  }
});

afterAll(async () => {
  try {
    if (agent?.running) await agent.stop().catch(() => undefined);
    await dockerd?.cleanup();
    await bird?.stop().catch(() => undefined);
    await frr?.stop().catch(() => undefined);
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
});

describe('routectl verify against a worker with real containers and two real peers', () => {
  it('a peer that did not negotiate IPv6 unicast: exactly the /128s not sent to it, and why; the routers agree', async () => {
    const p2 = (await agent!.peer(P2)).json as PeerDetail;
    expect(p2.families).toEqual(['ipv4-unicast']);
    expect(((await agent!.peer(TOR4)).json as PeerDetail).families).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    const v = await waitVerify(notNegotiated(), 'only the /128s not sent to p2');
    expect(v.code).toBe(1);
    expect(notNegotiated()).toHaveLength(2);

    // What the routers hold agrees with verify: FRR all four host prefixes, BIRD the /32s only.
    const v4 = ctrs.map((c) => `${c.ipv4!}/32`);
    const v6 = ctrs.map((c) => `${c.ipv6!}/128`);
    const frrHas = new Set([...(await frr!.ribPrefixes('ipv4-unicast')).keys(), ...(await frr!.ribPrefixes('ipv6-unicast')).keys()]);
    for (const p of [...v4, ...v6]) expect(frrHas, `FRR RIB has ${p}`).toContain(p);
    const birdHas = await bird!.routes('ipv4-unicast');
    for (const p of v4) expect([...birdHas.keys()], `BIRD has ${p}`).toContain(p);

    // The human output names the peer, each prefix, its container and the reason; exit 1.
    const human = await agent!.cli(['verify']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('routectl verify: 2 mismatches');
    for (const m of notNegotiated()) expect(human.stdout).toContain(`prefix-not-sent  ${m.message}`);
  });

  it('reconcile paused, a host route deleted by hand: verify exits 1 naming it; resumed: the route is back, verify back to the first set', async () => {
    const c = ctrs[0]!;
    const route = `${c.ipv4!}/32`;
    const paused = await agent!.cli(['reconcile', 'pause']);
    expect(paused, paused.stderr).toMatchObject({ code: 0, stdout: 'repair loop paused\n' });
    await w.delRoute(route, { proto: 88 });
    expect(await ownRoutes()).not.toContain(route);

    const missing: Mismatch = {
      kind: 'missing-host-route',
      subject: route,
      peer: null,
      endpoint: c.id,
      message: `missing host route ${route} for endpoint ${c.name!} (${c.id}) (dev ${c.hostVeth!})`,
    };
    const first = await verifyNow();
    expect(first.code).toBe(1);
    expect(first.mismatches).toEqual([missing, ...notNegotiated()]);
    const human = await agent!.cli(['verify']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`missing-host-route  ${missing.message}`);
    // Paused means paused: two repair intervals later the route is still gone and still reported.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(await ownRoutes()).not.toContain(route);
    expect((await verifyNow()).mismatches).toEqual([missing, ...notNegotiated()]);

    const resumed = await agent!.cli(['reconcile', 'resume']);
    expect(resumed, resumed.stderr).toMatchObject({ code: 0, stdout: 'repair loop running\n' });
    await waitFor(async () => (await ownRoutes()).includes(route), { what: `${route} restored after resume`, timeoutMs: 10_000, intervalMs: 100 });
    const after = await waitVerify(notNegotiated(), 'only the /128s not sent to p2 again');
    expect(after.code).toBe(1);
  });

  it('a peer restricted to IPv4 in agent.yaml is not expected to carry IPv6: verify exits 0', async () => {
    await agent!.reload({ ...config, peers: [{ address: TOR4, asn: 65000 }, { address: P2, asn: 65002, families: ['ipv4-unicast'] }] });
    await agent!.waitEstablished(P2);
    const clean = await waitVerify([], 'no mismatch once p2 is configured for IPv4 unicast only');
    expect(clean.code).toBe(0);
    expect((await agent!.cli(['verify'])).code).toBe(0);
  });
});
