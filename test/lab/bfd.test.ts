/**
 * BFD (RFC 5880/5881) between the built `routectl agent` and real ToRs: FRR 8.4's bfdd
 * (`neighbor X bfd`) and BIRD 2.0's `protocol bfd` (`bfd on`), each in its own namespace
 * linked to the worker's. Per ToR: BFD Up on both sides with FRR's default timers (300 ms,
 * 300 ms, 3); the link blackholed by iptables DROP rules inside the ToR's namespace (the
 * link itself stays up, so only BFD can tell) → the agent's BFD goes Down with "Control
 * Detection Time Expired", its BGP session goes down with Cease / BFD Down (RFC 9384) and
 * the ToR's routes are gone, all well before the 9 s hold time; the ToR's BFD and BGP
 * session go down too; the DROP removed → BFD Up, and BGP Established again on both
 * sides. How long each step took is printed (the precise numbers are bench/bfd's job).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startAgent, type AgentLogLine, type LabAgent } from './agent-helper.js';
import { TOR4, TOR_AS, W4 as WK4, WK_AS } from './harness/fabric.js';
import { Lab, startBird, startFrr, waitFor, type Bird, type Frr, type Netns } from './harness/index.js';

const TOR_NET = '198.51.100.64/28';
const ADV = '198.51.100.1/32';
/** FRR's defaults, on both sides: detection time 3 × 300 ms. */
const BFD = { minRx: 300, minTx: 300, multiplier: 3 };
const DETECT_MS = BFD.multiplier * BFD.minRx;
/** The hold time of the lab's sessions: BFD must act well before it. */
const HOLD_MS = 9000;

interface TorDriver {
  readonly kind: 'FRR' | 'BIRD';
  start(ns: Netns): Promise<void>;
  /** BFD session state towards the worker, lower case ("up", "down", "init"), or undefined. */
  bfdState(): Promise<string | undefined>;
  bgpState(): Promise<string | undefined>;
  diagnostics(): Promise<string>;
}

function frrDriver(): TorDriver {
  let frr: Frr;
  return {
    kind: 'FRR',
    async start(ns) {
      frr = await startFrr(ns, { asn: TOR_AS, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: WK4, asn: WK_AS, bfd: true }], networks: [TOR_NET], bfd: BFD });
    },
    bfdState: async () => (await frr.bfdPeer(WK4))?.status,
    bgpState: () => frr.peerState(WK4),
    diagnostics: async () => `${JSON.stringify(await frr.bfdPeers())}\n${await frr.vtysh(`show bgp neighbors ${WK4}`)}`,
  };
}

function birdDriver(): TorDriver {
  let bird: Bird;
  return {
    kind: 'BIRD',
    async start(ns) {
      bird = await startBird(ns, { asn: TOR_AS, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: WK4, asn: WK_AS, bfd: true }], networks: [TOR_NET], bfd: BFD });
    },
    bfdState: async () => (await bird.bfdSessions()).find((s) => s.address === WK4)?.state.toLowerCase(),
    bgpState: () => bird.peerState(WK4),
    diagnostics: async () => `${await bird.birdc('show bfd sessions')}\n${await bird.birdc('show protocols all')}`,
  };
}

const at = (l: AgentLogLine | undefined): number => (l ? Date.parse(l.time) : NaN);

beforeAll(() => ensureBuilt(), 180_000);

