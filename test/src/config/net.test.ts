/** Address and prefix canonicalisation, against the WHATWG URL parser as a reference for IPv6. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressInPrefix, canonicalAddress, canonicalHostPrefix, hasHostBits, hostPrefix, parsePrefix, prefixContains, prefixesOverlap } from '../../../src/net.js';
import { compileImportFilter } from '../../../src/config/import-filter.js';

describe('addresses', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 4.2.3: first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: a single zero group stays
    ['::', '::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['fe80::0001', 'fe80::1'],
  ])('%s -> %s', (input, out) => expect(canonicalAddress(input)).toBe(out));

  it.each(['192.0.2', '192.0.2.1.1', '01.2.3.4', '256.0.0.1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '12345::', ':1:2', 'g::1', ''])(
    'rejects %j',
    (input) => expect(canonicalAddress(input)).toBeNull(),
  );

  it('IPv6 canonical form matches the URL parser (RFC 5952 compression) for random addresses', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.boolean(), (groups, upper) => {
        let text = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
        if (upper) text = text.toUpperCase();
        const reference = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        expect(canonicalAddress(text)).toBe(reference);
        expect(canonicalAddress(reference)).toBe(reference);
      }),
      { numRuns: 500 },
    );
  });
});

describe('prefixes', () => {
  it('host bits, containment and overlap', () => {
    const p = (s: string) => parsePrefix(s) ?? (() => { throw new Error(s); })();
    expect(hasHostBits(p('198.51.100.1/24'))).toBe(true);
    expect(hasHostBits(p('198.51.100.0/24'))).toBe(false);
    expect(hasHostBits(p('0.0.0.0/0'))).toBe(false);
    expect(prefixContains(p('198.51.100.0/24'), p('198.51.100.128/25'))).toBe(true);
    expect(prefixContains(p('198.51.100.128/25'), p('198.51.100.0/24'))).toBe(false);
    expect(prefixContains(p('::/0'), p('198.51.100.0/24'))).toBe(false);
    expect(prefixesOverlap(p('2001:db8::/32'), p('2001:db8:c::/48'))).toBe(true);
    expect(prefixesOverlap(p('198.51.100.0/25'), p('198.51.100.128/25'))).toBe(false);
  });
});

describe('import prefix list', () => {
  it('has prefix-list semantics', () => {
    const accept = compileImportFilter(['0.0.0.0/0', '198.51.100.0/24 le 32', '2001:db8::/32 ge 48 le 64', '198.18.0.0/15 ge 24']);
    expect(accept('0.0.0.0/0')).toBe(true);
    expect(accept('10.0.0.0/8')).toBe(false); // 0.0.0.0/0 is exact: only the default route
    expect(accept('198.51.100.0/24')).toBe(true);
    expect(accept('198.51.100.7/32')).toBe(true);
    expect(accept('198.51.0.0/16')).toBe(false);
    expect(accept('2001:db8::/32')).toBe(false);
    expect(accept('2001:db8:1::/48')).toBe(true);
    expect(accept('2001:db8:1::/64')).toBe(true);
    expect(accept('2001:db8:1::/65')).toBe(false);
    expect(accept('198.19.1.0/24')).toBe(true);
    expect(accept('198.19.1.1/32')).toBe(true);
    expect(accept('198.19.0.0/16')).toBe(false);
    expect(accept('::/0')).toBe(false);
  });

  it('accepts nothing when empty', () => {
    expect(compileImportFilter([])('0.0.0.0/0')).toBe(false);
  });
});

describe('host prefixes and containment', () => {
  it('hostPrefix keeps the spelling; canonicalHostPrefix canonicalises or refuses', () => {
    expect(hostPrefix('198.51.100.7')).toBe('198.51.100.7/32');
    expect(hostPrefix('2001:db8:c:1::7')).toBe('2001:db8:c:1::7/128');
    expect(canonicalHostPrefix('2001:DB8:0:0::7')).toBe('2001:db8::7/128');
    expect(canonicalHostPrefix('198.51.100.300')).toBeNull();
  });

  it.each([
    ['198.51.100.5', '198.51.100.0/29', true],
    ['198.51.100.8', '198.51.100.0/29', false],
    ['2001:db8:c:1::3f', '2001:db8:c:1::/122', true],
    ['2001:db8:c:1::40', '2001:db8:c:1::/122', false],
    ['198.51.100.5', '::/0', false], // another family
    ['not-an-address', '198.51.100.0/24', false],
    ['198.51.100.5', 'nope', false],
  ])('addressInPrefix(%s, %s) = %s', (a, block, want) => {
    expect(addressInPrefix(a, block)).toBe(want);
  });
});
