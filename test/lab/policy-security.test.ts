/**
 * What a container can do to the worker's neighbour tables and to the fabric's control
 * plane, with the built agent, a real dockerd container and a stand-in ToR:
 *
 *   tor  203.0.113.1/30 2001:db8:ffff::1/64   a TCP/UDP listener on 179, 3784, 3785, 4784
 *        │                                    (BGP, BFD) and 8080/5000 (other traffic),
 *        │                                    logging who reached it
 *   w    203.0.113.2/30 2001:db8:ffff::2/64   dockerd, the agent (zone app, the ToR as two
 *                                             passive BGP peers, v4 and v6), container c1
 *
 * Neighbour tables: from inside c1's network namespace a raw-socket sender forges 5,000
 * ARP requests (random sender addresses and MACs, for 169.254.1.1, which the host veth
 * answers by proxy ARP) and 5,000 IPv6 neighbour solicitations (random link-local sources,
 * for the host veth's link-local); the worker's neighbour entries on c1's veth grow by at
 * most a handful, the guards' counters account for the frames, and c1 is still pingable
 * both ways in both families. The same sender against a worker without the guard (a
 * scratch pair of namespaces) does create one entry per frame, so the sender is sound.
 *
 * Control plane: c1 cannot open TCP 179 to the peers (v4, v6) nor send to the BFD ports,
 * nor reach the agent's own BGP listener, while other TCP and UDP to the ToR flows; with
 * `policy.openControlPlane: true` (SIGHUP) it can reach the peers (never the worker's own
 * listener), and back to the default closes it again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointEntry } from '../../src/api/types.js';
import type { PolicyShowResponse } from '../../src/api/policy-types.js';
import { containerMac } from '../../src/endpoints/controller.js';
import { HOST_VETH_LINK_LOCAL } from '../../src/dataplane/plumbing.js';
import { linkLocalFromMac } from '../../policy/cidr.js';
import { startAgent, type LabAgent, type LabAgentConfig } from './agent-helper.js';
import { startDockerd, BUSYBOX_IMAGE, type Dockerd } from './harness/docker.js';
import { Lab } from './harness/lab.js';
import type { Netns } from './harness/netns.js';
import { exec } from './harness/proc.js';
import { waitFor } from './harness/wait.js';

const TOR = { v4: '203.0.113.1', v6: '2001:db8:ffff::1' };
const W = { v4: '203.0.113.2', v6: '2001:db8:ffff::2' };
const FORGED = 5000;
/** "At most a handful": entries the worker may still make during the flood (its own resolutions). */
const HANDFUL = 3;

/**
 * The stand-in ToR: listens on TCP 179 and 8080 and UDP 3784, 3785, 4784 and 5000 (both
 * families), prints one line per connection or datagram: `tcp|udp <port> <source>`; a TCP
 * client gets "hello" and the connection is closed.
 */
const LISTENER = `
import socket, threading, sys
def tcp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('::', port)); s.listen(64)
    while True:
        c, a = s.accept()
        print('tcp', port, a[0].replace('::ffff:', ''), flush=True)
        try: c.sendall(b'hello\\n')
        finally: c.close()
def udp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    while True:
        _, a = s.recvfrom(2048)
        print('udp', port, a[0].replace('::ffff:', ''), flush=True)
for p in (179, 8080): threading.Thread(target=tcp, args=(p,), daemon=True).start()
for p in (3784, 3785, 4784, 5000): threading.Thread(target=udp, args=(p,), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
`;

/**
 * Forges frames on an interface from a raw packet socket: argv ifname kind count target.
 * kind arp: ARP requests for `target` from random sender addresses (10.0.0.0/8) and MACs;
 * kind probe: ARP probes (sender 0.0.0.0, RFC 5227) for `target`;
 * kind ns: neighbour solicitations (RFC 4861 4.3, hop limit 255, source link-layer option)
 * for `target` to its solicited-node group, from random link-local sources and MACs.
 */
