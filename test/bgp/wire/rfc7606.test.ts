// The RFC 7606 case table: one row per malformed-UPDATE case, the action we take and,
// for session resets, the exact NOTIFICATION (RFC 4271 6.3). The rows marked `frr`
// come from FRR's tests/topotests bgp_rfc7606 suites (treat-as-withdraw,
// attribute-discard, session-reset); where our action differs from FRR's, `differs`
// says why (the RFC text we follow, or that we do not implement the attribute).
import { describe, expect, test } from 'vitest';
import { BgpNotification, decodeUpdate, extendedCommunitiesOf, type CodecContext, type ErrorHandling } from '../../../bgp/wire/index.js';
import { checkFirstAs } from '../../../bgp/rib/first-as.js';
import { hex, notificationOf, rawAttr, updateBody } from './helpers.js';

const EBGP: CodecContext = { asn4: true, extendedMessage: false, internal: false };
const IBGP: CodecContext = { asn4: true, extendedMessage: false, internal: true };
const OLD: CodecContext = { asn4: false, extendedMessage: false, internal: false };
const DISABLE: CodecContext = { ...EBGP, mpErrorHandling: 'afisafi-disable' };

interface Case {
  readonly name: string;
  readonly frr?: true;
  /** The attribute under test (replaces the base attribute of the same code). */
  readonly attr?: readonly [code: number, flags: number, value: string];
  /** Extra raw attribute octets appended after the base ones. */
  readonly extra?: string;
  /** Replace the base attributes entirely. */
  readonly attrs?: string;
  readonly nexthop?: string;
  readonly withdrawnField?: string;
  readonly nlriField?: string;
  /** Raw body instead of the assembled one. */
  readonly body?: string;
  readonly ctx?: CodecContext;
  readonly action: ErrorHandling;
  /** For session-reset: code/subcode, data ('attr' = the attribute under test). */
  readonly notification?: readonly [number, number, string?];
  readonly differs?: string;
}

const BASE: Record<number, [number, string]> = {
  1: [0x40, '00'], // ORIGIN IGP
  2: [0x40, '02010000fde9'], // AS_PATH 65001 (4-octet)
  3: [0x40, 'cb007101'], // NEXT_HOP 203.0.113.1
};
const BASE_OLD_ASPATH = '0201fde9';

function build(c: Case): { body: Buffer; attr: Buffer } {
  const attr = c.attr ? rawAttr(c.attr[1], c.attr[0], c.attr[2]) : Buffer.alloc(0);
  if (c.body) return { body: hex(c.body), attr };
  let attrs: Buffer;
  if (c.attrs !== undefined) {
    attrs = hex(c.attrs);
  } else {
    const parts: Buffer[] = [];
    for (const [code, [flags, v]] of Object.entries(BASE)) {
      const k = Number(code);
      if (c.attr && c.attr[0] === k) {
        parts.push(attr);
        continue;
      }
      let value = v;
      if (k === 2 && c.ctx && !c.ctx.asn4) value = BASE_OLD_ASPATH;
      if (k === 3 && c.nexthop) value = Buffer.from(c.nexthop.split('.').map(Number)).toString('hex');
      parts.push(rawAttr(flags, k, value));
    }
    if (c.attr && !(c.attr[0] in BASE)) parts.push(attr);
    if (c.extra) parts.push(hex(c.extra));
    attrs = Buffer.concat(parts);
  }
  return { body: updateBody(hex(c.withdrawnField ?? ''), attrs, hex(c.nlriField ?? '18c63364')), attr };
}

const W = 'treat-as-withdraw';
const D = 'attribute-discard';
const R = 'session-reset';
const UNIMPLEMENTED = 'attribute not implemented here: unknown optional attributes are passed on (transitive) or dropped (non-transitive) unchecked, RFC 4271 5';
const AS4_IGNORED = 'RFC 6793 4.1: AS4_PATH/AS4_AGGREGATOR from a 4-octet peer are ignored unchecked (route kept, attribute not used); from a 2-octet peer malformed ones are attribute-discard (RFC 6793 6)';

