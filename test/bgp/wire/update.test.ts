// UPDATE: round trips for every attribute, MP_REACH/MP_UNREACH next-hop forms, and the
// RFC 6793 2-octet/4-octet AS conversions (AS_TRANS + AS4_PATH / AS4_AGGREGATOR).
import { describe, expect, test } from 'vitest';
import {
  AS_TRANS,
  decodeMessage,
  decodeUpdate,
  encodeMessage,
  encodeUpdate,
  mergeAs4Path,
  type CodecContext,
  type PathAttributes,
  type UpdateMessage,
} from '../../../bgp/wire/index.js';
import { hex, rawAttr, updateBody } from './helpers.js';

const ctx4: CodecContext = { asn4: true, extendedMessage: false };
const ctx2: CodecContext = { asn4: false, extendedMessage: false };

function update(p: Partial<UpdateMessage>): UpdateMessage {
  return { type: 'UPDATE', withdrawn: [], nlri: [], attributes: {}, handling: 'none', errors: [], ...p };
}

const full: PathAttributes = {
  origin: 2,
  asPath: [
    { type: 'sequence', asns: [65001, 4200000001, 65002] },
    { type: 'set', asns: [65010, 65011] },
  ],
  nextHop: '203.0.113.1',
  med: 100,
  localPref: 200,
  atomicAggregate: true,
  aggregator: { asn: 4200000009, address: '192.0.2.9' },
  communities: [0xfde90001, 0xffffff01],
  largeCommunities: [
    [4200000001, 1, 2],
    [65001, 0, 0],
  ],
  unknown: [{ flags: 0xe0, code: 99, value: hex('deadbeef') }],
};

