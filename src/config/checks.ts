/**
 * Cross-field rules of agent.yaml, run once the structure is valid: duplicates,
 * references between sections (pool → zone, ingress → zone), address containment and
 * overlap, and peers that could never connect given the listener.
 */
import type { ConfigProblem } from './errors.js';
import { formatPath } from './errors.js';
import { type ParsedPrefix, maxLength, parseAddress, parsePrefix, prefixContains, prefixesOverlap } from '../net.js';
import { validateModel } from '../../policy/model.js';
import { RESERVED_ZONE } from './schema.js';
import type { z } from 'zod';
import type { configSchema } from './schema.js';

type Raw = z.output<typeof configSchema>;

type Problem = Omit<ConfigProblem, 'line' | 'column'> & { readonly segments: readonly (string | number)[] };

/**
 * An unnumbered peer is found on its link: an address too would say two things, and what
 * is keyed by the peer's address (TCP-MD5 keys, GTSM's listener minimum, BFD) cannot be
 * set before the address is known.
 */
function unnumberedChecks(p: Raw['bgp']['peers'][number], i: number, add: (segments: (string | number)[], message: string, fix: string) => void): void {
  const at = (k: string): (string | number)[] => ['bgp', 'peers', i, k];
  if (p.address !== undefined) add(at('address'), `a peer has either an address or an interface (unnumbered), not both: address ${p.address}, interface ${p.interface}`, 'remove address (the neighbour on the interface is found by its link-local address), or remove interface');
  if (p.localAddress !== undefined) add(at('localAddress'), `an unnumbered peer on ${p.interface} talks from this worker's link-local address on that link`, 'remove localAddress');
  if (p.password !== undefined) add(at(p.passwordFile !== undefined ? 'passwordFile' : 'password'), 'TCP-MD5 is not supported for unnumbered peers (the key needs the neighbour\'s address before it is known)', 'remove the password, or peer by address');
  if (p.ttlSecurity !== undefined) add(at('ttlSecurity'), 'ttlSecurity is not supported for unnumbered peers', 'remove ttlSecurity (a link-local session cannot leave the link anyway)');
  if (p.bfd !== undefined) add(at('bfd'), 'BFD is not supported for unnumbered peers yet', 'remove bfd, or peer by address');
}

