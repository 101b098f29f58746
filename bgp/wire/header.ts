/**
 * The message header (RFC 4271 4.1) and the framer that cuts a TCP byte stream into
 * whole messages, checking each header as RFC 4271 6.1 says: marker all ones
 * (1/1 Connection Not Synchronized), length within [19, max] and at least the type's
 * minimum (1/2 Bad Message Length, data = the length field), known type
 * (1/3 Bad Message Type, data = the type octet).
 */
import { BgpNotification } from './errors.js';
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH, MessageType } from './types.js';

const MARKER = Buffer.alloc(16, 0xff);

/** RFC 4271 4.2-4.5, RFC 2918 3: the smallest legal message of each type (header included). */
export const MIN_MESSAGE_LENGTH: Readonly<Record<number, number>> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

/** The 19-octet header of a message with a body of `bodyLength` octets. */
export function encodeHeader(type: number, bodyLength: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_LENGTH);
  writeHeader(h, type, HEADER_LENGTH + bodyLength);
  return h;
}

/** Writes the header of a `length`-octet message (header included) at the start of `out`. */
export function writeHeader(out: Buffer, type: number, length: number): void {
  MARKER.copy(out, 0);
  out.writeUInt16BE(length, 16);
  out[18] = type;
}

/** Header + body in one Buffer. */
export function frameMessage(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  writeHeader(out, type, out.length);
  body.copy(out, HEADER_LENGTH);
  return out;
}

function badLength(length: number): BgpNotification {
  const data = Buffer.allocUnsafe(2);
  data.writeUInt16BE(length, 0);
  return new BgpNotification(1, 2, data, `bad message length ${length}`);
}

/**
 * Validates the header at `off` (at least 19 octets available) and returns the message
 * length. Throws BgpNotification 1/1, 1/2 or 1/3.
 */
export function checkHeader(buf: Buffer, off: number, maxLength: number): number {
  for (let i = 0; i < 16; i++) {
    if (buf[off + i] !== 0xff) throw new BgpNotification(1, 1, Buffer.alloc(0), 'marker is not all ones');
  }
  const length = buf.readUInt16BE(off + 16);
  const type = buf[off + 18]!;
  if (length < HEADER_LENGTH || length > maxLength) throw badLength(length);
  const min = MIN_MESSAGE_LENGTH[type];
  if (min === undefined) throw new BgpNotification(1, 3, Buffer.from([type]), `bad message type ${type}`);
  if (length < min) throw badLength(length);
  // RFC 4271 4.4: a KEEPALIVE is the header alone.
  if (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH) throw badLength(length);
  // RFC 8654 3: OPEN stays within 4096 octets even when extended messages are in use.
  if (type === MessageType.OPEN && length > MAX_MESSAGE_LENGTH) throw badLength(length);
  return length;
}

/**
 * Turns TCP chunks into whole messages (header included). Sans-IO: the session feeds
 * it what the socket delivered and sends the NOTIFICATION a thrown BgpNotification
 * describes. After a throw the stream is unusable (the session closes it).
 */
export class MessageFramer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private maxLength = MAX_MESSAGE_LENGTH) {}

  /** RFC 8654: raise to 65535 once extended messages are negotiated. */
  setMaxLength(n: number): void {
    this.maxLength = n;
  }

  /** Octets received but not yet part of a whole message. */
  get buffered(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): Buffer[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (buf.length - off >= HEADER_LENGTH) {
      const length = checkHeader(buf, off, this.maxLength);
      if (buf.length - off < length) break;
      out.push(buf.subarray(off, off + length));
      off += length;
    }
    // Copy the remainder so a small leftover does not pin a large chunk in memory.
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return out;
  }
}
