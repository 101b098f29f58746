/**
 * The metrics registry over fake sources: every series named in the issue with the values
 * the sources hold; counters that stay monotonic when a session is replaced; each
 * NOTIFICATION counted (and reported) once; a registry per agent; the HTTP listener with
 * /metrics, /healthz (heartbeat on a fake clock) and /readyz (startup grace).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createAgentMetrics, eventLoopCpuWaitSeconds, Heartbeat, METRIC_NAMES, readiness, startMetricsServer, type MetricsServer, type PeerMetricsView, type SeenNotification } from '../../../src/metrics/index.js';

const zero = { open: 0, update: 0, notification: 0, keepalive: 0, routeRefresh: 0 };

function peer(over: Partial<PeerMetricsView> = {}): PeerMetricsView {
  return {
    address: '203.0.113.1',
    state: 'Established',
    flaps: 1,
    messages: { in: { ...zero, open: 1, update: 4, keepalive: 7 }, out: { ...zero, open: 1, update: 2, keepalive: 9 } },
    prefixesByFamily: { 'ipv4-unicast': { sent: 3, received: 2, accepted: 1 }, 'ipv6-unicast': { sent: 1, received: 0, accepted: 0 } },
    lastNotificationSent: null,
    lastNotificationReceived: null,
    ...over,
  };
}

/** Parses the exposition text into "name{labels}" -> value (labels in the order printed). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('createAgentMetrics', () => {
  it('exposes each named series with the values of its sources', async () => {
    let peers = [
      peer({ bfd: { state: 'Up', transitions: 3 } }),
      peer({ address: '203.0.113.3', state: 'Active', flaps: 0, prefixesByFamily: { 'ipv4-unicast': { sent: 0, received: 0, accepted: 0 } } }),
    ];
    let docker = false;
    const m = createAgentMetrics({
      peers: () => peers,
      endpointsByZone: () => ({ app: 2, dmz: 0 }),
      dataplaneRoutes: async () => ({ ipv4: 2, ipv6: 2 }),
      runtimesConnected: () => ({ docker }),
    });
    m.observeEndpointReady(0.2);
    m.observeDataplaneApply(0.004);
    await m.timeDataplaneApply(async () => 1);
    const text = await m.text();
    for (const name of METRIC_NAMES) expect(text, name).toContain(`# TYPE ${name} `);
    expect(text).toContain('process_cpu_user_seconds_total');
    const s = samples(text);
    expect(s.get('routectl_bgp_session_state{peer="203.0.113.1"}')).toBe(6);
    expect(s.get('routectl_bgp_session_state{peer="203.0.113.3"}')).toBe(3);
    expect(s.get('routectl_bgp_session_up{peer="203.0.113.1"}')).toBe(1);
    expect(s.get('routectl_bgp_session_up{peer="203.0.113.3"}')).toBe(0);
    expect(s.get('routectl_bgp_session_flaps_total{peer="203.0.113.1"}')).toBe(1);
    expect(s.get('routectl_bgp_messages_total{peer="203.0.113.1",direction="received",type="update"}')).toBe(4);
    expect(s.get('routectl_bgp_messages_total{peer="203.0.113.1",direction="sent",type="keepalive"}')).toBe(9);
    expect(s.get('routectl_bgp_messages_total{peer="203.0.113.1",direction="sent",type="route-refresh"}')).toBe(0);
    expect(s.get('routectl_bgp_prefixes{peer="203.0.113.1",family="ipv4-unicast",direction="sent"}')).toBe(3);
    expect(s.get('routectl_bgp_prefixes{peer="203.0.113.1",family="ipv4-unicast",direction="received"}')).toBe(2);
    expect(s.get('routectl_bgp_prefixes{peer="203.0.113.1",family="ipv4-unicast",direction="accepted"}')).toBe(1);
    expect(s.get('routectl_bgp_prefixes{peer="203.0.113.1",family="ipv6-unicast",direction="sent"}')).toBe(1);
    expect(s.get('routectl_bfd_session_state{peer="203.0.113.1"}')).toBe(3);
    expect(s.get('routectl_bfd_transitions_total{peer="203.0.113.1"}')).toBe(3);
    expect(s.has('routectl_bfd_session_state{peer="203.0.113.3"}')).toBe(false);
    expect(s.get('routectl_endpoints{zone="app"}')).toBe(2);
    expect(s.get('routectl_endpoints{zone="dmz"}')).toBe(0);
    expect(s.get('routectl_dataplane_routes{family="ipv6"}')).toBe(2);
    expect(s.get('routectl_runtime_connected{runtime="docker"}')).toBe(0);
    expect(s.get('routectl_dataplane_apply_seconds_count')).toBe(2);
    expect(s.get('routectl_dataplane_apply_seconds_bucket{le="0.005"}')).toBe(2);
    expect(s.get('routectl_endpoint_ready_seconds_count')).toBe(1);
    expect(s.get('routectl_endpoint_ready_seconds_bucket{le="0.1"}')).toBe(0);
    expect(s.get('routectl_endpoint_ready_seconds_bucket{le="0.25"}')).toBe(1);

    // A removed peer's gauges go; the state follows the source.
    peers = [peer({ state: 'Idle' })];
    docker = true;
    const s2 = samples(await m.text());
    expect(s2.get('routectl_runtime_connected{runtime="docker"}')).toBe(1);
    expect(s2.get('routectl_bgp_session_state{peer="203.0.113.1"}')).toBe(1);
    expect(s2.has('routectl_bgp_session_state{peer="203.0.113.3"}')).toBe(false);
  });

  it('counters stay monotonic: increases are added, a replaced session counts from its new value', async () => {
    let p = peer();
    const m = createAgentMetrics({ peers: () => [p] }, { processMetrics: false });
    const updates = async () => samples(await m.text()).get('routectl_bgp_messages_total{peer="203.0.113.1",direction="received",type="update"}');
    expect(await updates()).toBe(4);
    p = peer({ messages: { in: { ...zero, update: 10 }, out: zero } });
    expect(await updates()).toBe(10);
    expect(await updates()).toBe(10);
    p = peer({ messages: { in: { ...zero, update: 3 }, out: zero } }); // new session: 3 more
    expect(await updates()).toBe(13);
  });

  it('each NOTIFICATION is counted and reported once, by direction, code and subcode', async () => {
    const seen: SeenNotification[] = [];
    const shut = { code: 6, subcode: 2, name: 'Cease / Administrative Shutdown', text: 'maintenance', at: '2026-01-01T00:00:00.000Z' };
    let p = peer({ lastNotificationReceived: shut });
    const m = createAgentMetrics({ peers: () => [p] }, { processMetrics: false, onNotification: (n) => seen.push(n) });
    expect(m.noticeNotifications()).toHaveLength(1);
    expect(m.noticeNotifications()).toHaveLength(0);
    const key = 'routectl_bgp_notifications_total{peer="203.0.113.1",direction="received",code="6",subcode="2"}';
    expect(samples(await m.text()).get(key)).toBe(1);
    // The same code again, later: a second one. One sent (hold timer, 4/0) too.
    p = peer({ lastNotificationReceived: { ...shut, at: '2026-01-01T00:10:00.000Z' }, lastNotificationSent: { code: 4, subcode: 0, name: 'Hold Timer Expired', text: '', at: '2026-01-01T00:20:00.000Z' } });
    const s = samples(await m.text()); // the scrape notices them as well
    expect(s.get(key)).toBe(2);
    expect(s.get('routectl_bgp_notifications_total{peer="203.0.113.1",direction="sent",code="4",subcode="0"}')).toBe(1);
    expect(seen.map((n) => `${n.direction} ${n.notification.code}/${n.notification.subcode} ${n.notification.text}`)).toEqual(['received 6/2 maintenance', 'sent 4/0 ', 'received 6/2 maintenance']);
  });

  it("the event loop's wait for a CPU: what the kernel counted since start, then each scrape's increase", async () => {
    let total: number | undefined = 0.25;
    const m = createAgentMetrics({ peers: () => [] }, { processMetrics: false, cpuWaitSeconds: () => total });
    expect(samples(await m.text()).get('routectl_agent_cpu_wait_seconds_total')).toBe(0.25);
    total = 1.5;
    expect(samples(await m.text()).get('routectl_agent_cpu_wait_seconds_total')).toBe(1.5);
    total = undefined; // not readable: the counter keeps its value
    expect(samples(await m.text()).get('routectl_agent_cpu_wait_seconds_total')).toBe(1.5);
  });

  it("reads this process's wait for a CPU from the kernel", () => {
    const now = eventLoopCpuWaitSeconds();
    expect(now).toBeTypeOf('number');
    expect(now!).toBeGreaterThanOrEqual(0);
  });

  it('a registry per agent: two instances do not share series', async () => {
    const a = createAgentMetrics({ peers: () => [peer({ address: '203.0.113.1' })] }, { processMetrics: false });
    const b = createAgentMetrics({ peers: () => [peer({ address: '203.0.113.2' })] }, { processMetrics: false });
    a.observeEndpointReady(1);
    expect(await a.text()).not.toContain('203.0.113.2');
    expect(samples(await b.text()).get('routectl_endpoint_ready_seconds_count')).toBe(0);
  });
});

describe('health and readiness', () => {
  it('heartbeat: healthy while the timer beats, not when the loop has not run for 5 intervals', () => {
    let now = 1000;
    const h = new Heartbeat(1000, () => now);
    expect(h.health().ok).toBe(true);
    now += 4000;
    expect(h.health()).toEqual({ ok: true, heartbeatAgeMs: 4000 });
    now += 2000;
    expect(h.health()).toEqual({ ok: false, heartbeatAgeMs: 6000 });
    h.beat();
    expect(h.health().ok).toBe(true);
  });

  it('ready when every session is Established, or within the startup grace', () => {
    const up = { address: '203.0.113.1', state: 'Established' };
    const down = { address: '203.0.113.3', state: 'Active' };
    expect(readiness([up], 500, 120)).toEqual({ ready: true, reason: 'all 1 BGP sessions Established', notEstablished: [] });
    expect(readiness([], 500, 120).ready).toBe(true);
    expect(readiness([up, down], 20, 120)).toEqual({ ready: true, reason: 'startup grace, 100 s left: 1 of 2 BGP sessions not Established (203.0.113.3)', notEstablished: ['203.0.113.3'] });
    expect(readiness([up, down], 120, 120)).toEqual({ ready: false, reason: '1 of 2 BGP sessions not Established (203.0.113.3)', notEstablished: ['203.0.113.3'] });
    expect(readiness([down], 1, 0).ready).toBe(false);
  });
});

describe('startMetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves /metrics, /healthz and /readyz with 200/503, 404 elsewhere', async () => {
    let ready = true;
    const m = createAgentMetrics({ peers: () => [peer()] }, { processMetrics: false });
    server = await startMetricsServer('127.0.0.1:0', {
      metrics: () => m.text(),
      contentType: m.contentType,
      healthz: () => ({ ok: true, heartbeatAgeMs: 3 }),
      readyz: () => ({ ready, reason: ready ? 'ok' : 'down', notEstablished: [] }),
    });
    expect(server.port).toBeGreaterThan(0);
    const r = await fetch(`${server.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r.text()).toContain('routectl_bgp_session_up{peer="203.0.113.1"} 1');
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true, heartbeatAgeMs: 3 });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    ready = false;
    const nr = await fetch(`${server.url}/readyz`);
    expect([nr.status, ((await nr.json()) as { reason: string }).reason]).toEqual([503, 'down']);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('a taken port is a MetricsListenError naming the address', async () => {
    const m = createAgentMetrics({ peers: () => [] }, { processMetrics: false });
    const e = { metrics: () => m.text(), contentType: m.contentType, healthz: () => ({ ok: true, heartbeatAgeMs: 0 }), readyz: () => ({ ready: true, reason: '', notEstablished: [] }) };
    server = await startMetricsServer('127.0.0.1:0', e);
    await expect(startMetricsServer(`127.0.0.1:${server.port}`, e)).rejects.toThrow(`cannot listen on 127.0.0.1:${server.port} for metrics: EADDRINUSE`);
  });
});
