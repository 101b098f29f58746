/**
 * Unknown optional transitive attributes from a real peer (RFC 4271 5: kept and passed
 * on with the partial bit handling of 9.1.3; shown by `routes --received`):
 *
 *   xa (ExaBGP, AS 65003) 203.0.113.9/30 ═ 203.0.113.10/30 wk (routectl agent, AS 65001)
 *
 * ExaBGP sends 198.51.100.192/26 with attribute 99 (optional transitive, value 0x0102)
 * and 198.51.100.224/27 with attribute 250 (optional transitive partial, 0xdeadbeef)
 * plus a community. Unknown optional non-transitive attributes are dropped on receipt
 * (RFC 4271 9), so attribute 251 (optional, 0xcafe) on the first route must not show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoutesResponse } from '../../src/api/types.js';
import { ensureBuilt, startAgent, type LabAgent } from './agent-helper.js';
import { Lab, startExabgp, waitFor, type Exabgp, type Netns } from './harness/index.js';

const X4 = '203.0.113.9';
const W4 = '203.0.113.10';
const P1 = '198.51.100.192/26';
const P2 = '198.51.100.224/27';

let lab: Lab;
let xa: Netns;
let wk: Netns;
let exa: Exabgp;
let agent: LabAgent;

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  xa = await lab.netns('xa');
  wk = await lab.netns('wk');
  await lab.link(xa, wk, { aAddr: [`${X4}/30`], bAddr: [`${W4}/30`] });
  exa = await startExabgp(xa, {
    asn: 65003,
    routerId: X4,
    localAddress: X4,
    neighbor: { address: W4, asn: 65001 },
    routes: [
      { prefix: P1, nextHop: X4, attributes: [[0x63, 0xc0, '0102'], [0xfb, 0x80, 'cafe']] },
      { prefix: P2, nextHop: X4, attributes: [[0xfa, 0xe0, 'deadbeef']], extra: 'community [ 65003:7 ]' },
    ],
  });
  agent = await startAgent(wk, {
    routerId: W4,
    asn: 65001,
    peers: [{ address: X4, asn: 65003, families: ['ipv4-unicast'] }],
    advertise: [],
    import: ['198.51.100.0/24 le 32'],
  });
  await agent.waitPeer(X4, (p) => p.state === 'Established', 'ExaBGP Established', 60_000);
}, 180_000);

afterAll(async () => {
  await lab?.cleanup();
});

describe('unknown optional transitive attributes from ExaBGP', () => {
  it('routes --received --json lists them in otherAttributes, with flags and value; the non-transitive one is gone', async () => {
    const routes = await waitFor(
      async () => {
        const r = (await agent.cli<RoutesResponse>(['routes', '--received', '--json'])).json.routes.filter((x) => x.peer === X4);
        return r.length === 2 ? r : undefined;
      },
      { what: `${P1} and ${P2} received from ExaBGP`, timeoutMs: 30_000 },
    );
    const one = routes.find((r) => r.prefix === P1);
    const two = routes.find((r) => r.prefix === P2);
    expect(one).toMatchObject({ asPath: '65003', accepted: true, otherAttributes: [{ code: 99, name: 'attribute 99', flags: 'optional transitive', value: '0102' }] });
    expect(two).toMatchObject({
      asPath: '65003',
      communities: ['65003:7'],
      otherAttributes: [{ code: 250, name: 'attribute 250', flags: 'optional transitive partial', value: 'deadbeef' }],
    });
    expect(agent.logLines().filter((l) => l.op === 'bgp.update' && l.event === 'malformed')).toEqual([]);
  });

  it('the text view shows them too', async () => {
    const text = (await agent.cli(['routes', '--received'])).stdout;
    expect(text).toContain(P1);
    expect(text).toContain('attribute 99 (optional transitive) 0x0102');
    expect(text).toContain('attribute 250 (optional transitive partial) 0xdeadbeef');
    expect(text).not.toContain('cafe');
    expect(exa.pid).toBeGreaterThan(0);
  });
});
