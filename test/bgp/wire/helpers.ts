// Test helpers for the wire codec: hex builders for hand-made messages.
import { BgpNotification } from '../../../bgp/wire/index.js';
import { expect } from 'vitest';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-fA-F]/g, ''), 'hex');

/** A raw attribute from flags, code and value hex (Extended Length when the value needs it). */
export function rawAttr(flags: number, code: number, valueHex: string): Buffer {
  const v = hex(valueHex);
  if (v.length > 255 || (flags & 0x10) !== 0) {
    const b = Buffer.alloc(4);
    b[0] = flags | 0x10;
    b[1] = code;
    b.writeUInt16BE(v.length, 2);
    return Buffer.concat([b, v]);
  }
  return Buffer.concat([Buffer.from([flags, code, v.length]), v]);
}

/** An UPDATE body: withdrawn field, attribute bytes, NLRI field (all raw). */
export function updateBody(withdrawn: Buffer, attrs: Buffer, nlri: Buffer): Buffer {
  const w = Buffer.alloc(2);
  w.writeUInt16BE(withdrawn.length);
  const a = Buffer.alloc(2);
  a.writeUInt16BE(attrs.length);
  return Buffer.concat([w, withdrawn, a, attrs, nlri]);
}

/** Runs fn, expects a BgpNotification, returns it. */
export function notificationOf(fn: () => unknown): BgpNotification {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BgpNotification);
    return e as BgpNotification;
  }
  throw new Error('expected a BgpNotification, nothing was thrown');
}
