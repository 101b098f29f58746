// policy/cidr.ts: parsing and canonical text of both families, containment and overlap,
// and a property test against Node's own address parser (node:net BlockList / isIP).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { cidrContains, cidrOverlaps, formatIpv6, linkLocalFromMac, mustCidr, parseCidr, parseIp, parseIpv6 } from '../../policy/cidr.js';

describe('cidr', () => {
  it('formats IPv6 per RFC 5952', () => {
    expect(formatIpv6(parseIpv6('2001:0DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
    expect(formatIpv6(parseIpv6('2001:db8:0:1:0:0:0:1')!)).toBe('2001:db8:0:1::1');
    expect(formatIpv6(parseIpv6('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(parseIpv6('2001:db8:1:1:1:1:0:1')!)).toBe('2001:db8:1:1:1:1:0:1');
    expect(formatIpv6(parseIpv6('::ffff:192.0.2.1')!)).toBe('::ffff:c000:201');
    expect(formatIpv6(0n)).toBe('::');
  });

  it('rejects malformed addresses', () => {
    for (const s of ['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '::g', '1:2:3:4:5:6:7::8']) {
      expect(parseIp(s), s).toBeUndefined();
    }
  });

  it('containment and overlap', () => {
    const a = mustCidr('198.51.100.0/24');
    expect(cidrContains(a, mustCidr('198.51.100.128/25'))).toBe(true);
    expect(cidrContains(mustCidr('198.51.100.128/25'), a)).toBe(false);
    expect(cidrOverlaps(a, mustCidr('198.51.101.0/24'))).toBe(false);
    expect(cidrOverlaps(mustCidr('2001:db8::/32'), mustCidr('2001:db8:c:1::/64'))).toBe(true);
    expect(cidrOverlaps(a, mustCidr('2001:db8::/32'))).toBe(false);
  });

  it('agrees with node:net on what is an address, and canonical text round-trips', () => {
    const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
      .map((g) => g.map((x) => x.toString(16)).join(':'));
    fc.assert(fc.property(fc.oneof(fc.ipV4(), v6, fc.ipV6()), fc.nat(128), (addr, n) => {
      const ip = parseIp(addr);
      expect(ip !== undefined).toBe(isIP(addr) !== 0);
      if (!ip) return;
      const len = Math.min(n, ip.family === 4 ? 32 : 128);
      const p = parseCidr(`${addr}/${len}`);
      // Either it is canonical already, or the fix names a canonical form that parses.
      const text = p.ok ? p.canonical : /write "([^"]+)"/.exec(p.fix)![1]!;
      const again = parseCidr(text);
      expect(again.ok).toBe(true);
    }), { numRuns: 500 });
  });

  it('linkLocalFromMac: modified EUI-64 (RFC 4291 2.5.1, appendix A), as the kernel makes it', () => {
    // The host veth's fixed MAC and the link-local the dataplane relies on.
    expect(linkLocalFromMac('ee:ee:ee:ee:ee:ee')).toBe('fe80::ecee:eeff:feee:eeee');
    // The universal/local bit is inverted: a locally administered 02:… becomes 00…
    expect(linkLocalFromMac('02:01:02:03:04:05')).toBe('fe80::1:2ff:fe03:405');
    expect(linkLocalFromMac('00:1A:2b:3c:4d:5e')).toBe('fe80::21a:2bff:fe3c:4d5e');
    for (const bad of ['', '02:01:02:03:04', '02:01:02:03:04:05:06', 'zz:01:02:03:04:05', '0201.0203.0405']) expect(linkLocalFromMac(bad)).toBeUndefined();
  });
});
