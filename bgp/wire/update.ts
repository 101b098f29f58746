/**
 * UPDATE (RFC 4271 4.3; RFC 4760 for the MP attributes). The message-level rules of
 * RFC 4271 6.3 and RFC 7606 live here: field lengths that overrun the message are
 * Malformed Attribute List (3/1); a syntactically bad withdrawn or NLRI field is
 * Invalid Network Field (3/10, RFC 7606 5.3); missing well-known mandatory attributes
 * when NLRI is present are treat-as-withdraw (RFC 7606 3(d)). Attribute-level rules are
 * in attributes.ts.
 */
import { AttrCode, decodeAttributes, encodeAttributes } from './attributes.js';
import { BgpNotification } from './errors.js';
import { decodeNlri, nlriSize, writeNlri } from './prefix.js';
import { HANDLING_ORDER, type AttributeError, type CodecContext, type ErrorHandling, type UpdateMessage } from './types.js';

export type UpdateInput = Omit<UpdateMessage, 'type' | 'handling' | 'errors' | 'disabledFamily'> &
  Partial<Pick<UpdateMessage, 'handling' | 'errors'>>;

function ipv4Field(prefixes: readonly string[]): Buffer {
  let size = 0;
  for (const p of prefixes) size += nlriSize(Number(p.slice(p.indexOf('/') + 1)));
  const b = Buffer.allocUnsafe(size);
  let off = 0;
  for (const p of prefixes) off = writeNlri(p, 1, b, off);
  return b.subarray(0, off);
}

/** The UPDATE body (without header). Throws Error on invalid prefixes or addresses. */
export function encodeUpdate(m: UpdateInput, ctx: CodecContext): Buffer {
  const withdrawn = ipv4Field(m.withdrawn);
  const attrs = encodeAttributes(m.attributes, ctx, m.mpReach, m.mpUnreach);
  const nlri = ipv4Field(m.nlri);
  const b = Buffer.allocUnsafe(4 + withdrawn.length + attrs.length + nlri.length);
  b.writeUInt16BE(withdrawn.length, 0);
  withdrawn.copy(b, 2);
  b.writeUInt16BE(attrs.length, 2 + withdrawn.length);
  attrs.copy(b, 4 + withdrawn.length);
  nlri.copy(b, 4 + withdrawn.length + attrs.length);
  return b;
}

function malformedList(why: string): BgpNotification {
  return new BgpNotification(3, 1, Buffer.alloc(0), why);
}

export function decodeUpdate(body: Buffer, ctx: CodecContext): UpdateMessage {
  // RFC 4271 6.3: Withdrawn Routes Length + Total Attribute Length + 23 > message length.
  if (body.length < 4) throw malformedList('UPDATE shorter than its length fields');
  const wlen = body.readUInt16BE(0);
  if (4 + wlen > body.length) throw malformedList(`withdrawn routes length ${wlen} overruns the message`);
  const alenAt = 2 + wlen;
  const alen = body.readUInt16BE(alenAt);
  const aStart = alenAt + 2;
  if (aStart + alen > body.length) throw malformedList(`total attribute length ${alen} overruns the message`);

  const withdrawn = decodeNlri(body, 1, 2, 2 + wlen, 10);
  const nlri = decodeNlri(body, 1, aStart + alen, body.length, 10);
  const a = decodeAttributes(body, aStart, aStart + alen, ctx);
  let handling: ErrorHandling = a.handling;
  const errors: AttributeError[] = a.errors;

  // RFC 7606 3(d): with NLRI present, a missing ORIGIN, AS_PATH or (classic NLRI)
  // NEXT_HOP is treat-as-withdraw; the RFC 4271 subcode would be 3/3.
  const hasNlri = nlri.length > 0 || (a.mpReach !== undefined && a.mpReach.nlri.length > 0);
  if (hasNlri) {
    const required: number[] = [AttrCode.ORIGIN, AttrCode.AS_PATH];
    if (nlri.length > 0) required.push(AttrCode.NEXT_HOP);
    for (const code of required) {
      if (!a.present.has(code)) {
        errors.push({ handling: 'treat-as-withdraw', code, subcode: 3, reason: `missing well-known attribute ${code}` });
        if (HANDLING_ORDER.indexOf(handling) < HANDLING_ORDER.indexOf('treat-as-withdraw')) handling = 'treat-as-withdraw';
      }
    }
  }

  const m: { -readonly [K in keyof UpdateMessage]: UpdateMessage[K] } = {
    type: 'UPDATE',
    withdrawn,
    attributes: a.attributes,
    nlri,
    handling,
    errors,
  };
  if (a.mpReach) m.mpReach = a.mpReach;
  if (a.mpUnreach) m.mpUnreach = a.mpUnreach;
  if (a.disabledFamily) m.disabledFamily = a.disabledFamily;
  if (a.unsupportedFamilies) m.unsupportedFamilies = a.unsupportedFamilies;
  return m;
}
