/**
 * `routectl verify`: the three views of what this worker routes, compared.
 *
 *   desired   the endpoints the controller wants (each a veth and a /32 and/or /128) and
 *             the prefixes to advertise (bgp.advertise, endpoint host routes, aggregates)
 *   kernel    the agent's own links (rtc…) and routes (proto 88), as the dataplane lists them
 *   peers     what each Established peer has been sent (its Adj-RIB-Out)
 *
 * A family the peer is configured for (default: both) but did not negotiate is a gap, not
 * an exemption: every desired prefix of that family is "not sent", with the reason. The
 * classic cause is a ToR that never activated IPv6 unicast for the worker, so its OPEN
 * has no Multiprotocol capability for it (RFC 4760 8: a family is only exchanged when
 * both sides advertise it), and the endpoints' /128s silently reach no one through it.
 * A family deliberately left out of the peer's `families` is not expected.
 *
 * Every difference is one Mismatch with a kind and a sentence. Pure: the agent gathers the
 * views (verify/gather.ts), so the comparison is tested without a kernel or a peer.
 *
 * Aggregates (pools with `aggregate: true`): the block is expected at every peer, and an
 * endpoint's host prefixes may be sent too or not (both are correct), so they are never
 * "not desired"; what is required is what the controller says carries the endpoint.
 */
import { canonicalHostPrefix, familyOf, formatPrefix, parsePrefix, prefixContains, type ParsedPrefix } from '../net.js';

export interface VerifyEndpoint {
  readonly id: string;
  readonly name?: string | null;
  /** The host end of its veth (rtc…). */
  readonly hostIfName: string;
  readonly ipv4?: string | null;
  readonly ipv6?: string | null;
  /**
   * The prefixes that carry it to the fabric (its /32 and /128, or its aggregated
   * blocks), as the controller advertises them. Absent: its host prefixes, except those
   * inside `aggregates`.
   */
  readonly advertised?: readonly string[];
}

export interface VerifyLink {
  readonly name: string;
  readonly index: number;
  readonly up: boolean;
}

export interface VerifyRoute {
  readonly dst: string;
  readonly type: string;
  readonly oif?: number;
}

export interface VerifyPeer {
  readonly address: string;
  readonly state: string;
  /** Negotiated families when Established ("ipv4-unicast", "ipv6-unicast"). */
  readonly families: readonly string[];
  /**
   * The families configured for this peer (agent.yaml `bgp.peers[].families`). Absent:
   * both, the configuration's default.
   */
  readonly configuredFamilies?: readonly string[];
  /** Per-family reasons the speaker cannot send (e.g. no usable IPv6 next hop). */
  readonly problems: readonly string[];
  /** Prefixes in its Adj-RIB-Out. */
  readonly advertised: readonly string[];
}

export interface VerifyInput {
  /** Desired endpoints; null when there is no endpoint controller (speaker-only mode). */
  readonly endpoints: readonly VerifyEndpoint[] | null;
  /** bgp.advertise: static prefixes, always expected at every peer. */
  readonly advertise: readonly string[];
  /** Aggregated pool prefixes: advertised as a whole. */
  readonly aggregates: readonly string[];
  /** Own blackhole routes expected in the kernel (the aggregates, when the dataplane installs them). */
  readonly blackholes: readonly string[];
  /** Own links and routes; null when the kernel is not checked. */
  readonly kernel: { readonly links: readonly VerifyLink[]; readonly routes: readonly VerifyRoute[] } | null;
  readonly peers: readonly VerifyPeer[];
}

export type MismatchKind =
  | 'missing-veth'
  | 'veth-down'
  | 'missing-host-route'
  | 'wrong-route-interface'
  | 'missing-blackhole'
  | 'unexpected-route'
  | 'unexpected-link'
  | 'prefix-not-sent'
  | 'prefix-sent-not-desired'
  | 'bad-input'
  /** What forwarding needs is missing (learned routes, the route to the containers' gateway). */
  | 'forwarding';

