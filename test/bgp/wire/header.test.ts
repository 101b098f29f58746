// The header checks of RFC 4271 6.1 and the stream framer, including random chunk splits.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  KEEPALIVE,
  MessageFramer,
  decodeMessage,
  encodeHeader,
  encodeMessage,
  shutdownNotification,
  type BgpMessage,
} from '../../../bgp/wire/index.js';
import { notificationOf } from './helpers.js';

const messages: BgpMessage[] = [
  { type: 'OPEN', version: 4, myAs: 65001, holdTime: 90, bgpId: '192.0.2.2', capabilities: [{ kind: 'route-refresh' }] },
  KEEPALIVE,
  {
    type: 'UPDATE',
    withdrawn: [],
    nlri: ['198.51.100.0/24'],
    attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '203.0.113.1' },
    handling: 'none',
    errors: [],
  },
  { type: 'ROUTE_REFRESH', afi: 2, safi: 1, subtype: 0 },
  shutdownNotification(2, 'maintenance'),
];

describe('encodeHeader', () => {
  test('marker, length, type', () => {
    expect(encodeHeader(4, 0).toString('hex')).toBe('ff'.repeat(16) + '0013' + '04');
  });
});

describe('MessageFramer', () => {
  const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));

  test('splits a stream into whole messages', () => {
    const f = new MessageFramer();
    const out = f.push(stream);
    expect(out.length).toBe(messages.length);
    expect(out.map((m) => decodeMessage(m).type)).toEqual(messages.map((m) => m.type));
    expect(f.buffered).toBe(0);
  });

  test('random chunk splits give the same messages', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const f = new MessageFramer();
        const out: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          out.push(...f.push(stream.subarray(prev, p)));
          prev = p;
        }
        expect(Buffer.concat(out).equals(stream)).toBe(true);
        expect(out.length).toBe(messages.length);
        expect(f.buffered).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  test('one octet at a time', () => {
    const f = new MessageFramer();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...f.push(stream.subarray(i, i + 1)));
    expect(out.length).toBe(messages.length);
  });

  test('1/1 Connection Not Synchronized on a bad marker', () => {
    const bad = Buffer.from(encodeMessage(KEEPALIVE));
    bad[3] = 0;
    const n = notificationOf(() => new MessageFramer().push(bad));
    expect([n.code, n.subcode, n.data.length]).toEqual([1, 1, 0]);
  });

  test.each([
    ['shorter than a header', 4, 18],
    ['longer than 4096', 2, 4097],
    ['OPEN below its minimum', 1, 28],
    ['UPDATE below its minimum', 2, 22],
    ['NOTIFICATION below its minimum', 3, 20],
    ['KEEPALIVE with a body', 4, 20],
    ['ROUTE-REFRESH below its minimum', 5, 22],
  ])('1/2 Bad Message Length: %s (data = the length)', (_name, type, length) => {
    const h = encodeHeader(type, 0);
    h.writeUInt16BE(length, 16);
    const n = notificationOf(() => new MessageFramer().push(Buffer.concat([h, Buffer.alloc(100)])));
    expect([n.code, n.subcode]).toEqual([1, 2]);
    expect(n.data.readUInt16BE(0)).toBe(length);
    expect(n.data.length).toBe(2);
  });

  test('1/3 Bad Message Type, data = the type', () => {
    const n = notificationOf(() => new MessageFramer().push(encodeHeader(9, 0)));
    expect([n.code, n.subcode, n.data.toString('hex')]).toEqual([1, 3, '09']);
  });

  test('setMaxLength allows RFC 8654 extended messages, but not for OPEN', () => {
    const h = encodeHeader(2, 8000);
    const msg = Buffer.concat([h, Buffer.alloc(8000)]);
    expect(notificationOf(() => new MessageFramer().push(msg)).subcode).toBe(2);
    const f = new MessageFramer();
    f.setMaxLength(65535);
    expect(f.push(msg).length).toBe(1);
    const open = Buffer.concat([encodeHeader(1, 5000), Buffer.alloc(5000)]);
    expect(notificationOf(() => f.push(open)).subcode).toBe(2);
  });

  test('decodeMessage checks the header against the buffer it is given', () => {
    const ka = encodeMessage(KEEPALIVE);
    const n = notificationOf(() => decodeMessage(Buffer.concat([ka, Buffer.alloc(1)])));
    expect([n.code, n.subcode]).toEqual([1, 2]);
    expect(notificationOf(() => decodeMessage(ka.subarray(0, 10))).subcode).toBe(2);
  });
});