export function crossChecks(cfg: Raw): Problem[] {
  const out: Problem[] = [];
  const add = (segments: (string | number)[], message: string, fix: string): void => {
    out.push({ segments, path: formatPath(segments), message, fix });
  };
  const pfx = (s: string): ParsedPrefix => parsePrefix(s) as ParsedPrefix; // canonical already

  // RFC 6286 2.1: the BGP Identifier is a non-zero 4-octet value.
  if (cfg.routerId === '0.0.0.0') add(['routerId'], 'router id 0.0.0.0 is not allowed (RFC 6286)', 'use an IPv4 address of this worker, e.g. its fabric address');

  // --- bgp ---
  const listen = cfg.bgp.listen;
  const listenFamily = parseAddress(listen.address)?.family;
  const seenPeers = new Map<string, number>();
  cfg.bgp.peers.forEach((p, i) => {
    if (p.interface !== undefined) {
      unnumberedChecks(p, i, add);
      const first = seenPeers.get(`%${p.interface}`);
      if (first !== undefined) add(['bgp', 'peers', i, 'interface'], `duplicate peer on interface ${p.interface} (also bgp.peers[${first}])`, 'keep one peer per interface');
      else seenPeers.set(`%${p.interface}`, i);
      if (p.passive && listen.port === 0) add(['bgp', 'peers', i, 'passive'], 'passive peer, but bgp.listen.port is 0 (no listener), so the session can never come up', 'set bgp.listen.port (179), or passive: false');
      else if (p.passive && listen.address !== '::' && listenFamily !== 6) add(['bgp', 'peers', i, 'interface'], `passive unnumbered peer (IPv6 link-local), but bgp.listen.address ${listen.address} only accepts IPv4 connections`, 'listen on "::", or passive: false');
      return;
    }
    if (p.address === undefined) {
      add(['bgp', 'peers', i], 'a peer needs an address, or an interface (unnumbered)', 'add address: 192.0.2.1 (the router\'s address), or interface: eth1 (the link to the router)');
      return;
    }
    const family = parseAddress(p.address)?.family;
    if (/^fe[89ab]/i.test(p.address)) {
      add(['bgp', 'peers', i, 'address'], `${p.address} is an IPv6 link-local address: it names no router without its link`, 'write interface: <the link to the router> instead of address (unnumbered peering), or use a global address');
      return;
    }
    const first = seenPeers.get(p.address);
    if (first !== undefined) {
      add(['bgp', 'peers', i, 'address'], `duplicate peer ${p.address} (also bgp.peers[${first}])`, 'keep one entry per peer address');
    } else seenPeers.set(p.address, i);
    if (p.localAddress !== undefined && parseAddress(p.localAddress)?.family !== family) {
      add(['bgp', 'peers', i, 'localAddress'], `${p.localAddress} is not the same address family as the peer ${p.address}`, `use a local IPv${family} address, or remove localAddress`);
    }
    if (p.passive && listen.port === 0) {
      add(['bgp', 'peers', i, 'passive'], 'passive peer, but bgp.listen.port is 0 (no listener), so the session can never come up', 'set bgp.listen.port (179), or passive: false');
    } else if (p.passive && listen.address !== '::' && listenFamily !== family) {
      add(
        ['bgp', 'peers', i, 'address'],
        `passive IPv${family} peer, but bgp.listen.address ${listen.address} only accepts IPv${listenFamily} connections`,
        `listen on "::" (both families) or on an IPv${family} address, or passive: false`,
      );
    }
  });
  cfg.bgp.peers.forEach((p, i) => {
    // RFC 4271 5.1.2: our AS goes on the path only towards external peers; an internal
    // peer's path stays empty, so there is nothing to prepend to.
    if ((p.asn === cfg.asn || p.asn === 'internal') && (p.export?.prepend ?? 0) > 0) {
      add(['bgp', 'peers', i, 'export', 'prepend'], `prepend on an iBGP peer (AS ${p.asn} is this worker's own AS): routes to internal peers carry no AS path to lengthen`, 'remove prepend, or use med to make this path less preferred');
    }
    if (p.address !== undefined && p.address === cfg.routerId) {
      add(['bgp', 'peers', i, 'address'], `${p.address} is this worker's own routerId`, "write the address of the router at the other end of the session; routerId is this worker's own IPv4 address");
    }
  });
  advertiseChecks(cfg, add);
  duplicates(cfg.bgp.advertise, ['bgp', 'advertise'], add);
  duplicates(cfg.bgp.import, ['bgp', 'import'], add);

  // --- zones and policy ---
  // The policy library owns the zone model's rules (duplicate names, overlapping ranges,
  // unknown `from` zones, port specs), so the config and the compiler agree by construction.
  const zoneIndex = new Map<string, number>();
  cfg.zones.forEach((z, i) => {
    if (!zoneIndex.has(z.name)) zoneIndex.set(z.name, i);
    if (z.name === RESERVED_ZONE) add(['zones', i, 'name'], `"${RESERVED_ZONE}" is reserved (it means any address in no zone)`, 'choose another name');
    if (z.cidrs.length === 0) add(['zones', i, 'cidrs'], 'a zone must own at least one range', 'list its ranges, e.g. [198.51.100.0/25, "2001:db8:c:1::/64"]');
    z.ingress.forEach((rule, k) => {
      if (rule.ports.length === 0) add(['zones', i, 'ingress', k, 'ports'], 'no ports listed', 'list the ports to open, e.g. [tcp/8080], or [any]');
    });
  });
  for (const p of validateModel(cfg.zones, cfg.policy ?? { defaultAction: 'drop', logDrops: false })) {
    add(parsePath(p.path), p.message, p.fix);
  }

  // --- pools ---
  const pools: ParsedPrefix[] = [];
  cfg.pools.forEach((pool, i) => {
    const p = pfx(pool.cidr);
    const zi = zoneIndex.get(pool.zone);
    const zone = zi === undefined ? undefined : cfg.zones[zi];
    if (zone === undefined) {
      add(['pools', i, 'zone'], `unknown zone ${pool.zone}`, `define zone ${pool.zone} under zones, or use one of: ${[...zoneIndex.keys()].join(', ') || 'none defined'}`);
    } else if (!zone.cidrs.some((c) => prefixContains(pfx(c), p))) {
      add(['pools', i, 'cidr'], `${pool.cidr} is not inside zone ${zone.name} (${zone.cidrs.join(', ') || 'no ranges'})`, `pick a range inside zone ${zone.name}, or add it to that zone's cidrs`);
    }
    const clash = pools.findIndex((q) => prefixesOverlap(q, p));
    if (clash >= 0) add(['pools', i, 'cidr'], `${pool.cidr} overlaps pools[${clash}] (${cfg.pools[clash]?.cidr})`, 'make the pools disjoint');
    pools.push(p);
    if (pool.blockSize !== undefined && (pool.blockSize < p.length || pool.blockSize > maxLength(p.family))) {
      add(['pools', i, 'blockSize'], `block size /${pool.blockSize} does not fit in ${pool.cidr}`, `use a length from ${p.length} to ${maxLength(p.family)}`);
    }
  });

  // --- store ---
  const kinds = (['local', 'etcd'] as const).filter((k) => cfg.store[k] !== undefined);
  if (kinds.length !== 1) {
    add(['store'], kinds.length === 0 ? 'no store chosen' : 'both local and etcd given', 'choose one: store: { local: { path: /var/lib/routectl } } or store: { etcd: { endpoints: [...] } }');
  }
  if (cfg.store.etcd !== undefined && cfg.store.etcd.endpoints.length === 0) {
    add(['store', 'etcd', 'endpoints'], 'no etcd endpoints', 'list at least one, e.g. [http://203.0.113.5:2379]');
  }
  const etcd = cfg.store.etcd;
  if (etcd !== undefined) {
    // One client speaks either plain gRPC or TLS to all members (etcd3 has one credential set).
    const schemes = new Set(etcd.endpoints.map((e) => new URL(e).protocol));
    if (schemes.size > 1) add(['store', 'etcd', 'endpoints'], 'http and https endpoints mixed', 'use https:// for every member (or http:// for every member)');
    if (etcd.tls !== undefined && schemes.has('http:')) add(['store', 'etcd', 'tls'], 'tls given for http:// endpoints', 'use https:// endpoints with tls');
    if (etcd.tls !== undefined && (etcd.tls.cert === undefined) !== (etcd.tls.key === undefined)) {
      add(['store', 'etcd', 'tls'], 'cert without key (or key without cert)', 'give both cert and key, or neither');
    }
  }
  return out;
}

