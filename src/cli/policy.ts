/**
 * Human output of `routectl policy show` (zones and their ranges, the ordered rules of
 * each source zone with packet/byte counters, drops per zone pair, the last apply) and
 * `routectl policy check` (the verdict, the deciding rule, and why). Pure functions of the
 * API's JSON, like format.ts.
 */
import type { PolicyCheckResponse, PolicyCheckSide, PolicyShowResponse } from '../api/policy-types.js';
import { table } from './format.js';

function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(1)}G`;
}

export function policyShowText(r: PolicyShowResponse): string {
  if (!r.enabled) return 'No zones configured: this worker enforces no zone policy (add zones: to agent.yaml).\n';
  const out: string[] = [];
  out.push(`Default action: ${r.defaultAction}${r.logDrops ? ' (drops logged, rate-limited)' : ''}   Local endpoints: ${r.endpoints}`);
  out.push(`Host: ${r.host.addresses.join(' ') || '-'}   protected: ${r.host.protectedPorts.join(' ') || '-'}   open: ${r.host.open.join(' ') || '-'}`);
  out.push('');
  out.push(table(['Zone', 'Ranges', 'Isolated', 'Ingress'], r.zones.map((z) => [
    z.name,
    z.cidrs.join(' '),
    z.isolated ? 'yes' : 'no',
    z.ingress.map((i) => `${i.from}:${i.ports.join(',')}`).join(' ') || '-',
  ])));
  out.push('');
  out.push(table(['From', 'To', 'Traffic', 'Action', 'Packets', 'Bytes', 'Rule'], r.rules.map((x) => [
    x.from, x.to, x.ports, x.action === 'accept' ? 'allow' : 'deny', String(x.packets), bytes(x.bytes), x.id,
  ])));
  const spoof = r.system.filter((s) => s.id === 'spoof-drop').reduce((n, s) => n + s.packets, 0);
  const host = r.system.filter((s) => s.id === 'host deny' || s.id.startsWith('host protected')).reduce((n, s) => n + s.packets, 0);
  out.push('');
  out.push(`Dropped: ${r.drops.filter((d) => d.packets > 0).map((d) => `${d.from}->${d.to} ${d.packets}`).join(', ') || 'none between zones'}; forged sources ${spoof}; to the worker ${host}`);
  if (r.lastApply) {
    const a = r.lastApply;
    out.push(a.error !== null
      ? `Last apply ${a.at}: FAILED: ${a.error}`
      : `Last apply ${a.at}: generation ${a.generation ?? '-'}, ${a.changed ? `changed${a.drift.length ? ` (repaired: ${a.drift.join('; ')})` : ''}` : 'no drift'}, ${a.durationMs} ms`);
  }
  return `${out.join('\n')}\n`;
}

function sideText(s: PolicyCheckSide): string {
  if (s.kind === 'container') return `${s.container?.name ?? s.input} ${s.address ?? ''} (${s.zone})`;
  if (s.kind === 'address') return `${s.address ?? s.input} (${s.zone})`;
  return `zone ${s.zone}`;
}

export function policyCheckText(r: PolicyCheckResponse): string {
  return `${r.verdict.toUpperCase()}  ${sideText(r.src)} -> ${sideText(r.dst)} ${r.traffic}\n  rule:   ${r.rule}\n  reason: ${r.reason}\n`;
}
