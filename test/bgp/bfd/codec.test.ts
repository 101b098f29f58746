/** BFD Control packet codec (RFC 5880 4.1) and the 6.8.6 reception checks. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BfdPacketError, decodeControl, encodeControl, type BfdCheck } from '../../../bgp/bfd/codec.js';
import { BFD_STATES, type ControlPacket } from '../../../bgp/bfd/types.js';

const base: ControlPacket = {
  diag: 0,
  state: 'Up',
  poll: false,
  final: false,
  cpi: false,
  demand: false,
  detectMult: 3,
  myDiscr: 0x11223344,
  yourDiscr: 0x55667788,
  desiredMinTx: 300_000,
  requiredMinRx: 300_000,
  requiredMinEchoRx: 50_000,
};

/** What FRR 8.4 bfdd sends once Up with its defaults (built by hand from RFC 5880 4.1). */
const frrUp = Buffer.from('20c00318' + '00000001' + '12345678' + '000493e0' + '000493e0' + '0000c350', 'hex');

function expectCheck(buf: Buffer, check: BfdCheck): void {
  let err: unknown;
  try {
    decodeControl(buf);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BfdPacketError);
  expect((err as BfdPacketError).check).toBe(check);
}

function mutate(p: Partial<ControlPacket>, edit?: (b: Buffer) => void): Buffer {
  const b = encodeControl({ ...base, ...p });
  edit?.(b);
  return b;
}

describe('BFD codec', () => {
  it('decodes a packet field by field', () => {
    expect(decodeControl(frrUp)).toEqual({
      diag: 0,
      state: 'Up',
      poll: false,
      final: false,
      cpi: false,
      demand: false,
      detectMult: 3,
      myDiscr: 1,
      yourDiscr: 0x12345678,
      desiredMinTx: 300_000,
      requiredMinRx: 300_000,
      requiredMinEchoRx: 50_000,
    });
    expect(encodeControl(decodeControl(frrUp))).toEqual(frrUp);
  });

  it('puts every flag in its bit', () => {
    const b = encodeControl({ ...base, state: 'Init', poll: true, cpi: true, demand: true, diag: 7 });
    expect(b[0]).toBe(0x20 | 7);
    expect(b[1]).toBe((2 << 6) | 0x20 | 0x08 | 0x02);
    expect(encodeControl({ ...base, final: true })[1]).toBe((3 << 6) | 0x10);
    expect(b[3]).toBe(24);
  });

  it('round-trips every valid packet (property)', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const packet = fc
      .record({
        diag: fc.integer({ min: 0, max: 31 }),
        state: fc.constantFrom(...BFD_STATES),
        pf: fc.constantFrom('none', 'poll', 'final'),
        cpi: fc.boolean(),
        demand: fc.boolean(),
        detectMult: fc.integer({ min: 1, max: 255 }),
        myDiscr: fc.integer({ min: 1, max: 0xffffffff }),
        yourDiscr: u32,
        desiredMinTx: u32,
        requiredMinRx: u32,
        requiredMinEchoRx: u32,
      })
      .filter((r) => r.yourDiscr !== 0 || r.state === 'Down' || r.state === 'AdminDown')
      .map(({ pf, ...r }): ControlPacket => ({ ...r, poll: pf === 'poll', final: pf === 'final' }));
    fc.assert(
      fc.property(packet, (p) => {
        expect(decodeControl(encodeControl(p))).toEqual(p);
      }),
    );
  });

  it('never throws anything but BfdPacketError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeControl(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(BfdPacketError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts trailing octets beyond Length (6.8.6 only bounds Length by the payload)', () => {
    expect(decodeControl(Buffer.concat([frrUp, Buffer.alloc(4)])).myDiscr).toBe(1);
  });
});

describe('BFD reception checks (RFC 5880 6.8.6)', () => {
  const rows: [string, Buffer, BfdCheck][] = [
    ['empty datagram', Buffer.alloc(0), 'length'],
    ['3 octets', Buffer.from([0x20, 0xc0, 3]), 'length'],
    ['Length field 23', mutate({}, (b) => (b[3] = 23)), 'length'],
    ['Length field 0', mutate({}, (b) => (b[3] = 0)), 'length'],
    ['Length field beyond the datagram', mutate({}, (b) => (b[3] = 48)), 'length'],
    ['datagram shorter than 24 with a matching Length', Buffer.from(frrUp.subarray(0, 20)), 'length'],
    ['A bit with Length 24 (26 needed)', mutate({}, (b) => (b[1]! |= 0x04)), 'length'],
    ['version 0', mutate({}, (b) => (b[0] = b[0]! & 0x1f)), 'version'],
    ['version 2', mutate({}, (b) => (b[0] = (2 << 5) | (b[0]! & 0x1f))), 'version'],
    ['version 7', mutate({}, (b) => (b[0] = 0xe0)), 'version'],
    ['Detect Mult 0', mutate({}, (b) => (b[2] = 0)), 'multiplier'],
    ['Multipoint bit', mutate({}, (b) => (b[1]! |= 0x01)), 'multipoint'],
    ['My Discriminator 0', mutate({}, (b) => b.writeUInt32BE(0, 4)), 'my-discriminator'],
    ['Your Discriminator 0 in Up', mutate({ state: 'Up', yourDiscr: 0 }), 'your-discriminator'],
    ['Your Discriminator 0 in Init', mutate({ state: 'Init', yourDiscr: 0 }), 'your-discriminator'],
    ['Poll and Final both set', mutate({}, (b) => (b[1]! |= 0x30)), 'poll-and-final'],
    ['A bit with an authentication section', Buffer.concat([mutate({}, (b) => ((b[1]! |= 0x04), (b[3] = 26))), Buffer.from([1, 2])]), 'authentication'],
  ];
  it.each(rows)('discards: %s', (_name, buf, check) => {
    expectCheck(buf, check);
  });

  it('accepts Your Discriminator 0 in Down and AdminDown', () => {
    expect(decodeControl(mutate({ state: 'Down', yourDiscr: 0 })).state).toBe('Down');
    expect(decodeControl(mutate({ state: 'AdminDown', yourDiscr: 0 })).state).toBe('AdminDown');
  });

  it('names the check in the message', () => {
    expect(() => decodeControl(mutate({}, (b) => (b[2] = 0)))).toThrow(/multiplier.*Detect Mult is 0/);
  });
});

describe('BFD encoder', () => {
  it('refuses fields out of range', () => {
    expect(() => encodeControl({ ...base, detectMult: 0 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, detectMult: 256 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, diag: 32 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, poll: true, final: true })).toThrow(/MUST NOT|must not/);
  });

  it('writes into a given buffer, every octet of it, and refuses one too short', () => {
    const into = Buffer.alloc(24, 0xee);
    expect(encodeControl({ ...base, myDiscr: 9 }, into)).toBe(into);
    expect(into).toEqual(encodeControl({ ...base, myDiscr: 9 }));
    expect(() => encodeControl(base, Buffer.alloc(23))).toThrow(/24 octets/);
  });
});
