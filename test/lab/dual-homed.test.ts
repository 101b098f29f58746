/**
 * A dual-homed worker loses nothing on agent restarts and ToR restarts, and fails over
 * when an uplink goes (docs/dual-homed.md), with real FRR, BIRD, dockerd and the built agent:
 *
 *                 ┌─ torA (FRR, AS 65000, GR) ═ upA ─┐
 *   h (host) ─────┤        │ iBGP                     ├─ wk (agent, AS 65001, dockerd)
 *   203.0.113.100 └─ torB (BIRD, AS 65000)  ═ upB ───┘    c1 c2 c3 (or c1 … c100)
 *
 * h reaches the containers over an ECMP route via both ToRs; the ToRs peer with each
 * other (iBGP, next hop self) so that a ToR that lost its worker link still has a path.
 * A loss counter on h (harness/loss.ts: raw ICMP echoes every 50 ms that keep going
 * through send errors) pings the containers across each event:
 *
 * - both ToRs send a default route: the worker's kernel has one ECMP default via both;
 * - the agent SIGKILLed and started again, and stopped with SIGTERM and started again:
 *   0 echoes lost (the ToRs keep its routes under graceful restart, the worker keeps its
 *   learned default in the kernel);
 * - torA's bgpd killed and started again (FRR graceful restart, forwarding kept): the
 *   agent keeps torA's routes, stale, and both next hops stay; no echo lost that torA
 *   itself forwarded (FRR 8.4's zebra may drop routes from torA's kernel for a moment);
 * - torB's BIRD restarted with graceful restart (`birdc graceful restart`, `bird -R`):
 *   the agent keeps torB's routes, stale, both next hops stay, torB's kernel keeps the
 *   container routes through BIRD's recovery: 0 lost;
 * - the same agent restarts with 100 containers on the worker, every one pinged: 0 lost;
 * - upA set down: the session to torA is down at once, `routectl status` exits 1, the
 *   default keeps torB's next hop only; what the ECMP failover loses is printed (loss
 *   durations are bench/loss's job) and the echoes are answered again right after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerdFor, endRestartLab, ensureBuilt, expectNoLoss, readyAddresses as agentReady, runAppContainers, startAgent, stopAgentBy, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startBird, type Bird } from './harness/bird.js';
import type { Dockerd } from './harness/docker.js';
import { dualUplinks, hostBehind, TOR_A, TOR_AS, TOR_B, TOR_PAIR_BIRD, TOR_PAIR_FRR, TORB_TORA, WK_A, WK_AS, WK_B } from './harness/fabric.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import { finishLossCounter as finish, lossGaps, startWarmLossCounter, type LossCounter, type LossReport } from './harness/loss.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { endpointsOf, fibPrefixes, learnedGateways } from './views.js';
import type { PeerDetail } from '../../src/api/types.js';

const ZONE = {
  pools: [
    { cidr: '198.51.100.0/25', zone: 'app' },
    { cidr: '2001:db8:c:1::/120', zone: 'app' },
  ],
  zones: [{ name: 'app', cidrs: ['198.51.100.0/24', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['any'] }] }],
};

let lab: Lab | undefined;
let torA: Netns;
let torB: Netns;
let wk: Netns;
let h: Netns;
let frr: Frr | undefined;
let bird: Bird | undefined;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
let upA = 'upA';
/** IPv4 addresses of the containers pinged (the first three, then all of them). */
const addrs: string[] = [];
const counters: LossCounter[] = [];
/** In torB's kernel only, as BIRD's own: see the torB graceful restart case. */
const CANARY = '198.51.100.250/32';

const config: LabAgentConfig = {
  routerId: WK_A,
  asn: WK_AS,
  peers: [
    { address: TOR_A, asn: TOR_AS, description: 'torA (FRR)' },
    { address: TOR_B, asn: TOR_AS, description: 'torB (BIRD)' },
  ],
  import: ['0.0.0.0/0', '::/0'],
  extra: { ...ZONE, runtime: {} },
};

/** Gateways of the worker's learned default (protocol 88), sorted; [] when there is none. */
const defaultVia = (v: 4 | 6): Promise<string[]> => learnedGateways(wk, v, 'default');

/** A loss counter on h that has sent its first echo rounds (the path works before the event). */
async function counter(targets: readonly string[]): Promise<LossCounter> {
  const c = await startWarmLossCounter(h, targets);
  counters.push(c);
  return c;
}

