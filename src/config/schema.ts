/**
 * The agent.yaml schema (docs/design.md "The operator interface"): structure, defaults and
 * leaf validation. Every mapping is strict — an unknown key is an error, because a
 * misspelt `holdtime:` silently ignored is an outage waiting to happen. Cross-field
 * rules (duplicates, containment, references) are in checks.ts.
 */
import { z } from 'zod';
import {
  Invalid,
  absPath,
  address,
  asn,
  bool,
  holdTime,
  hostPort,
  importRule,
  int,
  leaf,
  oneOf,
  prefix,
  socketPath,
  str,
  url,
} from './leaves.js';

export const FAMILIES = ['ipv4-unicast', 'ipv6-unicast'] as const;
export type ConfigFamily = (typeof FAMILIES)[number];

export const DEFAULTS = {
  listen: { address: '::', port: 179 },
  holdTime: 90,
  /** RFC 4271 10: suggested ConnectRetryTime is 120 seconds. */
  connectRetryTime: 120,
  peerPort: 179,
  dockerSocket: '/var/run/docker.sock',
  storePath: '/var/lib/routectl',
  etcdPrefix: '/routectl/',
  apiSocket: '/run/routectl/routectl.sock',
  metricsListen: '127.0.0.1:9273',
  reconcileInterval: 60,
} as const;

/** A zone named `world` would shadow the policy's name for "any address in no zone". */
export const RESERVED_ZONE = 'world';

const nodeName = str('a node name such as w1 (letters, digits, ".", "-", "_")', /^[A-Za-z0-9][A-Za-z0-9._-]*$/, 63);
// The same rule as policy/model.ts: zone names end up in chain and set names.
const zoneName = str('a zone name such as app (lower case letters, digits, "-", "_", starting with a letter)', /^[a-z][a-z0-9_-]*$/, 63);
/** Port specs are checked by the policy model (policy/model.ts parsePortSpec) in checks.ts. */
const portText = str('a port such as tcp/8080, udp/53, tcp/8000-8100, tcp, icmp or any', /^\S+$/, 32);

/** TCP-MD5 (RFC 2385) needs kernel socket options Node cannot set; say so instead of ignoring it. */
const password = leaf('', () =>
  new Invalid(
    'TCP-MD5 not supported (RFC 2385 needs the TCP_MD5SIG socket option, which this speaker cannot set)',
    'remove password here and on the router; protect the session with an ACL or GTSM on the link instead',
  ),
);

const families = z
  .array(oneOf(FAMILIES))
  .transform((fs, ctx) => {
    if (fs.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'no address family', params: { fix: 'list at least one of ipv4-unicast, ipv6-unicast, or remove the key for both' } });
      return z.NEVER;
    }
    // One canonical order, no duplicates.
    return FAMILIES.filter((f) => fs.includes(f));
  });

/**
 * BFD with a peer (RFC 5880/5881): intervals in ms, FRR's defaults. RFC 5880 allows a
 * Detect Mult of 1; intervals from 10 ms (below that a busy host misses its own packets)
 * to 60 s, as FRR takes them.
 */
export const BFD_DEFAULTS = { minRx: 300, minTx: 300, multiplier: 3 } as const;
const bfdSchema = z
  .object({
    minRx: int('milliseconds between packets we can take (Required Min RX)', 10, 60000).default(BFD_DEFAULTS.minRx),
    minTx: int('milliseconds between packets we would send (Desired Min TX)', 10, 60000).default(BFD_DEFAULTS.minTx),
    multiplier: int('packets missed before the peer is declared down (Detect Mult)', 1, 255).default(BFD_DEFAULTS.multiplier),
  })
  .strict();

