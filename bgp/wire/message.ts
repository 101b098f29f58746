/**
 * Whole messages: header + body, dispatching on the type. encodeMessage() refuses to
 * build a message longer than the negotiated maximum (4096, or 65535 with RFC 8654):
 * that is a bug in the caller, not a protocol error, so it throws RangeError.
 */
import { BgpNotification } from './errors.js';
import { checkHeader, frameMessage } from './header.js';
import { decodeKeepalive, encodeKeepalive } from './keepalive.js';
import { decodeNotification, encodeNotification } from './notification.js';
import { decodeOpen, encodeOpen } from './open.js';
import { decodeRouteRefresh, encodeRouteRefresh } from './route-refresh.js';
import {
  DEFAULT_CONTEXT,
  HEADER_LENGTH,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  type BgpMessage,
  type CodecContext,
} from './types.js';
import { decodeUpdate, encodeUpdate } from './update.js';

export function maxMessageLength(ctx: CodecContext): number {
  return ctx.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

const TYPE_CODE = {
  OPEN: MessageType.OPEN,
  UPDATE: MessageType.UPDATE,
  NOTIFICATION: MessageType.NOTIFICATION,
  KEEPALIVE: MessageType.KEEPALIVE,
  ROUTE_REFRESH: MessageType.ROUTE_REFRESH,
} as const;

/** The message body without header. */
export function encodeBody(m: BgpMessage, ctx: CodecContext = DEFAULT_CONTEXT): Buffer {
  switch (m.type) {
    case 'OPEN':
      return encodeOpen(m);
    case 'UPDATE':
      return encodeUpdate(m, ctx);
    case 'NOTIFICATION':
      return encodeNotification(m);
    case 'KEEPALIVE':
      return encodeKeepalive();
    case 'ROUTE_REFRESH':
      return encodeRouteRefresh(m);
  }
}

/** The whole message, header included. */
export function encodeMessage(m: BgpMessage, ctx: CodecContext = DEFAULT_CONTEXT): Buffer {
  const body = encodeBody(m, ctx);
  // RFC 8654 3: OPEN (and KEEPALIVE) stay within 4096 octets; NOTIFICATION data is
  // truncated to fit rather than dropped, since it explains why the session ends.
  const limit = m.type === 'OPEN' ? MAX_MESSAGE_LENGTH : maxMessageLength(ctx);
  if (HEADER_LENGTH + body.length > limit) {
    if (m.type === 'NOTIFICATION') return frameMessage(TYPE_CODE[m.type], body.subarray(0, limit - HEADER_LENGTH));
    throw new RangeError(`${m.type} of ${HEADER_LENGTH + body.length} octets exceeds the maximum of ${limit}`);
  }
  return frameMessage(TYPE_CODE[m.type], body);
}

function badLength(length: number): BgpNotification {
  const data = Buffer.allocUnsafe(2);
  data.writeUInt16BE(length & 0xffff, 0);
  return new BgpNotification(1, 2, data, `bad message length ${length}`);
}

/**
 * Decodes one whole message (as the framer delivers it). Returns a typed message or
 * throws BgpNotification; nothing else.
 */
export function decodeMessage(msg: Buffer, ctx: CodecContext = DEFAULT_CONTEXT): BgpMessage {
  if (msg.length < HEADER_LENGTH) throw badLength(msg.length);
  const length = checkHeader(msg, 0, maxMessageLength(ctx));
  // The header's length must match what we were handed (RFC 4271 6.1 Bad Message Length).
  if (length !== msg.length) throw badLength(length);
  const body = msg.subarray(HEADER_LENGTH);
  switch (msg[18]) {
    case MessageType.OPEN:
      return decodeOpen(body);
    case MessageType.UPDATE:
      return decodeUpdate(body, ctx);
    case MessageType.NOTIFICATION:
      return decodeNotification(body);
    case MessageType.KEEPALIVE:
      return decodeKeepalive(body);
    default:
      return decodeRouteRefresh(body);
  }
}
