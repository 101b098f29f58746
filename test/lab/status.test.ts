/**
 * `routectl status/peers/routes/verify` and the metrics listener of the built agent,
 * speaker-only, in a worker namespace peering with a real FRR ToR:
 *
 *   tor (FRR, AS 4200000000) ── 203.0.113.1/26 ═ 203.0.113.2/26 ── wk (routectl agent)
 *
 * - healthy: status exits 0; human output of status, peers, peers ADDRESS, routes
 *   --advertised/--received and verify, and the --json output of each, against golden
 *   files (test/src/cli/golden/lab-*; times, uptime, version and message counts masked);
 * - FRR `neighbor … shutdown message "maintenance"`: status exits 1 and shows
 *   'NOTIFICATION received: Cease / Administrative Shutdown: "maintenance"'; peers shows
 *   the decoded NOTIFICATION; one log line for it; `no neighbor … shutdown` → exit 0;
 * - a scrape of /metrics (curl inside the namespace) has every named series with the
 *   right values: prefixes sent per family equal what FRR's RIB holds from us, one
 *   flap, one NOTIFICATION 6/2 received; /healthz and /readyz answer 200;
 * - the kernel view reads the worker's own proto-88 routes with netlink;
 * - verify exits 0 when clean; unreachable socket, wrong user, stopped agent → exit 2
 *   with the reason and the socket path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, expectGolden, maskJson, startAgent, type LabAgent } from './agent-helper.js';
import { Lab, startFrr, waitFor, type Frr, type Netns } from './harness/index.js';

const TOR_AS = 4200000000;
const WK_AS = 4200000001;
const TOR4 = '203.0.113.1';
const WK4 = '203.0.113.2';
const TOR6 = '2001:db8:f::1';
const WK6 = '2001:db8:f::2';
const ADV = ['198.51.100.1/32', '198.51.100.2/32', '2001:db8:c::1/128'];

let lab: Lab;
let tor: Netns;
let wk: Netns;
let frr: Frr;
let agent: LabAgent;
/** The compiled routectl the agent runs (for commands with another socket or user). */
let bin: string;

/** Volatile fields out: times, uptime, version, message counts, link-local addresses, the lab directory. */
function mask(s: string): string {
  return s
    .split(agent.dir)
    .join('<DIR>')
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g, '<TIME>')
    .replace(/routectl \S+ on (\S+): /, 'routectl <VERSION> on $1: ')
    .replace(/\bup [0-9dhms]+/g, 'up <UPTIME>')
    .replace(/(Messages (?:in|out):\s+).*/g, '$1<COUNTS>')
    .replace(/fe80::[0-9a-f:]+/g, '<LINK-LOCAL>')
    // Column widths follow the masked values: keep the columns, not their padding.
    .replace(/ {2,}/g, '  ');
}

/** Golden files in test/src/cli/golden; ROUTECTL_UPDATE_GOLDEN=1 rewrites them (agent-helper.ts). */
const golden = expectGolden;

/**
 * The same volatile fields in `--json` output, by key: state-change and NOTIFICATION
 * times, uptimes, the version, the message counters (keepalives tick); strings lose the
 * lab directory and link-local next hops. Everything else (counts of prefixes, flaps,
 * nulls) stays.
 */
const JSON_MASK = { since: '<TIME>', at: '<TIME>', uptime: '<UPTIME>', uptimeSeconds: '<UPTIME>', version: '<VERSION>', messages: '<COUNTS>' };
function maskJ(v: unknown): string {
  return maskJson(v, JSON_MASK, (s) => s.split(agent.dir).join('<DIR>').replace(/fe80::[0-9a-f:]+/g, '<LINK-LOCAL>'));
}

