/**
 * routectl-cni's inputs checked against the real kernel, with the built agent in a
 * worker namespace and a real FRR ToR:
 *
 *   tor (FRR, AS 65000) ── fab0 203.0.113.1/30 ─── fab0 203.0.113.2/30 ── w (routectl agent)
 *   bgp.peers: 203.0.113.1 (the ToR, comes up) and 203.0.113.5 (no router there: never up)
 *
 * - CNI_NETNS naming the agent's own namespace (the worker's /run/netns bind mount, and
 *   /proc/PID/ns/net of the agent), a regular file, /dev/null, a mount namespace: ADD is
 *   refused with code 4 naming CNI_NETNS, and nothing changes (no veth, no host route,
 *   no allocation, no attachment record);
 * - a real container namespace is wired as before (reachable from the ToR);
 * - CNI_IFNAME naming an interface the container already has: code 4 naming CNI_IFNAME, rolled back;
 * - STATUS with one of two sessions Established is ready; with none it is 51 and says so.
 *
 * The plugin's code runs in this process (runPlugin) over the agent's real socket: the
 * checks run in the agent, in its own namespace, which is what they are about.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../src/cni/plugin.js';
import type { CniErrorBody, CniResult } from '../../src/cni/types.js';
import { OPEN_APP_ZONE, startAgent, type LabAgent } from './agent-helper.js';
import { startFrr, type Frr } from './harness/frr.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { waitFor } from './harness/wait.js';
import { fibPrefixes, ownState, ping } from './views.js';

const TOR4 = '203.0.113.1';
const W4 = '203.0.113.2';
const DEAD4 = '203.0.113.5';

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let frr: Frr | undefined;
let agent: LabAgent | undefined;

async function cni(command: string, env: Record<string, string>) {
  const conf = { cniVersion: '1.1.0', name: 'rnet', type: 'routectl-cni', zone: 'app', socket: agent!.socket };
  const out = await runPlugin({ env: { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni', ...env }, stdin: JSON.stringify(conf) });
  const json = out.stdout === '' ? undefined : (JSON.parse(out.stdout) as unknown);
  return { code: out.exitCode, json, err: json as CniErrorBody };
}
const cid = (n: number) => `sec${n}`.padEnd(64, 'a');
const addEnv = (n: number, netns: string, ifName = 'eth0') => ({ CNI_CONTAINERID: cid(n), CNI_NETNS: netns, CNI_IFNAME: ifName });

/** Everything an ADD could leave behind: veths and host routes, allocations, attachment records. */
async function footprint(): Promise<string> {
  const own = await ownState(w);
  const ipam = join(agent!.dir, 'store', 'ipam.json');
  const doc = existsSync(ipam) ? (JSON.parse(readFileSync(ipam, 'utf8')) as { entries: Record<string, { v: { endpoints?: Record<string, unknown> } }> }) : { entries: {} };
  const allocated = Object.values(doc.entries).flatMap((e) => Object.keys(e.v.endpoints ?? {}));
  const eps = (await agent!.endpoints()).json.endpoints.map((e) => e.id);
  return JSON.stringify({ links: own.links, routes: own.routes, allocated, endpoints: eps });
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('sector');
  w = await lab.netns('secw');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`], bAddr: [`${W4}/30`] });
  await w.addRoute('default', { via: TOR4 });
  frr = await startFrr(tor, { asn: 65000, routerId: TOR4, listenRange: '203.0.113.0/26' });
  agent = await startAgent(
    w,
    {
      routerId: W4,
      asn: 65001,
      peers: [
        { address: TOR4, asn: 65000 },
        { address: DEAD4, asn: 65000 },
      ],
      extra: { ...OPEN_APP_ZONE, runtime: { reconcileInterval: 5 }, metrics: { listen: '127.0.0.1:9273', readyGraceSeconds: 0 } },
    },
    { name: 'agent' },
  );
  await agent.waitEstablished(TOR4);
}, 240_000);

afterAll(async () => {
  try {
    if (agent?.running) await agent.stop().catch(() => undefined);
  } finally {
    await lab?.cleanup();
  }
}, 120_000);

describe('routectl-cni inputs against the real kernel', () => {
  it('STATUS: one of two sessions Established is ready', async () => {
    expect((await agent!.peer(DEAD4)).json.state).not.toBe('Established');
    expect(await cni('STATUS', {})).toMatchObject({ code: 0, json: undefined });
  });

  it("CNI_NETNS: the agent's own namespace, a regular file, /dev/null, a mount namespace → code 4, nothing changed", async () => {
    const before = await footprint();
    const file = join(lab!.dir, 'not-a-netns');
    writeFileSync(file, 'x');
    const rows: [string, RegExp][] = [
      [w.path, /is the agent's own network namespace \(the host's\)/],
      [`/proc/${agent!.pid}/ns/net`, /is the agent's own network namespace/],
      [file, /is a regular file, not a network namespace$/],
      ['/dev/null', /is a character device, not a network namespace$/],
      [`/proc/${agent!.pid}/ns/mnt`, /is a mount namespace, not a network namespace$/],
    ];
    for (const [i, [netns, msg]] of rows.entries()) {
      const r = await cni('ADD', addEnv(i + 1, netns));
      expect(r.code, netns).toBe(1);
      expect(r.err, netns).toMatchObject({ code: 4, msg: expect.stringMatching(/^CNI_NETNS: /) as unknown });
      expect(r.err.msg).toMatch(msg);
      expect(r.err.msg).toContain(netns);
    }
    expect(await footprint()).toBe(before);
    expect(agent!.logLines().filter((l) => l.op === 'cni' && l.event === 'add-refused')).toHaveLength(rows.length);
    // The worker's own addresses and routes are untouched.
    const addrs = (await w.exec(['ip', '-4', '-o', 'addr', 'show'])).stdout;
    expect(addrs).not.toMatch(/198\.51\.100\./);
  });

  it('a real container namespace is wired and reachable; an interface it already has is refused and rolled back', async () => {
    const c = await lab!.netns('secc');
    const r = await cni('ADD', addEnv(10, c.path));
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    const v4 = (r.json as CniResult).ips[0]!.address.replace('/32', '');
    await waitFor(async () => (await fibPrefixes(tor)).has(`${v4}/32`), { what: `${v4}/32 in the ToR FIB`, timeoutMs: 15_000, intervalMs: 50 });
    expect(await waitFor(() => ping(tor, v4), { what: `ping ${v4}`, timeoutMs: 10_000, intervalMs: 200 })).toBe(true);
    const before = await footprint();
    // `lo` exists in every network namespace.
    const clash = await cni('ADD', addEnv(11, c.path, 'lo'));
    expect(clash.code).toBe(1);
    console.log(`ADD with CNI_IFNAME=lo: ${JSON.stringify(clash.err)}`);
    expect(clash.err).toMatchObject({ code: 4, msg: `CNI_IFNAME: ${c.path} already has an interface named lo; nothing was changed` });
    expect(await footprint()).toBe(before);
    expect((await cni('DEL', addEnv(10, c.path))).code).toBe(0);
  });

  it('STATUS: no session Established → 51, naming both peers and their states', async () => {
    await frr!.stop();
    await agent!.waitPeer(TOR4, (p) => p.state !== 'Established', 'down');
    const r = await waitFor(
      async () => {
        const s = await cni('STATUS', {});
        return s.code === 1 ? s : undefined;
      },
      { what: 'STATUS not ready', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(r.err.code).toBe(51);
    expect(r.err.msg).toMatch(new RegExp(`^routectl agent not ready: none of its 2 BGP sessions is Established \\(${TOR4.replace(/\./g, '\\.')} \\w+, ${DEAD4.replace(/\./g, '\\.')} \\w+\\)$`));
    expect(r.err.details).toBe("new containers' routes would not reach the fabric: see routectl peers");
  });
});
