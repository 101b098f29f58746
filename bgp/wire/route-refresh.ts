/**
 * ROUTE-REFRESH (RFC 2918 3; RFC 7313 3 adds the message subtype in the former
 * reserved octet: 0 normal request, 1 BoRR, 2 EoRR).
 */
import { BgpNotification } from './errors.js';
import { encodeHeader } from './header.js';
import { MessageType, type RouteRefreshMessage } from './types.js';

export function encodeRouteRefresh(m: Pick<RouteRefreshMessage, 'afi' | 'safi' | 'subtype'>): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(m.afi, 0);
  b[2] = m.subtype;
  b[3] = m.safi;
  return b;
}

export function decodeRouteRefresh(body: Buffer): RouteRefreshMessage {
  if (body.length !== 4) {
    // RFC 7313 5: ROUTE-REFRESH Message Error / Invalid Message Length, data = the whole message.
    const data = Buffer.concat([encodeHeader(MessageType.ROUTE_REFRESH, body.length), body]);
    throw new BgpNotification(7, 1, data, `ROUTE-REFRESH body of ${body.length} octets, expected 4`);
  }
  return { type: 'ROUTE_REFRESH', afi: body.readUInt16BE(0), subtype: body[2]!, safi: body[3]! };
}