export const peerSchema = z
  .object({
    address: address(),
    asn,
    port: int('a TCP port', 1, 65535).default(DEFAULTS.peerPort),
    localAddress: address().optional(),
    passive: bool('true: wait for the peer to connect').default(false),
    holdTime: holdTime.optional(),
    families: families.default([...FAMILIES]),
    description: str('a short text on one line', /^[^\n\r]*$/, 80).optional(),
    password: password.optional(),
    maxPrefixes: int('a prefix count', 1, 4294967295).optional(),
    bfd: bfdSchema.optional(),
  })
  .strict()
  // password never validates, so it is never in the output.
  .transform(({ password: _password, ...peer }) => peer);

export const zoneSchema = z
  .object({
    name: zoneName,
    cidrs: z.array(prefix),
    ingress: z
      .array(
        z
          .object({
            from: zoneName,
            ports: z.array(portText),
          })
          .strict(),
      )
      .default([]),
    isolated: bool('true: no traffic between endpoints of this zone').default(false),
  })
  .strict();

export const configSchema = z
  .object({
    node: nodeName.optional(),
    routerId: address(4),
    asn,
    bgp: z
      .object({
        listen: z
          .object({
            address: address().default(DEFAULTS.listen.address),
            port: int('a TCP port (0: do not listen)', 0, 65535).default(DEFAULTS.listen.port),
          })
          .strict()
          .default({}),
        holdTime: holdTime.default(DEFAULTS.holdTime),
        connectRetryTime: int('seconds between connection attempts', 1, 65535).default(DEFAULTS.connectRetryTime),
        peers: z.array(peerSchema).default([]),
        advertise: z.array(prefix).default([]),
        import: z.array(importRule).default([]),
      })
      .strict()
      .default({}),
    pools: z
      .array(
        z
          .object({
            cidr: prefix,
            zone: zoneName,
            aggregate: bool('true: advertise the pool blocks, not each address').default(false),
            blockSize: int('a prefix length for per-host blocks', 0, 128).optional(),
          })
          .strict(),
      )
      .default([]),
    runtime: z
      .object({
        docker: z
          .object({
            socket: socketPath.default(DEFAULTS.dockerSocket),
            /** Wire a container when runc has created it, before dockerd's start event (runtime/runc.ts). */
            wireBeforeStart: bool('true: wire containers when runc has created them, before their start event').default(true),
          })
          .strict()
          .optional(),
        /** Seconds between full repair passes of the container dataplane (default 60, in the agent). */
        reconcileInterval: int('seconds between full repair passes', 1, 86400).optional(),
        /** The agent's CPU priority, a nice value (default -10, in the agent: see DEFAULT_NICE). */
        nice: int('a nice value', -20, 19).optional(),
      })
      .strict()
      .default({}),
    store: z
      .object({
        local: z.object({ path: absPath.default(DEFAULTS.storePath) }).strict().optional(),
        etcd: z
          .object({
            endpoints: z.array(url),
            prefix: str('a key prefix such as /routectl/', /^\/(.*\/)?$/, 200).default(DEFAULTS.etcdPrefix),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ local: {} }),
    api: z.object({ socket: socketPath.default(DEFAULTS.apiSocket) }).strict().default({}),
    metrics: z
      .object({
        listen: hostPort.default(DEFAULTS.metricsListen),
        /** Seconds after start during which /readyz answers ready while sessions come up (default 120, in the agent). */
        readyGraceSeconds: int('seconds of startup grace for /readyz', 0, 3600).optional(),
      })
      .strict()
      .default({}),
    zones: z.array(zoneSchema).default([]),
    policy: z
      .object({
        defaultAction: oneOf(['drop', 'reject'] as const).default('drop'),
        logDrops: bool('true: log dropped packets (rate-limited)').default(false),
      })
      .strict()
      .optional(),
  })
  .strict();

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type Parsed = z.output<typeof configSchema>;

/** A validated agent.yaml: canonical values, defaults filled in, node resolved. */
export type Config = DeepReadonly<Omit<Parsed, 'node'> & { node: string }>;
export type PeerConfig = Config['bgp']['peers'][number];
export type PoolConfig = Config['pools'][number];
export type ZoneConfig = Config['zones'][number];
