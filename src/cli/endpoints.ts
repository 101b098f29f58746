/**
 * Human output of `routectl endpoints` (one row per container: state, addresses, host
 * veth, the peers it was advertised to, and the error in words last) and `routectl
 * inspect` (one container, pipework/network-wrapper style). Pure functions of the API's
 * JSON, like format.ts.
 */
import type { EndpointEntry, InspectResponse } from '../api/types.js';
import { table, when } from './format.js';

export function endpointsTable(eps: readonly EndpointEntry[]): string {
  if (eps.length === 0) return 'No container endpoints (start one with: docker run --net none --label routectl.zone=ZONE …).';
  const rows = eps.map((e) => [
    e.id.slice(0, 12),
    e.name ?? '-',
    e.zone || '-',
    e.state,
    e.ipv4 ?? '-',
    e.ipv6 ?? '-',
    e.hostVeth ?? '-',
    e.advertisedTo.join(' ') || '-',
    e.error ?? '',
  ]);
  const ready = eps.filter((e) => e.state === 'ready').length;
  return `${table(['Container', 'Name', 'Zone', 'State', 'IPv4', 'IPv6', 'Host veth', 'Advertised to', 'Error'], rows)}\n${ready} of ${eps.length} ready\n`;
}

export function inspectText(r: InspectResponse): string {
  const rows: [string, string][] = [
    ['Container', `${r.container.name ?? '-'} (${r.container.id})`],
    ['PID', r.container.pid === null ? '-' : String(r.container.pid)],
    ['Zone', r.zone || '-'],
    ['State', `${r.state}${r.since ? ` since ${when(r.since)}` : ''}`],
  ];
  if (r.error) rows.push(['Error', r.error]);
  rows.push(
    ['Interface', `${r.interface} hwaddr ${r.hwaddr ?? '-'}`],
    ['IPv4', r.ipv4 ?? '-'],
    ['IPv6', r.ipv6 ?? '-'],
    ['Gateway', [r.gateway.ipv4, r.gateway.ipv6].filter((g) => g !== null).join(', ') || '-'],
    ['Host veth', r.hostVeth === null ? '-' : `${r.hostVeth} hwaddr ${r.hostMac ?? '-'}`],
    ['Advertised', r.advertised.join(' ') || '-'],
    ['Advertised to', r.advertisedTo.join(' ') || '-'],
  );
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${v}`).join('\n')}\n`;
}