/** One scrape from inside the worker namespace: "name{labels}" -> value. */
async function scrape(path = '/metrics'): Promise<{ code: number; body: string; samples: Map<string, number> }> {
  const r = await wk.exec(['curl', '-sS', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:9273${path}`]);
  const lines = r.stdout.trimEnd().split('\n');
  const code = Number(lines.pop());
  const samples = new Map<string, number>();
  for (const l of lines) {
    if (l === '' || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    samples.set(l.slice(0, i), Number(l.slice(i + 1)));
  }
  return { code, body: lines.join('\n'), samples };
}

const diag = (): string => agent?.logTail() ?? '';

beforeAll(async () => {
  bin = ensureBuilt();
  lab = await Lab.create();
  tor = await lab.netns('tor');
  wk = await lab.netns('wk');
  await lab.link(tor, wk, { aAddr: [`${TOR4}/26`, `${TOR6}/64`], bAddr: [`${WK4}/26`, `${WK6}/64`] });
  frr = await startFrr(tor, { asn: TOR_AS, routerId: TOR4, neighbors: [{ address: WK4, asn: WK_AS }] });
  // FRR would send our own prefixes back (eBGP, no sender-side loop check) at a time of
  // its choosing, which the agent drops as AS loops: send the worker nothing, so the
  // received counts in the golden files are 0 whenever they are read.
  await frr.configure([
    'route-map RTC-NONE deny 10',
    'exit',
    `router bgp ${TOR_AS}`,
    'address-family ipv4 unicast',
    `neighbor ${WK4} route-map RTC-NONE out`,
    'exit-address-family',
    'address-family ipv6 unicast',
    `neighbor ${WK4} route-map RTC-NONE out`,
    'exit-address-family',
  ]);
  agent = await startAgent(wk, {
    node: 'w1',
    routerId: WK4,
    asn: WK_AS,
    peers: [{ address: TOR4, asn: TOR_AS, description: 'tor-frr' }],
    advertise: ADV,
    import: ['0.0.0.0/0', '::/0'],
    holdTime: 9,
    connectRetryTime: 1,
  });
}, 180_000);

afterAll(async () => {
  await lab?.cleanup();
});

describe('routectl status against FRR', () => {
  it('healthy: exit 0, golden status / peers / routes / verify', async () => {
    await frr.waitEstablished(WK4, 30_000);
    await agent.waitPeer(TOR4, (p) => p.state === 'Established' && p.prefixesSent === ADV.length, 'Established, all sent');
    const s = await agent.cli(['status']);
    expect([s.code, s.stderr]).toEqual([0, '']);
    golden('lab-status-healthy.txt', mask(s.stdout));
    const p = await agent.cli(['peers', TOR4]);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/Capabilities: +multiprotocol, route-refresh.*four-octet-as/);
    golden('lab-peer-established.txt', mask(p.stdout));
    const r = await agent.cli(['routes', '--advertised']);
    expect(r.code).toBe(0);
    golden('lab-routes-advertised.txt', mask(r.stdout));
    const v = await agent.cli(['verify']);
    expect([v.code, v.stderr]).toEqual([0, '']);
    golden('lab-verify-clean.txt', mask(v.stdout));
    const vj = await agent.cli<{ ok: boolean; checked: { peers: string[]; desiredPrefixes: number } }>(['verify', '--json']);
    expect(vj.json).toMatchObject({ ok: true, checked: { peers: [TOR4], desiredPrefixes: ADV.length } });
  });

  it('healthy: --json goldens for status / peers / peers ADDRESS / routes / verify; human peers list and routes --received', async () => {
    const json = async (args: string[], name: string): Promise<unknown> => {
      const r = await agent.cli([...args, '--json']);
      expect([r.code, r.stderr], args.join(' ')).toEqual([0, '']);
      expect(r.json, `${args.join(' ')} --json parses`).toBeDefined();
      golden(name, maskJ(r.json));
      return r.json;
    };
    const human = async (args: string[], name: string): Promise<void> => {
      const r = await agent.cli(args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([0, '']);
      golden(name, mask(r.stdout));
    };
    const st = (await json(['status'], 'lab-status-healthy.json')) as { peers: { state: string }[] };
    expect(st.peers.map((p) => p.state)).toEqual(['Established']);
    await json(['peers'], 'lab-peers.json');
    await human(['peers'], 'lab-peers.txt');
    await json(['peers', TOR4], 'lab-peer-established.json');
    const adv = (await json(['routes', '--advertised'], 'lab-routes-advertised.json')) as { routes: unknown[] };
    expect(adv.routes).toHaveLength(ADV.length);
    // FRR sends the worker nothing (route-map RTC-NONE): the empty view, human and JSON.
    await json(['routes', '--received'], 'lab-routes-received.json');
    await human(['routes', '--received'], 'lab-routes-received.txt');
    await json(['verify'], 'lab-verify-clean.json');
  });

  it('FRR shuts the session down with a message: exit 1, the Cease reason in words; back: exit 0', async () => {
    await frr.configure([`router bgp ${TOR_AS}`, `neighbor ${WK4} shutdown message maintenance`]);
    // FRR refuses the reconnects that follow; the Cease stays in front of their errors.
    await agent.waitPeer(TOR4, (p) => p.state !== 'Established' && /; since then: /.test(p.lastError ?? ''), 'down after the Cease, a reconnect refused');
    const s = await agent.cli(['status']);
    expect(s.code, diag()).toBe(1);
    // The agent sets no RFC 8538 N bit, so FRR sends its Administrative Shutdown as it is (no Hard Reset around it).
    expect(s.stdout).toContain('NOTIFICATION received: Cease / Administrative Shutdown: "maintenance"; since then: ');
    const js = await agent.status();
    expect(js.code).toBe(1);
    expect(js.json.peers[0]?.lastError).toMatch(/^NOTIFICATION received: Cease \/ Administrative Shutdown: "maintenance"; since then: (connect|connection closed)/);
    const p = await agent.cli(['peers', TOR4]);
    expect(p.stdout).toMatch(/NOTIFICATION received: +Cease \/ Administrative Shutdown \(6\/2\): "maintenance" at /);
    expect(p.stdout).toMatch(/Flaps: +1/);
    const m = await scrape();
    expect(m.samples.get(`routectl_bgp_session_up{peer="${TOR4}"}`)).toBe(0);
    expect(m.samples.get(`routectl_bgp_session_state{peer="${TOR4}"}`)).toBeLessThan(6);
    expect((await scrape('/readyz')).code).toBe(200); // still inside the startup grace
    const logged = agent.logLines().filter((l) => l.event === 'notification-received' && l.peer === TOR4);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ op: 'bgp.session', code: 6, subcode: 2, text: 'maintenance' });
    const down = agent.stateChanges(TOR4).find((l) => l.from === 'Established');
    expect(down?.reason).toBe('NOTIFICATION received: Cease / Administrative Shutdown: "maintenance"');

    await frr.configure([`router bgp ${TOR_AS}`, `no neighbor ${WK4} shutdown`]);
    await agent.waitPeer(TOR4, (p2) => p2.state === 'Established' && p2.prefixesSent === ADV.length, 'Established again', 60_000);
    const again = await agent.cli(['status']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('NOTIFICATION');
  });

  it('/metrics has every named series with the right values; /healthz and /readyz answer', async () => {
    // What FRR holds from us, per family.
    const rib4 = [...(await frr.ribPrefixes('ipv4-unicast')).keys()].filter((x) => ADV.includes(x));
    const rib6 = [...(await frr.ribPrefixes('ipv6-unicast')).keys()].filter((x) => ADV.includes(x));
    expect(rib4.length + rib6.length).toBe(ADV.length);
    const m = await scrape();
    expect(m.code).toBe(200);
    const s = m.samples;
    const peer = `peer="${TOR4}"`;
    expect(s.get(`routectl_bgp_session_state{${peer}}`)).toBe(6);
    expect(s.get(`routectl_bgp_session_up{${peer}}`)).toBe(1);
    expect(s.get(`routectl_bgp_session_flaps_total{${peer}}`)).toBe(1);
    expect(s.get(`routectl_bgp_prefixes{${peer},family="ipv4-unicast",direction="sent"}`)).toBe(rib4.length);
    expect(s.get(`routectl_bgp_prefixes{${peer},family="ipv6-unicast",direction="sent"}`)).toBe(rib6.length);
    expect(s.get(`routectl_bgp_prefixes{${peer},family="ipv4-unicast",direction="received"}`)).toBe(0);
    expect(s.get(`routectl_bgp_notifications_total{${peer},direction="received",code="6",subcode="2"}`)).toBe(1); // no N bit: FRR's shutdown as it is
    expect(s.get(`routectl_bgp_messages_total{${peer},direction="received",type="notification"}`)).toBe(1);
    expect(s.get(`routectl_bgp_messages_total{${peer},direction="sent",type="open"}`)).toBeGreaterThanOrEqual(2);
    expect(s.get(`routectl_bgp_messages_total{${peer},direction="sent",type="update"}`)).toBeGreaterThanOrEqual(2);
    expect(s.get(`routectl_bgp_messages_total{${peer},direction="received",type="keepalive"}`)).toBeGreaterThanOrEqual(2);
    expect(s.get('routectl_dataplane_routes{family="ipv4"}')).toBe(0);
    expect(s.get('routectl_dataplane_apply_seconds_count')).toBe(0);
    expect(s.get('routectl_endpoint_ready_seconds_count')).toBe(0);
    expect(m.body).toContain('# TYPE routectl_endpoints gauge');
    expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    const h = await scrape('/healthz');
    expect(h.code).toBe(200);
    expect((await scrape('/readyz')).code).toBe(200);
  });

  it('routes --kernel: the worker namespace\'s own proto-88 routes, read with netlink', async () => {
    const empty = await agent.cli(['routes', '--kernel']);
    expect([empty.code, empty.stdout]).toEqual([0, 'Kernel routes (own, proto 88): 0\n']);
    await wk.ip(['route', 'add', 'blackhole', '198.51.100.99/32', 'proto', '88']);
    await wk.ip(['route', 'add', 'blackhole', '198.51.100.98/32', 'proto', 'static']); // not ours
    const k = await agent.cli(['routes', '--kernel']);
    expect(k.stdout.replace(/ {2,}/g, '  ')).toBe('Kernel routes (own, proto 88): 1\nPrefix  Next hop\n198.51.100.99/32  blackhole\n');
    const m = await scrape();
    expect(m.samples.get('routectl_dataplane_routes{family="ipv4"}')).toBe(1);
  });

  it('unreachable: no socket, another user, agent stopped → exit 2 with the socket path', async () => {
    const none = await wk.exec([process.execPath, bin, 'status', '--socket', '/run/nonexistent-rtc/routectl.sock']);
    expect([none.code, none.stderr]).toEqual([2, 'routectl: routectl agent is not running (no socket at /run/nonexistent-rtc/routectl.sock)\n']);
    const nobody = await wk.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'verify', '--socket', agent.socket]);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toBe(`routectl: permission denied on ${agent.socket}: the API is root-only; run as root (sudo routectl …)\n`);
    expect(await agent.stop()).toBe(0);
    const gone = await agent.cli(['status']);
    expect([gone.code, gone.stderr]).toEqual([2, `routectl: routectl agent is not running (no socket at ${agent.socket})\n`]);
    await waitFor(async () => (await wk.exec(['curl', '-s', 'http://127.0.0.1:9273/healthz'])).code !== 0, { what: 'metrics listener closed', timeoutMs: 5000 });
  });
});
