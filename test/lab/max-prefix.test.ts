/**
 * The built agent's BGP listener against a real peer, speaker-only:
 *
 *   tor (gobgpd, AS 4200000000) ── 203.0.113.1/26 (+ .3) ═ 203.0.113.2/26 ── wk (routectl agent)
 *
 * - max-prefix with a restart time: gobgpd sends 4 prefixes to a peer configured with
 *   `maxPrefixes: { limit: 3, restart: 15 }`. The agent shuts the session with Cease 6/1
 *   (gobgpd records it), drops the routes, and holds the peer Idle: `routectl status`
 *   says `Idle (max-prefix, retry in …)` and `--json` carries `held`; gobgpd keeps
 *   reconnecting (connect-retry 2 s) and is refused, and the session is not Established
 *   again before the hold's end (the agent's own `since` for Established is at or after
 *   `held.until`). Meanwhile gobgpd withdraws one prefix; after the hold the session comes
 *   back with 3 routes and no hold.
 * - a reload that makes the restart 3600 s keeps the session; the next trip holds the
 *   peer for an hour, and `routectl release` ends the hold: the session comes back at once.
 * - a stranger: connections from 203.0.113.3 (no configured peer) are refused, counted in
 *   routectl_bgp_rejected_connections_total{family="ipv4"}, and logged once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startAgent, type LabAgent } from './agent-helper.js';
import { Lab, startGobgp, waitFor, type Gobgp, type Netns } from './harness/index.js';

const TOR_AS = 4200000000;
const WK_AS = 4200000001;
const TOR4 = '203.0.113.1';
const STRANGER4 = '203.0.113.3';
const WK4 = '203.0.113.2';
const ROUTES = ['198.51.100.1/32', '198.51.100.2/32', '198.51.100.3/32', '198.51.100.4/32'];
const RESTART = 15;

let lab: Lab;
let tor: Netns;
let wk: Netns;
let gobgp: Gobgp;
let agent: LabAgent;

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  tor = await lab.netns('tor');
  wk = await lab.netns('wk');
  await lab.link(tor, wk, { aAddr: [`${TOR4}/26`, `${STRANGER4}/26`], bAddr: [`${WK4}/26`] });
  agent = await startAgent(wk, {
    routerId: WK4,
    asn: WK_AS,
    peers: [{ address: TOR4, asn: TOR_AS, families: ['ipv4-unicast'], maxPrefixes: { limit: 3, restart: RESTART } }],
    import: ['198.51.100.0/24 le 32'],
  });
  gobgp = await startGobgp(tor, { asn: TOR_AS, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: WK4, asn: WK_AS }], networks: ROUTES });
}, 180_000);

afterAll(async () => {
  await lab?.cleanup();
});

/** One scrape from inside the worker namespace: "name{labels}" -> value. */
async function scrape(): Promise<Map<string, number>> {
  const r = await wk.exec(['curl', '-sS', 'http://127.0.0.1:9273/metrics']);
  const samples = new Map<string, number>();
  for (const l of r.stdout.split('\n')) {
    if (l === '' || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    samples.set(l.slice(0, i), Number(l.slice(i + 1)));
  }
  return samples;
}

describe('max-prefix restart against gobgpd', () => {
  it('shuts the session, holds the peer down for the restart time with status saying so, then comes back', async () => {
    const held = await agent.waitPeer(TOR4, (p) => p.held !== null, 'held after max-prefix', 60_000);
    expect(held.state).toBe('Idle');
    expect(held.held?.reason).toBe('max-prefix');
    expect(held.lastError).toMatch(/^maximum number of prefixes reached: 4 > 3; NOTIFICATION sent: Cease \/ Maximum Number of Prefixes Reached/);
    expect(held.lastNotificationSent).toMatchObject({ code: 6, subcode: 1 });
    expect(held.prefixesReceived).toBe(0);
    const until = Date.parse(held.held!.until);

    const text = await agent.cli(['status']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`${TOR4.replace(/\./g, '\\.')} .* Idle \\(max-prefix, retry in \\d+s\\)`));
    const json = await agent.status();
    expect(json.json.peers[0]?.held).toMatchObject({ reason: 'max-prefix', until: held.held!.until });
    expect(json.json.peers[0]?.held?.retryInSeconds).toBeGreaterThan(0);
    expect(json.json.peers[0]?.held?.retryInSeconds).toBeLessThanOrEqual(RESTART);

    // gobgpd saw the Cease and keeps trying; the agent refuses it (Cease / Connection Rejected).
    const neighbor = JSON.parse(await gobgp.gobgp(['neighbor', WK4, '-j'])) as { state?: { messages?: { received?: { notification?: number | string } } } };
    expect(Number(neighbor.state?.messages?.received?.notification ?? 0)).toBeGreaterThanOrEqual(1);
    await gobgp.gobgp(['global', 'rib', 'del', '-a', 'ipv4', ROUTES[3]!]);

    const back = await agent.waitPeer(TOR4, (p) => p.state === 'Established' && p.prefixesReceived === 3, 'Established again with 3 routes', (RESTART + 60) * 1000);
    expect(back.held).toBeNull();
    expect(back.lastError).toBeNull();
    expect(Date.parse(back.since ?? '')).toBeGreaterThanOrEqual(until);
    // Every state change of the peer between the shutdown and the hold's end stayed Idle.
    const changes = agent.logLines().filter((l) => l.event === 'state-change' && l.peer === TOR4);
    const down = changes.findIndex((l) => l.to === 'Idle' && /maximum number of prefixes/i.test(String(l.reason)));
    expect(down, JSON.stringify(changes.map((l) => [l.to, l.reason]))).toBeGreaterThanOrEqual(0);
    const next = changes[down + 1];
    expect(next, 'a state change after the hold').toBeDefined();
    expect(Date.parse(next!.time)).toBeGreaterThanOrEqual(until);
  }, 120_000);

  it('a reload to a long restart keeps the session; `routectl release` ends the hold at once', async () => {
    const cfg = agent.current;
    await agent.reload({ ...cfg, peers: cfg.peers.map((p) => ({ ...p, maxPrefixes: { limit: 3, restart: 3600 } })) });
    expect((await agent.peer(TOR4)).json.state).toBe('Established');
    await gobgp.gobgp(['global', 'rib', 'add', '-a', 'ipv4', ROUTES[3]!]);
    const held = await agent.waitPeer(TOR4, (p) => p.held !== null, 'held again', 30_000);
    expect(held.held?.retryInSeconds).toBeGreaterThan(3000);
    await gobgp.gobgp(['global', 'rib', 'del', '-a', 'ipv4', ROUTES[3]!]);
    const r = await agent.cli(['release', TOR4]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(new RegExp(`^${TOR4.replace(/\./g, '\\.')}: hold released; the session starts \\(state \\w+\\)\n$`));
    const back = await agent.waitPeer(TOR4, (p) => p.state === 'Established' && p.prefixesReceived === 3, 'Established after the release', 60_000);
    expect(back.held).toBeNull();
    const again = await agent.cli(['release', TOR4]);
    expect([again.code, again.stderr]).toEqual([1, `routectl: ${TOR4} is not held down (state Established): nothing to release\n`]);
  }, 120_000);

  it('refuses, counts and logs a connection from an address that is no peer', async () => {
    const before = (await scrape()).get('routectl_bgp_rejected_connections_total{family="ipv4"}') ?? 0;
    // A plain TCP connection from the stranger address; prints in hex what it is sent before the close.
    const knock = `const s = require('net').connect({ host: '${WK4}', port: 179, localAddress: '${STRANGER4}' });
      const got = []; s.on('data', (c) => got.push(c)); s.on('error', () => {});
      s.on('close', () => console.log(Buffer.concat(got).toString('hex')));`;
    for (let i = 0; i < 3; i++) {
      const r = await tor.exec([process.execPath, '-e', knock], { timeoutMs: 10_000 });
      // Cease / Connection Rejected (RFC 4486 6/5): marker, length 21, type 3, code 6, subcode 5.
      expect(r.stdout.trim()).toBe(`${'ff'.repeat(16)}0015030605`);
    }
    await waitFor(async () => (await scrape()).get('routectl_bgp_rejected_connections_total{family="ipv4"}') === before + 3, {
      what: 'three refusals counted',
      timeoutMs: 10_000,
      intervalMs: 200,
    });
    const lines = agent.logLines().filter((l) => l.event === 'connection-rejected');
    expect(lines.map((l) => [l.op, l.remote, l.family])).toEqual([['bgp.listen', STRANGER4, 'ipv4']]);
  }, 60_000);
});
