/**
 * Human output of the CLI: tables in the style of `birdc show protocols` (one row per
 * peer, the reason in words in the last column) and detail blocks in the style of
 * `birdc show protocols all`. Pure functions of the API's JSON, so they are golden-tested.
 */
import type { DockerSummary, PeerDetail, PeerSummary, RoutesResponse, StatusResponse, NotificationRecord, MessageCounters } from '../api/types.js';

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

function peerRow(p: PeerSummary, withName: boolean): string[] {
  return [
    p.address,
    ...(withName ? [p.description ?? ''] : []),
    String(p.asn),
    p.type,
    stateText(p),
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
  const header = ['Peer', ...(withName ? ['Name'] : []), 'ASN', 'Type', 'State', 'Since', 'Families', 'Sent', 'Rcvd', 'Accepted', 'Last error'];
  return table(header, peers.map((p) => peerRow(p, withName)));
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

export function statusText(s: StatusResponse): string {
  const up = s.peers.filter((p) => p.state === 'Established').length;
  return [
    `routectl ${s.version} on ${s.node}: AS ${s.asn}, router id ${s.routerId}, up ${duration(s.uptimeSeconds)}`,
    `BGP peers: ${up} of ${s.peers.length} established; endpoints: ${endpointCounts(s)}; routes advertised: ${s.routes}`,
    ...(s.docker ? [dockerLine(s.docker)] : []),
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

export function peerDetailText(p: PeerDetail): string {
  const rows: [string, string][] = [
    ['Description', p.description ?? '-'],
    ['State', `${p.state} since ${when(p.since)}${p.state === 'Established' ? ` (up ${duration(p.uptime)})` : ''}`],
    ...(p.held ? [['Held down', `${p.held.reason}: started again at ${when(p.held.until)} (in ${duration(p.held.retryInSeconds)})`] as [string, string]] : []),
    ['Last error', p.lastError ?? 'none'],
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
  ];
  const security = [p.md5 ? 'TCP-MD5 (RFC 2385)' : '', p.ttlSecurityHops !== null ? `GTSM, ${p.ttlSecurityHops} hop${p.ttlSecurityHops === 1 ? '' : 's'} (RFC 5082)` : ''].filter(Boolean);
  if (security.length > 0) rows.splice(5, 0, ['Security', security.join(', ')]);
  for (const problem of p.problems) rows.push(['Problem', problem]);
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  return [`Peer ${p.address}, AS ${p.asn} (${p.type})`, ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(w)}  ${v}`), ''].join('\n');
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
    x.asPath || '(empty)',
    [x.origin ?? '', x.med === null ? '' : `med ${x.med}`, x.localPref === null ? '' : `lp ${x.localPref}`, ...x.communities].filter(Boolean).join(' '),
    x.accepted ? 'accepted' : `filtered: ${x.reason ?? 'no reason given'}`,
  ]);
  return `${title}\n${table(['Prefix', r.view === 'advertised' ? 'To' : 'From', 'Next hop', 'AS path', 'Attributes', 'Status'], rows)}\n`;
}
