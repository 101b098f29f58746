/**
 * The agent.yaml schema (docs/design.md "The operator interface"): structure, defaults and
 * leaf validation. Every mapping is strict — an unknown key is an error, because a
 * misspelt `holdtime:` silently ignored is an outage waiting to happen. Cross-field
 * rules (duplicates, containment, references) are in checks.ts.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { z } from 'zod';
import { REDACTED, Secret, TCP_MD5SIG_MAXKEYLEN } from '../../bgp/net/index.js';
import {
  Invalid,
  absPath,
  address,
  describeValue,
  asn,
  bool,
  community,
  largeCommunity,
  holdTime,
  hostPort,
  importRule,
  int,
  interfaceName,
  peerAsn,
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
  /** Seconds a peer stays down after a max-prefix shutdown (FRR: `maximum-prefix N restart 5`). */
  maxPrefixRestart: 300,
} as const;

/** A zone named `world` would shadow the policy's name for "any address in no zone". */
export const RESERVED_ZONE = 'world';

const nodeName = str('a node name such as w1 (letters, digits, ".", "-", "_")', /^[A-Za-z0-9][A-Za-z0-9._-]*$/, 63);
// The same rule as policy/model.ts: zone names end up in chain and set names.
const zoneName = str('a zone name such as app (lower case letters, digits, "-", "_", starting with a letter)', /^[a-z][a-z0-9_-]*$/, 63);
/** Port specs are checked by the policy model (policy/model.ts parsePortSpec) in checks.ts. */
const portText = str('a port such as tcp/8080, udp/53, tcp/8000-8100, tcp, icmp or any', /^\S+$/, 32);

/** RFC 2385 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN in linux/tcp.h). */
const MD5_MAX = TCP_MD5SIG_MAXKEYLEN;

function passwordText(text: string, where: string): Secret | Invalid {
  const bytes = Buffer.byteLength(text);
  if (bytes === 0) return new Invalid(`empty password${where}`, 'write the TCP-MD5 password, the same as on the router');
  if (bytes > MD5_MAX) return new Invalid(`password${where} is ${bytes} bytes, longer than the ${MD5_MAX} TCP-MD5 allows`, `use a password of 1..${MD5_MAX} bytes, the same on the router`);
  if (/[\x00-\x1f\x7f]/.test(text)) return new Invalid(`password${where} has a control character`, 'use printable characters only (routers take the password as a line of text)');
  if (text === REDACTED) {
    return new Invalid(`${REDACTED} is what routectl validate prints in place of a password`, 'write the password itself, or use passwordFile');
  }
  return new Secret(text);
}

/** TCP-MD5 (RFC 2385) password, inline. Never printed: validate shows <redacted>. */
const password = leaf('a TCP-MD5 password (1..80 bytes)', (v) =>
  // A YAML number would reach us already changed (leading zeros, exponents): text only.
  typeof v === 'string' ? passwordText(v, '') : new Invalid(`expected the password as text, got ${describeValue(v)}`, 'quote it: password: "…"'),
);

/**
 * TCP-MD5 password read from a file (one line; a final newline is not part of it), so the
 * secret need not sit in agent.yaml. A file others can read is refused: the password is
 * only as secret as the file.
 */
