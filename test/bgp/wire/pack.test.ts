// UPDATE packing: every message within the limit, as few messages as fit, decodes back
// to the same prefix set with the same attributes; End-of-RIB; a full table's worth.
// (How fast it packs is measured by bench/bgp-advertise, not asserted here.)
import { describe, expect, test } from 'vitest';
import {
  canonicalPrefix,
  decodeMessage,
  encodeEndOfRib,
  isEndOfRib,
  packAnnouncements,
  packWithdrawals,
  type CodecContext,
  type Family,
  type PathAttributes,
  type UpdateMessage,
} from '../../../bgp/wire/index.js';

const ctx: CodecContext = { asn4: true, extendedMessage: false, extendedNextHopV4: true };
const ext: CodecContext = { ...ctx, extendedMessage: true };
const attrs: PathAttributes = { origin: 0, asPath: [{ type: 'sequence', asns: [4200000001] }], med: 0, communities: [0xfde90001] };

const host4 = (n: number): string[] => Array.from({ length: n }, (_, i) => `${198 + Math.floor(i / 65536 / 256)}.${18 + Math.floor(i / 65536)}.${(i >> 8) & 255}.${i & 255}/32`);
const host6 = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => canonicalPrefix(`2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128`));

function decodeAll(msgs: Buffer[], c: CodecContext): UpdateMessage[] {
  return msgs.map((m) => decodeMessage(m, c) as UpdateMessage);
}