const FORGER = `
import socket, struct, random, sys
ifname, kind, n, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
def rmac(): return bytes([0x02] + [random.randrange(256) for _ in range(5)])
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
for i in range(n):
    mac = rmac()
    if kind in ('arp', 'probe'):
        sip = bytes(4) if kind == 'probe' else socket.inet_aton('10.%d.%d.%d' % (random.randrange(256), random.randrange(256), random.randrange(1, 255)))
        arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac + sip + bytes(6) + socket.inet_aton(target)
        frame = b'\\xff' * 6 + mac + b'\\x08\\x06' + arp
    else:
        src = socket.inet_pton(socket.AF_INET6, 'fe80::%x:%x:%x' % (random.randrange(1, 65536), random.randrange(65536), random.randrange(1, 65536)))
        tgt = socket.inet_pton(socket.AF_INET6, target)
        dst = socket.inet_pton(socket.AF_INET6, 'ff02::1:ff00:0')[:13] + tgt[13:]
        icmp = struct.pack('!BBHI', 135, 0, 0, 0) + tgt + struct.pack('!BB', 1, 1) + mac
        c = csum(src + dst + struct.pack('!I', len(icmp)) + b'\\0\\0\\0\\x3a' + icmp)
        icmp = icmp[:2] + struct.pack('!H', c) + icmp[4:]
        frame = b'\\x33\\x33' + dst[12:] + mac + b'\\x86\\xdd' + struct.pack('!IHBB', 0x60000000, len(icmp), 58, 255) + src + dst + icmp
    s.send(frame)
print(n)
`;

let lab: Lab | undefined;
let tor: Netns;
let w: Netns;
let dockerd: Dockerd | undefined;
let agent: LabAgent | undefined;
let cfg: LabAgentConfig;
let listenerLog: string;
let c1: { id: string; pid: number; veth: string; mac: string; v4: string; v6: string };

function agentConfig(sock: string, openControlPlane?: boolean): LabAgentConfig {
  return {
    routerId: W.v4,
    asn: 65001,
    // Passive: the agent waits for the ToR; the listener on 179 is not a BGP speaker.
    peers: [{ address: TOR.v4, asn: 65000, passive: true }, { address: TOR.v6, asn: 65000, passive: true }],
    extra: {
      pools: [{ cidr: '198.51.100.0/28', zone: 'app' }, { cidr: '2001:db8:c:1::/120', zone: 'app' }],
      zones: [{ name: 'app', cidrs: ['198.51.100.0/24', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['icmp', 'tcp/8080'] }] }],
      policy: { defaultAction: 'drop', ...(openControlPlane === undefined ? {} : { openControlPlane }) },
      runtime: { docker: { socket: sock }, reconcileInterval: 5 },
    },
  };
}

/** Neighbour entries on one device of the worker, per family. */
async function neighbours(dev: string): Promise<{ v4: number; v6: number; text: string }> {
  const v4 = (await w.run(['ip', '-4', 'neigh', 'show', 'dev', dev])).split('\n').filter(Boolean);
  const v6 = (await w.run(['ip', '-6', 'neigh', 'show', 'dev', dev])).split('\n').filter(Boolean);
  return { v4: v4.length, v6: v6.length, text: [...v4, ...v6].join('\n') };
}

/** Runs the forger in a namespace (`where`: the argv prefix that enters it). */
async function forge(where: readonly string[], ifname: string, kind: 'arp' | 'probe' | 'ns', n: number, target: string): Promise<void> {
  const r = await exec([...where, 'python3', '-c', FORGER, ifname, kind, String(n), target], { timeoutMs: 120_000 });
  if (r.code !== 0 || r.stdout.trim() !== String(n)) throw new Error(`forger (${kind}) in ${where.join(' ')}: exit ${r.code}: ${r.stderr}`);
}

async function ping(argv: readonly string[], addr: string): Promise<boolean> {
  const r = await exec([...argv, 'busybox', addr.includes(':') ? 'ping6' : 'ping', '-c', '1', '-W', '2', addr], { timeoutMs: 10_000 });
  return r.code === 0;
}
const inC1 = (): string[] => ['nsenter', '-t', String(c1.pid), '-n'];
const inTor = (): string[] => ['ip', 'netns', 'exec', tor.name];

/** Packets of a rule outside the zone plan (both families and chains summed), from `routectl policy show`. */
async function systemCount(id: string): Promise<number> {
  const r = await agent!.cli<PolicyShowResponse>(['policy', 'show', '--json']);
  if (r.json === undefined) throw new Error(`policy show: ${r.stderr}`);
  const rows = r.json.system.filter((s) => s.id === id);
  if (rows.length === 0) throw new Error(`no rule ${id} in policy show: ${r.json.system.map((s) => s.id).join(', ')}`);
  return rows.reduce((n, s) => n + s.packets, 0);
}

