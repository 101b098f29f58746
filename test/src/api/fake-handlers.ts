/**
 * A fixed set of API handlers standing in for the agent: three peers (Established,
 * Active with a connect error, Idle after a Cease), received/advertised routes. Used by
 * the API and CLI tests; the values are chosen so every column of the CLI tables shows.
 */
import { ApiError } from '../../../src/api/errors.js';
import type { ApiHandlers, DockerSummary, PeerDetail, ReloadSummary, RouteEntry, StatusResponse, VerifyResponse } from '../../../src/api/types.js';

const counters = (n: number) => ({ open: 1, update: n, notification: 0, keepalive: 10 * n, routeRefresh: 0 });

export function peerDetail(over: Partial<PeerDetail> & Pick<PeerDetail, 'address'>): PeerDetail {
  return {
    asn: 65000,
    description: null,
    type: 'eBGP',
    state: 'Established',
    since: '2026-01-01T00:00:00.000Z',
    families: ['ipv4-unicast', 'ipv6-unicast'],
    prefixesSent: 3,
    prefixesReceived: 2,
    prefixesAccepted: 1,
    lastError: null,
    uptime: 3600,
    holdTime: 90,
    keepalive: 30,
    capabilities: ['multiprotocol ipv4-unicast', 'multiprotocol ipv6-unicast', 'four-octet-as', 'route-refresh'],
    localAddress: '203.0.113.2',
    remoteAddress: '203.0.113.1',
    messages: { in: counters(2), out: counters(3) },
    flaps: 0,
    lastNotificationSent: null,
    lastNotificationReceived: null,
    problems: [],
    md5: false,
    ttlSecurityHops: null,
    held: null,
    ...over,
  };
}

export const healthyPeers: PeerDetail[] = [
  peerDetail({ address: '203.0.113.1', description: 'tor-a' }),
  peerDetail({ address: '2001:db8::1', asn: 65001, type: 'iBGP', families: ['ipv6-unicast'], prefixesSent: 1, prefixesReceived: 0, prefixesAccepted: 0, localAddress: '2001:db8::2', remoteAddress: '2001:db8::1' }),
];

export const unhealthyPeers: PeerDetail[] = [
  healthyPeers[0] as PeerDetail,
  peerDetail({
    address: '203.0.113.3',
    asn: 4200000000,
    state: 'Active',
    since: '2026-01-01T00:05:00.000Z',
    prefixesSent: 0,
    prefixesReceived: 0,
    prefixesAccepted: 0,
    lastError: 'connect: ECONNREFUSED, retry in 4 s',
    uptime: 0,
    holdTime: null,
    keepalive: null,
    capabilities: [],
    localAddress: null,
    remoteAddress: null,
    flaps: 2,
  }),
  peerDetail({
    address: '203.0.113.4',
    state: 'Idle',
    since: '2026-01-01T00:06:00.000Z',
    prefixesSent: 0,
    prefixesReceived: 0,
    prefixesAccepted: 0,
    lastError: 'NOTIFICATION received: Cease / Administrative Shutdown: maintenance',
    uptime: 0,
    flaps: 1,
    lastNotificationReceived: { code: 6, subcode: 2, name: 'Cease / Administrative Shutdown', text: 'maintenance', at: '2026-01-01T00:06:00.000Z' },
  }),
  peerDetail({
    address: '203.0.113.5',
    state: 'Idle',
    since: '2026-01-01T00:07:00.000Z',
    prefixesSent: 0,
    prefixesReceived: 0,
    prefixesAccepted: 0,
    lastError: 'maximum number of prefixes reached: 1001 > 1000; NOTIFICATION sent: Cease / Maximum Number of Prefixes Reached',
    uptime: 0,
    flaps: 1,
    lastNotificationSent: { code: 6, subcode: 1, name: 'Cease / Maximum Number of Prefixes Reached', text: '', at: '2026-01-01T00:07:00.000Z' },
    held: { reason: 'max-prefix', until: '2026-01-01T00:12:00.000Z', retryInSeconds: 252 },
  }),
];

const route = (over: Partial<RouteEntry> & Pick<RouteEntry, 'prefix'>): RouteEntry => ({
  peer: '203.0.113.1',
  nextHops: ['203.0.113.1'],
  asPath: '65000',
  origin: 'IGP',
  med: null,
  localPref: null,
  communities: [],
  accepted: true,
  reason: null,
  ...over,
});

export const receivedRoutes: RouteEntry[] = [
  route({ prefix: '0.0.0.0/0', communities: ['65000:100'] }),
  route({ prefix: '192.0.2.0/24', asPath: '65000 64512', med: 10, accepted: false, reason: 'not matched by bgp.import' }),
];