describe('round trips', () => {
  test('every attribute, 4-octet session', () => {
    const m = update({ withdrawn: ['10.0.0.0/8'], nlri: ['198.51.100.0/24', '198.51.100.7/32'], attributes: full });
    expect(decodeMessage(encodeMessage(m, ctx4), ctx4)).toEqual(m);
  });

  test('every attribute, 2-octet session (AS4_PATH/AS4_AGGREGATOR on the wire, merged back)', () => {
    const m = update({ nlri: ['198.51.100.0/24'], attributes: full });
    expect(decodeMessage(encodeMessage(m, ctx2), ctx2)).toEqual(m);
  });

  test.each([
    ['IPv6, global next hop', { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8:c::/48', '2001:db8::7/128'] }],
    ['IPv6, global + link-local', { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8:c::/48'] }],
    ['IPv4 over an IPv6 next hop (RFC 8950)', { afi: 1, safi: 1, nextHops: ['2001:db8::1'], nlri: ['198.51.100.7/32'] }],
    ['IPv4 over an IPv6 next hop with link-local', { afi: 1, safi: 1, nextHops: ['2001:db8::1', 'fe80::2'], nlri: ['198.51.100.7/32'] }],
    ['IPv4 in MP_REACH with IPv4 next hop', { afi: 1, safi: 1, nextHops: ['203.0.113.1'], nlri: ['198.51.100.7/32'] }],
  ])('MP_REACH_NLRI: %s', (_name, mpReach) => {
    const m = update({ attributes: { origin: 0, asPath: [] }, mpReach });
    expect(decodeMessage(encodeMessage(m, ctx4), ctx4)).toEqual(m);
  });

  test('IPv6 next hop lengths on the wire are 16 and 32 (RFC 2545 3)', () => {
    const one = encodeUpdate(update({ mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: [] } }), ctx4);
    expect(one.subarray(4 + 3 + 3)[0]).toBe(16);
    const two = encodeUpdate(update({ mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: [] } }), ctx4);
    expect(two.subarray(4 + 3 + 3)[0]).toBe(32);
  });

  test('an all-zero link-local half is dropped', () => {
    const v = hex('0002 01 20 20010db8000000000000000000000001 00000000000000000000000000000000 00 40 20010db800000001');
    const u = decodeUpdate(updateBody(Buffer.alloc(0), Buffer.concat([rawAttr(0x40, 1, '00'), rawAttr(0x40, 2, ''), rawAttr(0x80, 14, v.toString('hex'))]), Buffer.alloc(0)), ctx4);
    expect(u.mpReach).toEqual({ afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8:0:1::/64'] });
  });

  test('MP_UNREACH_NLRI', () => {
    const m = update({ mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:c::/48'] } });
    expect(decodeMessage(encodeMessage(m, ctx4), ctx4)).toEqual(m);
  });

  test('MP_REACH_NLRI is the first attribute (RFC 7606 5.1), the rest ascend, long values use Extended Length', () => {
    const communities = Array.from({ length: 100 }, (_, i) => 0xfde90000 + i);
    const m = update({ nlri: ['198.51.100.0/24'], attributes: { ...full, communities }, mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8::/32'] } });
    const body = encodeUpdate(m, ctx4);
    const alen = body.readUInt16BE(2);
    const codes: number[] = [];
    let i = 4;
    while (i < 4 + alen) {
      const ext = (body[i]! & 0x10) !== 0;
      codes.push(body[i + 1]!);
      if (body[i + 1] === 8) expect(ext).toBe(true);
      i += ext ? 4 + body.readUInt16BE(i + 2) : 3 + body[i + 2]!;
    }
    expect(codes[0]).toBe(14);
    expect(codes.slice(1)).toEqual([...codes.slice(1)].sort((a, b) => a - b));
    expect(decodeUpdate(body, ctx4).attributes.communities).toEqual(communities);
  });

  test('unknown optional transitive attributes go out with Partial set; non-transitive ones are dropped', () => {
    const attrs = Buffer.concat([rawAttr(0x40, 1, '00'), rawAttr(0x40, 2, ''), rawAttr(0xc0, 99, 'aa'), rawAttr(0x80, 98, 'bb')]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, Buffer.alloc(0)), ctx4);
    expect(u.attributes.unknown).toEqual([{ flags: 0xc0, code: 99, value: hex('aa') }]);
    const out = encodeUpdate(u, ctx4);
    expect(out.includes(hex('e06301aa'))).toBe(true);
    expect(out.includes(hex('6201bb'))).toBe(false);
  });

  test('known pass-through attributes (extended communities) keep their flags', () => {
    const attrs = Buffer.concat([rawAttr(0x40, 1, '00'), rawAttr(0x40, 2, ''), rawAttr(0xc0, 16, '0002fde900000001')]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, Buffer.alloc(0)), ctx4);
    expect(encodeUpdate(u, ctx4).includes(hex('c010080002fde900000001'))).toBe(true);
  });

  test('LOCAL_PREF from an external peer is discarded (RFC 7606 7.5) and not sent to one', () => {
    const ext: CodecContext = { ...ctx4, internal: false };
    const m = update({ nlri: ['198.51.100.0/24'], attributes: { origin: 0, asPath: [], nextHop: '203.0.113.1', localPref: 100 } });
    expect(decodeUpdate(encodeUpdate(m, ctx4), ext).attributes.localPref).toBeUndefined();
    expect(decodeUpdate(encodeUpdate(m, ext), ctx4).attributes.localPref).toBeUndefined();
    expect(decodeUpdate(encodeUpdate(m, ctx4), { ...ctx4, internal: true }).attributes.localPref).toBe(100);
  });
});

describe('RFC 6793: 2-octet and 4-octet AS', () => {
  test('encode towards a 2-octet peer: AS_TRANS in AS_PATH, the real path in AS4_PATH', () => {
    const m = update({
      nlri: ['198.51.100.0/24'],
      attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65001, 4200000001] }], nextHop: '203.0.113.1', aggregator: { asn: 4200000009, address: '192.0.2.9' } },
    });
    const body = encodeUpdate(m, ctx2);
    expect(body.includes(hex('40 02 06 02 02 fde9 5ba0'))).toBe(true); // AS_PATH 65001 23456
    expect(body.includes(hex('c0 11 0a 02 02 0000fde9 fa56ea01'))).toBe(true); // AS4_PATH
    expect(body.includes(hex('c0 07 06 5ba0 c0000209'))).toBe(true); // AGGREGATOR AS_TRANS
    expect(body.includes(hex('c0 12 08 fa56ea09 c0000209'))).toBe(true); // AS4_AGGREGATOR
    expect(AS_TRANS).toBe(0x5ba0);
  });

  test('no AS4_PATH when every ASN fits in two octets', () => {
    const m = update({ nlri: ['198.51.100.0/24'], attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '203.0.113.1' } });
    expect(encodeUpdate(m, ctx2).includes(hex('c011'))).toBe(false);
  });

  test('a 2-octet peer path with AS_TRANS merged with AS4_PATH (RFC 6793 4.2.3)', () => {
    // AS_PATH: 65002 23456 23456 65003 (4 ASNs), AS4_PATH: 4200000001 4200000002 65003 (3)
    const attrs = Buffer.concat([
      rawAttr(0x40, 1, '00'),
      rawAttr(0x40, 2, '0204 fdea 5ba0 5ba0 fdeb'),
      rawAttr(0x40, 3, 'cb007101'),
      rawAttr(0xc0, 17, '0203 fa56ea01 fa56ea02 0000fdeb'),
    ]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, hex('18c63364')), ctx2);
    expect(u.attributes.asPath).toEqual([{ type: 'sequence', asns: [65002, 4200000001, 4200000002, 65003] }]);
    expect(u.handling).toBe('none');
  });

  test('an AGGREGATOR with a real 2-octet AS makes AS4_PATH stale: ignored (RFC 6793 4.2.3)', () => {
    const attrs = Buffer.concat([
      rawAttr(0x40, 1, '00'),
      rawAttr(0x40, 2, '0202 fdea 5ba0'),
      rawAttr(0x40, 3, 'cb007101'),
      rawAttr(0xc0, 7, 'fde9 c0000209'), // AGGREGATOR 65001, a real 2-octet AS
      rawAttr(0xc0, 17, '0202 0000fdea fa56ea01'),
    ]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, hex('18c63364')), ctx2);
    expect(u.attributes.asPath).toEqual([{ type: 'sequence', asns: [65002, 23456] }]);
    expect(u.attributes.aggregator).toEqual({ asn: 65001, address: '192.0.2.9' });
  });

  test('to a 2-octet peer, AGGREGATOR says AS_TRANS whenever AS4_PATH goes out, so the path survives', () => {
    const m = update({
      nlri: ['198.51.100.0/24'],
      attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65002, 4200000001] }], nextHop: '203.0.113.1', aggregator: { asn: 65001, address: '192.0.2.9' } },
    });
    const body = encodeUpdate(m, ctx2);
    expect(body.includes(hex('c00706 5ba0 c0000209'))).toBe(true); // AGGREGATOR AS_TRANS
    expect(body.includes(hex('c01208 0000fde9 c0000209'))).toBe(true); // AS4_AGGREGATOR 65001
    const back = decodeUpdate(body, ctx2);
    expect(back.attributes.asPath).toEqual(m.attributes.asPath);
    expect(back.attributes.aggregator).toEqual({ asn: 65001, address: '192.0.2.9' });
    // Without a 4-octet AS in the path no AS4 attribute is needed: AGGREGATOR stays as is.
    const plain = encodeUpdate(update({ ...m, attributes: { ...m.attributes, asPath: [{ type: 'sequence', asns: [65002] }] } }), ctx2);
    expect(plain.includes(hex('c00706 fde9 c0000209'))).toBe(true);
    expect(plain.includes(hex('c012'))).toBe(false);
  });

  test('AS4_PATH longer than AS_PATH is ignored', () => {
    expect(
      mergeAs4Path([{ type: 'sequence', asns: [23456] }], [{ type: 'sequence', asns: [4200000001, 4200000002] }]),
    ).toEqual([{ type: 'sequence', asns: [23456] }]);
  });

  test('confederation segments and sets in AS_PATH are kept in front', () => {
    expect(
      mergeAs4Path(
        [
          { type: 'confed-sequence', asns: [64512] },
          { type: 'sequence', asns: [65001, 23456] },
          { type: 'set', asns: [23456, 65005] },
        ],
        [
          { type: 'sequence', asns: [4200000001] },
          { type: 'set', asns: [4200000002, 65005] },
        ],
      ),
    ).toEqual([
      { type: 'confed-sequence', asns: [64512] },
      { type: 'sequence', asns: [65001, 4200000001] },
      { type: 'set', asns: [4200000002, 65005] },
    ]);
  });

  test('AGGREGATOR with a real 2-octet ASN: AS4_AGGREGATOR and AS4_PATH are ignored', () => {
    const attrs = Buffer.concat([
      rawAttr(0x40, 1, '00'),
      rawAttr(0x40, 2, '0201 5ba0'),
      rawAttr(0x40, 3, 'cb007101'),
      rawAttr(0xc0, 7, 'fde9 c0000209'),
      rawAttr(0xc0, 17, '0201 fa56ea01'),
      rawAttr(0xc0, 18, 'fa56ea09 c0000209'),
    ]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, hex('18c63364')), ctx2);
    expect(u.attributes.aggregator).toEqual({ asn: 65001, address: '192.0.2.9' });
    expect(u.attributes.asPath).toEqual([{ type: 'sequence', asns: [AS_TRANS] }]);
  });

  test('AS4_PATH from a 4-octet peer is ignored (RFC 6793 4.1)', () => {
    const attrs = Buffer.concat([rawAttr(0x40, 1, '00'), rawAttr(0x40, 2, '0201 0000fde9'), rawAttr(0x40, 3, 'cb007101'), rawAttr(0xc0, 17, '0201 fa56ea01')]);
    const u = decodeUpdate(updateBody(Buffer.alloc(0), attrs, hex('18c63364')), ctx4);
    expect(u.attributes.asPath).toEqual([{ type: 'sequence', asns: [65001] }]);
    expect(u.attributes.unknown).toBeUndefined();
  });

  test('segments longer than 255 ASNs are split on the wire', () => {
    const asns = Array.from({ length: 300 }, (_, i) => 65000 + i);
    const m = update({ nlri: ['198.51.100.0/24'], attributes: { origin: 0, asPath: [{ type: 'sequence', asns }], nextHop: '203.0.113.1' } });
    const back = decodeUpdate(encodeUpdate(m, ctx4), ctx4);
    expect(back.attributes.asPath?.map((s) => s.asns.length)).toEqual([255, 45]);
    expect(back.attributes.asPath?.flatMap((s) => s.asns)).toEqual(asns);
  });
});
