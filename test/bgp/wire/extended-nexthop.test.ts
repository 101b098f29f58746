// RFC 8950: the Extended Next Hop Encoding capability (code 5), IPv4 NLRI in MP_REACH_NLRI
// with a 16- or 32-octet IPv6 next hop, the lengths that are malformed, and what is
// negotiated; `asn: external | internal` in the OPEN check (RFC 4271 6.2).
import { describe, expect, test } from 'vitest';
import { buildOpen, negotiate } from '../../../bgp/fsm/index.js';
import { nextHopsFor } from '../../../bgp/rib/next-hop.js';
import {
  decodeCapabilities,
  decodeUpdate,
  encodeCapabilities,
  encodeUpdate,
  packAnnouncements,
  type CodecContext,
  type OpenMessage,
  type UpdateMessage,
} from '../../../bgp/wire/index.js';
import { hex, notificationOf, rawAttr, updateBody } from './helpers.js';

const ctx: CodecContext = { asn4: true, extendedMessage: false, extendedNextHopV4: true };

const update = (p: Partial<UpdateMessage>): UpdateMessage => ({ type: 'UPDATE', withdrawn: [], nlri: [], attributes: {}, handling: 'none', errors: [], ...p });

const mpReach = (valueHex: string): Buffer =>
  updateBody(Buffer.alloc(0), Buffer.concat([rawAttr(0x80, 14, valueHex), rawAttr(0x40, 1, '00'), rawAttr(0x40, 2, '')]), Buffer.alloc(0));

describe('the capability (RFC 8950 3)', () => {
  test('code 5, six octets per <NLRI AFI, NLRI SAFI, next hop AFI>, round trip', () => {
    const caps = [{ kind: 'extended-nexthop' as const, entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }, { afi: 1, safi: 128, nextHopAfi: 2 }] }];
    const wire = encodeCapabilities(caps);
    expect(wire.toString('hex')).toBe('050c' + '000100010002' + '000100800002');
    expect(decodeCapabilities(wire)).toEqual(caps);
  });

  test('a length that is not a multiple of 6 is an OPEN Message Error', () => {
    const n = notificationOf(() => decodeCapabilities(hex('0507 00010001000200')));
    expect([n.code, n.subcode]).toEqual([2, 0]);
  });

  test('our OPEN announces IPv4 unicast over an IPv6 next hop when it carries IPv4', () => {
    const open = buildOpen({ asn: 65001, routerId: '192.0.2.2', holdTime: 90, families: ['ipv4-unicast', 'ipv6-unicast'] });
    expect(open.capabilities).toContainEqual({ kind: 'extended-nexthop', entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] });
  });
});

describe('negotiation', () => {
  const local = { asn: 65001, routerId: '192.0.2.2', holdTime: 90, families: ['ipv4-unicast', 'ipv6-unicast'] as const };
  const remote = (asn: number, enh: boolean): OpenMessage => ({
    type: 'OPEN',
    version: 4,
    myAs: asn > 0xffff ? 23456 : asn, // AS_TRANS for a 4-octet AS (RFC 6793 4.1)
    holdTime: 90,
    bgpId: '192.0.2.1',
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'four-octet-as', asn },
      ...(enh ? [{ kind: 'extended-nexthop' as const, entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] }] : []),
    ],
  });

  test('IPv4 over IPv6 next hops only when the peer announced it too', () => {
    expect(negotiate(local, remote(65000, true), { peerAsn: 65000 }).extendedNextHop).toEqual(['ipv4-unicast']);
    expect(negotiate(local, remote(65000, false), { peerAsn: 65000 }).extendedNextHop).toEqual([]);
  });

  test("'external' takes any AS but ours, 'internal' only ours; the OPEN's AS is the peer's", () => {
    expect(negotiate(local, remote(65000, true), { peerAsn: 'external' }).peerAsn).toBe(65000);
    expect(negotiate(local, remote(4200000000, true), { peerAsn: 'external' }).peerAsn).toBe(4200000000);
    const own = notificationOf(() => negotiate(local, remote(65001, true), { peerAsn: 'external' }));
    expect([own.code, own.subcode]).toEqual([2, 2]);
    expect(own.message).toMatch(/expected any AS but ours \(65001\)/);
    expect(negotiate(local, remote(65001, true), { peerAsn: 'internal' }).ibgp).toBe(true);
    const other = notificationOf(() => negotiate(local, remote(65000, true), { peerAsn: 'internal' }));
    expect([other.code, other.subcode]).toEqual([2, 2]);
  });
});

