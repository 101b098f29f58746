/** KEEPALIVE (RFC 4271 4.4): the header alone; the framer already enforced length 19. */
import { BgpNotification } from './errors.js';
import type { KeepaliveMessage } from './types.js';

export const KEEPALIVE: KeepaliveMessage = Object.freeze({ type: 'KEEPALIVE' });

export function encodeKeepalive(): Buffer {
  return Buffer.alloc(0);
}

export function decodeKeepalive(body: Buffer): KeepaliveMessage {
  if (body.length !== 0) {
    const data = Buffer.allocUnsafe(2);
    data.writeUInt16BE(19 + body.length, 0);
    throw new BgpNotification(1, 2, data, 'KEEPALIVE with a body');
  }
  return KEEPALIVE;
}
