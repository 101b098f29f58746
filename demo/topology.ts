/**
 * The demo's topology and configuration, as data:
 *
 *                     tor (FRR, AS 65000, listen range 203.0.113.0/26, default-originate)
 *     fab1 203.0.113.1/30 2001:db8:f:1::1/64      fab2 203.0.113.5/30 2001:db8:f:2::1/64
 *     fab1 203.0.113.2/30 2001:db8:f:1::2/64      fab2 203.0.113.6/30 2001:db8:f:2::2/64
 *   w1 (dockerd + routectl agent, AS 65001)     w2 (dockerd + routectl agent, AS 65002)
 *     web  (zone dmz)   api  (zone app)           db  (zone backend)   api2 (zone app)
 *
 * Zones own address space cluster-wide (docs/design.md); each worker takes its containers'
 * addresses from its own share of every zone (local store: no shared state).
 */

export const NS_ROLE_PREFIX = 'demo';
/** Every namespace of the demo is `rtc-demo<role>-<4 hex>` (lab naming), so a sweep can match this. */
export const NETNS_SWEEP_PREFIX = 'rtc-demo';

export const TOR_ASN = 65000;
export const TOR_ID = '203.0.113.1';
export const LISTEN_RANGE = '203.0.113.0/26';

export type ZoneName = 'dmz' | 'app' | 'backend';

export interface DemoContainer {
  readonly name: string;
  readonly zone: ZoneName;
}

export interface WorkerSpec {
  readonly node: 'w1' | 'w2';
  readonly asn: number;
  /** Worker and ToR ends of the fabric link. */
  readonly addr4: string;
  readonly tor4: string;
  readonly addr6: string;
  readonly tor6: string;
  /** This worker's share of each zone: [IPv4 pool, IPv6 pool]. */
  readonly pools: Readonly<Record<ZoneName, readonly [string, string]>>;
  readonly containers: readonly DemoContainer[];
}

export const ZONES: readonly { name: ZoneName; cidrs: readonly string[]; ingress: readonly { from: string; ports: readonly string[] }[] }[] = [
  { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c::/64'], ingress: [{ from: 'world', ports: ['tcp/80', 'icmp'] }] },
  {
    name: 'app',
    cidrs: ['198.51.100.64/26', '2001:db8:c:1::/64'],
    ingress: [
      { from: 'dmz', ports: ['tcp/80', 'icmp'] },
      { from: 'app', ports: ['tcp/80', 'icmp'] },
    ],
  },
  { name: 'backend', cidrs: ['198.51.100.128/26', '2001:db8:c:2::/64'], ingress: [{ from: 'app', ports: ['tcp/80', 'icmp'] }] },
];

export const WORKERS: readonly WorkerSpec[] = [
  {
    node: 'w1',
    asn: 65001,
    addr4: '203.0.113.2',
    tor4: '203.0.113.1',
    addr6: '2001:db8:f:1::2',
    tor6: '2001:db8:f:1::1',
    pools: {
      dmz: ['198.51.100.0/28', '2001:db8:c::1:0/112'],
      app: ['198.51.100.64/28', '2001:db8:c:1::1:0/112'],
      backend: ['198.51.100.128/28', '2001:db8:c:2::1:0/112'],
    },
    containers: [
      { name: 'web', zone: 'dmz' },
      { name: 'api', zone: 'app' },
    ],
  },
  {
    node: 'w2',
    asn: 65002,
    addr4: '203.0.113.6',
    tor4: '203.0.113.5',
    addr6: '2001:db8:f:2::2',
    tor6: '2001:db8:f:2::1',
    pools: {
      dmz: ['198.51.100.16/28', '2001:db8:c::2:0/112'],
      app: ['198.51.100.80/28', '2001:db8:c:1::2:0/112'],
      backend: ['198.51.100.144/28', '2001:db8:c:2::2:0/112'],
    },
    containers: [
      { name: 'db', zone: 'backend' },
      { name: 'api2', zone: 'app' },
    ],
  },
];

/** agent.yaml for one worker (written by the driver into the worker's demo directory). */
export function agentYamlObject(w: WorkerSpec, dir: string, dockerSock: string): Record<string, unknown> {
  return {
    node: w.node,
    routerId: w.addr4,
    asn: w.asn,
    bgp: {
      listen: { address: '::', port: 179 },
      holdTime: 9,
      connectRetryTime: 1,
      peers: [{ address: w.tor4, asn: TOR_ASN, description: 'tor' }],
    },
    pools: (Object.entries(w.pools) as [ZoneName, readonly [string, string]][]).flatMap(([zone, [v4, v6]]) => [
      { cidr: v4, zone },
      { cidr: v6, zone },
    ]),
    runtime: { docker: { socket: dockerSock }, reconcileInterval: 10 },
    store: { local: { path: `${dir}/store` } },
    api: { socket: `${dir}/routectl.sock` },
    metrics: { listen: '127.0.0.1:9273' },
    zones: ZONES.map((z) => ({ name: z.name, cidrs: [...z.cidrs], ingress: z.ingress.map((r) => ({ from: r.from, ports: [...r.ports] })) })),
    policy: { defaultAction: 'drop', logDrops: false },
  };
}
