/**
 * Unnumbered peering (docs/bgp.md "Unnumbered peering"): the worker's uplink has no
 * address but its IPv6 link-local one, the peer is configured by interface, and IPv4
 * routes travel with IPv6 next hops (RFC 8950).
 *
 *   tor (FRR `neighbor uplink interface remote-as external`)  ═ uplink ═  wk (agent)
 *   tor (GoBGP `neighbor-interface = "uplink"`)                ═ uplink ═  wk (agent)
 *
 * Per ToR: the session comes up over the link-local addresses; the worker's
 * 198.51.100.1/32 is at the ToR via the worker's link-local address, and the ToR's
 * 198.51.100.128/25 is in the worker's kernel "via inet6 fe80::… dev uplink"
 * (protocol 88). With FRR both ways round: the agent connects (FRR passive) and FRR
 * connects (the agent passive, FRR finding it from the agent's router advertisements).
 * Before the ToR is there, `routectl peers` says no neighbour was found yet.
 * Dual-homed over two unnumbered uplinks to two FRR ToRs: one ECMP default "nexthop via
 * inet6 … dev upA / upB"; upA down takes its session and next hop out at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLab, ensureBuilt, startAgent, type LabAgent } from './agent-helper.js';
import { Lab, startFrr, startGobgp, waitFor, type Frr, type Gobgp, type Netns } from './harness/index.js';

const TOR_AS = 65000;
const WK_AS = 65001;
const WK_PREFIX = '198.51.100.1/32';
const TOR_PREFIX = '198.51.100.128/25';
const UPLINK = 'uplink';

let lab: Lab;
const agents: LabAgent[] = [];
const daemons: { stop(): Promise<void> }[] = [];

interface IpRoute {
  dst: string;
  gateway?: string;
  via?: { family: string; host: string };
  dev?: string;
  protocol?: string | number;
}

/** A ToR and a worker joined by `uplink` on both sides, with link-local addresses only. */
async function pair(tag: string, made?: { tor: Netns; wk: Netns }): Promise<{ tor: Netns; wk: Netns; torLl: string; wkLl: string }> {
  const tor = made?.tor ?? (await lab.netns(`un${tag}t`));
  const wk = made?.wk ?? (await lab.netns(`un${tag}w`));
  await lab.link(tor, wk, { aName: UPLINK, bName: UPLINK, aAddr: [], bAddr: [] });
  const torLl = await waitFor(() => tor.linkLocal(UPLINK).catch(() => undefined), { what: 'ToR link-local', timeoutMs: 10_000 });
  const wkLl = await waitFor(() => wk.linkLocal(UPLINK).catch(() => undefined), { what: 'worker link-local', timeoutMs: 10_000 });
  return { tor, wk, torLl, wkLl };
}

/** The IPv6 gateway of the IPv4 route `dst` (RTA_VIA, `via inet6`), with its device; undefined when absent. */
async function via6(ns: Netns, dst: string, extra: string[] = []): Promise<{ host: string; dev: string | undefined } | undefined> {
  const routes = await ns.ipJson<IpRoute[]>(['-4', 'route', 'show', dst, ...extra]);
  const r = routes[0];
  if (!r?.via || r.via.family !== 'inet6') return undefined;
  return { host: r.via.host, dev: r.dev };
}

/** The worker's established BGP connections as [local, peer] as ss prints them ("[fe80::1]%uplink:179", "[fe80::2]:40000"). */
async function bgpConnections(wk: Netns): Promise<[string, string][]> {
  const out = await wk.run(['ss', '-tnH', 'state', 'established', '( sport = :179 or dport = :179 )']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => [f[f.length - 2]!, f[f.length - 1]!] as [string, string]);
}

async function agentFor(wk: Netns, peer: Record<string, unknown>): Promise<LabAgent> {
  const a = await startAgent(wk, {
    routerId: '203.0.113.66',
    asn: WK_AS,
    peers: [{ interface: UPLINK, ...peer } as never],
    advertise: [WK_PREFIX],
    import: [TOR_PREFIX],
  });
  agents.push(a);
  return a;
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
}, 240_000);

afterAll(async () => {
  await endLab(lab, async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    for (const d of daemons) await d.stop().catch(() => undefined);
  });
}, 240_000);

async function expectRoutesBothWays(tor: Netns, wk: Netns, torLl: string, wkLl: string): Promise<void> {
  // The ToR forwards to the worker's container prefix via the worker's link-local.
  const atTor = await waitFor(() => via6(tor, WK_PREFIX), { what: `${WK_PREFIX} at the ToR via inet6`, timeoutMs: 30_000 });
  expect(atTor).toEqual({ host: wkLl, dev: UPLINK });
  // The worker installed the ToR's route via the ToR's link-local on the uplink.
  const atWk = await waitFor(() => via6(wk, TOR_PREFIX, ['proto', '88']), { what: `${TOR_PREFIX} in the worker's kernel via inet6`, timeoutMs: 30_000 });
  expect(atWk).toEqual({ host: torLl, dev: UPLINK });
}

