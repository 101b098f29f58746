/**
 * Export and receive attributes against real routers:
 *
 *   tora (FRR, AS 65000)  203.0.113.1/30 ═ 203.0.113.2/30 ┐
 *                                                          wk (routectl agent, AS 65001)
 *   torb (BIRD, AS 65002) 203.0.113.5/30 ═ 203.0.113.6/30 ┘
 *
 * - Export: the worker advertises 198.51.100.1/32 from zone dmz (zone communities
 *   65000:100 and 65000:0:100); tora's peer has `export: { communities, largeCommunities,
 *   prepend: 2, med: 50 }`. FRR's `show bgp` shows all of it; BIRD (no export policy)
 *   gets the zone tags only, one AS, no MED. `routes --advertised` says the same.
 * - Receive: FRR sends 198.51.100.64/26 through a route-map setting a large community,
 *   an extended community (rt 65000:1), ATOMIC_AGGREGATE and AGGREGATOR: `routectl routes
 *   --received` shows them in text and JSON.
 * - First AS: BIRD as a route server client (`rs client`: it does not put its own AS on
 *   the path) sends 198.51.100.128/26 with an empty AS path: treated as withdrawn (never
 *   in the Adj-RIB-In), logged once (op bgp.update, event malformed) and counted in
 *   routectl_bgp_update_errors_total{action="treat-as-withdraw"}; the session stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoutesResponse } from '../../src/api/types.js';
import { ensureBuilt, startAgent, type LabAgent } from './agent-helper.js';
import { Lab, startBird, startFrr, waitFor, type Bird, type Frr, type Netns } from './harness/index.js';

const A4 = '203.0.113.1';
const WA4 = '203.0.113.2';
const B4 = '203.0.113.5';
const WB4 = '203.0.113.6';
const OURS = '198.51.100.1/32';
const FROM_A = '198.51.100.64/26';
const FROM_B = '198.51.100.128/26';

let lab: Lab;
let tora: Netns;
let torb: Netns;
let wk: Netns;
let frr: Frr;
let bird: Bird;
let agent: LabAgent;

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  tora = await lab.netns('tora');
  torb = await lab.netns('torb');
  wk = await lab.netns('wk');
  await lab.link(tora, wk, { aAddr: [`${A4}/30`], bAddr: [`${WA4}/30`] });
  await lab.link(torb, wk, { aAddr: [`${B4}/30`], bAddr: [`${WB4}/30`] });
  frr = await startFrr(tora, {
    asn: 65000,
    routerId: A4,
    families: ['ipv4-unicast'],
    neighbors: [{ address: WA4, asn: 65001 }],
    networks: [FROM_A],
    extraConfig: [
      'route-map ATTRS permit 10',
      ' set large-community 65000:7:7',
      ' set extcommunity rt 65000:1',
      ' set atomic-aggregate',
      ' set aggregator as 65010 203.0.113.9',
      '!',
      'router bgp 65000',
      ' address-family ipv4 unicast',
      `  neighbor ${WA4} route-map ATTRS out`,
      ' exit-address-family',
      '!',
    ].join('\n'),
  });
  bird = await startBird(torb, { asn: 65002, routerId: B4, families: ['ipv4-unicast'], neighbors: [{ address: WB4, asn: 65001 }], networks: [FROM_B], peerConfig: 'rs client;' });
  agent = await startAgent(wk, {
    routerId: WA4,
    asn: 65001,
    peers: [
      { address: A4, asn: 65000, families: ['ipv4-unicast'], export: { communities: ['65001:1'], largeCommunities: ['65001:2:3'], prepend: 2, med: 50 } },
      { address: B4, asn: 65002, families: ['ipv4-unicast'] },
    ],
    advertise: [OURS],
    import: ['198.51.100.0/24 le 32'],
    extra: {
      zones: [{ name: 'dmz', cidrs: ['198.51.100.0/28'], ingress: [{ from: 'world', ports: ['any'] }], communities: ['65000:100'], largeCommunities: ['65000:0:100'] }],
    },
  });
  await frr.waitEstablished(WA4, 60_000);
  await bird.waitEstablished(WB4, 60_000);
}, 180_000);

afterAll(async () => {
  await lab?.cleanup();
});

interface FrrPath {
  aspath?: { string: string };
  /** FRR's JSON calls MULTI_EXIT_DISC "metric". */
  metric?: number;
  community?: { string: string };
  largeCommunity?: { string: string };
}

