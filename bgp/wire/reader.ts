/**
 * Bounds-checked reads over a slice of a Buffer. Every read past the end throws the
 * BgpNotification the caller chose when it created the Reader, so a truncated field can
 * never turn into an out-of-range read or a RangeError from Node.
 */
import { BgpNotification } from './errors.js';

export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
    /** NOTIFICATION code/subcode to throw when a read runs past `end`. */
    readonly code = 1,
    readonly subcode = 2,
    readonly what = 'message',
  ) {
    this.pos = start;
    if (end > buf.length || start > end) this.fail();
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(detail?: string): never {
    throw new BgpNotification(this.code, this.subcode, Buffer.alloc(0), `truncated ${this.what}${detail ? `: ${detail}` : ''}`);
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) this.fail(`needs ${n} octets, ${this.remaining} left`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A view (no copy) of the next n octets. */
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A Reader over the next n octets, throwing the given error when it overruns them. */
  sub(n: number, code = this.code, subcode = this.subcode, what = this.what): Reader {
    this.need(n);
    const r = new Reader(this.buf, this.pos, this.pos + n, code, subcode, what);
    this.pos += n;
    return r;
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}