describe('MP_REACH_NLRI for IPv4 with an IPv6 next hop (RFC 8950 3)', () => {
  test('16 octets: a global (or link-local only) next hop', () => {
    const u = decodeUpdate(mpReach('0001 01 10 fe800000000000000000000000000001 00 18c63364'), ctx);
    expect(u.mpReach).toEqual({ afi: 1, safi: 1, nextHops: ['fe80::1'], nlri: ['198.51.100.0/24'] });
  });

  test('32 octets: global then link-local', () => {
    const u = decodeUpdate(mpReach('0001 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 20c6336401'), ctx);
    expect(u.mpReach).toEqual({ afi: 1, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['198.51.100.1/32'] });
  });

  test('round trip through the encoder, next hop length 16 and 32', () => {
    for (const nextHops of [['fe80::1'], ['2001:db8::1', 'fe80::1']]) {
      const m = update({ attributes: { origin: 0, asPath: [] }, mpReach: { afi: 1, safi: 1, nextHops, nlri: ['198.51.100.0/24', '198.51.100.1/32'] } });
      const body = encodeUpdate(m, ctx);
      expect(decodeUpdate(body, ctx).mpReach).toEqual(m.mpReach);
    }
  });

  test.each([
    ['8 octets', '0001 01 08 0000000000000001 00 18c63364'],
    ['12 octets', '0001 01 0c 000000000000000000000001 00 18c63364'],
    ['0 octets', '0001 01 00 00 18c63364'],
    ['33 octets', `0001 01 21 ${'00'.repeat(33)} 00 18c63364`],
  ])('a next hop of %s is malformed (RFC 7606 7.11: the NLRI cannot be trusted): session reset', (_n, v) => {
    const n = notificationOf(() => decodeUpdate(mpReach(v), ctx));
    expect(n.code).toBe(3);
  });

  test('a next hop longer than the attribute is malformed', () => {
    const n = notificationOf(() => decodeUpdate(mpReach('0001 01 20 20010db8000000000000000000000001'), ctx));
    expect(n.code).toBe(3);
  });

  test('without the capability negotiated we never send an IPv6 next hop for IPv4 (RFC 8950 4)', () => {
    const attrs = { origin: 0 as const, asPath: [] };
    expect(() => packAnnouncements('ipv4-unicast', attrs, ['fe80::1'], ['198.51.100.1/32'], { ...ctx, extendedNextHopV4: false })).toThrow(/extended next hop capability \(RFC 8950\)/);
    const msgs = packAnnouncements('ipv4-unicast', attrs, ['fe80::1'], ['198.51.100.1/32'], ctx);
    expect(msgs.length).toBe(1);
  });
});

describe('our next hops on an unnumbered session', () => {
  const ifs = () => ({
    eth1: [
      { address: 'fe80::a', family: 'IPv6' as const, internal: false, cidr: 'fe80::a/64', mac: '02:00:00:00:00:0a', netmask: 'ffff:ffff:ffff:ffff::', scopeid: 3 },
    ],
    // The same link-local on another interface (every container veth has one fixed one): the zone decides.
    veth0: [
      { address: 'fe80::a', family: 'IPv6' as const, internal: false, cidr: 'fe80::a/64', mac: '02:00:00:00:00:0b', netmask: 'ffff:ffff:ffff:ffff::', scopeid: 4 },
      { address: '198.51.100.77', family: 'IPv4' as const, internal: false, cidr: '198.51.100.77/32', mac: '02:00:00:00:00:0b', netmask: '255.255.255.255' },
    ],
  });

  test('IPv4 routes go with our link-local (no IPv4 on the link, RFC 8950 negotiated)', () => {
    expect(nextHopsFor({ family: 'ipv4-unicast', localAddress: 'fe80::a%eth1', remoteAddress: 'fe80::1%eth1', extendedNextHopV4: true }, ifs)).toEqual({ nextHops: ['fe80::a'] });
  });

  test('without the capability: no IPv4 next hop, and the reason', () => {
    const r = nextHopsFor({ family: 'ipv4-unicast', localAddress: 'fe80::a%eth1', remoteAddress: 'fe80::1%eth1', extendedNextHopV4: false }, ifs);
    expect(r).toEqual({ error: expect.stringMatching(/did not negotiate extended next hop/) as unknown as string });
  });

  test('with a global address on the link: global and link-local (32 octets)', () => {
    const withGlobal = () => ({ eth1: [...ifs().eth1, { address: '2001:db8:f::2', family: 'IPv6' as const, internal: false, cidr: '2001:db8:f::2/64', mac: '02:00:00:00:00:0a', netmask: 'ffff:ffff:ffff:ffff::', scopeid: 0 }] });
    expect(nextHopsFor({ family: 'ipv4-unicast', localAddress: 'fe80::a%eth1', remoteAddress: 'fe80::1%eth1', extendedNextHopV4: true }, withGlobal)).toEqual({ nextHops: ['2001:db8:f::2', 'fe80::a'] });
  });
});