describe('packAnnouncements', () => {
  test.each([
    ['IPv4, IPv4 next hop, 4096', 'ipv4-unicast', ['203.0.113.2'], ctx],
    ['IPv4, IPv4 next hop, 65535', 'ipv4-unicast', ['203.0.113.2'], ext],
    ['IPv4, IPv6 next hop (RFC 8950)', 'ipv4-unicast', ['2001:db8::2'], ctx],
    ['IPv6, global + link-local', 'ipv6-unicast', ['2001:db8::2', 'fe80::2'], ctx],
    ['IPv6, global, 65535', 'ipv6-unicast', ['2001:db8::2'], ext],
  ] as const)('%s', (_name, family: Family, nextHops, c) => {
    const prefixes = family === 'ipv4-unicast' ? host4(20_000) : host6(20_000);
    const msgs = packAnnouncements(family, attrs, nextHops, prefixes, c);
    const limit = c.extendedMessage ? 65535 : 4096;
    for (const m of msgs) expect(m.length).toBeLessThanOrEqual(limit);
    const decoded = decodeAll(msgs, c);
    const got: string[] = [];
    for (const u of decoded) {
      expect(u.handling).toBe('none');
      const { nextHop, ...rest } = u.attributes;
      expect(rest).toEqual(attrs);
      if (family === 'ipv4-unicast' && nextHops[0]!.includes('.')) {
        expect(nextHop).toBe(nextHops[0]);
        got.push(...u.nlri);
      } else {
        expect(nextHop).toBeUndefined();
        expect(u.mpReach?.nextHops).toEqual(nextHops);
        got.push(...u.mpReach!.nlri);
      }
    }
    expect(got).toEqual(prefixes);
    // Minimal: every prefix is the same size here, so the count is exactly the ceiling.
    const room = limit - (msgs[0]!.length - (family === 'ipv4-unicast' && nextHops[0]!.includes('.') ? decoded[0]!.nlri.length : decoded[0]!.mpReach!.nlri.length) * (family === 'ipv4-unicast' ? 5 : 17));
    const per = Math.floor(room / (family === 'ipv4-unicast' ? 5 : 17));
    expect(msgs.length).toBe(Math.ceil(prefixes.length / per));
    // All but the last message are full: no room left for one more prefix.
    for (const m of msgs.slice(0, -1)) expect(limit - m.length).toBeLessThan(family === 'ipv4-unicast' ? 5 : 17);
  });

  test('mixed prefix lengths: within limits and at most one message above the byte bound', () => {
    const prefixes = [...host4(3000), ...Array.from({ length: 3000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`), '0.0.0.0/0'];
    const msgs = packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], prefixes, ctx);
    const decoded = decodeAll(msgs, ctx);
    expect(decoded.flatMap((u) => u.nlri)).toEqual(prefixes);
    const fixed = msgs[0]!.length - decoded[0]!.nlri.reduce((n, p) => n + 1 + Math.ceil(Number(p.split('/')[1]) / 8), 0);
    const total = prefixes.reduce((n, p) => n + 1 + Math.ceil(Number(p.split('/')[1]) / 8), 0);
    expect(msgs.length).toBeLessThanOrEqual(Math.ceil(total / (4096 - fixed)) + 1);
  });

  test('2-octet peer: AS4_PATH goes along in every message', () => {
    const old: CodecContext = { asn4: false, extendedMessage: false };
    const msgs = packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], host4(2000), old);
    for (const u of decodeAll(msgs, old)) expect(u.attributes.asPath).toEqual(attrs.asPath);
  });

  test('errors: wrong family, IPv6 next hop for IPv4 without RFC 8950, no next hop', () => {
    expect(() => packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], ['2001:db8::/32'], ctx)).toThrow(/not an IPv4 prefix/);
    expect(() => packAnnouncements('ipv4-unicast', attrs, ['2001:db8::2'], ['198.51.100.0/24'], { asn4: true, extendedMessage: false })).toThrow(/RFC 8950/);
    expect(() => packAnnouncements('ipv6-unicast', attrs, [], ['2001:db8::/32'], ctx)).toThrow(/next hop/);
    expect(packAnnouncements('ipv6-unicast', attrs, ['2001:db8::2'], [], ctx)).toEqual([]);
  });

  test('IPv6 over an IPv4-only session: IPv4-mapped next hop', () => {
    const [m] = packAnnouncements('ipv6-unicast', attrs, ['203.0.113.2'], ['2001:db8::/32'], ctx);
    expect((decodeMessage(m!, ctx) as UpdateMessage).mpReach?.nextHops).toEqual(['::ffff:203.0.113.2']);
  });

  test('packs 100k prefixes per family: every prefix exactly once, in as few messages as fit', () => {
    for (const [family, prefixes, nextHops] of [
      ['ipv4-unicast', host4(100_000), ['203.0.113.2']],
      ['ipv6-unicast', host6(100_000), ['2001:db8::2', 'fe80::2']],
    ] as const) {
      const t = performance.now();
      const msgs = packAnnouncements(family, attrs, nextHops, prefixes, ctx);
      const ms = performance.now() - t;
      const got = decodeAll(msgs, ctx).flatMap((u) => (family === 'ipv4-unicast' ? u.nlri : (u.mpReach?.nlri ?? [])));
      expect(got.length).toBe(prefixes.length);
      expect(new Set(got)).toEqual(new Set(prefixes));
      // Each message but the last is full: one more prefix would not have fitted.
      const per = family === 'ipv4-unicast' ? 5 : 17;
      for (const m of msgs.slice(0, -1)) expect(4096 - m.length).toBeLessThan(per);
      console.log(`pack 100k ${family}: ${msgs.length} messages, ${ms.toFixed(1)} ms (informational; bench/bgp-advertise measures speed)`);
    }
  });
});

describe('packWithdrawals', () => {
  test.each([
    ['ipv4-unicast', ctx],
    ['ipv6-unicast', ctx],
    ['ipv4-unicast', ext],
  ] as const)('%s', (family: Family, c) => {
    const prefixes = family === 'ipv4-unicast' ? host4(10_000) : host6(10_000);
    const msgs = packWithdrawals(family, prefixes, c);
    const limit = c.extendedMessage ? 65535 : 4096;
    for (const m of msgs.slice(0, -1)) {
      expect(m.length).toBeLessThanOrEqual(limit);
      expect(limit - m.length).toBeLessThan(family === 'ipv4-unicast' ? 5 : 17);
    }
    const got = decodeAll(msgs, c).flatMap((u) => (family === 'ipv4-unicast' ? u.withdrawn : u.mpUnreach!.withdrawn));
    expect(got).toEqual(prefixes);
  });
});

describe('End-of-RIB (RFC 4724 2)', () => {
  test('encode and recognise', () => {
    expect(encodeEndOfRib('ipv4-unicast').length).toBe(23);
    for (const f of ['ipv4-unicast', 'ipv6-unicast'] as const) {
      expect(isEndOfRib(decodeMessage(encodeEndOfRib(f)) as UpdateMessage)).toBe(f);
    }
  });

  test('an UPDATE with content is not End-of-RIB', () => {
    const [a] = packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], ['198.51.100.0/24'], ctx);
    expect(isEndOfRib(decodeMessage(a!) as UpdateMessage)).toBeNull();
    const [w] = packWithdrawals('ipv6-unicast', ['2001:db8::/32'], ctx);
    expect(isEndOfRib(decodeMessage(w!) as UpdateMessage)).toBeNull();
  });
});