describe('export attributes', () => {
  it('FRR gets the peer and zone communities, large communities, the prepends and the MED', async () => {
    const path = await waitFor(
      async () => {
        const j = JSON.parse(await frr.vtysh(`show bgp ipv4 unicast ${OURS} json`)) as { paths?: FrrPath[] };
        return j.paths?.[0];
      },
      { what: `${OURS} at FRR`, timeoutMs: 30_000 },
    );
    expect(path.aspath?.string).toBe('65001 65001 65001');
    expect(path.metric).toBe(50);
    expect(path.community?.string.split(' ').sort()).toEqual(['65000:100', '65001:1']);
    expect(path.largeCommunity?.string.split(' ').sort()).toEqual(['65000:0:100', '65001:2:3']);
  });

  it('BIRD, with no export policy, gets the zone tags only, one AS and no MED', async () => {
    const r = await waitFor(async () => (await bird.routeDetails('ipv4-unicast')).get(OURS), { what: `${OURS} at BIRD`, timeoutMs: 30_000 });
    expect(r.attributes['as_path']).toBe('65001');
    expect(r.attributes['community']).toBe('(65000,100)');
    expect(r.attributes['large_community']).toBe('(65000, 0, 100)');
    expect(r.attributes['med']).toBeUndefined();
  });

  it('routes --advertised shows what each peer was sent', async () => {
    const r = await agent.cli<RoutesResponse>(['routes', '--advertised', '--json']);
    const toA = r.json.routes.find((x) => x.peer === A4 && x.prefix === OURS);
    expect(toA).toMatchObject({ asPath: '65001 65001 65001', med: 50, communities: ['65000:100', '65001:1'], largeCommunities: ['65000:0:100', '65001:2:3'] });
    const toB = r.json.routes.find((x) => x.peer === B4 && x.prefix === OURS);
    expect(toB).toMatchObject({ asPath: '65001', med: null, communities: ['65000:100'], largeCommunities: ['65000:0:100'] });
    const text = await agent.cli(['routes', '--advertised']);
    expect(text.stdout).toContain('communities 65000:100 65001:1');
    expect(text.stdout).toContain('large-communities 65000:0:100 65001:2:3');
  });
});

describe('received attributes', () => {
  it('shows large and extended communities, AGGREGATOR and ATOMIC_AGGREGATE from FRR, in JSON and text', async () => {
    const route = await waitFor(
      async () => (await agent.cli<RoutesResponse>(['routes', '--received', '--json'])).json.routes.find((x) => x.prefix === FROM_A),
      { what: `${FROM_A} received`, timeoutMs: 30_000 },
    );
    expect(route).toMatchObject({
      peer: A4,
      asPath: '65000',
      accepted: true,
      largeCommunities: ['65000:7:7'],
      extendedCommunities: ['rt:65000:1'],
      aggregator: { asn: 65010, address: '203.0.113.9' },
      atomicAggregate: true,
    });
    const text = await agent.cli(['routes', '--received']);
    expect(text.stdout).toContain('large-communities 65000:7:7');
    expect(text.stdout).toContain('extended-communities rt:65000:1');
    expect(text.stdout).toContain('aggregator AS 65010 203.0.113.9');
    expect(text.stdout).toContain('atomic-aggregate');
  });
});

describe('eBGP first-AS check', () => {
  it('treats a route whose AS path does not begin with the peer AS as withdrawn, logs once, counts it', async () => {
    const line = await waitFor(() => agent.logLines().find((l) => l.op === 'bgp.update' && l.event === 'malformed' && l.peer === B4), {
      what: 'first-AS finding logged',
      timeoutMs: 30_000,
    });
    expect(line['attribute']).toBe('AS_PATH');
    expect(line['action']).toBe('treat-as-withdraw');
    const r = await agent.cli<RoutesResponse>(['routes', '--received', '--json']);
    expect(r.json.routes.find((x) => x.prefix === FROM_B)).toBeUndefined();
    const metrics = (await wk.exec(['curl', '-sS', 'http://127.0.0.1:9273/metrics'])).stdout;
    const m = /routectl_bgp_update_errors_total\{peer="203\.0\.113\.5",action="treat-as-withdraw"\} (\d+)/.exec(metrics);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(1);
    expect((await agent.waitPeer(B4, (p) => p.state === 'Established', 'B established')).prefixesReceived).toBe(0);
    expect(agent.logLines().filter((l) => l.op === 'bgp.update' && l.event === 'malformed' && l.peer === B4)).toHaveLength(1);
  });
});