describe.each([frrDriver(), birdDriver()])('BFD with $kind as the ToR', (t) => {
  let lab: Lab;
  let tor: Netns;
  let wk: Netns;
  let agent: LabAgent;
  const drop = ['INPUT', 'OUTPUT'].map((chain) => [chain, chain === 'INPUT' ? '-s' : '-d', WK4] as const);

  beforeAll(async () => {
    lab = await Lab.create();
    tor = await lab.netns('tor');
    wk = await lab.netns('wk');
    await lab.link(tor, wk, { aAddr: [`${TOR4}/26`], bAddr: [`${WK4}/26`] });
    await t.start(tor);
    agent = await startAgent(wk, {
      routerId: WK4,
      asn: WK_AS,
      peers: [{ address: TOR4, asn: TOR_AS, families: ['ipv4-unicast'], bfd: {} }],
      advertise: [ADV],
      import: ['198.51.100.0/24 le 32'],
    });
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  const torWait = (what: string, pred: () => Promise<boolean>, timeoutMs = 30_000) =>
    waitFor(pred, { what: `${t.kind}: ${what}`, timeoutMs, intervalMs: 50, diagnostics: async () => `${await t.diagnostics()}\n${agent.logTail()}` });

  it('1. BFD comes Up on both sides, next to the Established session', async () => {
    const p = await agent.waitPeer(TOR4, (x) => x.state === 'Established' && x.bfd?.state === 'Up' && x.bfd.txInterval === 300, 'Established, BFD Up at 300 ms', 60_000);
    expect(p.bfd).toMatchObject({ minRx: 300, minTx: 300, multiplier: 3, detectTime: DETECT_MS, remote: { minRx: 300, minTx: 300, multiplier: 3 }, error: null });
    expect(p.bfd!.sourcePort).toBeGreaterThanOrEqual(49152);
    await torWait('BFD up', async () => (await t.bfdState()) === 'up');
    await torWait('BGP Established', async () => (await t.bgpState()) === 'Established');
    await agent.waitPeer(TOR4, (x) => x.prefixesAccepted === 1, 'the ToR route');
    const text = await agent.cli(['peers']);
    expect(text.stdout).toMatch(/BFD/);
    const detail = await agent.cli(['peers', TOR4]);
    expect(detail.stdout).toMatch(/BFD:\s+Up since .*, tx every 300 ms, detect 900 ms/);
  });

  it('2. a blackholed link (iptables DROP in the ToR, link up) takes BGP down on both sides through BFD, well before the hold time', async () => {
    const before = agent.logLines().length;
    const t0 = Date.now();
    for (const [chain, dir, addr] of drop) await tor.run(['iptables', '-I', chain, dir, addr, '-j', 'DROP']);
    const p = await agent.waitPeer(TOR4, (x) => x.state !== 'Established' && x.bfd?.state === 'Down', 'BGP and BFD down', 30_000);
    expect(p.bfd?.lastDiagnostic).toBe('Control Detection Time Expired');
    expect(p.lastNotificationSent).toMatchObject({ code: 6, subcode: 10, name: 'Cease / BFD Down' });
    expect(p.lastError).toMatch(/BFD down: Control Detection Time Expired.*held down until BFD is Up/);
    expect(p.prefixesReceived).toBe(0);

    const lines = agent.logLines().slice(before);
    const bfdDown = lines.find((l) => l.op === 'bfd.session' && l.from === 'Up' && l.to === 'Down');
    const bgpDown = lines.find((l) => l.op === 'bgp.session' && l.from === 'Established');
    expect(bfdDown, agent.logTail()).toBeDefined();
    expect(bgpDown, agent.logTail()).toBeDefined();
    const detect = at(bfdDown) - t0;
    const bgpAfterBfd = at(bgpDown) - at(bfdDown);
    // Generous bounds that still prove the path: BFD noticed, not the 9 s hold timer,
    // and the BGP session went in the same breath as BFD.
    expect(at(bgpDown) - t0).toBeLessThan(HOLD_MS / 2);
    expect(bgpAfterBfd).toBeGreaterThanOrEqual(0);
    expect(bgpAfterBfd).toBeLessThan(DETECT_MS);
    console.log(`${t.kind}: blackhole -> our BFD Down ${detect} ms (detection time ${DETECT_MS} ms), -> our BGP down ${bgpAfterBfd} ms after BFD`);

    await torWait('BFD down', async () => (await t.bfdState()) !== 'up', 10_000);
    await torWait('BGP down', async () => (await t.bgpState()) !== 'Established', 10_000);
    console.log(`${t.kind}: the ToR had BFD and BGP down ${Date.now() - t0} ms after the blackhole (polled)`);
    expect(Date.now() - t0).toBeLessThan(HOLD_MS + 10_000);
  });

  it('3. the session stays down while BFD is down, and comes back on both sides once the DROP is gone', async () => {
    const p = await agent.peer(TOR4);
    expect(p.json.state).not.toBe('Established');
    for (const [chain, dir, addr] of drop) await tor.run(['iptables', '-D', chain, dir, addr, '-j', 'DROP']);
    await agent.waitPeer(TOR4, (x) => x.bfd?.state === 'Up', 'BFD Up again', 30_000);
    await agent.waitPeer(TOR4, (x) => x.state === 'Established' && x.prefixesAccepted === 1, 'Established again with the route', 60_000);
    await torWait('BFD up again', async () => (await t.bfdState()) === 'up');
    await torWait('BGP Established again', async () => (await t.bgpState()) === 'Established', 60_000);
    const st = await agent.cli(['status']);
    expect(st.code).toBe(0);
  });
});
