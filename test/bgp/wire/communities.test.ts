/** Community text (RFC 1997, RFC 8092, RFC 4360) and extended communities decoded and passed on unchanged. */
import { describe, expect, it } from 'vitest';
import { communityText, decodeAttributes, encodeAttributes, extendedCommunitiesOf, extendedCommunityText, largeCommunityText } from '../../../bgp/wire/index.js';
import { hex, rawAttr } from './helpers.js';

const ctx = { asn4: true, extendedMessage: false };

describe('community text', () => {
  it('prints RFC 1997 values as AS:value and well-known ones by name', () => {
    expect(communityText(65000 * 65536 + 100)).toBe('65000:100');
    expect(communityText(0xffffff01)).toBe('no-export');
    expect(communityText(0xffff0000)).toBe('graceful-shutdown');
    expect(largeCommunityText([4200000000, 1, 2])).toBe('4200000000:1:2');
  });

  it('names route targets and origins, hex for the rest', () => {
    expect(extendedCommunityText(hex('0002 fde8 00000001'))).toBe('rt:65000:1');
    expect(extendedCommunityText(hex('0102 cb007101 0007'))).toBe('rt:203.0.113.1:7');
    expect(extendedCommunityText(hex('0203 fa56ea00 0009'))).toBe('soo:4200000000:9');
    expect(extendedCommunityText(hex('4003 fde8 00000001'))).toBe('soo:65000:1');
    expect(extendedCommunityText(hex('8006 0000 00000000'))).toBe('0x8006000000000000');
    expect(() => extendedCommunityText(hex('0002'))).toThrow(RangeError);
  });

  it('extended communities round-trip unchanged and decode to text', () => {
    const value = '0002fde800000001 8006000000000000';
    const buf = Buffer.concat([rawAttr(0x40, 1, '00'), rawAttr(0xc0, 16, value)]);
    const d = decodeAttributes(buf, 0, buf.length, ctx);
    expect(d.handling).toBe('none');
    expect(extendedCommunitiesOf(d.attributes.unknown)).toEqual(['rt:65000:1', '0x8006000000000000']);
    const again = encodeAttributes(d.attributes, ctx);
    expect(again.includes(rawAttr(0xc0, 16, value))).toBe(true);
  });

  it('a malformed extended community list is treat-as-withdraw (RFC 7606 7.14)', () => {
    const buf = rawAttr(0xc0, 16, '0002fde8000000');
    const d = decodeAttributes(buf, 0, buf.length, ctx);
    expect(d.handling).toBe('treat-as-withdraw');
    expect(d.errors[0]).toMatchObject({ code: 16, handling: 'treat-as-withdraw' });
  });
});