/** TCP from c1: true when the listener's "hello" came back. */
async function tcpFromC1(addr: string, port: number): Promise<boolean> {
  const r = await exec([...inC1(), 'busybox', 'nc', '-w', '2', addr, String(port)], { timeoutMs: 15_000 });
  return r.stdout.includes('hello');
}

/** One UDP datagram from c1 to each port of `addr` (busybox nc has no UDP). */
async function udpFromC1(addr: string, ports: readonly number[]): Promise<void> {
  const fam = addr.includes(':') ? 'AF_INET6' : 'AF_INET';
  const py = `import socket\ns=socket.socket(socket.${fam},socket.SOCK_DGRAM)\nfor p in (${ports.join(',')},): s.sendto(b'x',('${addr}',p))`;
  const r = await exec([...inC1(), 'python3', '-c', py], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`udp from c1 to ${addr}: ${r.stderr}`);
}

/** Listener lines from c1's addresses. */
function reached(): string[] {
  return readFileSync(listenerLog, 'utf8').split('\n').filter((l) => l.endsWith(` ${c1.v4}`) || l.endsWith(` ${c1.v6}`));
}

/** Sends to every control-plane port and one other port of both peer addresses; what arrived from c1. */
async function probeControlPlane(): Promise<{ tcp179: boolean[]; tcp8080: boolean[]; udp: string[] }> {
  const before = reached().length;
  const tcp179 = await Promise.all([tcpFromC1(TOR.v4, 179), tcpFromC1(TOR.v6, 179)]);
  const tcp8080 = await Promise.all([tcpFromC1(TOR.v4, 8080), tcpFromC1(TOR.v6, 8080)]);
  for (const addr of [TOR.v4, TOR.v6]) await udpFromC1(addr, [3784, 3785, 4784, 5000]);
  // The control datagram (udp 5000) of each family arrives when the path works; wait for those, then read.
  await waitFor(() => reached().slice(before).filter((l) => l.startsWith('udp 5000 ')).length >= 2, { what: 'udp 5000 from c1 in both families', timeoutMs: 10_000, intervalMs: 100 });
  const udp = reached().slice(before).filter((l) => l.startsWith('udp ') && !l.startsWith('udp 5000 '));
  return { tcp179, tcp8080, udp };
}

