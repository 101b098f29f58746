// OPEN and capabilities: round trips, RFC 9072 extended parameters, and the RFC 4271 6.2 errors.
import { describe, expect, test } from 'vitest';
import {
  decodeCapabilities,
  decodeMessage,
  decodeOpen,
  encodeCapabilities,
  encodeMessage,
  encodeOpen,
  findCapability,
  peerAsn,
  type Capability,
  type OpenMessage,
} from '../../../bgp/wire/index.js';
import { hex, notificationOf } from './helpers.js';

const every: Capability[] = [
  { kind: 'multiprotocol', afi: 1, safi: 1 },
  { kind: 'multiprotocol', afi: 2, safi: 1 },
  { kind: 'route-refresh' },
  { kind: 'route-refresh-cisco' },
  { kind: 'enhanced-route-refresh' },
  { kind: 'extended-nexthop', entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] },
  { kind: 'extended-message' },
  {
    kind: 'graceful-restart',
    restartState: true,
    notification: true,
    restartTime: 120,
    families: [
      { afi: 1, safi: 1, forwardingState: true },
      { afi: 2, safi: 1, forwardingState: false },
    ],
  },
  { kind: 'four-octet-as', asn: 4200000001 },
  { kind: 'add-path', entries: [{ afi: 1, safi: 1, sendReceive: 3 }] },
  { kind: 'fqdn', hostname: 'tor1', domain: 'lab.example' },
  {
    kind: 'long-lived-graceful-restart',
    families: [
      { afi: 1, safi: 1, forwardingState: true, staleTime: 86400 },
      { afi: 2, safi: 1, forwardingState: false, staleTime: 0xffffff },
    ],
  },
  { kind: 'unknown', code: 99, value: hex('0a0b') },
];

const open: OpenMessage = { type: 'OPEN', version: 4, myAs: 23456, holdTime: 90, bgpId: '192.0.2.2', capabilities: every };

describe('OPEN', () => {
  test('round trip with every capability', () => {
    expect(decodeMessage(encodeMessage(open))).toEqual(open);
    expect(peerAsn(open)).toBe(4200000001);
    expect(findCapability(open.capabilities, 'graceful-restart')?.restartTime).toBe(120);
  });

  test('each capability round-trips alone', () => {
    for (const c of every) expect(decodeCapabilities(encodeCapabilities([c]))).toEqual([c]);
  });

  test('known wire forms', () => {
    // RFC 6793 code 65 len 4; RFC 4760 code 1 len 4 AFI 2 reserved SAFI 1; RFC 4724 R bit + 120 s.
    expect(encodeCapabilities([{ kind: 'four-octet-as', asn: 65536 }]).toString('hex')).toBe('410400010000');
    expect(encodeCapabilities([{ kind: 'multiprotocol', afi: 2, safi: 1 }]).toString('hex')).toBe('010400020001');
    expect(
      encodeCapabilities([{ kind: 'graceful-restart', restartState: true, notification: false, restartTime: 120, families: [] }]).toString('hex'),
    ).toBe('40028078');
    // RFC 9494 3: code 71, per family AFI 1, SAFI 1, flags (F 0x80), stale time 3 octets (86400 = 0x015180).
    expect(encodeCapabilities([{ kind: 'long-lived-graceful-restart', families: [{ afi: 1, safi: 1, forwardingState: true, staleTime: 86400 }] }]).toString('hex')).toBe('4707000101800151' + '80');
  });

  test('a long-lived graceful restart capability whose length is not a multiple of 7 is malformed', () => {
    expect(() => decodeCapabilities(hex('4708 0001 01 80 015180 00'))).toThrow();
  });

  test('RFC 9072 extended optional parameters when capabilities exceed 255 octets', () => {
    const many: Capability[] = Array.from({ length: 60 }, (_, i) => ({ kind: 'unknown', code: 200, value: Buffer.from([i, 1, 2]) }));
    const m: OpenMessage = { ...open, capabilities: many };
    const body = encodeOpen(m);
    expect(body[9]).toBe(255);
    expect(body[10]).toBe(255);
    expect(decodeOpen(body)).toEqual(m);
  });

  test('decodes a hand-made FRR-style OPEN with two parameters', () => {
    // two optional parameters of type 2, each with one capability
    const body = hex('04 fde9 00b4 c0000201 0c 02 06 010400010001 02 02 0200');
    const m = decodeOpen(body);
    expect(m).toMatchObject({ myAs: 65001, holdTime: 180, bgpId: '192.0.2.1' });
    expect(m.capabilities).toEqual([{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'route-refresh' }]);
  });

  test('unknown capabilities are kept and ignored', () => {
    const m = decodeOpen(hex('04 fde9 00b4 c0000201 05 02 03 fe0199'));
    expect(m.capabilities).toEqual([{ kind: 'unknown', code: 254, value: hex('99') }]);
  });

  test.each([
    ['version 3: 2/1, data = 4', '03 fde9 00b4 c0000201 00', 1, '0004'],
    ['version 5: 2/1, data = 4', '05 fde9 00b4 c0000201 00', 1, '0004'],
    ['hold time 1: 2/6', '04 fde9 0001 c0000201 00', 6, ''],
    ['hold time 2: 2/6', '04 fde9 0002 c0000201 00', 6, ''],
    ['BGP id 0.0.0.0: 2/3', '04 fde9 00b4 00000000 00', 3, ''],
    ['parameter type 1 (authentication): 2/4', '04 fde9 00b4 c0000201 03 01 01 00', 4, ''],
    ['parameter length overruns: 2/0', '04 fde9 00b4 c0000201 05 02 06 0104', 0, ''],
    ['capability overruns its parameter: 2/0', '04 fde9 00b4 c0000201 04 02 02 4104', 0, ''],
    ['four-octet-as of 3 octets: 2/0', '04 fde9 00b4 c0000201 05 02 03 410300', 0, ''],
    ['trailing octets: 2/0', '04 fde9 00b4 c0000201 00 00', 0, ''],
  ])('%s', (_name, h, subcode, data) => {
    const n = notificationOf(() => decodeOpen(hex(h)));
    expect([n.code, n.subcode, n.data.toString('hex')]).toEqual([2, subcode, data]);
  });

  test('hold time 0 and 3 are acceptable', () => {
    expect(decodeOpen(hex('04 fde9 0000 c0000201 00')).holdTime).toBe(0);
    expect(decodeOpen(hex('04 fde9 0003 c0000201 00')).holdTime).toBe(3);
  });
});
