/**
 * Zone policy series, read from the kernel's rule counters at scrape time (the policy's
 * own chains only, via AgentPolicy.counters()):
 *   routectl_policy_drops_total{from,to}            new connections denied per zone pair
 *   routectl_policy_rule_packets_total{family,chain,rule}
 *   routectl_policy_rule_bytes_total{family,chain,rule}
 * Kernel counters restart at 0 when a chain is rebuilt (a model change, a repair), so each
 * scrape adds the increase since the last one, and a value that went down counts from 0.
 */
import { Counter, type Registry } from 'prom-client';
import type { RuleCounters } from '../../policy/applier.js';
import { SnapshotDeltas } from './deltas.js';

export const POLICY_METRIC_NAMES = ['routectl_policy_drops_total', 'routectl_policy_rule_packets_total', 'routectl_policy_rule_bytes_total'] as const;

export interface PolicyMetricsSource {
  readonly enabled: boolean;
  counters(): Promise<RuleCounters[]>;
}

/** "deny dmz->backend" → { from: 'dmz', to: 'backend' } (zone names cannot hold '>'). */
export function denyPair(rule: string): { from: string; to: string } | undefined {
  if (!rule.startsWith('deny ')) return undefined;
  const body = rule.slice('deny '.length);
  const i = body.indexOf('->');
  if (i <= 0) return undefined;
  return { from: body.slice(0, i), to: body.slice(i + 2) };
}

export function registerPolicyMetrics(registry: Registry, source: () => PolicyMetricsSource | undefined): void {
  // One kernel read serves the three series of a scrape: prom-client starts the collects in
  // registration order, so the first (drops) reads and the other two reuse that read.
  let last: { at: number; counters: Promise<RuleCounters[]> } | undefined;
  const read = (fresh: boolean): Promise<RuleCounters[]> => {
    const s = source();
    if (!s || !s.enabled) return Promise.resolve([]);
    if (fresh || last === undefined || Date.now() - last.at > 1000) last = { at: Date.now(), counters: s.counters().catch(() => []) };
    return last.counters;
  };
  const drops = new SnapshotDeltas();
  new Counter({
    name: 'routectl_policy_drops_total',
    help: 'New connections denied by the zone policy, per source zone and destination zone (world: addresses in no zone)',
    labelNames: ['from', 'to'],
    registers: [registry],
    async collect() {
      const sums = new Map<string, number>();
      for (const c of await read(true)) {
        const p = denyPair(c.rule);
        if (!p) continue;
        const k = `${p.from}\u0000${p.to}`;
        sums.set(k, (sums.get(k) ?? 0) + drops.delta(`${c.family}|${c.chain}|${c.rule}`, c.packets));
      }
      for (const [k, n] of sums) {
        const [from = '', to = ''] = k.split('\u0000');
        this.inc({ from, to }, n);
      }
    },
  });
  for (const [name, help, field] of [
    ['routectl_policy_rule_packets_total', 'Packets matched per zone-policy rule (the id in its iptables comment)', 'packets'],
    ['routectl_policy_rule_bytes_total', 'Bytes matched per zone-policy rule (the id in its iptables comment)', 'bytes'],
  ] as const) {
    const d = new SnapshotDeltas();
    new Counter({
      name,
      help,
      labelNames: ['family', 'chain', 'rule'],
      registers: [registry],
      async collect() {
        for (const c of await read(false)) {
          const family = c.family === 4 ? 'ipv4' : 'ipv6';
          this.inc({ family, chain: c.chain, rule: c.rule }, d.delta(`${family}|${c.chain}|${c.rule}`, c[field]));
        }
      },
    });
  }
}