export interface Mismatch {
  readonly kind: MismatchKind;
  /** The prefix, link or value concerned. */
  readonly subject: string;
  readonly peer: string | null;
  readonly endpoint: string | null;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly mismatches: readonly Mismatch[];
  readonly checked: {
    /** Desired endpoints compared; null when there is no endpoint controller. */
    readonly endpoints: number | null;
    /** Prefixes every peer should have been sent. */
    readonly desiredPrefixes: number;
    readonly kernel: boolean;
    /** Established peers whose Adj-RIB-Out was compared. */
    readonly peers: readonly string[];
  };
  /** What was not compared and why. */
  readonly notes: readonly string[];
}

const ALL_FAMILIES: readonly string[] = ['ipv4-unicast', 'ipv6-unicast'];
const afiSafiOf = (p: string): string => (familyOf(p) === 6 ? 'ipv6-unicast' : 'ipv4-unicast');

/** One place to parse, so every view compares canonical text. */
const canon = (text: string): ParsedPrefix | null => parsePrefix(text);


const epName = (e: VerifyEndpoint): string => (e.name ? `${e.name} (${e.id})` : e.id);

export function verify(input: VerifyInput): VerifyReport {
  const out: Mismatch[] = [];
  const notes: string[] = [];
  const add = (kind: MismatchKind, subject: string, message: string, o: { peer?: string; endpoint?: string } = {}): void => {
    out.push({ kind, subject, peer: o.peer ?? null, endpoint: o.endpoint ?? null, message });
  };

  const parse = (text: string, what: string): string | null => {
    const p = canon(text);
    if (p === null) add('bad-input', text, `${what} ${JSON.stringify(text)} is not a prefix`);
    return p === null ? null : formatPrefix(p);
  };
  const aggregates = input.aggregates.map((a) => parse(a, 'aggregate')).filter((a): a is string => a !== null);
  const aggParsed = aggregates.map((a) => parsePrefix(a) as ParsedPrefix);
  const coveredByAggregate = (prefix: string): boolean => {
    const p = parsePrefix(prefix);
    return p !== null && aggParsed.some((a) => a.family === p.family && prefixContains(a, p));
  };

  // What every peer should have been sent (expected) and may have been sent (allowed).
  const expected = new Map<string, string | null>(); // prefix -> endpoint id (null: static or aggregate)
  const allowed = new Set<string>();
  for (const s of input.advertise) {
    const p = parse(s, 'bgp.advertise entry');
    if (p !== null) expected.set(p, null);
  }
  for (const a of aggregates) expected.set(a, null);

  // Host routes per endpoint: prefix -> endpoint.
  const hostRoutes = new Map<string, VerifyEndpoint>();
  for (const e of input.endpoints ?? []) {
    for (const addr of [e.ipv4, e.ipv6]) {
      if (!addr) continue;
      const p = canonicalHostPrefix(addr);
      if (p === null) {
        add('bad-input', addr, `endpoint ${epName(e)} has address ${JSON.stringify(addr)}, which is not an address`, { endpoint: e.id });
        continue;
      }
      hostRoutes.set(p, e);
      allowed.add(p);
      if (e.advertised === undefined && !coveredByAggregate(p) && !expected.has(p)) expected.set(p, e.id);
    }
    for (const a of e.advertised ?? []) {
      const p = parse(a, `prefix advertised for endpoint ${epName(e)}:`);
      if (p !== null && !expected.has(p)) expected.set(p, e.id);
    }
  }
  for (const p of expected.keys()) allowed.add(p);

  // Kernel: own links and routes against the desired endpoints.
  if (input.kernel === null) {
    notes.push(input.endpoints === null ? 'kernel not checked: speaker-only mode (no endpoint controller, the agent installs no routes)' : 'kernel not checked: no dataplane');
  } else {
    const links = new Map(input.kernel.links.map((l) => [l.name, l]));
    const wantedLinks = new Set<string>();
    const wantedRoutes = new Set<string>();
    for (const e of input.endpoints ?? []) {
      wantedLinks.add(e.hostIfName);
      const link = links.get(e.hostIfName);
      if (link === undefined) add('missing-veth', e.hostIfName, `missing veth ${e.hostIfName} for endpoint ${epName(e)}`, { endpoint: e.id });
      else if (!link.up) add('veth-down', e.hostIfName, `veth ${e.hostIfName} of endpoint ${epName(e)} is down`, { endpoint: e.id });
    }
    const routesByDst = new Map<string, VerifyRoute[]>();
    for (const r of input.kernel.routes) {
      const p = canon(r.dst);
      const key = p === null ? r.dst : formatPrefix(p);
      routesByDst.set(key, [...(routesByDst.get(key) ?? []), r]);
    }
    for (const [prefix, e] of hostRoutes) {
      wantedRoutes.add(prefix);
      const rs = (routesByDst.get(prefix) ?? []).filter((r) => r.type === 'unicast');
      if (rs.length === 0) {
        add('missing-host-route', prefix, `missing host route ${prefix} for endpoint ${epName(e)} (dev ${e.hostIfName})`, { endpoint: e.id });
        continue;
      }
      const link = links.get(e.hostIfName);
      if (link !== undefined && !rs.some((r) => r.oif === link.index)) {
        const via = rs.map((r) => (r.oif === undefined ? 'no device' : `ifindex ${r.oif}`)).join(', ');
        add('wrong-route-interface', prefix, `host route ${prefix} for endpoint ${epName(e)} goes via ${via}, not ${e.hostIfName} (ifindex ${link.index})`, { endpoint: e.id });
      }
    }
    for (const b of input.blackholes) {
      const p = parse(b, 'blackhole');
      if (p === null) continue;
      wantedRoutes.add(p);
      if (!(routesByDst.get(p) ?? []).some((r) => r.type === 'blackhole')) add('missing-blackhole', p, `missing blackhole route ${p} for an aggregated pool`);
    }
    for (const [prefix, rs] of routesByDst) {
      if (wantedRoutes.has(prefix)) continue;
      for (const r of rs) {
        add('unexpected-route', prefix, `unexpected own route ${r.type === 'blackhole' ? 'blackhole ' : ''}${prefix} (proto 88): no endpoint wants it`);
      }
    }
    for (const l of input.kernel.links) {
      if (!wantedLinks.has(l.name)) add('unexpected-link', l.name, `unexpected own link ${l.name}: no endpoint wants it`);
    }
  }

  // Peers: every Established peer's Adj-RIB-Out against the desired prefixes of its families.
  const compared: string[] = [];
  for (const peer of input.peers) {
    if (peer.state !== 'Established') {
      notes.push(`peer ${peer.address} not compared: ${peer.state}, not Established`);
      continue;
    }
    compared.push(peer.address);
    const sent = new Set<string>();
    for (const s of peer.advertised) {
      const p = canon(s);
      sent.add(p === null ? s : formatPrefix(p));
    }
    const wanted = peer.configuredFamilies ?? ALL_FAMILIES;
    for (const [prefix, endpoint] of expected) {
      const fam = afiSafiOf(prefix);
      if (!wanted.includes(fam) || sent.has(prefix)) continue;
      const problem = peer.families.includes(fam) ? peer.problems.find((x) => x.startsWith(`${fam}:`)) : `${fam} not negotiated with this peer`;
      const ep = endpoint === null ? undefined : (input.endpoints ?? []).find((e) => e.id === endpoint);
      const owner = ep === undefined ? '' : ` (endpoint ${epName(ep)})`;
      add('prefix-not-sent', prefix, `prefix ${prefix}${owner} not sent to peer ${peer.address}${problem ? `: ${problem}` : ''}`, {
        peer: peer.address,
        ...(endpoint !== null ? { endpoint } : {}),
      });
    }
    for (const prefix of sent) {
      if (!allowed.has(prefix)) add('prefix-sent-not-desired', prefix, `prefix ${prefix} sent to peer ${peer.address} but not desired`, { peer: peer.address });
    }
  }

  const order: Record<MismatchKind, number> = {
    'bad-input': 0,
    'missing-veth': 1,
    'veth-down': 2,
    'missing-host-route': 3,
    'wrong-route-interface': 4,
    'missing-blackhole': 5,
    'unexpected-route': 6,
    'unexpected-link': 7,
    'prefix-not-sent': 8,
    'prefix-sent-not-desired': 9,
    forwarding: 10,
  };
  out.sort((a, b) => order[a.kind] - order[b.kind] || (a.peer ?? '').localeCompare(b.peer ?? '') || a.subject.localeCompare(b.subject));
  return {
    ok: out.length === 0,
    mismatches: out,
    checked: { endpoints: input.endpoints === null ? null : input.endpoints.length, desiredPrefixes: expected.size, kernel: input.kernel !== null, peers: compared },
    notes,
  };
}
