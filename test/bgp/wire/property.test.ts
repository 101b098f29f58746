// fast-check round-trip properties: prefixes, capabilities/OPEN, UPDATE with every
// attribute (4-octet and 2-octet sessions), NOTIFICATION and ROUTE-REFRESH.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  AS_TRANS,
  canonicalPrefix,
  decodeMessage,
  decodeNlri,
  encodeMessage,
  encodeNlri,
  formatIPv4,
  formatIPv6,
  type AsPathSegment,
  type BgpMessage,
  type Capability,
  type CodecContext,
  type UpdateMessage,
} from '../../../bgp/wire/index.js';

function mask(bytes: number[], len: number): Uint8Array {
  const b = Uint8Array.from(bytes);
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    b[i] = b[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return b;
}
const v4Prefix = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([b, len]) => `${formatIPv4(mask(b, len))}/${len}`);
const v6Prefix = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([b, len]) => `${formatIPv6(mask(b, len))}/${len}`);
const v4Addr = fc.array(fc.integer({ min: 1, max: 223 }), { minLength: 4, maxLength: 4 }).filter((b) => b[0] !== 127).map((b) => formatIPv4(Uint8Array.from(b)));
const v6Addr = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }).map((b) => formatIPv6(Uint8Array.from(b)));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const asn = fc.integer({ min: 1, max: 0xffffffff });
const segment: fc.Arbitrary<AsPathSegment> = fc.record({
  type: fc.constantFrom('sequence', 'set'),
  asns: fc.array(asn, { minLength: 1, maxLength: 20 }),
}) as fc.Arbitrary<AsPathSegment>;

const attributes = fc.record(
  {
    origin: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
    asPath: fc.array(segment, { maxLength: 4 }),
    nextHop: v4Addr,
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true),
    aggregator: fc.record({ asn, address: v4Addr }),
    communities: fc.array(u32, { minLength: 1, maxLength: 10 }),
    largeCommunities: fc.array(fc.tuple(u32, u32, u32), { minLength: 1, maxLength: 5 }),
  },
  { requiredKeys: ['origin', 'asPath', 'nextHop'] },
);

const ctxArb: fc.Arbitrary<CodecContext> = fc.record({ asn4: fc.boolean(), extendedMessage: fc.constant(true) });

/** Adjacent sequences merge when a 2-octet path is rebuilt (RFC 6793 4.2.3); compare normalised. */
function normalise(path: readonly AsPathSegment[] | undefined): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  for (const s of path ?? []) {
    const last = out[out.length - 1];
    if (last && last.type === 'sequence' && s.type === 'sequence') out[out.length - 1] = { type: 'sequence', asns: [...last.asns, ...s.asns] };
    else out.push({ type: s.type, asns: [...s.asns] });
  }
  return out;
}

describe('properties', () => {
  test('prefix text and NLRI round-trip', () => {
    fc.assert(
      fc.property(fc.array(v4Prefix, { maxLength: 50 }), fc.array(v6Prefix, { maxLength: 50 }), (p4, p6) => {
        for (const p of [...p4, ...p6]) expect(canonicalPrefix(p)).toBe(p);
        expect(decodeNlri(encodeNlri(p4, 1), 1)).toEqual(p4);
        expect(decodeNlri(encodeNlri(p6, 2), 2)).toEqual(p6);
      }),
      { numRuns: 300 },
    );
  });

  test('UPDATE round-trips on 4-octet and 2-octet sessions', () => {
    fc.assert(
      fc.property(
        attributes,
        fc.array(v4Prefix, { maxLength: 30 }),
        fc.array(v4Prefix, { maxLength: 30 }),
        fc.option(fc.record({ nextHops: fc.oneof(fc.tuple(v6Addr), fc.tuple(v6Addr, v6Addr.filter((a) => a !== '::'))), nlri: fc.array(v6Prefix, { maxLength: 30 }) }), { nil: undefined }),
        fc.option(fc.array(v6Prefix, { maxLength: 30 }), { nil: undefined }),
        ctxArb,
        (attrs, nlri, withdrawn, reach, unreach, ctx) => {
          const m: UpdateMessage = {
            type: 'UPDATE',
            withdrawn,
            nlri,
            attributes: attrs,
            handling: 'none',
            errors: [],
            ...(reach ? { mpReach: { afi: 2, safi: 1, ...reach } } : {}),
            ...(unreach ? { mpUnreach: { afi: 2, safi: 1, withdrawn: unreach } } : {}),
          };
          const back = decodeMessage(encodeMessage(m, ctx), ctx) as UpdateMessage;
          expect(back.handling).toBe('none');
          // Exact on 2-octet sessions too: when AS4_PATH goes out, AGGREGATOR carries
          // AS_TRANS and AS4_AGGREGATOR the number, so RFC 6793 4.2.3 never finds the
          // path stale (the decoder's stale rule is covered by the raw-byte tests).
          expect({ ...back, attributes: { ...back.attributes, asPath: normalise(back.attributes.asPath) } }).toEqual({
            ...m,
            attributes: { ...m.attributes, asPath: normalise(attrs.asPath) },
          });
        },
      ),
      { numRuns: 400 },
    );
  });

  test('OPEN with any capabilities round-trips', () => {
    const cap: fc.Arbitrary<Capability> = fc.oneof(
      fc.record({ kind: fc.constant('multiprotocol' as const), afi: fc.integer({ min: 0, max: 65535 }), safi: fc.integer({ min: 0, max: 255 }) }),
      fc.constant({ kind: 'route-refresh' as const }),
      fc.constant({ kind: 'extended-message' as const }),
      fc.record({ kind: fc.constant('four-octet-as' as const), asn: u32 }),
      fc.record({
        kind: fc.constant('graceful-restart' as const),
        restartState: fc.boolean(),
        notification: fc.boolean(),
        restartTime: fc.integer({ min: 0, max: 4095 }),
        families: fc.array(fc.record({ afi: fc.integer({ min: 0, max: 65535 }), safi: fc.integer({ min: 0, max: 255 }), forwardingState: fc.boolean() }), { maxLength: 4 }),
      }),
      fc.record({ kind: fc.constant('unknown' as const), code: fc.integer({ min: 200, max: 254 }), value: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)) }),
    );
    fc.assert(
      fc.property(fc.array(cap, { maxLength: 40 }), fc.integer({ min: 0, max: 65535 }), fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 65535 })), v4Addr, (capabilities, myAs, holdTime, bgpId) => {
        const m: BgpMessage = { type: 'OPEN', version: 4, myAs, holdTime, bgpId, capabilities };
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  test('NOTIFICATION and ROUTE-REFRESH round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (code, subcode, data) => {
        const m: BgpMessage = { type: 'NOTIFICATION', code, subcode, data: Buffer.from(data) };
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (afi, safi, subtype) => {
        const m: BgpMessage = { type: 'ROUTE_REFRESH', afi, safi, subtype };
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 200 },
    );
  });
});