export const advertisedRoutes: RouteEntry[] = [
  route({ prefix: '198.51.100.10/32', asPath: '65001', nextHops: ['203.0.113.2'] }),
  route({ prefix: '2001:db8:c:1::10/128', asPath: '65001', nextHops: ['2001:db8::2', 'fe80::2'] }),
];

/** Optional parts: a kernel view (else 501, as an agent without one) and a verify answer. */
/** dockerd up, three containers wanted (status-healthy). */
export const dockerUp: DockerSummary = { connected: true, since: '2026-01-01T00:00:05.000Z', lastError: null, retryInSeconds: null, containers: 3, refused: 0 };
/** dockerd gone: the agent waits and retries (status-unhealthy). */
export const dockerDown: DockerSummary = {
  connected: false,
  since: '2026-01-01T01:00:00.000Z',
  lastError: 'connect ENOENT /var/run/docker.sock',
  retryInSeconds: 4,
  containers: 3,
  refused: 1,
};

/** A reload that would have removed a zone under running containers (status-unhealthy). */
export const refusedReload: ReloadSummary = {
  at: '2026-01-01T01:02:03.000Z',
  result: 'refused',
  problems: ['zone "app" still holds running containers c1 (198.51.100.66, 2001:db8:c:2::2), c2 (198.51.100.67): the new config removes zone "app", so they would be in no zone (world), where the policy judges nothing: open to every address (fix: stop those containers first, or keep their addresses inside zone "app")'],
  containers: ['c1', 'c2'],
  needsRestart: ['pools'],
};

export interface FakeExtras {
  /** Default: dockerUp when every peer is Established, else dockerDown. */
  readonly docker?: DockerSummary | null;
  readonly kernel?: RouteEntry[];
  readonly verify?: VerifyResponse;
}

export function fakeHandlers(peers: PeerDetail[] = healthyPeers, extras: FakeExtras = {}): ApiHandlers & { calls: string[] } {
  const calls: string[] = [];
  const summary = (p: PeerDetail) => ({
    address: p.address, asn: p.asn, description: p.description, type: p.type, state: p.state, since: p.since,
    families: p.families, prefixesSent: p.prefixesSent, prefixesReceived: p.prefixesReceived,
    prefixesAccepted: p.prefixesAccepted, lastError: p.lastError, held: p.held,
  });
  return {
    calls,
    status(): StatusResponse {
      calls.push('status');
      const healthy = peers.every((p) => p.state === 'Established');
      const docker = extras.docker !== undefined ? extras.docker : healthy ? dockerUp : dockerDown;
      const endpointStates = healthy ? { ready: 3, pending: 0, error: 0 } : { ready: 3, pending: 1, error: 1 };
      const lastReload = healthy ? null : refusedReload;
      return { node: 'w1', asn: 65001, routerId: '203.0.113.2', version: '0.1.0', uptimeSeconds: 3725, peers: peers.map(summary), endpoints: 3, endpointStates, routes: 6, docker, lastReload };
    },
    peers() {
      calls.push('peers');
      return { peers };
    },
    peer(address) {
      calls.push(`peer ${address}`);
      const p = peers.find((x) => x.address === address);
      if (!p) throw new ApiError(404, 'unknown_peer', `${address} is not a configured peer`);
      return p;
    },
    routes(q) {
      calls.push(`routes ${q.view} ${q.peer ?? '-'}`);
      if (q.view === 'kernel' && extras.kernel) return { view: q.view, peer: null, routes: extras.kernel };
      if (q.view === 'kernel') throw new ApiError(501, 'not_implemented', 'the kernel view needs the dataplane, which runs only with a container runtime');
      const all = q.view === 'received' ? receivedRoutes : advertisedRoutes;
      return { view: q.view, peer: q.peer, routes: q.peer ? all.filter((r) => r.peer === q.peer) : all };
    },
    endpoints() {
      calls.push('endpoints');
      return { endpoints: [] };
    },
    healthz() {
      return { ok: true };
    },
    releaseHold(address) {
      calls.push(`release ${address}`);
      const p = this.peer(address) as PeerDetail;
      if (p.held === null) throw new ApiError(409, 'not_held', `${address} is not held down (state ${p.state}): nothing to release`);
      return { ...p, state: 'Active', held: null };
    },
    drain(req = {}) {
      calls.push(`drain ${req.gracefulShutdownWait ?? '-'}`);
      return { draining: true, routes: 3, peers: 2, gracefulShutdownWait: req.gracefulShutdownWait ?? 0 };
    },
    ...(extras.verify !== undefined ? { verify: () => extras.verify as VerifyResponse } : {}),
  };
}
