/**
 * BGP interoperability of the built `routectl agent` with real ToR routers, FRR 8.4 and
 * BIRD 2.0, each in its own network namespace linked to a worker namespace where the
 * agent runs (issue 2, "Interop"). FRR peers with the worker as an explicit neighbor,
 * BIRD through a listen range (dynamic neighbor), so both ways a ToR is configured in
 * practice are covered. Both use 4-byte ASNs and carry IPv4 and IPv6 unicast on one IPv4
 * session; each ToR sends a default route per family and a route the worker's import
 * list does not accept.
 *
 * Per ToR, in order: Established with both families (both sides' views); advertised /32s
 * and /128s in the ToR's RIB and kernel FIB with the worker's next hops; SIGHUP with a
 * changed advertise list withdraws and adds; received routes accepted or filtered;
 * route refresh from the ToR answered; the ToR daemon killed → our side leaves
 * Established with the reason, retries with growing delays, and comes back with
 * everything once the daemon is restarted; SIGTERM → Cease / Administrative Shutdown
 * seen by the ToR, exit 0, no socket left. Then a 2-octet-AS peer (BIRD with
 * `enable as4 off`): a worker on a 2-byte ASN peers with it; a worker on a 4-byte ASN,
 * which BIRD could only know as AS_TRANS (RFC 6793), is refused by BIRD 2.0, and the
 * test checks that we say so in words. docs/bgp.md "Interoperability" has the findings.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerDetail } from '../../src/api/types.js';
import { ensureBuilt, startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { Lab, birdProtocolName, kernelRouteMap, startBird, startFrr, waitFor, type Bird, type Family, type Frr, type Netns } from './harness/index.js';

const TOR_AS = 4200000000;
const WK_AS = 4200000001;
const TOR4 = '203.0.113.1';
const WK4 = '203.0.113.2';
const TOR6 = '2001:db8:f::1';
const WK6 = '2001:db8:f::2';
const BOTH = ['ipv4-unicast', 'ipv6-unicast'];
/** Sent by every ToR besides its default routes; outside the worker's import list. */
const TOR_NET = '198.18.0.0/24';
const ADV1 = ['198.51.100.1/32', '198.51.100.2/32', '198.51.100.3/32', '2001:db8:c::1/128', '2001:db8:c::2/128', '2001:db8:c::3/128'];
/** After the reload: .3 and c::3 withdrawn, .4 and c::4 added. */
const ADV2 = ['198.51.100.1/32', '198.51.100.2/32', '198.51.100.4/32', '2001:db8:c::1/128', '2001:db8:c::2/128', '2001:db8:c::4/128'];

const isV6 = (p: string): boolean => p.includes(':');
const ours = (p: string): boolean => p.startsWith('198.51.100.') || p.startsWith('2001:db8:c:');
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The ToR's view of its session with the worker, the same shape for FRR and BIRD. */
interface TorSession {
  readonly state: string;
  readonly remoteAs: number;
  readonly as4: boolean;
  readonly families: readonly string[];
  readonly raw: string;
}

/** What the test does to a ToR, whichever daemon it is. */
interface TorDriver {
  readonly kind: 'FRR' | 'BIRD';
  /** `proto` of the routes it installs in its kernel FIB. */
  readonly kernelProto: string;
  /** Which of the worker's IPv6 addresses it installs as the gateway of a /128. */
  readonly fibV6: 'global' | 'link-local';
  waitEstablished(timeoutMs?: number): Promise<void>;
  session(): Promise<TorSession>;
  /** Our prefixes in its RIB: prefix → next hops as it lists them. */
  rib(): Promise<Map<string, string[]>>;
  /** Ask the worker for a route refresh; resolves with how many ROUTE-REFRESH messages that sends. */
  routeRefresh(): Promise<number>;
  /** How many ROUTE-REFRESH messages the ToR says it sent (FRR counts them; BIRD does not say). */
  refreshesSent(): Promise<number | null>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  diagnostics(): Promise<string>;
}

interface TorCase {
  readonly kind: 'FRR' | 'BIRD';
  readonly peering: string;
  start(ns: Netns): Promise<TorDriver>;
}

