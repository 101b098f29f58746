// Model validation: the schemas reject malformed input, validateModel finds the
// cross-field problems, and every problem names the field path and a fix.
import { describe, expect, it } from 'vitest';
import { buildModel, PolicyModelError, PolicySchema, ZoneSchema, ZonesSchema, parsePortSpec, validateModel, type Problem } from '../../policy/model.js';

const ok = [
  { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80', 'tcp/443'] }] },
  { name: 'app', cidrs: ['198.51.100.64/26', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] },
];

function problemsOf(zones: unknown, policy: unknown = {}): readonly Problem[] {
  try {
    buildModel(zones, policy);
  } catch (e) {
    if (e instanceof PolicyModelError) return e.problems;
    throw e;
  }
  return [];
}

describe('schemas', () => {
  it('accept the issue example and fill defaults', () => {
    const m = buildModel(ok, { defaultAction: 'reject' });
    expect(m.zones[0]!.isolated).toBe(false);
    expect(m.zones[1]!.ingress[0]!.from).toBe('dmz');
    expect(m.policy).toEqual({ defaultAction: 'reject', logDrops: false });
    expect(ZonesSchema.parse(ok)).toHaveLength(2);
  });

  it('reject unknown keys (strict)', () => {
    expect(ZoneSchema.safeParse({ ...ok[0], colour: 'red' }).success).toBe(false);
    expect(PolicySchema.safeParse({ defaultAction: 'drop', logdrops: true }).success).toBe(false);
    expect(PolicySchema.safeParse({ defaultAction: 'allow' }).success).toBe(false);
  });

  it('reject non-canonical ranges and name the canonical form', () => {
    const ps = problemsOf([{ name: 'x', cidrs: ['198.51.100.1/24', '2001:DB8::/32', '10.0.0.0/33', 'nope'] }]);
    expect(ps.map((p) => p.path)).toEqual(['zones[0].cidrs[0]', 'zones[0].cidrs[1]', 'zones[0].cidrs[2]', 'zones[0].cidrs[3]']);
    expect(ps[0]!.message).toContain('host bits');
    expect(ps[0]!.fix).toBe('write "198.51.100.0/24"');
    expect(ps[1]!.fix).toBe('write "2001:db8::/32"');
    expect(ps[2]!.fix).toContain('0 to 32');
  });

  it('reserve the name world and keep names plain', () => {
    const ps = problemsOf([{ name: 'world', cidrs: ['198.51.100.0/24'] }, { name: 'Bad Name', cidrs: ['198.51.101.0/24'] }]);
    expect(ps.map((p) => p.path)).toEqual(['zones[0].name', 'zones[1].name']);
    expect(ps[0]!.message).toContain('reserved');
  });
});

describe('validateModel', () => {
  it('finds nothing wrong in a good model', () => {
    const m = buildModel(ok, {});
    expect(validateModel(m.zones, m.policy)).toEqual([]);
  });

  it('reports an unknown zone in from, with the known names as the fix', () => {
    const ps = problemsOf([{ ...ok[0], ingress: [{ from: 'dnz', ports: ['tcp/80'] }] }, ok[1]]);
    expect(ps).toEqual([{ path: 'zones[0].ingress[0].from', message: 'unknown zone "dnz"', fix: 'use one of: dmz, app, world' }]);
  });

  it('reports bad port specs', () => {
    const ps = problemsOf([{ ...ok[0], ingress: [{ from: 'world', ports: ['tcp/0', 'tcp/90-80', 'sctp/1', 'tcp/70000', 'udp/53'] }] }]);
    expect(ps.map((p) => p.path)).toEqual([
      'zones[0].ingress[0].ports[0]', 'zones[0].ingress[0].ports[1]', 'zones[0].ingress[0].ports[2]', 'zones[0].ingress[0].ports[3]',
    ]);
    expect(ps[1]!.fix).toBe('write "tcp/80-90"');
    expect(ps[2]!.message).toBe('bad port spec "sctp/1"');
  });

  it('reports overlapping ranges between and within zones', () => {
    const ps = problemsOf([
      { name: 'a', cidrs: ['198.51.100.0/24', '198.51.100.128/25'] },
      { name: 'b', cidrs: ['198.51.100.64/26', '2001:db8::/32'] },
      { name: 'c', cidrs: ['2001:db8:1::/48'] },
    ]);
    expect(ps.map((p) => p.path)).toEqual(['zones[0].cidrs[1]', 'zones[1].cidrs[0]', 'zones[2].cidrs[0]']);
    expect(ps[1]!.message).toBe('198.51.100.64/26 overlaps 198.51.100.0/24 of zone "a" (zones[0].cidrs[0])');
    expect(ps[2]!.message).toContain('zone "b"');
  });

  it('reports duplicate names and /0 ranges', () => {
    const ps = problemsOf([{ name: 'a', cidrs: ['198.51.100.0/25'] }, { name: 'a', cidrs: ['::/0'] }]);
    expect(ps.map((p) => p.path)).toEqual(['zones[1].name', 'zones[1].cidrs[0]']);
    expect(ps[0]!.message).toContain('duplicate zone name "a"');
    expect(ps[1]!.fix).toContain('world');
  });

  it('every problem has a path, message and fix', () => {
    const ps = problemsOf([{ name: 'a', cidrs: ['198.51.100.1/25'], ingress: [{ from: 'b', ports: ['x'] }] }], { defaultAction: 'x' });
    expect(ps.length).toBeGreaterThan(0);
    for (const p of ps) {
      expect(p.path).toMatch(/^(zones|policy)/);
      expect(p.message.length).toBeGreaterThan(0);
      expect(p.fix.length).toBeGreaterThan(0);
    }
  });
});

describe('parsePortSpec', () => {
  it.each([
    ['tcp/80', { proto: 'tcp', from: 80, to: 80 }],
    ['udp/53', { proto: 'udp', from: 53, to: 53 }],
    ['tcp/8000-8100', { proto: 'tcp', from: 8000, to: 8100 }],
    ['tcp', { proto: 'tcp', from: 1, to: 65535 }],
    ['icmp', { proto: 'icmp' }],
    ['any', { proto: 'any' }],
  ])('%s', (text, spec) => {
    expect(parsePortSpec(text)).toEqual({ ok: true, spec });
  });
  it.each(['tcp/', 'tcp/65536', 'TCP/80', 'tcp/80,81', 'icmp/8', 'tcp/080'])('rejects %s', (text) => {
    expect(parsePortSpec(text).ok).toBe(false);
  });
});
