/**
 * Session security with real ToR routers (docs/security.md): TCP-MD5 (RFC 2385) with FRR
 * 8.4, BIRD 2.0 and GoBGP, each way round (the agent connects to a passive ToR, and the
 * ToR connects to a passive agent, checked with `ss` in the worker's namespace); a wrong
 * password never reaches Established and `routectl peers` says to check it, until a
 * reload gives the right one; GTSM (RFC 5082) with FRR (`ttl-security hops 1`) and BIRD
 * (`ttl security on`), after a control run without GTSM on our side that the ToRs' kernels
 * refuse; and a peer two hops away (a router namespace in between) refused under GTSM
 * hops 1, then accepted with hops 2 on both sides, so the refusal is GTSM's doing.
 *
 * "Refused" is shown by the kernels' own counters going up (TcpExt TCPMD5Failure,
 * TCPMinTTLDrop in /proc/net/netstat of the namespace) while no session is Established.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerDetail } from '../../src/api/types.js';
import { startAgent, type LabAgent, type LabAgentConfig, type LabAgentPeer } from './agent-helper.js';
import { Lab, startBird, startFrr, startGobgp, waitFor, type Netns } from './harness/index.js';

const TOR_AS = 65000;
const WK_AS = 65001;
// FRR takes the password as one word.
const PASSWORD = 'Rack7-md5_key#1';
const HINT = 'no TCP answer: check the MD5 password on both sides';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.cleanup();
  lab = undefined;
});

async function tcpExt(ns: Netns): Promise<Record<string, number>> {
  const lines = (await ns.run(['cat', '/proc/net/netstat'])).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

/** Resolves once counter `name` has gone up in one of `nss` since `before` (same order). */
async function counterRises(nss: readonly Netns[], name: string, before: readonly Record<string, number>[]): Promise<void> {
  await waitFor(
    async () => {
      const now = await Promise.all(nss.map(tcpExt));
      return now.some((n, i) => (n[name] ?? 0) > (before[i]![name] ?? 0));
    },
    { what: `TcpExt ${name} to go up in ${nss.map((n) => n.name).join(' or ')}`, timeoutMs: 30_000, intervalMs: 100 },
  );
}

function agentConfig(peers: LabAgentPeer[]): LabAgentConfig {
  return { routerId: '203.0.113.2', asn: WK_AS, peers, advertise: ['198.51.100.1/32'] };
}