/** One look at both ends of the path: does the ToR's kernel route the containers to the worker, and the worker's defaults. */
interface PathSample {
  readonly t: number;
  readonly torRoutes: boolean;
  readonly workerVia: string;
  /** The worker's IPv6 default's gateways ('' when not sampled). */
  readonly workerVia6: string;
}

/**
 * Samples both ends of the path (every ~20 ms, plus the time each look takes) until
 * stop(): whether `tor`'s kernel has a route for every container from its routing daemon
 * (kernel protocol `proto`; through `via` only, when given), and the worker's learned
 * default (IPv6 too with `v6`). stop() throws if a look failed: the samples then do not
 * cover the whole time.
 */
function watchPaths(tor: Netns, proto: 'bgp' | 'bird', o: { via?: string; v6?: boolean } = {}): { stop(): Promise<PathSample[]> } {
  const seen: PathSample[] = [];
  let watching = true;
  const routed = (lines: string[], a: string): boolean => lines.some((l) => l.startsWith(`${a} `) && (o.via === undefined || l.includes(` via ${o.via} `)));
  const loop = (async () => {
    while (watching) {
      const t = Date.now();
      const [routes, via4, via6] = await Promise.all([tor.ip(['-4', 'route', 'show', 'proto', proto]), defaultVia(4), o.v6 ? defaultVia(6) : Promise.resolve([])]);
      const lines = routes.split('\n');
      seen.push({ t, torRoutes: addrs.every((a) => routed(lines, a)), workerVia: via4.join(' '), workerVia6: via6.join(' ') });
      await new Promise((r) => setTimeout(r, 20));
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  return {
    async stop() {
      watching = false;
      const err = await loop;
      if (err !== undefined) throw new Error(`watching the path failed after ${seen.length} samples`, { cause: err });
      return seen;
    },
  };
}

/** The agent is back: both sessions up, the ECMP default via both ToRs. */
async function bothUp(): Promise<void> {
  await agent!.waitEstablished(TOR_A, 60_000);
  await agent!.waitEstablished(TOR_B, 60_000);
  await waitFor(async () => (await defaultVia(4)).length === 2, { what: 'IPv4 ECMP default via both ToRs', timeoutMs: 30_000, diagnostics: () => agent!.logTail() });
}

async function restartAgent(how: 'SIGKILL' | 'SIGTERM'): Promise<LossReport> {
  const c = await counter(addrs);
  await stopAgentBy(agent!, how);
  // The learned default stays in the kernel while the agent is away.
  expect(await defaultVia(4)).toEqual([TOR_A, TOR_B]);
  agent = await startAgent(wk, config, { name: 'agent' });
  await bothUp();
  const ready = await waitFor(async () => {
    const eps = (await endpointsOf(agent!)).filter((e) => e.state === 'ready');
    return eps.length >= addrs.length ? eps : undefined;
  }, { what: 'every container ready again', timeoutMs: 60_000, intervalMs: 200, diagnostics: () => agent!.logTail() });
  expect(ready.length).toBeGreaterThanOrEqual(addrs.length);
  expect(agent.logLines().find((l) => l.event === 'restart'), 'the agent saw the previous run in the kernel').toBeDefined();
  return finish(c, `${how} and restart, ${addrs.length} containers`);
}

const runContainers = (names: readonly string[]): Promise<void> => runAppContainers(dockerd!, names);

/** The first `n` ready containers' addresses, once both ToRs route them. */
async function readyAddresses(n: number): Promise<string[]> {
  const out = await agentReady(agent!, n);
  await waitFor(async () => {
    const [a, b] = await Promise.all([fibPrefixes(torA), fibPrefixes(torB)]);
    return out.every((x) => a.has(`${x}/32`) && b.has(`${x}/32`));
  }, { what: 'the containers in both ToR FIBs', timeoutMs: 60_000, intervalMs: 100 });
  return out;
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ torA, torB, wk, upA } = await dualUplinks(lab, { ipv6: true }));
  // h: its own address on lo, the containers' range over both ToRs.
  h = await hostBehind(lab, torA, torB);
  frr = await startFrr(torA, {
    asn: TOR_AS,
    routerId: TOR_A,
    neighbors: [{ address: WK_A, asn: WK_AS, defaultOriginate: true }],
    gracefulRestart: { restartTime: 120 },
    // The ToR pair: each one's worker routes reach the other, with itself as next hop.
    extraConfig: TOR_PAIR_FRR,
  });
  bird = await startBird(torB, {
    asn: TOR_AS,
    routerId: TOR_B,
    neighbors: [{ address: WK_B, asn: WK_AS, defaultOriginate: true }],
    // A restarting speaker towards the worker, its kernel table kept until recovery ends.
    gracefulRestart: { restartTime: 120 },
    extraConfig: TOR_PAIR_BIRD,
  });
  dockerd = await dockerdFor(wk, config);
  agent = await startAgent(wk, config, { name: 'agent' });
  await bothUp();
  await runContainers(['c1', 'c2', 'c3']);
  addrs.push(...(await readyAddresses(3)));
}, 240_000);

