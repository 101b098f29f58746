/**
 * deploy/grafana/routectl-dashboard.json is a Grafana dashboard whose every query names
 * only series the agent really exports (checked against the exposition of a registry,
 * histogram suffixes included), and that uses each routectl_* series at least once;
 * docs/operations.md lists every series too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAgentMetrics, METRIC_NAMES } from '../../../src/metrics/index.js';

const root = join(import.meta.dirname, '../../..');

interface Panel {
  readonly type: string;
  readonly title?: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

function exprs(panels: readonly Panel[]): { title: string; expr: string }[] {
  return panels.flatMap((p) => [...(p.targets ?? []).map((t) => ({ title: p.title ?? '', expr: t.expr ?? '' })), ...exprs(p.panels ?? [])]);
}

async function exportedNames(): Promise<Set<string>> {
  const m = createAgentMetrics({ peers: () => [] });
  const names = new Set<string>();
  for (const line of (await m.text()).split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!t) continue;
    names.add(t[1]!);
    if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${t[1]}${s}`);
  }
  return names;
}

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(join(root, 'deploy/grafana/routectl-dashboard.json'), 'utf8')) as { title: string; uid: string; panels: Panel[]; templating: unknown };

  it('is a dashboard with panels and queries', () => {
    expect(dash.title).toBe('routectl');
    expect(dash.uid).toMatch(/^[a-z0-9-]+$/);
    const all = exprs(dash.panels);
    expect(all.length).toBeGreaterThan(10);
    for (const e of all) expect(e.expr, e.title).not.toBe('');
  });

  it('every expr references real metric names, and every routectl series is shown', async () => {
    const real = await exportedNames();
    for (const n of METRIC_NAMES) expect(real.has(n), n).toBe(true);
    const used = new Set<string>();
    for (const { title, expr } of exprs(dash.panels)) {
      const names = expr.match(/\b(?:routectl|process|nodejs)_[a-z0-9_]+/g) ?? [];
      expect(names.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) {
        expect(real.has(n), `${title}: ${n} is not exported`).toBe(true);
        used.add(n.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    for (const n of METRIC_NAMES) expect(used.has(n), `${n} not on the dashboard`).toBe(true);
  });
});

describe('docs/operations.md', () => {
  it('lists every metric', () => {
    const doc = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    for (const n of METRIC_NAMES) expect(doc, n).toContain(`\`${n}`);
  });
});