/**
 * What bgp.advertise may not hold, because the fabric would send this worker traffic
 * that is not its own:
 * - the default routes 0.0.0.0/0 and ::/0, unless bgp.allowDefault says so;
 * - a prefix equal to or covering a peer's address: the fabric's traffic for the router
 *   itself (its sessions, its management) would be drawn here;
 * - a prefix equal to or inside a container pool: the agent advertises pool addresses
 *   itself, one /32 or /128 per running container (or the pool's blocks with
 *   `aggregate: true`); a static one would draw traffic for addresses no container holds,
 *   or for another worker's container. A prefix covering a pool is allowed: the
 *   containers' longer routes win, as for any summary.
 */
function advertiseChecks(cfg: Raw, add: (segments: (string | number)[], message: string, fix: string) => void): void {
  const pools = cfg.pools.map((pool) => parsePrefix(pool.cidr) as ParsedPrefix);
  // Indexed as bgp.peers (unnumbered ones have no address: null).
  const peers = cfg.bgp.peers.map((peer) => (peer.address !== undefined ? parseAddress(peer.address) : null));
  cfg.bgp.advertise.forEach((text, i) => {
    const p = parsePrefix(text) as ParsedPrefix;
    const at = ['bgp', 'advertise', i];
    if (p.length === 0) {
      if (!cfg.bgp.allowDefault) {
        add(at, `${text} is a default route: every router that learns it would send this worker all traffic it has no better route for`, 'remove it, or set bgp.allowDefault: true if this worker is meant to originate a default route');
      }
      return;
    }
    peers.forEach((a, k) => {
      if (a === null || !prefixContains(p, { family: a.family, value: a.value, length: maxLength(a.family) })) return;
      const how = p.length === maxLength(p.family) ? 'is' : 'covers';
      add(at, `${text} ${how} the address of peer bgp.peers[${k}] (${cfg.bgp.peers[k]?.address}): the fabric's traffic for that router would be drawn to this worker`, "remove it, or advertise prefixes that leave out the peers' addresses");
    });
    pools.forEach((pool, k) => {
      if (!prefixContains(pool, p)) return;
      const cidr = cfg.pools[k]?.cidr;
      if (pool.length === p.length) {
        add(at, `${text} is container pool pools[${k}]: the agent advertises pool addresses itself`, `remove it; to advertise the whole pool, set aggregate: true on pools[${k}] (${cidr})`);
      } else {
        add(at, `${text} is inside container pool pools[${k}] (${cidr}): the agent advertises each container's address itself while the container runs`, 'remove it; for a fixed address give the container the label routectl.ipv4 / routectl.ipv6');
      }
    });
  });
}

function duplicates(
  items: readonly string[],
  at: (string | number)[],
  add: (segments: (string | number)[], message: string, fix: string) => void,
): void {
  const seen = new Map<string, number>();
  items.forEach((s, i) => {
    const first = seen.get(s);
    if (first !== undefined) add([...at, i], `${s} is listed twice (also ${formatPath([...at, first])})`, 'remove the duplicate');
    else seen.set(s, i);
  });
}

/** `zones[1].ingress[0].from` → ['zones', 1, 'ingress', 0, 'from'] (to locate it in the file). */
function parsePath(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] as string)));
}