describe('unnumbered with FRR (neighbor uplink interface remote-as external)', () => {
  it('the agent connects: before FRR runs it says no neighbour is found; then Established over link-local, routes both ways', async () => {
    const { tor, wk, torLl, wkLl } = await pair('a');
    const agent = await agentFor(wk, { asn: 'external' });
    const waiting = await agent.waitPeer(UPLINK, (p) => /no neighbour found on uplink/.test(p.lastError ?? ''), 'no neighbour yet', 20_000);
    expect(waiting.state).not.toBe('Established');
    expect(waiting.neighbour).toEqual({ address: null, source: null });

    const frr: Frr = await startFrr(tor, {
      asn: TOR_AS,
      routerId: '203.0.113.65',
      families: ['ipv4-unicast'],
      neighbors: [{ address: UPLINK, interface: true, asn: 'external', passive: true }],
      networks: [TOR_PREFIX],
    });
    daemons.push(frr);
    const up = await agent.waitEstablished(UPLINK, 60_000);
    expect(up.neighbour).toEqual({ address: `${torLl}%${UPLINK}`, source: 'neighbour-table' });
    expect(up.remoteAddress).toBe(`${torLl}%${UPLINK}`);
    expect(up.localAddress).toBe(`${wkLl}%${UPLINK}`);
    expect(up.asn).toBe(TOR_AS);
    expect(up.capabilities).toContain('extended-nexthop');
    // We connected: our end of the one connection has an ephemeral port, FRR's is 179.
    const conns = await bgpConnections(wk);
    expect(conns).toHaveLength(1);
    expect(conns[0]![1]).toBe(`[${torLl}]:179`);
    expect(conns[0]![0]).not.toMatch(/:179$/);
    await expectRoutesBothWays(tor, wk, torLl, wkLl);
    const text = await agent.cli(['peers']);
    expect(text.stdout).toContain(`uplink (${torLl})`);
  }, 180_000);

  it('FRR connects (the agent passive): FRR finds the worker from its router advertisements', async () => {
    const { tor, wk, torLl, wkLl } = await pair('b');
    const agent = await agentFor(wk, { asn: TOR_AS, passive: true });
    const frr: Frr = await startFrr(tor, {
      asn: TOR_AS,
      routerId: '203.0.113.67',
      families: ['ipv4-unicast'],
      neighbors: [{ address: UPLINK, interface: true, asn: 'external' }],
      networks: [TOR_PREFIX],
    });
    daemons.push(frr);
    const up = await agent.waitEstablished(UPLINK, 60_000);
    expect(up.remoteAddress).toBe(`${torLl}%${UPLINK}`);
    expect(up.neighbour?.address).toBe(`${torLl}%${UPLINK}`);
    // FRR connected: our end of the one connection is port 179.
    const conns = await bgpConnections(wk);
    expect(conns).toHaveLength(1);
    expect(conns[0]![0]).toBe(`[${wkLl}]%${UPLINK}:179`);
    expect(conns[0]![1]).toMatch(new RegExp(`^\\[${torLl}\\]:\\d+$`));
    await expectRoutesBothWays(tor, wk, torLl, wkLl);
  }, 180_000);
});