beforeAll(async () => {
  lab = await Lab.create();
  tor = await lab.netns('sector');
  w = await lab.netns('secw');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR.v4}/30`, `${TOR.v6}/64`], bAddr: [`${W.v4}/30`, `${W.v6}/64`] });
  await w.addRoute('default', { via: TOR.v4 });
  await w.addRoute('default', { via: TOR.v6 });
  // The stand-in ToR speaks no BGP: it routes the container pools back statically.
  await tor.addRoute('198.51.100.0/24', { via: W.v4 });
  await tor.addRoute('2001:db8:c::/48', { via: W.v6 });
  const listener = tor.spawn(['python3', '-u', '-c', LISTENER], { log: 'sec-listener.log' });
  void listener;
  listenerLog = join(lab.dir, 'sec-listener.log');
  await waitFor(() => { try { return readFileSync(listenerLog, 'utf8').includes('ready'); } catch { return false; } }, { what: 'listener on the ToR', timeoutMs: 10_000, intervalMs: 100 });

  dockerd = await startDockerd(w);
  await dockerd.importBusybox();
  cfg = agentConfig(dockerd.sock);
  agent = await startAgent(w, cfg, { name: 'sec-agent' });
  const id = await dockerd.runContainer(['--net', 'none', '--name', 'c1', '--label', 'routectl.zone=app', BUSYBOX_IMAGE, 'sleep', '3600']);
  const e = await waitFor(async () => {
    const r = await agent!.cli<{ endpoints: EndpointEntry[] }>(['endpoints', '--json']);
    return r.json?.endpoints.find((x) => x.name === 'c1' && x.state === 'ready');
  }, { what: 'c1 ready', timeoutMs: 30_000, intervalMs: 200, diagnostics: () => agent!.logTail() });
  if (!e.ipv4 || !e.ipv6 || !e.hostVeth || !e.hwaddr || !e.pid) throw new Error(`c1 incomplete: ${JSON.stringify(e)}`);
  c1 = { id: id.trim(), pid: e.pid, veth: e.hostVeth, mac: e.hwaddr, v4: e.ipv4, v6: e.ipv6 };
}, 180_000);

afterAll(async () => {
  try {
    if (agent?.running) await agent.stop().catch(() => undefined);
    await dockerd?.cleanup().catch(() => undefined);
  } finally {
    const names = lab?.namespaceNames ?? [];
    await lab?.cleanup();
    const left = (await exec(['ip', 'netns', 'list'])).stdout;
    for (const n of names) expect(left).not.toContain(n);
  }
}, 60_000);

describe('neighbour tables', () => {
  it("the container's link-local is the one the policy derives from its MAC, and it passed DAD", async () => {
    expect(c1.mac).toBe(containerMac(c1.id));
    const want = linkLocalFromMac(c1.mac);
    // DAD (RFC 4862 5.4: its NS come from ::) takes about a second after the link is up.
    const addrs = await waitFor(async () => {
      const r = await exec([...inC1(), 'ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
      return /tentative/.test(r.stdout) ? undefined : r.stdout;
    }, { what: "c1's link-local out of DAD", timeoutMs: 10_000, intervalMs: 100 });
    expect(addrs).toContain(`inet6 ${want}/64`);
    expect(addrs).not.toMatch(/dadfailed/);
  });

  it('the sender is sound: without the guard, each forged ARP request and NS makes a neighbour entry', async () => {
    // A scratch worker with the same host-side plumbing (proxy ARP, fixed MAC, a default
    // route) and no policy. 100 of each: enough to see, far from the shared gc_thresh3.
    const h = await lab!.netns('secctlh');
    const x = await lab!.netns('secctlx');
    const c = await lab!.netns('secctlc');
    await lab!.link(h, x, { aName: 'up0', bName: 'up0', aAddr: ['203.0.113.5/30'], bAddr: ['203.0.113.6/30'] });
    await h.addRoute('default', { via: '203.0.113.6' });
    await h.ip(['link', 'add', 'rtcctl0', 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.name]);
    await h.sysctl('net.ipv4.conf.rtcctl0.proxy_arp', 1);
    await h.sysctl('net.ipv4.neigh.rtcctl0.proxy_delay', 0);
    await h.ip(['link', 'set', 'rtcctl0', 'up']);
    await c.ip(['link', 'set', 'eth0', 'up']);
    await waitFor(async () => (await h.run(['ip', '-6', 'addr', 'show', 'dev', 'rtcctl0'])).includes(HOST_VETH_LINK_LOCAL), { what: 'host veth link-local', timeoutMs: 10_000, intervalMs: 100 });
    const inC = ['ip', 'netns', 'exec', c.name];
    await forge(inC, 'eth0', 'arp', 100, '169.254.1.1');
    await forge(inC, 'eth0', 'ns', 100, HOST_VETH_LINK_LOCAL);
    const v4 = (await h.run(['ip', '-4', 'neigh', 'show', 'dev', 'rtcctl0'])).split('\n').filter(Boolean).length;
    const v6 = (await h.run(['ip', '-6', 'neigh', 'show', 'dev', 'rtcctl0'])).split('\n').filter(Boolean).length;
    expect(v4).toBeGreaterThanOrEqual(90);
    expect(v6).toBeGreaterThanOrEqual(90);
    // Gone with the scratch namespaces: the shared table gets its entries back at once.
    await h.ip(['link', 'del', 'rtcctl0']);
  });

  it(`${FORGED} forged ARP requests and ${FORGED} forged NS from a container add at most a handful of entries; it stays pingable`, async () => {
    // Traffic first, so the entries the worker needs for c1 exist before counting.
    for (const a of [TOR.v4, TOR.v6]) expect(await ping(inC1(), a), `c1 -> ${a}`).toBe(true);
    for (const a of [c1.v4, c1.v6]) expect(await ping(inTor(), a), `tor -> ${a}`).toBe(true);
    const before = await neighbours(c1.veth);
    const arpDrops = await systemCount('arp-drop');
    const spoofDrops = await systemCount('spoof-drop');

    await forge(inC1(), 'eth0', 'arp', FORGED, '169.254.1.1');
    await forge(inC1(), 'eth0', 'ns', FORGED, HOST_VETH_LINK_LOCAL);

    const after = await neighbours(c1.veth);
    console.log(`neighbour entries on ${c1.veth}: v4 ${before.v4} -> ${after.v4}, v6 ${before.v6} -> ${after.v6} after ${FORGED} forged frames of each kind`);
    expect(after.v4, after.text).toBeLessThanOrEqual(before.v4 + HANDFUL);
    expect(after.v6, after.text).toBeLessThanOrEqual(before.v6 + HANDFUL);
    // The frames reached the worker and the guards dropped them (ARP table guard, IPv6 anti-spoofing).
    expect(await systemCount('arp-drop')).toBeGreaterThanOrEqual(arpDrops + FORGED);
    expect(await systemCount('spoof-drop')).toBeGreaterThanOrEqual(spoofDrops + FORGED);

    for (const a of [TOR.v4, TOR.v6]) expect(await ping(inC1(), a), `c1 -> ${a} after`).toBe(true);
    for (const a of [c1.v4, c1.v6]) expect(await ping(inTor(), a), `tor -> ${a} after`).toBe(true);
  }, 180_000);

  it('ARP probes (sender 0.0.0.0) pass, at a rate per veth, and make no entry', async () => {
    const before = await neighbours(c1.veth);
    const probes = await systemCount('arp-probe');
    await forge(inC1(), 'eth0', 'probe', 3, c1.v4);
    expect(await systemCount('arp-probe')).toBeGreaterThanOrEqual(probes + 3);
    const flood = await systemCount('arp-probe');
    await forge(inC1(), 'eth0', 'probe', 2000, c1.v4);
    // 5/s with a burst of 10 per veth: a flood of probes is cut to a few.
    expect(await systemCount('arp-probe')).toBeLessThan(flood + 200);
    expect((await neighbours(c1.veth)).v4).toBeLessThanOrEqual(before.v4 + HANDFUL);
  }, 60_000);
});

describe("the fabric's control plane", () => {
  it('a container cannot reach the peers on BGP or BFD ports (v4, v6) while other traffic flows', async () => {
    const r = await probeControlPlane();
    expect(r.tcp8080).toEqual([true, true]);
    expect(r.tcp179).toEqual([false, false]);
    expect(r.udp).toEqual([]);
    expect(await systemCount('fabric tcp/179')).toBeGreaterThan(0);
    expect(await systemCount('fabric udp/3784')).toBeGreaterThan(0);
    // Nor the agent's own BGP listener on the worker (any of its addresses).
    expect(await tcpFromC1(W.v4, 179)).toBe(false);
    expect(await tcpFromC1(W.v6, 179)).toBe(false);
  }, 120_000);

  it('policy.openControlPlane: true opens it (not the worker itself); back to the default closes it', async () => {
    await agent!.reload(agentConfig(dockerd!.sock, true));
    const open = await waitFor(async () => {
      const r = await probeControlPlane();
      // A round counts when every datagram got through. IPv6 to udp/3784 and 3785 has been
      // seen to pass only some 25 s after the reload that opened it (IPv4 and udp/4784 at
      // once): the wait allows for that.
      return r.tcp179.every(Boolean) && r.udp.length === 6 ? r : undefined;
    }, { what: 'BGP and BFD ports of both peers reachable after opening', timeoutMs: 90_000, intervalMs: 500, diagnostics: () => agent!.logTail() });
    expect(open.tcp8080).toEqual([true, true]);
    expect(open.udp.sort()).toEqual([3784, 3785, 4784].flatMap((p) => [`udp ${p} ${c1.v4}`, `udp ${p} ${c1.v6}`]).sort());
    expect(await tcpFromC1(W.v4, 179)).toBe(false);

    await agent!.reload(agentConfig(dockerd!.sock, false));
    const closed = await waitFor(async () => {
      const r = await probeControlPlane();
      return r.tcp179.every((x) => !x) ? r : undefined;
    }, { what: 'BGP port of both peers blocked again', timeoutMs: 30_000, intervalMs: 500, diagnostics: () => agent!.logTail() });
    expect(closed.udp).toEqual([]);
    expect(closed.tcp8080).toEqual([true, true]);
  }, 180_000);
});
