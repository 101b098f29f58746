// NOTIFICATION names, RFC 9003 shutdown communication, KEEPALIVE and ROUTE-REFRESH.
import { describe, expect, it, test } from 'vitest';
import {
  KEEPALIVE,
  decodeMessage,
  decodeNotification,
  decodeRouteRefresh,
  describeNotification,
  encodeMessage,
  notificationName,
  shutdownNotification,
} from '../../../bgp/wire/index.js';
import { hex, notificationOf } from './helpers.js';

describe('notificationName', () => {
  test.each([
    [1, 1, 'Message Header Error / Connection Not Synchronized'],
    [1, 2, 'Message Header Error / Bad Message Length'],
    [1, 3, 'Message Header Error / Bad Message Type'],
    [2, 1, 'OPEN Message Error / Unsupported Version Number'],
    [2, 2, 'OPEN Message Error / Bad Peer AS'],
    [2, 3, 'OPEN Message Error / Bad BGP Identifier'],
    [2, 4, 'OPEN Message Error / Unsupported Optional Parameter'],
    [2, 6, 'OPEN Message Error / Unacceptable Hold Time'],
    [2, 7, 'OPEN Message Error / Unsupported Capability'],
    [3, 1, 'UPDATE Message Error / Malformed Attribute List'],
    [3, 2, 'UPDATE Message Error / Unrecognized Well-known Attribute'],
    [3, 3, 'UPDATE Message Error / Missing Well-known Attribute'],
    [3, 4, 'UPDATE Message Error / Attribute Flags Error'],
    [3, 5, 'UPDATE Message Error / Attribute Length Error'],
    [3, 6, 'UPDATE Message Error / Invalid ORIGIN Attribute'],
    [3, 8, 'UPDATE Message Error / Invalid NEXT_HOP Attribute'],
    [3, 9, 'UPDATE Message Error / Optional Attribute Error'],
    [3, 10, 'UPDATE Message Error / Invalid Network Field'],
    [3, 11, 'UPDATE Message Error / Malformed AS_PATH'],
    [4, 0, 'Hold Timer Expired'],
    [5, 2, 'Finite State Machine Error / Receive Unexpected Message in OpenConfirm State'],
    [6, 1, 'Cease / Maximum Number of Prefixes Reached'],
    [6, 2, 'Cease / Administrative Shutdown'],
    [6, 3, 'Cease / Peer De-configured'],
    [6, 4, 'Cease / Administrative Reset'],
    [6, 5, 'Cease / Connection Rejected'],
    [6, 6, 'Cease / Other Configuration Change'],
    [6, 7, 'Cease / Connection Collision Resolution'],
    [6, 8, 'Cease / Out of Resources'],
    [6, 9, 'Cease / Hard Reset'],
    [7, 1, 'ROUTE-REFRESH Message Error / Invalid Message Length'],
    [9, 9, 'Error code 9 / subcode 9'],
  ])('%i/%i', (code, subcode, name) => {
    expect(notificationName(code, subcode)).toBe(name);
  });
});

describe('shutdown communication (RFC 9003)', () => {
  test('round trip and description', () => {
    const n = shutdownNotification(2, 'maintenance');
    expect(n.data.toString('hex')).toBe('0b' + Buffer.from('maintenance').toString('hex'));
    const back = decodeMessage(encodeMessage(n));
    expect(back).toEqual(n);
    expect(describeNotification(n)).toBe('Cease / Administrative Shutdown: "maintenance"');
  });

  test('UTF-8 text is cut at 255 octets on a character boundary', () => {
    const n = shutdownNotification(4, 'é'.repeat(200)); // 400 octets
    expect(n.data[0]).toBe(254);
    expect(n.shutdownMessage).toBe('é'.repeat(127));
    expect(decodeNotification(Buffer.concat([hex('0604'), n.data])).shutdownMessage).toBe('é'.repeat(127));
  });

  test('a bad length or invalid UTF-8 leaves the text out but keeps the NOTIFICATION', () => {
    expect(decodeNotification(hex('0602 05 6162')).shutdownMessage).toBeUndefined();
    expect(decodeNotification(hex('0602 02 c328')).shutdownMessage).toBeUndefined();
    expect(decodeNotification(hex('0602 02 c328'))).toMatchObject({ code: 6, subcode: 2 });
    expect(describeNotification(decodeNotification(hex('0202 fde9')))).toBe('OPEN Message Error / Bad Peer AS (data fde9)');
  });
});

describe('KEEPALIVE and ROUTE-REFRESH', () => {
  test('round trips', () => {
    expect(encodeMessage(KEEPALIVE).length).toBe(19);
    expect(decodeMessage(encodeMessage(KEEPALIVE))).toEqual(KEEPALIVE);
    for (const subtype of [0, 1, 2]) {
      const rr = { type: 'ROUTE_REFRESH', afi: 2, safi: 1, subtype } as const;
      expect(decodeMessage(encodeMessage(rr))).toEqual(rr);
    }
  });

  test('RFC 7313 5: a ROUTE-REFRESH of the wrong length is 7/1 with the whole message as data', () => {
    const n = notificationOf(() => decodeRouteRefresh(hex('0001000100')));
    expect([n.code, n.subcode]).toEqual([7, 1]);
    expect(n.data.length).toBe(24);
    expect(n.data.readUInt16BE(16)).toBe(24);
  });
});

describe('describeNotification: RFC 4486 max-prefix data in words', () => {
  it('names the family and the limit', () => {
    const data = Buffer.from([0, 2, 1, 0, 0, 0x27, 0x10]);
    expect(describeNotification({ code: 6, subcode: 1, data })).toBe(
      'Cease / Maximum Number of Prefixes Reached (IPv6 unicast, limit 10000)',
    );
  });
  it('falls back to hex for data of another length', () => {
    expect(describeNotification({ code: 6, subcode: 1, data: Buffer.from([1, 2]) })).toMatch(/\(data 0102\)$/);
  });
});

describe('Hard Reset (RFC 8538 3)', () => {
  // The bytes FRR 8.4 sent for `neighbor X shutdown message maintenance` with the N bit
  // negotiated: Cease / Hard Reset whose data is Cease (6), Administrative Shutdown (2),
  // then that NOTIFICATION's data (the RFC 9003 length and text).
  const frr = hex('0609 0602 0b 6d61696e74656e616e6365');
  it('names the NOTIFICATION it wraps and takes its shutdown text', () => {
    const n = decodeNotification(frr);
    expect(n.shutdownMessage).toBe('maintenance');
    expect(describeNotification(n)).toBe('Cease / Hard Reset (Administrative Shutdown): "maintenance"');
  });
  it('a Hard Reset too short to wrap anything is shown as it is', () => {
    const n = decodeNotification(hex('0609 06'));
    expect(n.shutdownMessage).toBeUndefined();
    expect(describeNotification(n)).toBe('Cease / Hard Reset (data 06)');
  });
});