const FAMILY_NAMES: Record<string, string> = { ipv4Unicast: 'ipv4-unicast', ipv6Unicast: 'ipv6-unicast', ipv4: 'ipv4-unicast', ipv6: 'ipv6-unicast' };

function frrDriver(frr: Frr): TorDriver {
  interface FrrNeighbor {
    bgpState: string;
    remoteAs: number;
    hostForeign?: string;
    neighborCapabilities?: { '4byteAs'?: string; multiprotocolExtensions?: Record<string, { advertisedAndReceived?: boolean }> };
    messageStats?: { routeRefreshSent: number };
  }
  const neighbor = async (): Promise<FrrNeighbor | undefined> => (await frr.json<Record<string, FrrNeighbor>>(`show bgp neighbors ${WK4} json`))[WK4];
  const rib = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    for (const f of BOTH as Family[]) for (const [p, nh] of await frr.ribPrefixes(f)) if (ours(p)) out.set(p, nh);
    return out;
  };
  return {
    kind: 'FRR',
    kernelProto: 'bgp',
    // FRR installs an eBGP /128 via the link-local next hop when one is sent (it marks it "used").
    fibV6: 'link-local',
    waitEstablished: (ms) => frr.waitEstablished(WK4, ms),
    async session() {
      const n = await neighbor();
      const summary = await frr.summary();
      const mp = n?.neighborCapabilities?.multiprotocolExtensions ?? {};
      // The summary lists the peer once per family, with the same IPv4 session behind both.
      const inSummary = (['ipv4Unicast', 'ipv6Unicast'] as const).filter((f) => summary[f]?.peers?.[WK4]?.state === 'Established');
      return {
        state: n?.hostForeign === WK4 ? (n.bgpState ?? '') : `not over ${WK4}: ${n?.hostForeign}`,
        remoteAs: n?.remoteAs ?? 0,
        as4: n?.neighborCapabilities?.['4byteAs'] === 'advertisedAndReceived',
        families: Object.keys(mp)
          .filter((f) => mp[f]?.advertisedAndReceived && inSummary.includes(f as 'ipv4Unicast'))
          .map((f) => FAMILY_NAMES[f] ?? f)
          .sort(),
        raw: JSON.stringify(n),
      };
    },
    rib,
    async routeRefresh() {
      // One family: FRR sends one ROUTE-REFRESH (RFC 2918) when the capability was negotiated.
      await frr.vtysh(`clear bgp ipv4 unicast ${WK4} soft in`);
      return 1;
    },
    async refreshesSent() {
      return (await neighbor())?.messageStats?.routeRefreshSent ?? 0;
    },
    kill: () => frr.kill(),
    restart: () => frr.restart(),
    diagnostics: async () => frr.vtysh(`show bgp neighbors ${WK4}`).catch((e: unknown) => String(e)),
  };
}

/** The `show protocols all` block of the (dynamic) BIRD protocol whose neighbor is the worker. */
async function birdBlock(bird: Bird): Promise<{ name: string; text: string } | undefined> {
  const p = (await bird.protocols()).find((x) => x.neighbor === WK4);
  if (!p) return undefined;
  return { name: p.name, text: await bird.birdc(`show protocols all ${p.name}`) };
}

function birdDriver(bird: Bird): TorDriver {
  const rib = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    for (const f of BOTH as Family[]) {
      for (const [p, r] of await bird.routeDetails(f)) if (ours(p)) out.set(p, (r.attributes.next_hop ?? '').split(/\s+/).filter(Boolean));
    }
    return out;
  };
  return {
    kind: 'BIRD',
    kernelProto: 'bird',
    // BIRD uses the global next hop as the gateway of a directly connected eBGP peer.
    fibV6: 'global',
    waitEstablished: (ms) => bird.waitEstablished(WK4, ms),
    async session() {
      const b = await birdBlock(bird);
      const t = b?.text ?? '';
      const channels = [...t.matchAll(/^\s+Channel (ipv4|ipv6)\n\s+State:\s+(\S+)/gm)].filter((m) => m[2] === 'UP').map((m) => FAMILY_NAMES[m[1] ?? ''] ?? '');
      return {
        state: /BGP state:\s+(\S+)/.exec(t)?.[1] ?? '',
        remoteAs: Number(/Neighbor AS:\s+(\d+)/.exec(t)?.[1] ?? 0),
        // "Session: external AS4": both sides announced the 4-octet AS capability.
        as4: /Session:\s+.*\bAS4\b/.test(t),
        families: channels.sort(),
        raw: t,
      };
    },
    rib,
    async routeRefresh() {
      const b = await birdBlock(bird);
      if (!b) throw new Error('no BIRD protocol for the worker');
      // BIRD 2.0 reloads every channel of the protocol: one ROUTE-REFRESH per family.
      await bird.birdc(`reload in ${b.name}`);
      return 2;
    },
    refreshesSent: async () => null,
    kill: () => bird.kill(),
    restart: () => bird.restart(),
    diagnostics: async () => bird.birdc('show protocols all').catch((e: unknown) => String(e)),
  };
}

