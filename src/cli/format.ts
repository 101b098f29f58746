/**
 * Human output of the CLI: tables in the style of `birdc show protocols` (one row per
 * peer, the reason in words in the last column) and detail blocks in the style of
 * `birdc show protocols all`. Pure functions of the API's JSON, so they are golden-tested.
 */
import type { DockerSummary, PeerDetail, PeerSummary, ReloadSummary, RouteEntry, RoutesResponse, StatusResponse, NotificationRecord, MessageCounters, StoreStatus } from '../api/types.js';

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** 3725 → "1h02m05s"; 59 → "59s"; 90061 → "1d01h01m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const p = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${p(h)}h${p(m)}m`;
  if (h > 0) return `${h}h${p(m)}m${p(sec)}s`;
  if (m > 0) return `${m}m${p(sec)}s`;
  return `${sec}s`;
}

/** ISO time → "2026-01-01 00:00:00Z" (UTC, seconds). */
export function when(iso: string | null): string {
  if (iso === null) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

const shortFamily = (f: string): string => f.replace('-unicast', '');

/** "Idle (max-prefix, retry in 4m12s)" while the speaker holds the peer down; else the RFC 4271 state name. */
export function stateText(p: PeerSummary): string {
  return p.held ? `${p.state} (${p.held.reason}, retry in ${duration(p.held.retryInSeconds)})` : p.state;
}

/** An unnumbered peer is its interface and the neighbour found there (FRR prints `swp1`). */
export function peerName(p: PeerSummary): string {
  if (p.interface === undefined) return p.address;
  const n = p.neighbour?.address;
  return `${p.interface} (${n ? n.replace(/%.*$/, '') : 'no neighbour yet'})`;
}

/** The AS, or how it was configured while the peer has not said it yet. */
export function asnText(p: PeerSummary): string {
  return p.asn === 0 && p.configuredAsn !== undefined ? String(p.configuredAsn) : String(p.asn);
}

function peerRow(p: PeerSummary, withName: boolean, withBfd: boolean): string[] {
  return [
    peerName(p),
    ...(withName ? [p.description ?? ''] : []),
    asnText(p),
    p.type,
    stateText(p),
    ...(withBfd ? [p.bfd ? p.bfd.state : '-'] : []),
    when(p.since),
    p.families.map(shortFamily).join(' ') || '-',
    String(p.prefixesSent),
    String(p.prefixesReceived),
    String(p.prefixesAccepted),
    p.lastError ?? '',
  ];
}

export function peersTable(peers: readonly PeerSummary[]): string {
  if (peers.length === 0) return 'No BGP peers configured (bgp.peers in agent.yaml).';
  const withName = peers.some((p) => p.description);
  const withBfd = peers.some((p) => p.bfd);
  const header = ['Peer', ...(withName ? ['Name'] : []), 'ASN', 'Type', 'State', ...(withBfd ? ['BFD'] : []), 'Since', 'Families', 'Sent', 'Rcvd', 'Accepted', 'Last error'];
  return table(header, peers.map((p) => peerRow(p, withName, withBfd)));
}

/** "3 ready, 1 pending, 1 failed (routectl endpoints)"; just "3" when all are ready. */
function endpointCounts(s: StatusResponse): string {
  const { ready, pending, error } = s.endpointStates;
  if (pending === 0 && error === 0) return String(ready);
  const parts = [`${ready} ready`, ...(pending > 0 ? [`${pending} pending`] : []), ...(error > 0 ? [`${error} failed`] : [])];
  return `${parts.join(', ')} (routectl endpoints)`;
}

/** The dockerd line: connected or not since when, why not, and when the agent tries again. */
export function dockerLine(d: DockerSummary): string {
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (d.connected) {
    const refused = d.refused > 0 ? `, ${d.refused} refused (routectl endpoints says why)` : '';
    return `Docker: connected since ${when(d.since)}; ${plural(d.containers, 'container')} opted in${refused}`;
  }
  const why = d.lastError === null ? '' : `: ${d.lastError}`;
  const retry = d.retryInSeconds === null ? '' : `; next attempt in ${d.retryInSeconds} s`;
  return `Docker: unreachable since ${when(d.since)}${why}${retry} (containers started meanwhile wait; those routed stay routed)`;
}

/** Cluster mode: etcd answering or not, and what waits for it. */
export function storeLine(st: StoreStatus): string {
  const owed = [
    ...(st.waiting > 0 ? [`${st.waiting} container${st.waiting === 1 ? '' : 's'} waiting for store`] : []),
    ...(st.unchecked > 0 ? [`${st.unchecked} adopted from the kernel, not yet checked against it`] : []),
    ...(st.releasesOwed ? ['releases owed'] : []),
    ...(!st.joined ? ['no lease held'] : []),
  ];
  const tail = owed.length > 0 ? `; ${owed.join(', ')}` : '';
  if (st.answering) return `Store: etcd answering${tail}`;
  return `Store: etcd NOT answering since ${when(st.downSince ?? '')}: ${st.lastError ?? ''}${tail} (running containers stay wired; new ones are wired when it answers)`;
}

/** The last reload: applied (and what waits for a restart), or why the running config was kept. */
export function reloadLines(r: ReloadSummary): string[] {
  const restart = r.needsRestart.length > 0 ? `; ${r.needsRestart.join(', ')} wait for a restart` : '';
  if (r.result === 'applied') return [`Config: reloaded ${when(r.at)}${restart}`];
  const what = r.result === 'refused'
    ? `Config: reload ${when(r.at)} REFUSED, running config kept: it would widen what reaches running containers${r.containers.length > 0 ? ` (${r.containers.join(', ')})` : ''}`
    : `Config: reload ${when(r.at)} INVALID, running config kept`;
  return [what, ...r.problems.map((p) => `  - ${p}`)];
}

export function statusText(s: StatusResponse): string {
  const up = s.peers.filter((p) => p.state === 'Established').length;
  return [
    `routectl ${s.version} on ${s.node}: AS ${s.asn}, router id ${s.routerId}, up ${duration(s.uptimeSeconds)}`,
    `BGP peers: ${up} of ${s.peers.length} established; endpoints: ${endpointCounts(s)}; routes advertised: ${s.routes}`,
    ...(s.docker ? [dockerLine(s.docker)] : []),
    ...(s.store ? [storeLine(s.store)] : []),
    // Older agents do not send it.
    ...(s.lastReload ? reloadLines(s.lastReload) : []),
    // Only when there is something to say: a worker that learns nothing prints as before.
    ...(s.forwarding && (s.forwarding.learnedRoutes > 0 || s.forwarding.problems.length > 0) ? [`learned routes: ${s.forwarding.installed} of ${s.forwarding.learnedRoutes} in the kernel (table ${s.forwarding.table})`, ...s.forwarding.problems.map((p) => `forwarding problem: ${p}`)] : []),
    '',
    peersTable(s.peers),
    '',
  ].join('\n');
}

function counters(c: MessageCounters): string {
  return `open ${c.open}, update ${c.update}, notification ${c.notification}, keepalive ${c.keepalive}, route-refresh ${c.routeRefresh}`;
}

function notification(n: NotificationRecord | null): string {
  if (n === null) return 'none';
  const text = n.text ? `: "${n.text}"` : '';
  return `${n.name} (${n.code}/${n.subcode})${text} at ${when(n.at)}`;
}

/** BFD rows of the peer detail: state, negotiated and configured intervals, last diagnostic. */
export function bfdRows(b: NonNullable<PeerSummary['bfd']>): [string, string][] {
  const negotiated = b.txInterval === null ? '' : `, tx every ${b.txInterval} ms${b.detectTime === null ? '' : `, detect ${b.detectTime} ms`}`;
  const remote = b.remote ? `; peer ${b.remote.minTx}/${b.remote.minRx} ms x${b.remote.multiplier}` : '; nothing heard from the peer';
  return [
    ['BFD', `${b.state} since ${when(b.since)}${negotiated}`],
    ['BFD timers', `tx ${b.minTx} ms, rx ${b.minRx} ms, multiplier ${b.multiplier}${remote}`],
    ['BFD last diagnostic', b.lastDiagnostic ?? 'none'],
    ...(b.error ? ([['BFD error', b.error]] as [string, string][]) : []),
  ];
}

export function peerDetailText(p: PeerDetail): string {
  const rows: [string, string][] = [
    ['Description', p.description ?? '-'],
    ['State', `${p.state} since ${when(p.since)}${p.state === 'Established' ? ` (up ${duration(p.uptime)})` : ''}`],
    ...(p.held ? [['Held down', `${p.held.reason}: started again at ${when(p.held.until)} (in ${duration(p.held.retryInSeconds)})`] as [string, string]] : []),
    ['Last error', p.lastError ?? 'none'],
    ...(p.interface !== undefined
      ? [['Interface', `${p.interface} (unnumbered), neighbour ${p.neighbour?.address ?? 'not found yet'}${p.neighbour?.source ? ` (from ${p.neighbour.source === 'connection' ? 'its connection' : 'the neighbour table'})` : ''}`] as [string, string]]
      : []),
    ['Local address', p.localAddress ?? '-'],
    ['Remote address', p.remoteAddress ?? '-'],
    ['Hold time', p.holdTime === null ? '- (not established)' : `${p.holdTime} s, keepalive ${p.keepalive ?? 0} s`],
    ['Families', p.families.join(' ') || '-'],
    ['Capabilities', p.capabilities.join(', ') || '-'],
    ['Prefixes', `sent ${p.prefixesSent}, received ${p.prefixesReceived}, accepted ${p.prefixesAccepted}`],
    ['Messages in', counters(p.messages.in)],
    ['Messages out', counters(p.messages.out)],
    ['Flaps', String(p.flaps)],
    ['NOTIFICATION sent', notification(p.lastNotificationSent)],
    ['NOTIFICATION received', notification(p.lastNotificationReceived)],
    ...(p.bfd ? bfdRows(p.bfd) : []),
  ];
  const security = [p.md5 ? 'TCP-MD5 (RFC 2385)' : '', p.ttlSecurityHops !== null ? `GTSM, ${p.ttlSecurityHops} hop${p.ttlSecurityHops === 1 ? '' : 's'} (RFC 5082)` : ''].filter(Boolean);
  if (security.length > 0) rows.splice(5, 0, ['Security', security.join(', ')]);
  for (const problem of p.problems) rows.push(['Problem', problem]);
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  return [`Peer ${p.address}, AS ${asnText(p)}${p.configuredAsn !== undefined && p.asn !== 0 ? ` (${p.configuredAsn})` : ''} (${p.type})`, ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(w)}  ${v}`), ''].join('\n');
}

export function routesText(r: RoutesResponse): string {
  if (r.view === 'kernel') {
    // The agent's own routes (rt protocol 88): no BGP attributes to show.
    const title = `Kernel routes (own, proto 88): ${r.routes.length}`;
    if (r.routes.length === 0) return `${title}\n`;
    return `${title}\n${table(['Prefix', 'Next hop'], r.routes.map((x) => [x.prefix, x.nextHops.join(' ') || '-']))}\n`;
  }
  const title = `${r.view[0]?.toUpperCase()}${r.view.slice(1)} routes${r.peer ? ` (peer ${r.peer})` : ''}: ${r.routes.length}`;
  if (r.routes.length === 0) return `${title}\n`;
  const rows = r.routes.map((x) => [
    x.prefix,
    x.peer ?? '-',
    x.nextHops.join(' ') || '-',
    shortAsPath(x.asPath) || '(empty)',
    [x.origin ?? '', x.med === null ? '' : `med ${x.med}`, x.localPref === null ? '' : `lp ${x.localPref}`].filter(Boolean).join(' '),
    (x.accepted ? 'accepted' : `filtered: ${x.reason ?? 'no reason given'}`) + (x.stale ? ', stale (peer restarting)' : ''),
  ]);
  const lines = table(['Prefix', r.view === 'advertised' ? 'To' : 'From', 'Next hop', 'AS path', 'Attributes', 'Status'], rows).split('\n');
  // Lists of any length (communities, a long AS path, unknown attributes) go on lines of
  // their own under the route, so one wide route does not widen every row's columns.
  const out = [lines[0]!];
  r.routes.forEach((x, i) => {
    out.push(lines[i + 1]!);
    for (const extra of attributeLines(x)) out.push(`    ${extra}`);
  });
  return `${title}\n${out.join('\n')}\n`;
}

/** AS paths longer than this are cut in the table (the whole path follows on its own line). */
export const AS_PATH_COLUMN = 32;

/** "65001 65002 … 65040 (40 ASNs)": the neighbour and the origin, with the length. */
export function shortAsPath(path: string, max = AS_PATH_COLUMN): string {
  if (path.length <= max) return path;
  const parts = path.split(' ');
  const tail = ` … ${parts[parts.length - 1]} (${parts.length} ASNs)`;
  let head = parts[0]!;
  for (const p of parts.slice(1, -1)) {
    if (head.length + 1 + p.length + tail.length > max) break;
    head += ` ${p}`;
  }
  return `${head}${tail}`;
}

/** The attributes that do not fit a column, one kind per line ("communities 65000:100 65000:200"). */
export function attributeLines(x: RouteEntry): string[] {
  const out: string[] = [];
  if (x.asPath.length > AS_PATH_COLUMN) out.push(`as-path ${x.asPath}`);
  if (x.communities.length > 0) out.push(`communities ${x.communities.join(' ')}`);
  if (x.largeCommunities?.length) out.push(`large-communities ${x.largeCommunities.join(' ')}`);
  if (x.extendedCommunities?.length) out.push(`extended-communities ${x.extendedCommunities.join(' ')}`);
  if (x.aggregator) out.push(`aggregator AS ${x.aggregator.asn} ${x.aggregator.address}`);
  if (x.atomicAggregate) out.push('atomic-aggregate');
  for (const o of x.otherAttributes ?? []) out.push(`${o.name} (${o.flags}) 0x${o.value}`);
  return out;
}
