/**
 * The label contract, one row per case: which containers are wired, which are left
 * alone, and that every refusal names the label, the value and the fix.
 */
import { describe, expect, it } from 'vitest';
import { classifyContainer, type ContainerFacts } from '../../../src/runtime/labels.js';

const ZONES = ['app', 'dmz', 'backend-2'];
const facts = (labels: Record<string, string>, networkMode = 'none'): ContainerFacts => ({
  id: 'a'.repeat(64),
  name: 'web',
  pid: 4242,
  running: true,
  networkMode,
  labels,
});

describe('classifyContainer: wanted', () => {
  const rows: [string, Record<string, string>, Partial<{ zone: string; ipv4: string; ipv6: string }>][] = [
    ['zone only', { 'routectl.zone': 'app' }, { zone: 'app' }],
    ['zone with digits and dash', { 'routectl.zone': 'backend-2' }, { zone: 'backend-2' }],
    ['fixed IPv4', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.77' }, { zone: 'app', ipv4: '198.51.100.77' }],
    ['fixed IPv6, canonicalised (RFC 5952)', { 'routectl.zone': 'dmz', 'routectl.ipv6': '2001:DB8:C:1:0:0:0:77' }, { zone: 'dmz', ipv6: '2001:db8:c:1::77' }],
    ['both', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.5', 'routectl.ipv6': '2001:db8::5' }, { zone: 'app', ipv4: '198.51.100.5', ipv6: '2001:db8::5' }],
    ['foreign labels kept, not judged', { 'routectl.zone': 'app', 'com.example.team': 'x' }, { zone: 'app' }],
  ];
  it.each(rows)('%s', (_name, labels, want) => {
    const c = classifyContainer(facts(labels), ZONES);
    expect(c.kind).toBe('wanted');
    if (c.kind !== 'wanted') return;
    expect(c.endpoint).toEqual({ id: 'a'.repeat(64), name: 'web', pid: 4242, labels, ...want });
  });
});

describe('classifyContainer: ignored', () => {
  it.each([
    ['no labels', {}],
    ['only foreign labels', { 'com.docker.compose.project': 'x', routectl: 'app' }],
  ])('%s', (_n, labels) => {
    expect(classifyContainer(facts(labels), ZONES)).toEqual({ kind: 'ignored' });
    // Not ours, whatever its network mode.
    expect(classifyContainer(facts(labels, 'bridge'), ZONES)).toEqual({ kind: 'ignored' });
  });
});

describe('classifyContainer: invalid (left alone, error names label, value and fix)', () => {
  const rows: [string, Record<string, string>, string, RegExp[]][] = [
    ['unknown zone', { 'routectl.zone': 'db' }, 'none', [/routectl\.zone="db"/, /names no zone/, /known zones: app, dmz, backend-2/, /agent\.yaml/]],
    ['zone with capitals', { 'routectl.zone': 'App' }, 'none', [/routectl\.zone="App"/, /not a zone name/, /starting with a letter/]],
    ['zone starting with a digit', { 'routectl.zone': '1app' }, 'none', [/routectl\.zone="1app"/, /not a zone name/]],
    ['zone too long', { 'routectl.zone': `a${'b'.repeat(31)}` }, 'none', [/not a zone name/, /1-31/]],
    ['empty zone', { 'routectl.zone': '' }, 'none', [/routectl\.zone=""/, /not a zone name/]],
    ['zone missing but an address set', { 'routectl.ipv4': '198.51.100.7' }, 'none', [/label routectl\.zone is missing/, /--label routectl\.zone=app/]],
    ['bad IPv4', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.300' }, 'none', [/routectl\.ipv4="198\.51\.100\.300"/, /not an IPv4 address/, /drop the label/]],
    ['IPv4 with prefix length', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.7/32' }, 'none', [/"198\.51\.100\.7\/32"/, /without a prefix length/]],
    ['IPv4 with leading zeros', { 'routectl.zone': 'app', 'routectl.ipv4': '198.51.100.077' }, 'none', [/not an IPv4 address/]],
    ['IPv6 in the IPv4 label', { 'routectl.zone': 'app', 'routectl.ipv4': '2001:db8::1' }, 'none', [/routectl\.ipv4="2001:db8::1"/, /not an IPv4 address/]],
    ['link-local IPv4 (the gateway range)', { 'routectl.zone': 'app', 'routectl.ipv4': '169.254.1.1' }, 'none', [/routectl\.ipv4="169\.254\.1\.1"/, /not a unicast address/]],
    ['multicast IPv4', { 'routectl.zone': 'app', 'routectl.ipv4': '224.0.0.5' }, 'none', [/not a unicast address/]],
    ['bad IPv6', { 'routectl.zone': 'app', 'routectl.ipv6': '2001:db8::g' }, 'none', [/routectl\.ipv6="2001:db8::g"/, /not an IPv6 address/, /2001:db8:c:1::77/]],
    ['IPv6 with zone index', { 'routectl.zone': 'app', 'routectl.ipv6': 'fe80::1%eth0' }, 'none', [/not an IPv6 address/]],
    ['link-local IPv6', { 'routectl.zone': 'app', 'routectl.ipv6': 'fe80::1' }, 'none', [/routectl\.ipv6="fe80::1"/, /not a unicast address/]],
    ['IPv4-mapped IPv6', { 'routectl.zone': 'app', 'routectl.ipv6': '::ffff:198.51.100.7' }, 'none', [/IPv4-mapped/]],
    ['misspelt label', { 'routectl.zone': 'app', 'routectl.ip4': '198.51.100.7' }, 'none', [/unknown label routectl\.ip4="198\.51\.100\.7"/, /routectl\.ipv4/, /spelling/]],
    ['not --net none (default bridge)', { 'routectl.zone': 'app' }, 'default', [/network mode "default"/, /--net none/, /docker run --net none --label routectl\.zone=app/]],
    ['not --net none (host)', { 'routectl.zone': 'app' }, 'host', [/network mode "host"/, /--net none/]],
    ['not --net none (another container)', { 'routectl.zone': 'app' }, 'container:abc', [/"container:abc"/, /--net none/]],
  ];
  it.each(rows)('%s', (_n, labels, mode, patterns) => {
    const c = classifyContainer(facts(labels, mode), ZONES);
    expect(c.kind).toBe('invalid');
    if (c.kind !== 'invalid') return;
    for (const p of patterns) expect(c.error).toMatch(p);
  });

  it('reports every problem at once, in one message', () => {
    const c = classifyContainer(facts({ 'routectl.zone': 'db', 'routectl.ipv4': 'x', 'routectl.ipv6': 'y' }, 'bridge'), ZONES);
    expect(c.kind).toBe('invalid');
    if (c.kind !== 'invalid') return;
    const parts = c.error.split('; ');
    expect(parts.some((p) => p.includes('--net none'))).toBe(true);
    expect(parts.some((p) => p.includes('routectl.zone="db"'))).toBe(true);
    expect(parts.some((p) => p.includes('routectl.ipv4="x"'))).toBe(true);
    expect(parts.some((p) => p.includes('routectl.ipv6="y"'))).toBe(true);
  });

  it('long label values and keys are quoted as 64-character excerpts with their full length', () => {
    const long = 'x'.repeat(100_000);
    const c = classifyContainer(
      facts({ 'routectl.zone': long, 'routectl.ipv4': `198.51.100.7${long}`, 'routectl.ipv6': long, [`routectl.${long}`]: long }, `container:${long}`),
      ZONES,
    );
    expect(c.kind).toBe('invalid');
    if (c.kind !== 'invalid') return;
    // Five problems, each a few hundred characters at most, from 500 kB of labels.
    expect(c.error.length).toBeLessThan(2000);
    expect(c.error.match(/…" \(1000\d\d characters\)/g)).toHaveLength(5);
    expect(c.error).toContain(`routectl.zone="${'x'.repeat(64)}…" (100000 characters) is not a zone name`);
    expect(c.error).toContain(`routectl.ipv4="198.51.100.7${'x'.repeat(52)}…" (100012 characters) is not an IPv4 address`);
    expect(c.error).toContain(`unknown label routectl.${'x'.repeat(55)}… (100009 characters)="${'x'.repeat(64)}…" (100000 characters)`);
    expect(c.error).toContain(`network mode "container:${'x'.repeat(54)}…" (100010 characters)`);
  });

  it('no zones configured: says so', () => {
    const c = classifyContainer(facts({ 'routectl.zone': 'app' }), []);
    expect(c).toMatchObject({ kind: 'invalid' });
    if (c.kind === 'invalid') expect(c.error).toContain('known zones: (none configured)');
  });
});