/** Established TCP connections in `ns` as "local remote" pairs. */
async function connections(ns: Netns): Promise<{ local: string; remote: string }[]> {
  const out = await ns.run(['ss', '-Htn', 'state', 'established']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    // "[::ffff:203.0.113.2]:179" (the dual-stack listener's view) → "203.0.113.2:179".
    .map((f) => ({ local: f[2]!.replace(/^\[::ffff:(.*)\]/, '$1'), remote: f[3]!.replace(/^\[::ffff:(.*)\]/, '$1') }));
}

interface Tors {
  readonly wk: Netns;
  readonly frr: Netns;
  readonly bird: Netns;
  readonly gobgp: Netns;
}

/** A worker linked to three ToR namespaces: FRR .1/.2, BIRD .5/.6, GoBGP .9/.10 (ToR first). */
async function threeTors(l: Lab): Promise<Tors> {
  const wk = await l.netns('wk');
  const frr = await l.netns('frr');
  const bird = await l.netns('bird');
  const gobgp = await l.netns('gobgp');
  await l.link(wk, frr, { aAddr: ['203.0.113.2/30'], bAddr: ['203.0.113.1/30'] });
  await l.link(wk, bird, { aAddr: ['203.0.113.6/30'], bAddr: ['203.0.113.5/30'] });
  await l.link(wk, gobgp, { aAddr: ['203.0.113.10/30'], bAddr: ['203.0.113.9/30'] });
  return { wk, frr, bird, gobgp };
}

const noPassword = (agent: LabAgent, text: string): void => {
  expect(text).not.toContain(PASSWORD);
  expect(readFileSync(agent.logFile, 'utf8')).not.toContain(PASSWORD);
};

describe('TCP-MD5 (RFC 2385) with FRR, BIRD and GoBGP', () => {
  it.each([
    { way: 'the agent connects', agentPassive: false },
    { way: 'the ToRs connect', agentPassive: true },
  ])('same password on each side, $way: Established with all three', async ({ agentPassive }) => {
    lab = await Lab.create();
    const t = await threeTors(lab);
    const nb = (address: string) => ({ address, asn: WK_AS, password: PASSWORD, passive: !agentPassive });
    const frr = await startFrr(t.frr, { asn: TOR_AS, routerId: '203.0.113.1', neighbors: [nb('203.0.113.2')] });
    const bird = await startBird(t.bird, { asn: TOR_AS, routerId: '203.0.113.5', neighbors: [nb('203.0.113.6')] });
    const gobgp = await startGobgp(t.gobgp, { asn: TOR_AS, routerId: '203.0.113.9', neighbors: [nb('203.0.113.10')] });
    // BIRD's password comes from a file, as an operator keeps it out of agent.yaml.
    const pwFile = join(lab.dir, 'bird.password');
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    const agent = await startAgent(
      t.wk,
      agentConfig([
        { address: '203.0.113.1', asn: TOR_AS, password: PASSWORD, passive: agentPassive },
        { address: '203.0.113.5', asn: TOR_AS, passwordFile: pwFile, passive: agentPassive },
        { address: '203.0.113.9', asn: TOR_AS, password: PASSWORD, passive: agentPassive },
      ]),
    );
    for (const a of ['203.0.113.1', '203.0.113.5', '203.0.113.9']) {
      const p = await agent.waitEstablished(a, 45_000);
      expect(p.md5).toBe(true);
    }
    await frr.waitEstablished('203.0.113.2');
    await bird.waitEstablished('203.0.113.6');
    await gobgp.waitEstablished('203.0.113.10');
    expect([...(await frr.ribPrefixes('ipv4-unicast')).keys()]).toContain('198.51.100.1/32');

    // Who connected: the ToR's end is port 179 when we did, ours when they did.
    const conns = await connections(t.wk);
    for (const tor of ['203.0.113.1', '203.0.113.5', '203.0.113.9']) {
      const c = conns.filter((x) => x.remote.startsWith(`${tor}:`));
      expect(c, JSON.stringify(conns)).toHaveLength(1);
      if (agentPassive) expect(c[0]!.local).toMatch(/:179$/);
      else expect(c[0]!.remote).toBe(`${tor}:179`);
    }
    const peers = await agent.cli(['peers', '--json']);
    noPassword(agent, peers.stdout);
    const detail = await agent.cli(['peers', '203.0.113.1']);
    expect(detail.stdout).toContain('Security:');
    expect(detail.stdout).toContain('TCP-MD5');
    const validate = await t.wk.exec([process.execPath, agent.bin, 'validate', agent.configPath]);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain('password: <redacted>');
    expect(validate.stdout).toContain(`passwordFile: ${pwFile}`);
    noPassword(agent, validate.stdout);
  });

  it('as deploy/tor configures the ToRs: FRR listen range and BIRD neighbor range with a password and GTSM', async () => {
    lab = await Lab.create();
    const wk = await lab.netns('wk');
    const f = await lab.netns('frr');
    const b = await lab.netns('bird');
    await lab.link(wk, f, { aAddr: ['203.0.113.2/30'], bAddr: ['203.0.113.1/30'] });
    await lab.link(wk, b, { aAddr: ['203.0.113.6/30'], bAddr: ['203.0.113.5/30'] });
    const range = { listenRange: '203.0.113.0/26', listenAsn: WK_AS } as const;
    const frr = await startFrr(f, {
      asn: TOR_AS,
      routerId: '203.0.113.1',
      ...range,
      extraConfig: `router bgp ${TOR_AS}\n neighbor DYN password ${PASSWORD}\n neighbor DYN ttl-security hops 1\nexit\n`,
    });
    const bird = await startBird(b, { asn: TOR_AS, routerId: '203.0.113.5', ...range, peerConfig: `password "${PASSWORD}";\nttl security on;` });
    const secured = { password: PASSWORD, ttlSecurity: { hops: 1 } };
    const agent = await startAgent(wk, agentConfig([
      { address: '203.0.113.1', asn: TOR_AS, ...secured },
      { address: '203.0.113.5', asn: TOR_AS, ...secured },
    ]));
    for (const a of ['203.0.113.1', '203.0.113.5']) {
      const p = await agent.waitEstablished(a, 45_000);
      expect([p.md5, p.ttlSecurityHops]).toEqual([true, 1]);
    }
    await frr.waitEstablished('203.0.113.2');
    await bird.waitEstablished('203.0.113.6');
  });

  it('a wrong password never reaches Established; status says why; a reload with the right one fixes it', async () => {
    lab = await Lab.create();
    const wk = await lab.netns('wk');
    const tor = await lab.netns('frr');
    await lab.link(wk, tor, { aAddr: ['203.0.113.2/30'], bAddr: ['203.0.113.1/30'] });
    const frr = await startFrr(tor, { asn: TOR_AS, routerId: '203.0.113.1', neighbors: [{ address: '203.0.113.2', asn: WK_AS, password: PASSWORD }] });
    const before = await Promise.all([tcpExt(wk), tcpExt(tor)]);
    const wrong: LabAgentPeer = { address: '203.0.113.1', asn: TOR_AS, password: 'not the password' };
    const agent = await startAgent(wk, agentConfig([wrong]));
    const p = await agent.waitPeer('203.0.113.1', (x) => (x.lastError ?? '').startsWith(HINT), 'the MD5 hint', 45_000);
    expect(p.state).not.toBe('Established');
    expect(p.messages.in.open).toBe(0);
    // Both kernels dropped the other's segments for a bad signature.
    await counterRises([wk, tor], 'TCPMD5Failure', before);
    expect(await frr.peerState('203.0.113.2')).not.toBe('Established');
    const status = await agent.cli(['status']);
    expect(status.stdout).toContain(HINT);
    expect(status.code).not.toBe(0);

    await agent.reload(agentConfig([{ ...wrong, password: PASSWORD }]));
    const up: PeerDetail = await agent.waitEstablished('203.0.113.1', 45_000);
    expect(up.lastError).toBeNull();
    await frr.waitEstablished('203.0.113.2');
  });
});

describe('GTSM (RFC 5082)', () => {
  it('with FRR (ttl-security hops 1) and BIRD (ttl security on): refused without GTSM on our side, Established with it', async () => {
    lab = await Lab.create();
    const wk = await lab.netns('wk');
    const f = await lab.netns('frr');
    const b = await lab.netns('bird');
    await lab.link(wk, f, { aAddr: ['203.0.113.2/30'], bAddr: ['203.0.113.1/30'] });
    await lab.link(wk, b, { aAddr: ['203.0.113.6/30'], bAddr: ['203.0.113.5/30'] });
    const frr = await startFrr(f, { asn: TOR_AS, routerId: '203.0.113.1', neighbors: [{ address: '203.0.113.2', asn: WK_AS, ttlSecurityHops: 1 }] });
    // The control run leaves BIRD with an accepted connection whose OPEN it never sees (our
    // TTL-64 segments are dropped after the handshake); BIRD refuses every other incoming
    // connection until that one's startup hold time (default 240 s) runs out.
    const bird = await startBird(b, {
      asn: TOR_AS,
      routerId: '203.0.113.5',
      neighbors: [{ address: '203.0.113.6', asn: WK_AS, ttlSecurityHops: 1 }],
      peerConfig: 'startup hold time 5;\ndebug { events, states };',
    });

    // Control: without GTSM we send TTL 64, and both ToRs' kernels drop it.
    const before = await Promise.all([tcpExt(f), tcpExt(b)]);
    const plain: LabAgentPeer[] = [
      { address: '203.0.113.1', asn: TOR_AS },
      { address: '203.0.113.5', asn: TOR_AS },
    ];
    const agent = await startAgent(wk, agentConfig(plain));
    await counterRises([f], 'TCPMinTTLDrop', [before[0]!]);
    await counterRises([b], 'TCPMinTTLDrop', [before[1]!]);
    // The ToRs' own view: neither Established nor holding our route. (Our side may see an
    // OPEN: the ToRs set their minimum TTL on a connection after accepting it, so our first
    // segments can slip in; our KEEPALIVE answers their OPEN, which they read only after
    // that, and it is dropped.)
    expect(await frr.peerState('203.0.113.2')).not.toBe('Established');
    expect(await bird.peerState('203.0.113.6')).not.toBe('Established');
    expect((await frr.ribPrefixes('ipv4-unicast')).has('198.51.100.1/32')).toBe(false);
    expect((await bird.routes('ipv4-unicast')).has('198.51.100.1/32')).toBe(false);

    await agent.reload(agentConfig(plain.map((p) => ({ ...p, ttlSecurity: { hops: 1 } }))));
    for (const a of ['203.0.113.1', '203.0.113.5']) expect((await agent.waitEstablished(a, 45_000)).ttlSecurityHops).toBe(1);
    await frr.waitEstablished('203.0.113.2');
    await bird.waitEstablished('203.0.113.6');
    await waitFor(async () => (await frr.ribPrefixes('ipv4-unicast')).has('198.51.100.1/32') && (await bird.routes('ipv4-unicast')).has('198.51.100.1/32'), {
      what: 'our route at both ToRs',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  });

  it('a peer two hops away is refused under hops 1, and accepted with hops 2 on both sides', async () => {
    lab = await Lab.create();
    const wk = await lab.netns('wk');
    const rt = await lab.netns('rt');
    const far = await lab.netns('far');
    await lab.link(wk, rt, { aAddr: ['203.0.113.18/30'], bAddr: ['203.0.113.17/30'] });
    await lab.link(rt, far, { aAddr: ['203.0.113.21/30'], bAddr: ['203.0.113.22/30'] });
    await wk.addRoute('203.0.113.20/30', { via: '203.0.113.17' });
    await far.addRoute('203.0.113.16/30', { via: '203.0.113.21' });
    // The path works (each router hop decrements the TTL once).
    await far.run(['busybox', 'ping', '-c', '1', '-W', '2', '203.0.113.18']);

    const frr = await startFrr(far, { asn: TOR_AS, routerId: '203.0.113.22', neighbors: [{ address: '203.0.113.18', asn: WK_AS, ttlSecurityHops: 1 }] });
    const before = await Promise.all([tcpExt(wk), tcpExt(far)]);
    const peer: LabAgentPeer = { address: '203.0.113.22', asn: TOR_AS, ttlSecurity: { hops: 1 } };
    const agent = await startAgent(wk, agentConfig([peer]));
    // TTL 255 arrives as 254: below the 255 that hops 1 demands, on whichever side receives it.
    await counterRises([wk, far], 'TCPMinTTLDrop', before);
    expect((await agent.peer('203.0.113.22')).json.state).not.toBe('Established');
    expect(await frr.peerState('203.0.113.18')).not.toBe('Established');

    await frr.configure([`router bgp ${TOR_AS}`, ' neighbor 203.0.113.18 ttl-security hops 2']);
    await agent.reload(agentConfig([{ ...peer, ttlSecurity: { hops: 2 } }]));
    expect((await agent.waitEstablished('203.0.113.22', 45_000)).ttlSecurityHops).toBe(2);
    await frr.waitEstablished('203.0.113.18');
  });
});
