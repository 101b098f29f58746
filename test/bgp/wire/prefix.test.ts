// Prefixes, addresses and NLRI: canonical text (RFC 5952), host-bit rejection, NLRI round trips and speed.
import { describe, expect, test } from 'vitest';
import {
  BgpNotification,
  canonicalPrefix,
  decodeNlri,
  encodeNlri,
  formatIPv4,
  formatIPv6,
  isIPv4,
  isLinkLocalV6,
  parseAddress,
  parsePrefix,
  prefixContains,
  prefixFamily,
  sameAddress,
  addressInNetwork,
  addressSortKey,
  unmapAddress,
} from '../../../bgp/wire/index.js';
import { hex } from './helpers.js';

describe('canonicalPrefix', () => {
  test.each([
    ['198.51.100.0/24', '198.51.100.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1/128'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'], // RFC 5952 4.2.3: first longest run
    ['2001:db8:0:1:1:1:1:1/128', '2001:db8:0:1:1:1:1:1/128'], // RFC 5952 4.2.2: a single 0 is not ::
    ['::/0', '::/0'],
    ['::ffff:192.0.2.1/128', '::ffff:192.0.2.1/128'],
    ['fe80::1/128', 'fe80::1/128'],
  ])('%s -> %s', (input, out) => {
    expect(canonicalPrefix(input)).toBe(out);
  });

  test.each([
    ['198.51.100.1/24', /host bits set \(did you mean 198\.51\.100\.0\/24\?\)/],
    ['2001:db8::1/64', /host bits set \(did you mean 2001:db8::\/64\?\)/],
    ['198.51.100.0', /missing "\/length"/],
    ['198.51.100.0/33', /longer than 32/],
    ['2001:db8::/129', /longer than 128/],
    ['256.0.0.0/8', /not an IPv4 or IPv6 address/],
    ['01.2.3.0/24', /not an IPv4 or IPv6 address/],
    ['2001:db8:::/48', /not an IPv4 or IPv6 address/],
    ['1:2:3:4:5:6:7:8:9/128', /not an IPv4 or IPv6 address/],
    ['2001:db8::/024', /bad length/],
    ['fe80::1%eth0/128', /not an IPv4 or IPv6 address/],
  ])('rejects %s', (input, why) => {
    expect(() => canonicalPrefix(input)).toThrow(why);
  });
});

test('address helpers', () => {
  expect(isIPv4('203.0.113.1')).toBe(true);
  expect(isIPv4('203.0.113')).toBe(false);
  expect(isIPv4('2001:db8::1')).toBe(false);
  expect(isLinkLocalV6('fe80::1')).toBe(true);
  expect(isLinkLocalV6('febf::1')).toBe(true);
  expect(isLinkLocalV6('fec0::1')).toBe(false);
  expect(isLinkLocalV6('2001:db8::1')).toBe(false);
  expect(isLinkLocalV6('192.0.2.1')).toBe(false);
  expect(formatIPv4(hex('cb007101'))).toBe('203.0.113.1');
  expect(formatIPv6(hex('20010db8000000000000000000000001'))).toBe('2001:db8::1');
  expect(formatIPv6(hex('00000000000000000000000000000000'))).toBe('::');
  expect(formatIPv6(hex('20010db8000100000000000000000000'))).toBe('2001:db8:1::');
  expect(formatIPv6(parseAddress('1:0:0:2:0:0:0:3'))).toBe('1:0:0:2::3');
  expect(parsePrefix('2001:db8::/32')).toMatchObject({ afi: 2, len: 32 });
  expect(prefixFamily('2001:db8::/32')).toBe('ipv6-unicast');
  expect(prefixFamily('0.0.0.0/0')).toBe('ipv4-unicast');
});

test('prefixContains', () => {
  expect(prefixContains('198.51.100.0/24', '198.51.100.7/32')).toBe(true);
  expect(prefixContains('198.51.100.0/25', '198.51.100.128/32')).toBe(false);
  expect(prefixContains('0.0.0.0/0', '203.0.113.0/24')).toBe(true);
  expect(prefixContains('198.51.100.0/24', '198.51.100.0/23')).toBe(false);
  expect(prefixContains('::/0', '198.51.100.0/24')).toBe(false);
  expect(prefixContains('2001:db8:c::/48', '2001:db8:c:1::/64')).toBe(true);
  expect(prefixContains('2001:db8:c::/47', '2001:db8:d::/48')).toBe(true);
  expect(prefixContains('2001:db8:c::/48', '2001:db8:d::/48')).toBe(false);
});

describe('NLRI', () => {
  test('encodes the minimum octets and decodes back', () => {
    const v4 = ['0.0.0.0/0', '10.0.0.0/8', '198.51.100.0/24', '198.51.100.128/25', '203.0.113.7/32'];
    const b = encodeNlri(v4, 1);
    expect(b.toString('hex')).toBe('00' + '080a' + '18c63364' + '19c6336480' + '20cb007107');
    expect(decodeNlri(b, 1)).toEqual(v4);
    const v6 = ['::/0', '2001:db8::/32', '2001:db8:c:1::/64', '2001:db8::1/128'];
    expect(decodeNlri(encodeNlri(v6, 2), 2)).toEqual(v6);
  });

  test('masks bits past the prefix length when decoding (RFC 4271 4.3)', () => {
    expect(decodeNlri(hex('17c63365'), 1)).toEqual(['198.51.100.0/23']);
  });

  test.each([
    ['21c6336401ff', 1, /exceeds 32/],
    ['18c633', 1, /overruns/],
    ['8120010db8', 2, /exceeds 128/],
    ['40 20010db8', 2, /overruns/],
  ])('malformed %s is UPDATE / Invalid Network Field', (h, afi, why) => {
    let err: unknown;
    try {
      decodeNlri(hex(h), afi);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BgpNotification);
    expect((err as BgpNotification).code).toBe(3);
    expect((err as BgpNotification).subcode).toBe(10);
    expect((err as Error).message).toMatch(why);
  });

  test('encode rejects the wrong family and host bits', () => {
    expect(() => encodeNlri(['2001:db8::/32'], 1)).toThrow(/not an IPv4 prefix/);
    expect(() => encodeNlri(['198.51.100.1/24'], 1)).toThrow(/host bits/);
    expect(() => encodeNlri(['2001:db8::1/64'], 2)).toThrow(/host bits/);
  });

  test('decodes 1M prefixes: every one, in order', () => {
    const n = 1_000_000;
    const b = Buffer.alloc(n * 5);
    for (let i = 0; i < n; i++) {
      b[5 * i] = 32;
      b.writeUInt32BE((0xc6120000 + i) >>> 0, 5 * i + 1); // 198.18.0.0/15 and up
    }
    const out = decodeNlri(b, 1);
    expect(out.length).toBe(n);
    expect(out[0]).toBe('198.18.0.0/32');
    expect(out[n - 1]).toBe('198.33.66.63/32');
    expect(out[65536]).toBe('198.19.0.0/32');
  });
});

describe('address comparison, containment and order', () => {
  test('sameAddress: one address whatever the spelling, IPv4-mapped included; never for bad text', () => {
    expect(sameAddress('2001:DB8:0::1', '2001:db8::1')).toBe(true);
    expect(sameAddress('::ffff:192.0.2.1', '192.0.2.1')).toBe(true);
    expect(sameAddress('fe80::1%eth0', 'fe80::1')).toBe(true);
    expect(sameAddress('192.0.2.1', '192.0.2.2')).toBe(false);
    expect(sameAddress('192.0.2.1', '::ffff:192.0.2.2')).toBe(false);
    expect(sameAddress('x', 'y')).toBe(false);
    expect(unmapAddress('::ffff:203.0.113.2')).toBe('203.0.113.2');
  });
  test('addressInNetwork: an address inside an interface network (host bits of the network allowed)', () => {
    expect(addressInNetwork('192.0.2.9', '192.0.2.5/24')).toBe(true);
    expect(addressInNetwork('192.0.3.9', '192.0.2.5/24')).toBe(false);
    expect(addressInNetwork('2001:db8::9', '2001:db8::1/64')).toBe(true);
    expect(addressInNetwork('2001:db8:1::9', '2001:db8::1/64')).toBe(false);
    expect(addressInNetwork('192.0.2.9', '2001:db8::1/64')).toBe(false);
    expect(addressInNetwork('192.0.2.9', '192.0.2.5/33')).toBe(false);
    expect(addressInNetwork('nope', '192.0.2.5/24')).toBe(false);
  });
  test('addressSortKey: IPv4 before IPv6, then numerically', () => {
    const sorted = ['2001:db8::2', '10.0.0.1', '9.0.0.1', '2001:db8::10'].sort((a, b) => addressSortKey(a).localeCompare(addressSortKey(b)));
    expect(sorted).toEqual(['9.0.0.1', '10.0.0.1', '2001:db8::2', '2001:db8::10']);
  });
});