describe('unnumbered with GoBGP (neighbor-interface)', () => {
  it('the uplink appears after the agent started; GoBGP finds the worker in its neighbour table; Established, routes both ways', async () => {
    // The agent starts before its uplink exists: a status, not a failure.
    const made = { tor: await lab.netns('unct'), wk: await lab.netns('uncw') };
    const agent = await agentFor(made.wk, { asn: TOR_AS });
    const waiting = await agent.waitPeer(UPLINK, (p) => /no neighbour found on uplink/.test(p.lastError ?? ''), 'no neighbour yet', 20_000);
    expect(waiting.state).not.toBe('Established');
    await waitFor(() => agent.logLines().find((l) => l.op === 'unnumbered.advertise' && l.event === 'failed'), { what: 'router advertisements on uplink not sent (no interface)', timeoutMs: 20_000 });
    const { tor, wk, torLl, wkLl } = await pair('c', made);
    // GoBGP takes the neighbour's address from its neighbour table when the neighbour is
    // configured: the agent's router advertisements put it there.
    await waitFor(
      async () => (await tor.ipJson<{ dst: string }[]>(['-6', 'neigh', 'show', 'dev', UPLINK])).some((n) => n.dst === wkLl),
      { what: "the worker's link-local in the ToR's neighbour table", timeoutMs: 30_000 },
    );
    const gobgp: Gobgp = await startGobgp(tor, {
      asn: TOR_AS,
      routerId: '203.0.113.68',
      families: ['ipv4-unicast'],
      neighbors: [{ address: UPLINK, interface: true, asn: WK_AS }],
      networks: [TOR_PREFIX],
    });
    daemons.push(gobgp);
    const up = await agent.waitEstablished(UPLINK, 90_000);
    expect(up.remoteAddress).toBe(`${torLl}%${UPLINK}`);
    expect(up.capabilities).toContain('extended-nexthop');
    // GoBGP keeps no kernel routes: its RIB shows our prefix with our link-local as next hop.
    const rib = await waitFor(async () => {
      const r = await gobgp.rib('ipv4-unicast');
      return r.has(WK_PREFIX) ? r : undefined;
    }, { what: `${WK_PREFIX} in GoBGP's RIB`, timeoutMs: 30_000 });
    expect(rib.get(WK_PREFIX)).toContain(wkLl);
    const atWk = await waitFor(() => via6(wk, TOR_PREFIX, ['proto', '88']), { what: `${TOR_PREFIX} in the worker's kernel via inet6`, timeoutMs: 30_000 });
    expect(atWk).toEqual({ host: torLl, dev: UPLINK });
  }, 180_000);
});

describe('dual-homed over two unnumbered uplinks (FRR ToRs, default-originate)', () => {
  interface NextHop { via?: { family: string; host: string }; dev?: string }
  /** Our default route's next hops as "host dev", sorted. */
  async function defaults(wk: Netns): Promise<string[]> {
    const routes = await wk.ipJson<(IpRoute & { nexthops?: NextHop[] })[]>(['-4', 'route', 'show', 'default', 'proto', '88']);
    const r = routes[0];
    if (!r) return [];
    const hops: NextHop[] = r.nexthops ?? [{ ...(r.via ? { via: r.via } : {}), ...(r.dev ? { dev: r.dev } : {}) }];
    return hops.map((h) => `${h.via?.family === 'inet6' ? h.via.host : '?'} ${h.dev ?? '?'}`).sort();
  }

  it('one ECMP default via both ToRs over inet6 link-local; an uplink down takes its session and next hop at once', async () => {
    const wk = await lab.netns('undw');
    const torA = await lab.netns('undta');
    const torB = await lab.netns('undtb');
    await lab.link(torA, wk, { aName: 'swp1', bName: 'upA', aAddr: [], bAddr: [] });
    await lab.link(torB, wk, { aName: 'swp1', bName: 'upB', aAddr: [], bAddr: [] });
    const llA = await waitFor(() => torA.linkLocal('swp1').catch(() => undefined), { what: 'torA link-local', timeoutMs: 10_000 });
    const llB = await waitFor(() => torB.linkLocal('swp1').catch(() => undefined), { what: 'torB link-local', timeoutMs: 10_000 });
    const agent = await startAgent(wk, {
      routerId: '203.0.113.70',
      asn: WK_AS,
      peers: [
        { interface: 'upA', asn: 'external' },
        { interface: 'upB', asn: 'external' },
      ],
      advertise: [WK_PREFIX],
      import: ['0.0.0.0/0'],
    });
    agents.push(agent);
    for (const [ns, id] of [[torA, '203.0.113.71'], [torB, '203.0.113.72']] as const) {
      daemons.push(await startFrr(ns, { asn: TOR_AS, routerId: id, families: ['ipv4-unicast'], neighbors: [{ address: 'swp1', interface: true, asn: 'external', defaultOriginate: true }] }));
    }
    await agent.waitEstablished('upA', 60_000);
    await agent.waitEstablished('upB', 60_000);
    await waitFor(async () => ((await defaults(wk)).length === 2 ? true : undefined), { what: 'ECMP default via both ToRs', timeoutMs: 30_000 });
    expect(await defaults(wk)).toEqual([`${llA} upA`, `${llB} upB`].sort());

    await wk.ip(['link', 'set', 'upA', 'down']);
    const down = await agent.waitPeer('upA', (p) => p.state !== 'Established', 'upA session down', 20_000);
    expect(down.lastError).toMatch(/interface upA down/);
    await waitFor(async () => ((await defaults(wk)).join() === `${llB} upB` ? true : undefined), { what: 'default via torB only', timeoutMs: 10_000 });

    await wk.ip(['link', 'set', 'upA', 'up']);
    await agent.waitEstablished('upA', 60_000);
    await waitFor(async () => ((await defaults(wk)).length === 2 ? true : undefined), { what: 'ECMP default back', timeoutMs: 30_000 });
  }, 180_000);
});