const TORS: readonly TorCase[] = [
  {
    kind: 'FRR',
    peering: 'explicit neighbor',
    start: async (ns) =>
      frrDriver(
        await startFrr(ns, {
          asn: TOR_AS,
          routerId: TOR4,
          neighbors: [{ address: WK4, asn: WK_AS, defaultOriginate: true }],
          networks: [TOR_NET],
          holdTime: 9,
        }),
      ),
  },
  {
    kind: 'BIRD',
    peering: 'listen range',
    start: async (ns) =>
      birdDriver(
        await startBird(ns, {
          asn: TOR_AS,
          routerId: TOR4,
          listenRange: '203.0.113.0/26',
          listenAsn: WK_AS,
          listenDefaultOriginate: true,
          networks: [TOR_NET],
          holdTime: 9,
        }),
      ),
  },
];

beforeAll(() => ensureBuilt(), 180_000);

describe.each(TORS)('interop with $kind ($peering)', (tc) => {
  let lab: Lab;
  let tor: Netns;
  let wk: Netns;
  let wkIf: string;
  let wkLinkLocal: string;
  let t: TorDriver;
  let agent: LabAgent;
  const config = (advertise: readonly string[]): LabAgentConfig => ({
    routerId: WK4,
    asn: WK_AS,
    peers: [{ address: TOR4, asn: TOR_AS, description: `tor-${tc.kind.toLowerCase()}` }],
    advertise,
    import: ['0.0.0.0/0', '::/0'],
    holdTime: 9,
    connectRetryTime: 1,
  });
  const diag = async (): Promise<string> => `${await t.diagnostics()}\n${agent?.logTail() ?? ''}`;

  /** Our prefixes in the ToR's RIB equal `want`, with the worker's next hops. */
  async function waitRib(want: readonly string[], what: string): Promise<Map<string, string[]>> {
    return waitFor(
      async () => {
        const rib = await t.rib();
        return JSON.stringify(sorted(rib.keys())) === JSON.stringify(sorted(want)) ? rib : undefined;
      },
      { what: `${tc.kind} RIB: ${what}`, timeoutMs: 20_000, intervalMs: 100, diagnostics: diag },
    );
  }

  /** Our prefixes in the ToR's kernel FIB equal `want`. */
  async function waitFib(want: readonly string[], what: string): Promise<Map<string, readonly string[]>> {
    return waitFor(
      async () => {
        const fib = new Map([...(await kernelRouteMap(tor, 4, { proto: t.kernelProto })), ...(await kernelRouteMap(tor, 6, { proto: t.kernelProto }))]);
        const mine = [...fib.keys()].filter(ours);
        return JSON.stringify(sorted(mine)) === JSON.stringify(sorted(want)) ? fib : undefined;
      },
      { what: `${tc.kind} kernel FIB: ${what}`, timeoutMs: 20_000, intervalMs: 100, diagnostics: diag },
    );
  }

  function expectNextHops(rib: Map<string, string[]>, fib: Map<string, readonly string[]>, want: readonly string[]): void {
    for (const p of want) {
      if (isV6(p)) {
        // RFC 2545 3: the global address first, then the link-local one (we are on-link).
        expect(rib.get(p), p).toEqual([WK6, wkLinkLocal]);
        expect(fib.get(p), p).toEqual([tc.kind === 'FRR' ? wkLinkLocal : WK6]);
      } else {
        expect(rib.get(p), p).toEqual([WK4]);
        expect(fib.get(p), p).toEqual([WK4]);
      }
    }
  }

  beforeAll(async () => {
    lab = await Lab.create();
    tor = await lab.netns('tor');
    wk = await lab.netns('wk');
    ({ bIf: wkIf } = await lab.link(tor, wk, { aAddr: [`${TOR4}/26`, `${TOR6}/64`], bAddr: [`${WK4}/26`, `${WK6}/64`] }));
    wkLinkLocal = await wk.linkLocal(wkIf);
    t = await tc.start(tor);
    agent = await startAgent(wk, config(ADV1));
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('1. reaches Established with IPv4 and IPv6 unicast on one IPv4 session and 4-byte ASNs', async () => {
    await t.waitEstablished(30_000);
    await agent.waitEstablished(TOR4, 30_000);
    const s = await t.session();
    expect(s, s.raw).toMatchObject({ state: 'Established', remoteAs: WK_AS, as4: true, families: BOTH });

    const st = await agent.status();
    expect(st.code, st.stdout + st.stderr).toBe(0);
    expect(st.json).toMatchObject({ asn: WK_AS, routerId: WK4, routes: ADV1.length });
    expect(st.json.peers).toHaveLength(1);
    expect(st.json.peers[0]).toMatchObject({ address: TOR4, asn: TOR_AS, state: 'Established', families: BOTH, lastError: null });
    const p = (await agent.peer(TOR4)).json;
    expect(p.capabilities).toEqual(expect.arrayContaining(['multiprotocol', 'four-octet-as', 'route-refresh']));
    // One session, over IPv4, carries both families.
    expect({ local: p.localAddress, remote: p.remoteAddress }).toEqual({ local: WK4, remote: TOR4 });
  });

  it("2. advertised /32s and /128s are in the ToR's RIB and kernel FIB with the worker's next hops", async () => {
    const rib = await waitRib(ADV1, 'all advertised prefixes');
    const fib = await waitFib(ADV1, 'all advertised prefixes');
    expectNextHops(rib, fib, ADV1);
  });

  it('4. the default routes are received and accepted; a route outside the import list is filtered', async () => {
    const r = await waitFor(
      async () => {
        const x = await agent.routes('received', TOR4);
        const have = new Set(x.json?.routes.map((e) => e.prefix));
        const want = ['0.0.0.0/0', '::/0', TOR_NET, ...(tc.kind === 'FRR' ? ADV1 : [])];
        return want.every((p) => have.has(p)) ? x : undefined;
      },
      { what: 'default routes and 198.18.0.0/24 received', timeoutMs: 15_000, diagnostics: diag },
    );
    expect(r.code).toBe(0);
    const by = new Map(r.json.routes.map((e) => [e.prefix, e]));
    expect(by.get('0.0.0.0/0')).toMatchObject({ peer: TOR4, nextHops: [TOR4], asPath: String(TOR_AS), accepted: true, reason: null });
    expect(by.get('::/0')).toMatchObject({ peer: TOR4, asPath: String(TOR_AS), accepted: true, reason: null });
    expect(by.get('::/0')?.nextHops[0]).toBe(TOR6);
    expect(by.get(TOR_NET)).toMatchObject({ peer: TOR4, asPath: String(TOR_AS), accepted: false });
    expect(by.get(TOR_NET)?.reason).toMatch(/import/);
    // Nothing else was accepted: the import list is exactly the two default routes.
    expect(r.json.routes.filter((e) => e.accepted).map((e) => e.prefix).sort()).toEqual(['0.0.0.0/0', '::/0']);
    // FRR sends our own prefixes back with its AS prepended (BIRD does not): visible, refused as a loop.
    const echoed = r.json.routes.filter((e) => ours(e.prefix));
    expect(sorted(echoed.map((e) => e.prefix))).toEqual(tc.kind === 'FRR' ? sorted(ADV1) : []);
    for (const e of echoed) {
      expect(e, e.prefix).toMatchObject({ asPath: `${TOR_AS} ${WK_AS}`, accepted: false, reason: `AS path contains our AS ${WK_AS} (loop, RFC 4271 9.1.2)` });
    }
    const st = await agent.status();
    expect(st.json.peers[0]?.prefixesAccepted).toBe(2);
  });

  it('3. SIGHUP with a changed advertise list: withdrawn prefixes leave the RIB and FIB, added ones arrive', async () => {
    await agent.reload(config(ADV2));
    const rib = await waitRib(ADV2, 'after the reload');
    const fib = await waitFib(ADV2, 'after the reload');
    expectNextHops(rib, fib, ADV2);
    for (const gone of ['198.51.100.3/32', '2001:db8:c::3/128']) {
      expect(rib.has(gone)).toBe(false);
      expect(fib.has(gone)).toBe(false);
    }
    const st = await agent.status();
    expect(st.json.routes).toBe(ADV2.length);
    // The session stayed up: a reload changes advertisements, not the session.
    expect((await agent.peer(TOR4)).json.flaps).toBe(0);
  });

  it('5. a route refresh from the ToR is answered with our routes again', async () => {
    const before = (await agent.peer(TOR4)).json;
    const sentBefore = await t.refreshesSent();
    const n = await t.routeRefresh();
    const after = await agent.waitPeer(
      TOR4,
      (p) => p.messages.in.routeRefresh >= before.messages.in.routeRefresh + n && p.messages.out.update > before.messages.out.update,
      `ROUTE-REFRESH received (+${n}) and UPDATEs sent`,
      15_000,
    );
    expect(after.messages.in.routeRefresh).toBe(before.messages.in.routeRefresh + n);
    expect(after.messages.out.update).toBeGreaterThan(before.messages.out.update);
    expect(after.state).toBe('Established');
    if (sentBefore !== null) expect(await t.refreshesSent()).toBe(sentBefore + n);
    // The ToR still has everything (a refresh re-sends; it withdraws nothing).
    await sleep(500);
    expect(sorted((await t.rib()).keys())).toEqual(sorted(ADV2));
    await waitFib(ADV2, 'after the route refresh');
  });

  it('6. the ToR daemon killed: we leave Established with the reason, retry with growing delays, and recover everything', async () => {
    const killedAt = Date.now();
    const changesBefore = agent.stateChanges(TOR4).length;
    const reasonWords = /connection closed|hold timer expired|connect: ECONNREFUSED/;
    let retries: number[] = [];
    await t.kill();
    try {
      const down = await agent.waitPeer(TOR4, (p) => p.state !== 'Established', 'not Established', 30_000);
      expect(down.lastError).toMatch(reasonWords);
      // The session went Established -> Idle with the reason (the socket closed under it).
      const first = agent.stateChanges(TOR4)[changesBefore];
      expect(first).toMatchObject({ from: 'Established', to: 'Idle' });
      expect(first?.reason).toMatch(/^connection closed/);

      const st = await agent.status();
      expect(st.code, st.stderr).toBe(1);
      expect(st.json, st.stderr).toBeDefined();
      expect(st.json.peers[0]?.state).not.toBe('Established');
      expect(st.json.peers[0]?.lastError).toMatch(reasonWords);
      const text = await agent.cli(['status']);
      expect(text.code, text.stderr).toBe(1);
      expect(text.stdout).toMatch(/0 of 1 established/);
      expect(text.stdout).toMatch(reasonWords);

      // The agent's log of state changes carries each failed attempt and its retry delay.
      retries = await waitFor(
        () => {
          const delays = agent
            .stateChanges(TOR4)
            .slice(changesBefore)
            .map((l) => /retry in ([\d.]+) s/.exec(l.reason ?? '')?.[1])
            .filter((d): d is string => d !== undefined)
            .map(Number);
          return delays.length >= 3 ? delays : undefined;
        },
        { what: 'three connection attempts refused, with their retry delays', timeoutMs: 40_000, intervalMs: 200, diagnostics: diag },
      );
      // Idle-hold backoff (RFC 4271 8.1.2): each delay doubles, with jitter in [0.75, 1] that cannot undo the doubling.
      for (let i = 1; i < retries.length; i++) expect(retries[i]).toBeGreaterThan(retries[i - 1]!);
      const poll = await agent.status();
      expect(poll.code, poll.stderr).toBe(1);
      expect(poll.json.peers[0]?.lastError).toMatch(/^connect: ECONNREFUSED, retry in [\d.]+ s$/);
    } finally {
      // Restarted whether or not the checks above held, so the tests that follow have their ToR.
      await t.restart();
    }
    await t.waitEstablished(45_000);
    const back = await agent.waitEstablished(TOR4, 45_000);
    expect(back.flaps).toBe(1);
    const rib = await waitRib(ADV2, 'everything again after the restart');
    const fib = await waitFib(ADV2, 'everything again after the restart');
    expectNextHops(rib, fib, ADV2);
    expect((await agent.status()).code).toBe(0);
    // For the run log: how long the outage took, and the delays.
    console.log(`${tc.kind}: killed -> Established again in ${((Date.now() - killedAt) / 1000).toFixed(1)} s; retry delays ${retries.join(', ')} s`);
  });

  it('8. SIGTERM: the agent exits 0 and removes its socket; the ToR keeps our routes (graceful restart) after a close without NOTIFICATION', async () => {
    await agent.waitEstablished(TOR4, 30_000);
    const logged = agent.logLines().length;
    const code = await agent.stop();
    expect(code).toBe(0);
    expect(existsSync(agent.socket)).toBe(false);
    // The agent sets no RFC 8538 N bit (a hold timer expiry must not keep its routes at
    // the ToR), so only a close without a NOTIFICATION leaves an RFC 4724 helper keeping them.
    await waitFor(async () => ((await t.session()).state !== 'Established' ? true : undefined), { what: `${tc.kind} to see the session end`, timeoutMs: 15_000, diagnostics: diag });
    expect(agent.logLines().slice(logged).filter((l) => l.event === 'notification-sent')).toEqual([]);
    // The routes stay at the ToR while the agent is away (stale until our End-of-RIB).
    expect(sorted((await t.rib()).keys())).toEqual(sorted(ADV2));
  });
});

describe('interop with a 2-octet-AS peer (BIRD, enable as4 off)', () => {
  const BIRD_AS = 65000;
  const AS_TRANS = 23456;
  let lab: Lab;
  let bird: Bird;
  /**
   * Worker a: 2-byte ASN 65001, the 2-octet session that works. Worker b: a 4-byte ASN,
   * with BIRD told to expect AS_TRANS, which BIRD 2.0 refuses (see the test).
   */
  const w = {
    a: { asn: 65001, tor: '203.0.113.1', me: '203.0.113.2', tor6: '2001:db8:f::1', me6: '2001:db8:f::2', adv: ['198.51.100.10/32', '2001:db8:c::10/128'] },
    b: { asn: WK_AS, tor: '203.0.113.65', me: '203.0.113.66', tor6: '2001:db8:f:1::1', me6: '2001:db8:f:1::2', adv: ['198.51.100.20/32'] },
  };
  const agents: Record<'a' | 'b', LabAgent | undefined> = { a: undefined, b: undefined };

  beforeAll(async () => {
    lab = await Lab.create();
    const tor = await lab.netns('tor');
    const wa = await lab.netns('wka');
    const wb = await lab.netns('wkb');
    await lab.link(tor, wa, { aAddr: [`${w.a.tor}/26`, `${w.a.tor6}/64`], bAddr: [`${w.a.me}/26`, `${w.a.me6}/64`] });
    await lab.link(tor, wb, { aAddr: [`${w.b.tor}/26`, `${w.b.tor6}/64`], bAddr: [`${w.b.me}/26`, `${w.b.me6}/64`] });
    bird = await startBird(tor, {
      asn: BIRD_AS,
      routerId: w.a.tor,
      // An OLD speaker in the sense of RFC 6793: no 4-octet AS capability, 2-octet AS_PATH.
      peerConfig: 'enable as4 off;',
      neighbors: [
        { address: w.a.me, asn: w.a.asn, defaultOriginate: true },
        // With as4 off BIRD refuses a neighbor AS above 65535 in its config, so AS_TRANS it is.
        { address: w.b.me, asn: AS_TRANS },
      ],
    });
    const cfg = (x: typeof w.a): LabAgentConfig => ({
      routerId: x.me,
      asn: x.asn,
      peers: [{ address: x.tor, asn: BIRD_AS }],
      advertise: x.adv,
      import: ['0.0.0.0/0', '::/0'],
    });
    [agents.a, agents.b] = await Promise.all([startAgent(wa, cfg(w.a)), startAgent(wb, cfg(w.b))]);
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('2-byte worker: Established without the 4-octet AS capability, 2-octet AS paths both ways', async () => {
    const x = w.a;
    const agent = agents.a!;
    await bird.waitEstablished(x.me, 30_000);
    const p: PeerDetail = await agent.waitEstablished(x.tor, 30_000);
    expect(p.capabilities).not.toContain('four-octet-as');
    expect(p.capabilities).toContain('multiprotocol');
    expect(p.families).toEqual(BOTH);
    const st = await agent.status();
    expect(st.code).toBe(0);
    expect(st.json.asn).toBe(x.asn);

    const proto = birdProtocolName(x.me);
    const block = await bird.birdc(`show protocols all ${proto}`);
    // "Session: external" without "AS4": the session runs with 2-octet AS numbers.
    expect(block).toMatch(/Session:\s+external\s*\n/);
    expect(block).toMatch(/Neighbor AS:\s+65001\n/);

    // Ours at BIRD, decoded from a 2-octet AS_PATH (a 4-octet encoding would be malformed there).
    const routes = await waitFor(
      async () => {
        const m = new Map([...(await bird.routeDetails('ipv4-unicast')), ...(await bird.routeDetails('ipv6-unicast'))]);
        return x.adv.every((pfx) => m.get(pfx)?.protocol === proto) ? m : undefined;
      },
      { what: "the 2-byte worker's prefixes in BIRD", timeoutMs: 15_000, diagnostics: () => bird.birdc('show route all') },
    );
    for (const pfx of x.adv) {
      expect(routes.get(pfx)?.attributes.as_path, pfx).toBe(String(x.asn));
      expect(routes.get(pfx)?.via, pfx).toEqual([isV6(pfx) ? x.me6 : x.me]);
    }

    // BIRD's default routes at the worker: AS path 65000.
    const rcv = await waitFor(
      async () => {
        const r = await agent.routes('received', x.tor);
        return r.json?.routes.length === 2 ? r.json.routes : undefined;
      },
      { what: 'both default routes received from the 2-octet peer', timeoutMs: 15_000, diagnostics: () => agent.logTail() },
    );
    expect(sorted(rcv.map((r) => r.prefix))).toEqual(['0.0.0.0/0', '::/0']);
    for (const r of rcv) expect(r, r.prefix).toMatchObject({ asPath: String(BIRD_AS), accepted: true });
  });

  it('4-byte worker, BIRD expecting AS_TRANS: refused as Bad Peer AS, reported in words, retried', async () => {
    // RFC 6793 4.1 lets an OLD speaker see a NEW one as AS_TRANS, but BIRD 2.0 checks the
    // AS in our 4-octet AS capability even with `enable as4 off`, so this pairing cannot
    // come up; the operator must see why.
    const agent = agents.b!;
    const p = await agent.waitPeer(w.b.tor, (q) => q.lastNotificationReceived !== null, 'a NOTIFICATION from BIRD', 20_000);
    expect(p.lastNotificationReceived).toMatchObject({ code: 2, subcode: 2, name: 'OPEN Message Error / Bad Peer AS' });
    expect(p.state).not.toBe('Established');
    const st = await agent.status();
    expect(st.code).toBe(1);
    expect(st.json.peers[0]?.lastError).toMatch(/^NOTIFICATION received: OPEN Message Error \/ Bad Peer AS/);
    // We offered AS_TRANS in the OPEN's My AS and the real AS in the capability: BIRD names the real one.
    const log = await bird.birdc(`show protocols all ${birdProtocolName(w.b.me)}`);
    expect(log).toMatch(/Bad peer AS/);
    await waitFor(() => agent.stateChanges(w.b.tor).filter((l) => l.to === 'Connect').length >= 2, {
      what: 'a second attempt after the refusal',
      timeoutMs: 15_000,
      diagnostics: () => agent.logTail(),
    });
  });
});
