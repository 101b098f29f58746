import { describe, expect, it } from 'vitest';
import { RibError } from '../../../bgp/rib/errors.js';
import { DesiredRoutes } from '../../../bgp/rib/desired.js';
import { canonicalPrefix, parsePrefix } from '../../../bgp/wire/prefix.js';
import { PrefixList, parsePrefixListEntry, toImportFilter } from '../../../bgp/rib/prefix-list.js';

describe('prefix parsing', () => {
  it('canonicalises IPv6 per RFC 5952 and IPv4', () => {
    expect(canonicalPrefix('2001:DB8:0:0:0:0:0:1/128')).toBe('2001:db8::1/128');
    expect(canonicalPrefix('2001:db8:0:0:1:0:0:0/80')).toBe('2001:db8:0:0:1::/80');
    expect(canonicalPrefix('2001:db8:0:0:1:0:0:1/128')).toBe('2001:db8::1:0:0:1/128'); // RFC 5952 4.2.3: first of equal runs
    expect(canonicalPrefix('2001:db8:0:1:1:1:1:1/128')).toBe('2001:db8:0:1:1:1:1:1/128'); // 4.2.2: one zero group stays
    expect(canonicalPrefix('::/0')).toBe('::/0');
    expect(canonicalPrefix('198.51.100.0/24')).toBe('198.51.100.0/24');
    expect(canonicalPrefix('::ffff:192.0.2.0/120')).toBe('::ffff:192.0.2.0/120') // RFC 5952 5: IPv4-mapped keeps the dotted quad;
  });
  it('rejects host bits, bad lengths and bad text', () => {
    for (const bad of ['198.51.100.1/24', '198.51.100.0/33', '1.2.3/8', '01.2.3.4/32', '2001:db8::1/64', 'x/1', '1.2.3.4', '1::2::3/128']) {
      expect(() => parsePrefix(bad), bad).toThrow();
      // Given by the speaker's callers, it is their error: a RibError naming the text.
      expect(() => parsePrefixListEntry(bad), bad).toThrow(RibError);
      expect(() => new DesiredRoutes().add([{ prefix: bad }]), bad).toThrow(RibError);
    }
  });
});

describe('PrefixList (import filter)', () => {
  it('a bare entry matches exactly that prefix', () => {
    const pl = new PrefixList(['0.0.0.0/0', '::/0']);
    expect(pl.accepts('0.0.0.0/0')).toBe(true);
    expect(pl.accepts('::/0')).toBe(true);
    expect(pl.accepts('198.51.100.0/24')).toBe(false);
    expect(pl.accepts('2001:db8::/32')).toBe(false);
  });
  it('le and ge bound the lengths inside the prefix', () => {
    const pl = new PrefixList(['198.51.100.0/24 le 32', '2001:db8::/32 ge 48 le 64', '10.0.0.0/8 ge 24']);
    expect(pl.accepts('198.51.100.0/24')).toBe(true);
    expect(pl.accepts('198.51.100.7/32')).toBe(true);
    expect(pl.accepts('198.51.0.0/16')).toBe(false);
    expect(pl.accepts('198.51.101.0/24')).toBe(false);
    expect(pl.accepts('2001:db8:1::/48')).toBe(true);
    expect(pl.accepts('2001:db8:1:2::/64')).toBe(true);
    expect(pl.accepts('2001:db8::/32')).toBe(false);
    expect(pl.accepts('2001:db8::1/128')).toBe(false);
    expect(pl.accepts('10.1.2.0/24')).toBe(true);
    expect(pl.accepts('10.1.2.3/32')).toBe(true);
    expect(pl.accepts('10.1.0.0/16')).toBe(false);
    expect(pl.accepts('198.51.100.0/24'.replace('198', '199'))).toBe(false);
  });
  it('families never cross', () => {
    expect(new PrefixList(['0.0.0.0/0 le 32']).accepts('2001:db8::/32')).toBe(false);
    expect(new PrefixList(['::/0 le 128']).accepts('198.51.100.0/24')).toBe(false);
  });
  it('empty list accepts nothing and says why', () => {
    const pl = toImportFilter(undefined);
    expect(pl.accepts('0.0.0.0/0')).toBe(false);
    expect(pl.reason('0.0.0.0/0')).toMatch(/empty/);
    expect(new PrefixList(['0.0.0.0/0']).reason('198.51.100.0/24')).toMatch(/no import entry matches 198.51.100.0\/24/);
  });
  it('rejects malformed entries with the rule', () => {
    expect(() => parsePrefixListEntry('198.51.100.0/24 le 16')).toThrow(/24 <= ge <= le <= 32/);
    expect(() => parsePrefixListEntry('198.51.100.0/24 ge 30 le 28')).toThrow(RibError);
    expect(() => parsePrefixListEntry('198.51.100.0/24 le 33')).toThrow(RibError);
    expect(() => parsePrefixListEntry('198.51.100.0/24 lt 30')).toThrow(/expected/);
    expect(() => parsePrefixListEntry('198.51.100.0/24 le')).toThrow(/expected/);
    expect(() => parsePrefixListEntry('198.51.100.0/24 le 30 ge 25')).toThrow(/ge before le/);
  });
  it('a predicate works as a filter', () => {
    const f = toImportFilter((p) => p.endsWith('/32'));
    expect(f.accepts('198.51.100.1/32')).toBe(true);
    expect(f.accepts('198.51.100.0/24')).toBe(false);
  });
});

describe('IPv6 text parsing', () => {
  it('accepts the RFC 4291 2.2 forms and rejects malformed text', () => {
    const good: [string, string][] = [
      ['::/0', '::/0'],
      ['::1/128', '::1/128'],
      ['2001:db8::/32', '2001:db8::/32'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1/128'],
      ['2001:db8:1:2:3:4:5:6/128', '2001:db8:1:2:3:4:5:6/128'],
      ['::ffff:198.51.100.1/128', '::ffff:198.51.100.1/128'],
      ['64:ff9b::198.51.100.1/128', '64:ff9b::c633:6401/128'],
      ['fe80::/10', 'fe80::/10'],
      ['2001:DB8::ABCD/128', '2001:db8::abcd/128'],
    ];
    for (const [t, c] of good) expect(canonicalPrefix(t), t).toBe(c);
    const bad = [':/0', ':::/0', '2001:db8:::1/128', '1:2:3:4:5:6:7:8:9/128', '1:2:3:4:5:6:7/128', '2001:db8::1::/128', '12345::/16', '2001:db8:/32', ':1::/16', 'g::/16', '::1.2.3/128', '1:2:3:4:5:6:7::8/128'];
    for (const t of bad) expect(() => parsePrefix(t), t).toThrow();
  });
});