const passwordFile = leaf('an absolute path of a file holding the TCP-MD5 password', (v): { path: string; secret: Secret } | Invalid => {
  if (typeof v !== 'string' || !v.startsWith('/')) return new Invalid(`${describeValue(v)} is not an absolute path`, 'write the absolute path of a file holding the password, e.g. /etc/routectl/tor-a.password');
  let st: Stats;
  let text: string;
  try {
    st = statSync(v);
    if (!st.isFile()) return new Invalid(`${v} is not a regular file`, 'point passwordFile at a file holding the password');
    text = readFileSync(v, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    return new Invalid(`cannot read ${v}: ${why}`, 'create the file (mode 0600, owned by the user the agent runs as) or fix the path');
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return new Invalid(`${v} is readable by group or others (mode ${mode})`, `chmod 600 ${v}`);
  }
  const secret = passwordText(text.replace(/\r?\n$/, ''), ` in ${v}`);
  return secret instanceof Invalid ? secret : { path: v, secret };
});

/**
 * `maxPrefixes: 1000` or `maxPrefixes: { limit: 1000, restart: 300 }`: above `limit`
 * received routes the session is shut down (RFC 4486 Cease 6/1) and the peer stays down
 * for `restart` seconds (FRR's `neighbor X maximum-prefix N restart M`, in seconds here
 * like every other time in this file; FRR's largest, 65535 minutes, is the bound).
 */
const maxPrefixes = z.preprocess(
  (v) => (typeof v === 'number' ? { limit: v } : v),
  z
    .object({
      limit: int('a prefix count', 1, 4294967295),
      restart: int('seconds the peer stays down after a max-prefix shutdown', 1, 65535 * 60).default(DEFAULTS.maxPrefixRestart),
    })
    .strict(),
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
    /** The peer's address; or, for an unnumbered peer, `interface` instead. */
    address: address().optional(),
    /**
     * Unnumbered (FRR's `neighbor eth1 interface`): the router at the other end of this
     * link, over the link's IPv6 link-local addresses, IPv4 routes with IPv6 next hops
     * (RFC 8950). Its address is found on the link (docs/bgp.md "Unnumbered peering").
     */
    interface: interfaceName.optional(),
    asn: peerAsn,
    port: int('a TCP port', 1, 65535).default(DEFAULTS.peerPort),
    localAddress: address().optional(),
    passive: bool('true: wait for the peer to connect').default(false),
    holdTime: holdTime.optional(),
    families: families.default([...FAMILIES]),
    description: str('a short text on one line', /^[^\n\r]*$/, 80).optional(),
    maxPrefixes: maxPrefixes.optional(),
    password: password.optional(),
    passwordFile: passwordFile.optional(),
    /** RFC 5082 GTSM: the peer is at most `hops` away; we send TTL 255 and accept >= 256 - hops. */
    ttlSecurity: z.object({ hops: int('a hop count (1: directly connected)', 1, 254) }).strict().optional(),
    bfd: bfdSchema.optional(),
    /** Added to every route sent to this peer (communities, large communities, AS prepends, MED). */
    export: z
      .object({
        communities: z.array(community).default([]),
        largeCommunities: z.array(largeCommunity).default([]),
        /** Our AS this many more times on the path (eBGP): the fabric prefers the other ToR's path. */
        prepend: int('how many more times our AS goes on the path', 0, 16).default(0),
        med: int('a MULTI_EXIT_DISC value', 0, 4294967295).optional(),
      })
      .strict()
      .optional(),
    /** RFC 4271 6.3: routes from an external peer whose AS path does not begin with its AS are treated as withdrawn (RFC 7606). */
    enforceFirstAs: bool("false: accept routes whose AS path does not begin with the peer's AS (route servers)").default(true),
    /** This peer's import rules, in place of bgp.import (FRR: a per-neighbour prefix-list in). */
    import: z.array(importRule).optional(),
  })
  .strict()
  .transform(({ password: inline, passwordFile: file, ...peer }, ctx): typeof peer & { password?: Secret; passwordFile?: string } => {
    if (inline && file) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'password and passwordFile both given', params: { fix: 'keep one of them' } });
      return z.NEVER;
    }
    // One resolved password for the speaker; the file's path kept for the canonical form.
    if (file) return { ...peer, password: file.secret, passwordFile: file.path };
    return inline ? { ...peer, password: inline } : peer;
  });

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
    /** Tagged on every route of this zone's ranges, so the fabric can filter by zone. */
    communities: z.array(community).default([]),
    largeCommunities: z.array(largeCommunity).default([]),
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
        /** Without it, 0.0.0.0/0 and ::/0 in advertise are errors (checks.ts): a worker rarely means to be the fabric's way out. */
        allowDefault: bool('true: advertise may list the default routes 0.0.0.0/0 and ::/0').default(false),
        import: z.array(importRule).default([]),
        /**
         * `routectl drain` first sends every route again with the RFC 8326 GRACEFUL_SHUTDOWN
         * community and waits `wait` seconds before it withdraws them (docs/operations.md).
         * Absent or 0: drain withdraws at once. `routectl drain --gshut-wait` overrides it.
         */
        gracefulShutdown: z
          .object({ wait: int('seconds drain waits with GRACEFUL_SHUTDOWN sent before it withdraws (0: off)', 0, 3600) })
          .strict()
          .optional(),
        /**
         * Routes accepted by `import` go into the kernel (docs/bgp.md "Learned routes"):
         * `table` main (254) or a number; `multipathRelax` lets paths from different
         * neighbouring AS form one ECMP route (FRR's `as-path multipath-relax`).
         */
        install: z
          .object({
            enabled: bool('false: keep learned routes out of the kernel').default(true),
            table: z
              .preprocess((v) => (v === 'main' ? 254 : v), int('"main" or a routing table number', 1, 4294967295))
              .default(254),
            multipathRelax: bool('true: paths from different neighbouring AS may share one ECMP route').default(false),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    pools: z
      .array(
        z
          .object({
            cidr: prefix,
            zone: zoneName,
            /** Advertise the blocks, not each address (default: true with store.etcd, false with store.local; resolved in load.ts). */
            aggregate: bool('true: advertise the pool blocks, not each address').optional(),
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
            /** PEM files: the CA of the members' certificates, this client's certificate and key. */
            tls: z.object({ ca: absPath.optional(), cert: absPath.optional(), key: absPath.optional() }).strict().optional(),
            /** Seconds of the worker's liveness lease (default 15, in the agent: src/ipam/cluster.ts). */
            leaseTtl: int('seconds of the liveness lease', 5, 3600).optional(),
            /** Seconds an empty block stays claimed before it is given back (default 300, in the agent). */
            blockGrace: int('seconds before an empty block is given back', 0, 86400).optional(),
            /** Seconds a worker without a lease keeps its blocks before live workers reclaim them (default 900, in the agent). */
            reclaimGrace: int("seconds before a dead worker's blocks are reclaimed", 0, 604800).optional(),
            /** The worker's own files (its CNI attachments), kept on its disk (default /var/lib/routectl). */
            path: absPath.optional(),
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
        /** Containers may reach the BGP peers' TCP 179 and BFD ports (docs/security.md); default: blocked. */
        openControlPlane: bool("true: let containers reach the BGP peers' BGP and BFD ports").default(false),
      })
      .strict()
      .optional(),
  })
  .strict();

type DeepReadonly<T> = T extends Secret
  ? T
  : T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type Parsed = z.output<typeof configSchema>;
/** A pool once loaded: `aggregate` resolved (its default depends on the store). */
type LoadedPool = Omit<Parsed['pools'][number], 'aggregate'> & { aggregate: boolean };

/** A validated agent.yaml: canonical values, defaults filled in, node resolved. */
export type Config = DeepReadonly<Omit<Parsed, 'node' | 'pools'> & { node: string; pools: LoadedPool[] }>;
export type PeerConfig = Config['bgp']['peers'][number];
export type PoolConfig = Config['pools'][number];
export type ZoneConfig = Config['zones'][number];
