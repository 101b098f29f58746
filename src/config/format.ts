/**
 * The canonical form of a Config as YAML: fixed key order, every default written out,
 * canonical addresses and prefixes, short lists inline. It re-parses to the same Config
 * and formatting that again gives the same text (tests hold both), so `routectl validate`
 * output can be diffed and checked in.
 */
import { Document, isScalar, isSeq, visit } from 'yaml';
import { REDACTED } from '../../bgp/net/index.js';
import type { Config } from './schema.js';

/** Drops keys whose value is undefined, so optional fields not set do not appear. */
function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function canonicalObject(cfg: Config): Record<string, unknown> {
  const { bgp, store } = cfg;
  return compact({
    node: cfg.node,
    routerId: cfg.routerId,
    asn: cfg.asn,
    bgp: {
      listen: { address: bgp.listen.address, port: bgp.listen.port },
      holdTime: bgp.holdTime,
      connectRetryTime: bgp.connectRetryTime,
      peers: bgp.peers.map((p) =>
        compact({
          address: p.address,
          interface: p.interface,
          asn: p.asn,
          port: p.port,
          localAddress: p.localAddress,
          passive: p.passive,
          holdTime: p.holdTime,
          families: [...p.families],
          description: p.description,
          maxPrefixes: p.maxPrefixes ? { limit: p.maxPrefixes.limit, restart: p.maxPrefixes.restart } : undefined,
          // The secret never leaves the agent: a file's path, or the placeholder (which
          // the schema refuses as a password, so a copied canonical form cannot set it).
          ...(p.passwordFile !== undefined ? { passwordFile: p.passwordFile } : { password: p.password ? REDACTED : undefined }),
          ttlSecurity: p.ttlSecurity ? { hops: p.ttlSecurity.hops } : undefined,
          bfd: p.bfd ? { minRx: p.bfd.minRx, minTx: p.bfd.minTx, multiplier: p.bfd.multiplier } : undefined,
          export: p.export
            ? compact({ communities: [...p.export.communities], largeCommunities: [...p.export.largeCommunities], prepend: p.export.prepend, med: p.export.med })
            : undefined,
          enforceFirstAs: p.enforceFirstAs,
          import: p.import ? [...p.import] : undefined,
        }),
      ),
      advertise: [...bgp.advertise],
      allowDefault: bgp.allowDefault,
      import: [...bgp.import],
      gracefulShutdown: bgp.gracefulShutdown ? { wait: bgp.gracefulShutdown.wait } : undefined,
      // Only when not the default, so configs that never mention it print as before.
      install:
        bgp.install.enabled && bgp.install.table === 254 && !bgp.install.multipathRelax
          ? undefined
          : { enabled: bgp.install.enabled, table: bgp.install.table === 254 ? 'main' : bgp.install.table, multipathRelax: bgp.install.multipathRelax },
    },
    pools: cfg.pools.map((p) => compact({ cidr: p.cidr, zone: p.zone, aggregate: p.aggregate, blockSize: p.blockSize })),
    runtime: compact({
      docker: cfg.runtime.docker ? { socket: cfg.runtime.docker.socket, wireBeforeStart: cfg.runtime.docker.wireBeforeStart } : undefined,
      reconcileInterval: cfg.runtime.reconcileInterval,
      nice: cfg.runtime.nice,
    }),
    store: store.etcd
      ? {
          etcd: compact({
            endpoints: [...store.etcd.endpoints],
            prefix: store.etcd.prefix,
            tls: store.etcd.tls ? compact({ ca: store.etcd.tls.ca, cert: store.etcd.tls.cert, key: store.etcd.tls.key }) : undefined,
            leaseTtl: store.etcd.leaseTtl,
            blockGrace: store.etcd.blockGrace,
            reclaimGrace: store.etcd.reclaimGrace,
            path: store.etcd.path,
          }),
        }
      : { local: { path: store.local?.path } },
    api: { socket: cfg.api.socket },
    metrics: compact({ listen: cfg.metrics.listen, readyGraceSeconds: cfg.metrics.readyGraceSeconds }),
    zones: cfg.zones.map((z) => ({
      name: z.name,
      cidrs: [...z.cidrs],
      ingress: z.ingress.map((r) => ({ from: r.from, ports: [...r.ports] })),
      isolated: z.isolated,
      communities: [...z.communities],
      largeCommunities: [...z.largeCommunities],
    })),
    policy: cfg.policy ? { defaultAction: cfg.policy.defaultAction, logDrops: cfg.policy.logDrops, openControlPlane: cfg.policy.openControlPlane } : undefined,
  });
}

export function formatConfig(cfg: Config): string {
  const doc = new Document(canonicalObject(cfg));
  // Lists of plain values read best inline: `advertise: [203.0.113.10/32]`.
  visit(doc, {
    Seq(_key, node) {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
    Map(_key, node) {
      // Small leaf mappings inline too: `listen: { address: "::", port: 179 }`.
      if (node.items.length <= 2 && node.items.every((p) => isScalar(p.value) || (isSeq(p.value) && p.value.items.length === 0))) {
        node.flow = true;
      }
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: true });
}