const CASES: readonly Case[] = [
  // ---- FRR bgp_rfc7606 treat-as-withdraw table ----
  { frr: true, name: 'origin-flag-optional', attr: [1, 0xc0, '00'], action: W },
  { frr: true, name: 'origin-flag-partial', attr: [1, 0x60, '00'], action: W },
  { frr: true, name: 'origin-len-0', attr: [1, 0x40, ''], action: W },
  { frr: true, name: 'origin-len-2', attr: [1, 0x40, '0000'], action: W },
  { frr: true, name: 'origin-value-3', attr: [1, 0x40, '03'], action: W },
  { frr: true, name: 'origin-value-4', attr: [1, 0x40, '04'], action: W },
  { frr: true, name: 'origin-value-255', attr: [1, 0x40, 'ff'], action: W },
  { frr: true, name: 'aspath-flag-optional', attr: [2, 0xc0, '02010000fde9'], action: W },
  { frr: true, name: 'aspath-flag-partial', attr: [2, 0x60, '02010000fde9'], action: W },
  { frr: true, name: 'aspath-seg-type-0', attr: [2, 0x40, '00010000fde9'], action: W },
  { frr: true, name: 'aspath-seg-type-5', attr: [2, 0x40, '05010000fde9'], action: W },
  { frr: true, name: 'aspath-seg-len-0', attr: [2, 0x40, '0200'], action: W },
  { frr: true, name: 'aspath-seg-len-overrun', attr: [2, 0x40, '02ff0000fde9'], action: W },
  { frr: true, name: 'aspath-as-zero', attr: [2, 0x40, '020100000000'], action: W },
  { frr: true, name: 'nexthop-zero', nexthop: '0.0.0.0', action: W },
  { frr: true, name: 'nexthop-loopback', nexthop: '127.0.0.1', action: W },
  { frr: true, name: 'nexthop-multicast', nexthop: '224.0.0.1', action: W },
  { frr: true, name: 'med-flag-trans', attr: [4, 0xc0, '0000000a'], action: W },
  { frr: true, name: 'med-len-3', attr: [4, 0x80, '000000'], action: W },
  { frr: true, name: 'med-len-5', attr: [4, 0x80, '000000000a'], action: W },
  { frr: true, name: 'med-len-0', attr: [4, 0x80, ''], action: W },
  { frr: true, name: 'local-pref-len-3 (iBGP)', attr: [5, 0x40, '000000'], ctx: IBGP, action: W },
  { frr: true, name: 'local-pref-len-5 (iBGP)', attr: [5, 0x40, '0000000064'], ctx: IBGP, action: W },
  { frr: true, name: 'local-pref-len-0 (iBGP)', attr: [5, 0x40, ''], ctx: IBGP, action: W },
  { frr: true, name: 'local-pref-flag-optional (iBGP)', attr: [5, 0xc0, '00000064'], ctx: IBGP, action: W },
  { frr: true, name: 'comm-flag-nontrans', attr: [8, 0x80, 'ffff0001'], action: W },
  { frr: true, name: 'comm-len-0', attr: [8, 0xc0, ''], action: W },
  { frr: true, name: 'comm-len-5', attr: [8, 0xc0, 'ffff000100'], action: W },
  { frr: true, name: 'originator-id-len-3 (iBGP)', attr: [9, 0x80, '0a0000'], ctx: IBGP, action: W },
  { frr: true, name: 'originator-id-len-5 (iBGP)', attr: [9, 0x80, '0a00000200'], ctx: IBGP, action: W },
  {
    frr: true,
    name: 'originator-id-flag-trans',
    attr: [9, 0xc0, '0a000002'],
    action: D,
    differs: 'FRR: treat-as-withdraw for every peer; we apply RFC 7606 7.9 (attribute discard from an external peer) to flag errors too',
  },
  { frr: true, name: 'originator-id-flag-trans (iBGP)', attr: [9, 0xc0, '0a000002'], ctx: IBGP, action: W },
  { frr: true, name: 'cluster-list-len-0 (iBGP)', attr: [10, 0x80, ''], ctx: IBGP, action: W },
  { frr: true, name: 'cluster-list-len-5 (iBGP)', attr: [10, 0x80, '0a00000200'], ctx: IBGP, action: W },
  {
    frr: true,
    name: 'cluster-list-flag-trans',
    attr: [10, 0xc0, '0a000002'],
    action: D,
    differs: 'FRR: treat-as-withdraw; we apply RFC 7606 7.10 (attribute discard from an external peer)',
  },
  { frr: true, name: 'extcomm-flag-nontrans', attr: [16, 0x80, '0002fde900000001'], action: W },
  { frr: true, name: 'extcomm-len-0', attr: [16, 0xc0, ''], action: W },
  { frr: true, name: 'extcomm-len-9', attr: [16, 0xc0, '0002fde90000000100'], action: W },
  { frr: true, name: 'as4path-flag-nontrans', attr: [17, 0x80, '020100010001'], action: 'none', differs: AS4_IGNORED },
  { frr: true, name: 'as4path-seg-type-0', attr: [17, 0xc0, '000100010001'], action: 'none', differs: AS4_IGNORED },
  { frr: true, name: 'pmsi-flag-nontrans', attr: [22, 0x80, '00060000000a000002'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'pmsi-len-4', attr: [22, 0xc0, '00060000'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'pmsi-type-8', attr: [22, 0xc0, '00080000000a000002'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'pmsi-type-255', attr: [22, 0xc0, '00ff0000000a000002'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'pmsi-ingress-repl-len-10', attr: [22, 0xc0, '00060000000a00000200'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'encap-flag-nontrans', attr: [23, 0x80, '00070000'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'encap-len-3', attr: [23, 0xc0, '000700'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'encap-outer-len-mismatch', attr: [23, 0xc0, '0007000401'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'encap-subtlv-overrun', attr: [23, 0xc0, '0007000401ff'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'ipv6-extcomm-flag-nontrans', attr: [25, 0x80, '000220010db80000000000000000000000010001'], action: W },
  { frr: true, name: 'ipv6-extcomm-len-0', attr: [25, 0xc0, ''], action: W },
  { frr: true, name: 'ipv6-extcomm-len-21', attr: [25, 0xc0, '000220010db8000000000000000000000001000100'], action: W },
  { frr: true, name: 'large-comm-flag-nontrans', attr: [32, 0x80, '0000fde90000000100000002'], action: W },
  { frr: true, name: 'large-comm-len-0', attr: [32, 0xc0, ''], action: W },
  { frr: true, name: 'large-comm-len-13', attr: [32, 0xc0, '0000fde9000000010000000200'], action: W },
  { frr: true, name: 'otc-flag-nontrans', attr: [35, 0x80, '0000fde9'], action: W },
  { frr: true, name: 'otc-len-3', attr: [35, 0xc0, '0000fd'], action: W },
  { frr: true, name: 'otc-len-5', attr: [35, 0xc0, '0000fde900'], action: W },
  { frr: true, name: 'otc-value-0', attr: [35, 0xc0, '00000000'], action: W },

  // ---- FRR bgp_rfc7606 attribute-discard table ----
  { frr: true, name: 'atomic-aggregate-len-1', attr: [6, 0x40, '00'], action: D },
  { frr: true, name: 'aggregator-len-5', attr: [7, 0xc0, '0000fde90a'], action: D },
  { frr: true, name: 'aggregator-len-7', attr: [7, 0xc0, '0000fde90a0000'], action: D },
  { frr: true, name: 'aggregator-len-9', attr: [7, 0xc0, '0000fde90a00000200'], action: D },
  { frr: true, name: 'aggregator-as-zero', attr: [7, 0xc0, '000000000a000002'], action: D },
  { frr: true, name: 'as4-aggregator-len-7', attr: [18, 0xc0, '0000fde90a0000'], action: 'none', differs: AS4_IGNORED },
  { frr: true, name: 'as4-aggregator-len-9', attr: [18, 0xc0, '0000fde90a00000200'], action: 'none', differs: AS4_IGNORED },
  { frr: true, name: 'originator-id-len-3 (eBGP)', attr: [9, 0x80, '0a0000'], action: D },
  { frr: true, name: 'originator-id-len-5 (eBGP)', attr: [9, 0x80, '0a00000200'], action: D },
  { frr: true, name: 'cluster-list-len-0 (eBGP)', attr: [10, 0x80, ''], action: D },
  { frr: true, name: 'cluster-list-len-5 (eBGP)', attr: [10, 0x80, '0a00000200'], action: D },
  { frr: true, name: 'aigp-flag-trans', attr: [26, 0xc0, '01000b0000000000000000000a'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'aigp-tlv-unknown-type', attr: [26, 0x80, '09000b0000000000000000000a'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'aigp-len-0', attr: [26, 0x80, ''], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'prefix-sid-tlv-overrun', attr: [40, 0xc0, '0100ff000000'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'link-state-tlv-overrun', attr: [29, 0x80, '040000ff00'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'nhc-tlv-overrun', attr: [39, 0xc0, '0001010001ff00'], action: 'none', differs: UNIMPLEMENTED },
  { frr: true, name: 'unknown-fd-nontransitive (dropped)', attr: [0xfd, 0x80, 'deadbeef'], action: 'none' },
  { frr: true, name: 'unknown-fe-transitive (kept)', attr: [0xfe, 0xc0, 'deadbeef'], action: 'none' },

  // ---- FRR bgp_rfc7606 session-reset table (RFC 7606 7.11) ----
  { frr: true, name: 'mp-reach-nexthop-len-bogus', attr: [14, 0x80, '000201 09 20010db80000000000 00 4020010db800000001'], action: R, notification: [3, 1, ''] },
  { frr: true, name: 'mp-reach-nexthop-len-overrun', attr: [14, 0x80, '000201 40 20010db8000000000000000000000001 00'], action: R, notification: [3, 1, ''] },
  { frr: true, name: 'mp-reach-truncated', attr: [14, 0x80, '000201 10 20010db800000000'], action: R, notification: [3, 1, ''] },
  { frr: true, name: 'mp-unreach-truncated', attr: [15, 0x80, '000201 40 20010db8'], action: R, notification: [3, 9, 'attr'] },

  // ---- further RFC 4271 6.3 / RFC 7606 cases ----
  { name: 'AS4_PATH with AS 0 from a 2-octet peer (RFC 7607, RFC 6793 6)', attr: [17, 0xc0, '020100000000'], ctx: OLD, action: D },
  { name: 'AS4_PATH with a confed segment from a 2-octet peer (RFC 6793 6)', attr: [17, 0xc0, '03010000fde9'], ctx: OLD, action: D },
  { name: 'AS4_PATH flags wrong from a 2-octet peer', attr: [17, 0x80, '02010000fde9'], ctx: OLD, action: D },
  { name: 'AS4_AGGREGATOR length 7 from a 2-octet peer', attr: [18, 0xc0, '0000fde90a0000'], ctx: OLD, action: D },
  { name: 'AGGREGATOR length 8 from a 2-octet peer', attr: [7, 0xc0, '0000fde90a000002'], ctx: OLD, action: D },
  { name: 'AS_PATH of 4-octet ASNs from a 2-octet peer (odd length)', attr: [2, 0x40, '0201fde9fd'], ctx: OLD, action: W },
  { name: 'ATOMIC_AGGREGATE flags optional', attr: [6, 0xc0, ''], action: D },
  { name: 'NEXT_HOP length 5 (RFC 7606 7.3)', attr: [3, 0x40, 'cb00710100'], action: W },
  { name: 'NEXT_HOP class E (RFC 4271 6.3 semantic)', nexthop: '240.0.0.1', action: W },
  { name: 'duplicate ORIGIN: first kept, rest discarded (RFC 7606 3(g))', extra: '40010102', action: D },
  { name: 'duplicate MP_REACH_NLRI: 3/1 (RFC 7606 3(g))', extra: '800e0a 000201 04 cb007101 00 00 800e0a 000201 04 cb007101 00 00', action: R, notification: [3, 1, ''] },
  { name: 'duplicate MP_UNREACH_NLRI: 3/1', extra: '800f03000201 800f03000201', action: R, notification: [3, 1, ''] },
  { name: 'unrecognized well-known attribute: 3/2, data = the attribute', attr: [250, 0x40, 'aabb'], action: R, notification: [3, 2, 'attr'] },
  { name: 'attribute overruns Total Attribute Length (RFC 7606 4)', extra: 'c00808ffff0001', action: W },
  { name: 'fewer octets left than an attribute header (RFC 7606 4)', extra: 'c008', action: W },
  { name: 'MP_REACH_NLRI overruns Total Attribute Length: NLRI not locatable', extra: '800e20000201', action: R, notification: [3, 1, ''] },
  { name: 'MP_REACH_NLRI shorter than its fixed fields: 3/5, data = attribute', attr: [14, 0x80, '00020110'], action: R, notification: [3, 5, 'attr'] },
  { name: 'MP_REACH_NLRI flags transitive: 3/4, data = attribute', attr: [14, 0xc0, '000201 10 20010db8000000000000000000000001 00'], action: R, notification: [3, 4, 'attr'] },
  { name: 'MP_REACH_NLRI prefix /129: 3/9, data = attribute', attr: [14, 0x80, '000201 10 20010db8000000000000000000000001 00 81'], action: R, notification: [3, 9, 'attr'] },
  { name: 'MP_REACH_NLRI IPv4 next hop for IPv6: 3/1', attr: [14, 0x80, '000201 04 cb007101 00 4020010db800000001'], action: R, notification: [3, 1, ''] },
  { name: 'MP_REACH_NLRI bogus next hop, AFI/SAFI disable configured', attr: [14, 0x80, '000201 09 20010db80000000000 00'], ctx: DISABLE, action: 'afisafi-disable' },
  { name: 'MP_UNREACH_NLRI truncated, AFI/SAFI disable configured', attr: [15, 0x80, '000201 40 20010db8'], ctx: DISABLE, action: 'afisafi-disable' },
  { name: 'MP_REACH_NLRI of an unsupported AFI/SAFI is ignored (RFC 4760 7)', attr: [14, 0x80, '000180 0c 00000000 00000000 cb007101 00'], action: 'none' },
  { name: 'missing ORIGIN with NLRI (RFC 7606 3(d))', attrs: '40020602010000fde9 400304cb007101', action: W },
  { name: 'missing AS_PATH with NLRI', attrs: '40010100 400304cb007101', action: W },
  { name: 'missing NEXT_HOP with classic NLRI', attrs: '40010100 40020602010000fde9', action: W },
  { name: 'no NEXT_HOP needed for MP_REACH only', attrs: '40010100 40020602010000fde9 800e1e000201 10 20010db8000000000000000000000001 00 4020010db800000001', nlriField: '', action: 'none' },
  { name: 'withdrawal only: no mandatory attributes needed', attrs: '', withdrawnField: '18c63364', nlriField: '', action: 'none' },
  { name: 'LARGE_COMMUNITY length 11 (RFC 8092 5)', attr: [32, 0xc0, '0000fde9000000010000'], action: W },
  { name: 'LARGE_COMMUNITY length 25: not a multiple of 12', attr: [32, 0xc0, '0000fde90000000100000002 0000fde90000000100000003 00'], action: W },
  { name: 'LARGE_COMMUNITY flags well-known (RFC 7606 3(c))', attr: [32, 0x40, '0000fde90000000100000002'], action: W },
  { name: 'LARGE_COMMUNITY of two, partial bit set: kept', attr: [32, 0xe0, '0000fde90000000100000002 0000fde90000000100000003'], action: 'none' },
  { name: 'EXTENDED_COMMUNITIES length 7 (RFC 7606 7.14)', attr: [16, 0xc0, '0002fde9000000'], action: W },
  { name: 'EXTENDED_COMMUNITIES length 12: not a multiple of 8', attr: [16, 0xc0, '0002fde900000001 00000000'], action: W },
  { name: 'EXTENDED_COMMUNITIES flags well-known (RFC 7606 3(c))', attr: [16, 0x40, '0002fde900000001'], action: W },
  { name: 'EXTENDED_COMMUNITIES of two: kept', attr: [16, 0xc0, '0002fde900000001 0102cb0071010064'], action: 'none' },
  { name: 'withdraw beats discard when both occur', attr: [6, 0x40, '00'], extra: 'c00801ff', action: W },
  { name: 'Withdrawn Routes Length overruns the message: 3/1', body: '0010 18c633', action: R, notification: [3, 1, ''] },
  { name: 'Total Attribute Length overruns the message: 3/1', body: '0000 0010 400101', action: R, notification: [3, 1, ''] },
  { name: 'UPDATE body of 3 octets: 3/1', body: '000000', action: R, notification: [3, 1, ''] },
  { name: 'NLRI prefix /33: 3/10', nlriField: '21c633640100', action: R, notification: [3, 10, ''] },
  { name: 'NLRI overruns the message: 3/10', nlriField: '18c633', action: R, notification: [3, 10, ''] },
  { name: 'withdrawn prefix /40: 3/10', withdrawnField: '28c6336401ff', action: R, notification: [3, 10, ''] },
];

describe('RFC 7606 case table', () => {
  test('the table holds every case of the FRR suites that were read (treat-as-withdraw, discard, reset)', () => {
    expect(CASES.filter((c) => c.frr).length).toBeGreaterThanOrEqual(80);
    expect(CASES.filter((c) => c.action === R).length).toBeGreaterThanOrEqual(15);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { body, attr } = build(c);
    const ctx = c.ctx ?? EBGP;
    if (c.action === 'session-reset') {
      const n = notificationOf(() => decodeUpdate(body, ctx));
      expect(n).toBeInstanceOf(BgpNotification);
      expect(n.handling).toBe('session-reset');
      const [code, subcode, data] = c.notification!;
      expect([n.code, n.subcode]).toEqual([code, subcode]);
      if (data !== undefined) expect(n.data.toString('hex')).toBe(data === 'attr' ? attr.toString('hex') : data);
      return;
    }
    const u = decodeUpdate(body, ctx);
    expect(u.handling).toBe(c.action);
    if (c.action === 'none') {
      expect(u.errors).toEqual([]);
    } else {
      expect(u.errors.some((e) => e.handling === c.action)).toBe(true);
      for (const e of u.errors) expect(e.reason.length).toBeGreaterThan(0);
    }
    if (c.action === 'afisafi-disable') expect(u.disabledFamily).toEqual({ afi: 2, safi: 1 });
    if (c.action === D && c.attr) {
      // The discarded attribute is gone and the route itself survives.
      expect(u.nlri).toEqual(['198.51.100.0/24']);
    }
  });

  test('details: discarded attributes are absent, the first duplicate wins, unknown transitive kept', () => {
    const dup = decodeUpdate(build({ name: '', extra: '40010102', action: D }).body, EBGP);
    expect(dup.attributes.origin).toBe(0);
    expect(dup.errors[0]).toMatchObject({ code: 1, subcode: 1 });
    const agg = decodeUpdate(build({ name: '', attr: [7, 0xc0, '0000fde90a'], action: D }).body, EBGP);
    expect(agg.attributes.aggregator).toBeUndefined();
    expect(agg.errors[0]).toMatchObject({ code: 7, subcode: 5, handling: D });
    const fd = decodeUpdate(build({ name: '', attr: [0xfd, 0x80, 'deadbeef'], action: 'none' }).body, EBGP);
    expect(fd.attributes.unknown).toBeUndefined();
    const fe = decodeUpdate(build({ name: '', attr: [0xfe, 0xc0, 'deadbeef'], action: 'none' }).body, EBGP);
    expect(fe.attributes.unknown).toEqual([{ flags: 0xc0, code: 0xfe, value: hex('deadbeef') }]);
    const missing = decodeUpdate(build({ name: '', attrs: '40020602010000fde9 400304cb007101', action: W }).body, EBGP);
    expect(missing.errors).toEqual([expect.objectContaining({ code: 1, subcode: 3, handling: W })]);
    const origin = decodeUpdate(build({ name: '', attr: [1, 0x40, '03'], action: W }).body, EBGP);
    expect(origin.errors[0]).toMatchObject({ code: 1, subcode: 6 });
    const unsupported = decodeUpdate(build({ name: '', attr: [14, 0x80, '000180 0c 00000000 00000000 cb007101 00'], action: 'none' }).body, EBGP);
    expect(unsupported.unsupportedFamilies).toEqual([{ afi: 1, safi: 128 }]);
    const large = decodeUpdate(build({ name: '', attr: [32, 0xe0, '0000fde90000000100000002 0000fde90000000100000003'], action: 'none' }).body, EBGP);
    expect(large.attributes.largeCommunities).toEqual([[65001, 1, 2], [65001, 1, 3]]);
    const ext = decodeUpdate(build({ name: '', attr: [16, 0xc0, '0002fde900000001 0102cb0071010064'], action: 'none' }).body, EBGP);
    expect(extendedCommunitiesOf(ext.attributes.unknown)).toHaveLength(2);
    const badLarge = decodeUpdate(build({ name: '', attr: [32, 0xc0, '0000fde9000000010000'], action: W }).body, EBGP);
    expect(badLarge.errors[0]).toMatchObject({ code: 32, handling: W });
    expect(badLarge.attributes.largeCommunities).toBeUndefined();
  });
});

// RFC 4271 6.3 first-AS check (bgp/rib/first-as.ts), applied by the speaker after decoding
// for external peers: a path that does not begin with the peer's AS is a malformed
// AS_PATH, which RFC 7606 7.2 makes treat-as-withdraw. The base AS_PATH is 65001.
describe('RFC 7606 first-AS cases', () => {
  const FIRST_AS: readonly { name: string; attr?: Case['attr']; attrs?: string; nlriField?: string; withdrawnField?: string; peer: number; action: ErrorHandling }[] = [
    { name: 'path begins with the peer AS', peer: 65001, action: 'none' },
    { name: 'path begins with another AS', peer: 65002, action: W },
    { name: 'path empty (eBGP)', attr: [2, 0x40, ''], peer: 65001, action: W },
    { name: 'path begins with an AS_SET', attr: [2, 0x40, '01010000fde9'], peer: 65001, action: W },
    { name: 'confederation segment first, then the peer AS (RFC 5065 5)', attr: [2, 0x40, '030100000001 02010000fde9'], peer: 65001, action: 'none' },
    { name: 'peer AS second, not first', attr: [2, 0x40, '02020000fdea0000fde9'], peer: 65001, action: W },
    { name: 'withdrawal only: nothing to check', attrs: '', withdrawnField: '18c63364', nlriField: '', peer: 65002, action: 'none' },
    { name: 'already treat-as-withdraw stays so, finding added', attr: [1, 0x40, '03'], peer: 65002, action: W },
    { name: 'attribute-discard raised to treat-as-withdraw', attr: [6, 0x40, '00'], peer: 65002, action: W },
  ];
  test.each(FIRST_AS.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const u = checkFirstAs(decodeUpdate(build({ ...c, action: 'none' }).body, EBGP), c.peer);
    expect(u.handling).toBe(c.action);
    if (c.action === 'none') expect(u.errors).toEqual([]);
    else expect(u.errors).toContainEqual(expect.objectContaining({ code: 2, subcode: 11, handling: W }));
  });
});
