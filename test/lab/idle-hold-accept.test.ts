/**
 * A ToR that can reach the agent but that the agent cannot reach gets its session: the
 * agent, backing off in Idle after its own failed attempts (the idle hold, up to 8 s),
 * takes the ToR's connection at once (Idle -> OpenSent) instead of refusing it:
 *
 *   tor (FRR, AS 65000, connect retry 2 s) ── w (agent, AS 65001)
 *
 * In the ToR's namespace a firewall rule answers the agent's SYNs to port 179 with a TCP
 * reset, so every connect of the agent fails at once and the agent spends its time in
 * Idle; the ToR's own connections to the agent pass. Without the Idle row the agent
 * refused each of them with Cease / Connection Rejected and the session never came up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endLab, ensureBuilt, startAgent, stopRunning, type LabAgent } from './agent-helper.js';
import { TOR4, torWorker, W4 } from './harness/fabric.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let agent: LabAgent | undefined;

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.create();
  ({ tor, w } = await torWorker(lab));
  // Only inside the ToR's namespace: the agent's SYNs to 179 are reset, the ToR's own pass.
  await tor.exec(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '179', '--syn', '-s', W4, '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  agent = await startAgent(w, { routerId: W4, asn: 65001, peers: [{ address: TOR4, asn: 65000 }], advertise: ['198.51.100.77/32'] });
  // The agent fails and backs off before the ToR exists.
  await waitFor(async () => {
    const p = (await agent!.peer(TOR4)).json;
    return p.state === 'Idle' && /retry in [4-8]/.test(p.lastError ?? '') ? true : undefined;
  }, { what: 'the agent backing off in Idle', timeoutMs: 30_000, intervalMs: 100, diagnostics: () => agent!.logTail() });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, families: ['ipv4-unicast'], neighbors: [{ address: W4, asn: 65001 }] });
}, 120_000);

afterAll(async () => {
  await endLab(lab, () => stopRunning(agent));
});

describe('a peer connecting while the session waits out its idle hold', () => {
  it('is taken (Idle -> OpenSent): the session comes up although every connect of our own fails', async () => {
    await agent!.waitEstablished(TOR4, 60_000);
    await frr!.waitEstablished(W4);
    const states = agent!.logLines().filter((l) => l.event === 'state-change' && l.peer === TOR4);
    expect(states.some((l) => l.from === 'Idle' && l.to === 'OpenSent'), JSON.stringify(states.map((l) => `${l.from}->${l.to}`))).toBe(true);
    // Our own attempts still fail: the ToR's connection is the one in use.
    expect(states.some((l) => l.from === 'Connect' && l.to === 'Idle')).toBe(true);
    expect((await agent!.peer(TOR4)).json.state).toBe('Established');
  }, 90_000);
});
