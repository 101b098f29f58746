// check(): the issue's verdict table, the deciding rule named by its iptables comment id,
// classification by address and by zone name, and errors for bad input.
import { describe, expect, it } from 'vitest';
import { check, PolicyCheckError } from '../../policy/check.js';
import { compile } from '../../policy/compiler.js';
import { buildModel } from '../../policy/model.js';
import { loadCase } from './fixtures.js';
import { ISSUE_VERDICTS } from './verdicts.js';

const c = loadCase('issue-example');
const m = c.model;

describe('check() on the issue model', () => {
  it('loads the fixture', () => {
    expect(m.zones.map((z) => z.name)).toEqual(['dmz', 'app', 'backend']);
  });

  for (const v of ISSUE_VERDICTS) {
    it(`${v.from} -> ${v.to} ${v.traffic}: ${v.verdict}`, () => {
      const r = check(m, v.from, v.to, v.traffic);
      expect(r.verdict).toBe(v.verdict);
      expect(r.from).toBe(v.from);
      expect(r.to).toBe(v.to);
    });
  }

  it('names the rule that decides, and that rule exists in the compiled iptables text', () => {
    const out = compile({ model: m, endpoints: [], host: c.host });
    const cases = [
      ['dmz', 'app', 'tcp/8080', 'allow dmz->app tcp/8080 zones[1].ingress[0]'],
      ['dmz', 'backend', 'tcp/5432', 'deny dmz->backend'],
      ['world', 'dmz', 'tcp/443', 'allow world->dmz tcp/443 zones[0].ingress[0]'],
      ['app', 'app', 'udp/9', 'intra app'],
      ['app', 'world', 'tcp/25', 'egress app->world'],
    ] as const;
    for (const [s, d, t, id] of cases) {
      const r = check(m, s, d, t);
      expect(r.rule).toBe(id);
      expect(out.iptablesRestore).toContain(`--comment "routectl:${id}"`);
      expect(out.ip6tablesRestore).toContain(`--comment "routectl:${id}"`);
    }
  });

  it('classifies addresses of both families into zones and world', () => {
    expect(check(m, '198.51.100.200', '198.51.100.5', 'tcp/80')).toMatchObject({ verdict: 'allow', from: 'world', to: 'dmz' });
    expect(check(m, '2001:db8:c:1::5', '2001:db8:c:3::9', 'tcp/5432')).toMatchObject({ verdict: 'deny', from: 'dmz', to: 'backend', rule: 'deny dmz->backend' });
    expect(check(m, '2001:db8:c:2::1', '2001:db8:c:3::1', 'udp/53')).toMatchObject({ verdict: 'allow', rule: 'allow app->backend udp/53 zones[2].ingress[0]' });
    expect(check(m, '203.0.113.9', '203.0.113.10', 'tcp/22')).toMatchObject({ verdict: 'allow', rule: 'not-ours' });
    expect(check(m, '198.51.100.70', 'dmz', 'icmp')).toMatchObject({ verdict: 'deny', rule: 'deny app->dmz' });
    expect(check(m, 'dmz', 'app', 'tcp/8080').reason).toContain('zones[1].ingress[0]');
    expect(check(m, 'dmz', 'backend', 'tcp/5432').reason).toBe('dmz -> backend: no ingress rule of zone "backend" admits this traffic from zone "dmz"; default drop');
    expect(check(m, '198.51.100.5', '198.51.100.70', 'tcp/8080').reason).toBe('198.51.100.5 (dmz) -> 198.51.100.70 (app): zone "app" accepts tcp/8080 from zone "dmz" (zones[1].ingress[0])');
  });

  it('isolated zones deny inside traffic except what their own ingress admits', () => {
    const iso = buildModel([{ name: 'db', cidrs: ['198.51.100.0/28'], isolated: true, ingress: [{ from: 'db', ports: ['tcp/5432'] }] }], {});
    expect(check(iso, 'db', 'db', 'tcp/5432')).toMatchObject({ verdict: 'allow', rule: 'allow db->db tcp/5432 zones[0].ingress[0]' });
    expect(check(iso, 'db', 'db', 'tcp/22')).toMatchObject({ verdict: 'deny', rule: 'deny db->db' });
  });

  it('rejects what it cannot evaluate', () => {
    expect(() => check(m, 'nowhere', 'app', 'tcp/80')).toThrow(PolicyCheckError);
    expect(() => check(m, 'dmz', 'app', 'tcp/0')).toThrow(/tcp\/5432/);
    expect(() => check(m, 'dmz', 'app', 'sctp/1')).toThrow(PolicyCheckError);
    expect(() => check(m, '198.51.100.1', '2001:db8:c:2::1', 'tcp/80')).toThrow(/families/);
  });
});