afterAll(() => endRestartLab(lab, counters, agent, dockerd));

describe('a worker dual-homed to an FRR and a BIRD ToR loses no packets', () => {
  it('has one ECMP default via both ToRs, in both families; status exits 0', async () => {
    expect(await defaultVia(4)).toEqual([TOR_A, TOR_B]);
    await waitFor(async () => (await defaultVia(6)).length === 2, { what: 'IPv6 ECMP default via both ToRs', timeoutMs: 30_000 });
    expect(await defaultVia(6)).toEqual(['2001:db8:f:1::1', '2001:db8:f:2::1']);
    await waitFor(async () => (await agent!.status()).code === 0, { what: 'status exit 0', timeoutMs: 30_000, diagnostics: async () => (await agent!.status()).stdout });
  });

  it('agent SIGKILLed and started again: 0 echoes lost', async () => {
    expectNoLoss(await restartAgent('SIGKILL'), addrs, 'the SIGKILL restart');
  }, 120_000);

  it('agent stopped with SIGTERM and started again: 0 echoes lost', async () => {
    expectNoLoss(await restartAgent('SIGTERM'), addrs, 'the SIGTERM restart');
  }, 120_000);

  it("torA's bgpd killed and started again (graceful restart): the agent keeps its routes stale and both next hops; no echo lost that torA itself forwarded", async () => {
    const c = await counter(addrs);
    const paths = watchPaths(torA, 'bgp');
    await frr!.kill();
    const away = await agent!.waitPeer(TOR_A, (p) => p.state !== 'Established' && (p.staleRoutes ?? 0) > 0, 'torA restarting, its routes stale', 30_000);
    expect(away.staleRoutes).toBeGreaterThanOrEqual(2);
    await frr!.restart();
    await agent!.waitPeer(TOR_A, (p) => p.state === 'Established' && p.staleRoutes === 0, 'torA back and its End-of-RIB in', 60_000);
    await waitFor(async () => (await fibPrefixes(torA)).has(`${addrs[0]}/32`), { what: 'torA FIB back', timeoutMs: 30_000 });
    const report = await finish(c, "torA's bgpd restart");
    const samples = await paths.stop();
    // The worker side, which the agent decides: both next hops the whole time.
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((x) => x.workerVia !== `${TOR_A} ${TOR_B}`)).toEqual([]);
    // torA's own FIB: FRR 8.4's zebra sometimes drops the previous bgpd's routes as the new
    // one connects, before it has learned them again (docs/dual-homed.md). Echoes sent
    // then, through torA, are torA's loss; any other lost echo is a failure.
    const gone = samples.filter((x) => !x.torRoutes).map((x) => x.t);
    const torAWithout = (t: number): boolean => gone.some((g) => Math.abs(g - t) <= 300);
    if (gone.length > 0) console.log(`torA's kernel lacked the container routes for about ${Math.max(...gone) - Math.min(...gone) + 20} ms during its bgpd restart`);
    for (const a of addrs) {
      const t = report.targets[a]!;
      expect(t.sent, a).toBeGreaterThan(30);
      const unexplained = t.lost.filter((seq) => !torAWithout(report.startMs + (seq - 1) * report.intervalMs));
      expect(unexplained, `${a}: echoes lost while torA still routed to the worker`).toEqual([]);
    }
  }, 120_000);

  it("torB (BIRD) restarted with graceful restart: the agent keeps its routes stale, both next hops stay, torB's kernel keeps the containers: 0 echoes lost", async () => {
    const notified = (await agent!.peer(TOR_B)).json.lastNotificationReceived;
    const c = await counter(addrs);
    const paths = watchPaths(torB, 'bird', { via: WK_B, v6: true });
    let away: PeerDetail | undefined;
    await bird!.gracefulRestart(async () => {
      away = await agent!.waitPeer(TOR_B, (p) => p.state !== 'Established' && (p.staleRoutes ?? 0) > 0, 'torB restarting, its routes stale', 30_000);
      // A route of BIRD's kernel protocol (proto bird, its metric) that the new BIRD will
      // not learn: it leaves torB's kernel when BIRD, its recovery over, prunes what it did
      // not learn again, so its going shows the pruning happened while the echoes ran.
      await torB.ip(['route', 'add', CANARY, 'via', WK_B, 'proto', 'bird', 'metric', '32']);
    });
    // Both defaults, IPv4 and IPv6.
    expect(away?.staleRoutes).toBeGreaterThanOrEqual(2);
    const back = await agent!.waitPeer(TOR_B, (p) => p.state === 'Established' && p.staleRoutes === 0, 'torB back and its End-of-RIB in', 60_000);
    // BIRD closed the session without a NOTIFICATION (one would end the graceful restart).
    expect(back.lastNotificationReceived).toEqual(notified);
    await waitFor(async () => !(await torB.ip(['-4', 'route', 'show', 'proto', 'bird'])).includes(CANARY.replace('/32', ' ')), {
      what: "BIRD's recovery over and torB's kernel pruned (the canary route gone)",
      timeoutMs: 60_000,
      intervalMs: 50,
      diagnostics: () => bird!.birdc('show status'),
    });
    const report = await finish(c, "torB's graceful restart");
    // BIRD ran its recovery (-R) to the end, not a plain start.
    expect(bird!.log()).toMatch(/Graceful restart started[^]*Graceful restart done/);
    const samples = await paths.stop();
    expect(samples.length).toBeGreaterThan(10);
    // The worker: both next hops, both families, the whole time.
    expect(samples.filter((x) => x.workerVia !== `${TOR_A} ${TOR_B}`)).toEqual([]);
    expect(samples.filter((x) => x.workerVia6 !== '2001:db8:f:1::1 2001:db8:f:2::1')).toEqual([]);
    // torB: the container routes in its kernel the whole time, across the pruning.
    expect(samples.filter((x) => !x.torRoutes)).toEqual([]);
    expectNoLoss(report, addrs, "torB's graceful restart");
  }, 120_000);

  it('upA set down: the torA session is down at once, status exits 1, the echoes come back over torB', async () => {
    const c = await counter(addrs);
    const t0 = Date.now();
    await wk.ip(['link', 'set', upA, 'down']);
    const down = await agent!.waitPeer(TOR_A, (p) => p.state !== 'Established', 'torA session down', 20_000);
    expect(down.lastError).toMatch(/interface upA down/);
    await waitFor(async () => (await defaultVia(4)).join() === TOR_B, { what: 'default via torB only', timeoutMs: 10_000 });
    const s = await agent!.status();
    expect(s.code).toBe(1);
    expect((await agent!.peer(TOR_B)).json.state).toBe('Established');
    // Traffic recovers: a second of echoes, every one answered, once torA routes via torB.
    await waitFor(async () => (await frr!.ribPrefixes('ipv4-unicast')).get(`${addrs[0]}/32`)?.includes(TORB_TORA) ?? false, {
      what: 'torA routing the containers via torB',
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const mark = c.sent();
    const report = await finish(c, 'upA down');
    const gaps = lossGaps(report);
    console.log(`upA down: ${gaps.length ? `longest gap ${gaps[0]!.durationMs} ms (${gaps[0]!.target})` : 'no echo lost'}, ${Date.now() - t0} ms after the link went down`);
    for (const a of addrs) {
      const lost = report.targets[a]!.lost;
      // Nothing lost in the last second: the path over torB works.
      expect(lost.filter((x) => x > mark + 2), a).toEqual([]);
    }

    await wk.ip(['link', 'set', upA, 'up']);
    await bothUp();
    await waitFor(async () => (await agent!.status()).code === 0, { what: 'status exit 0 again', timeoutMs: 30_000, diagnostics: async () => (await agent!.status()).stdout });
  }, 120_000);

  it('with 100 containers on the worker, SIGKILL and SIGTERM restarts lose no echo to any of them', async () => {
    await runContainers(Array.from({ length: 97 }, (_, i) => `c${i + 4}`));
    const all = await readyAddresses(100);
    addrs.splice(0, addrs.length, ...all);
    expect(addrs.length).toBe(100);
    expectNoLoss(await restartAgent('SIGKILL'), addrs, 'the SIGKILL restart with 100 containers');
    expectNoLoss(await restartAgent('SIGTERM'), addrs, 'the SIGTERM restart with 100 containers');
  }, 240_000);
});
