/**
 * The Adj-RIB-Out's packer over the real codec (bgp/wire): announcements and
 * withdrawals packed into as few UPDATEs as fit, End-of-RIB, and the RFC 7313 BoRR/EoRR
 * ROUTE-REFRESH markers. Announcements are prepared (attributes and next hops encoded)
 * once per attribute set and session, and packed from that for each batch.
 */
import { encodeEndOfRib, encodeMessage, packAnnouncements, packPrepared, packWithdrawals, prepareAnnouncement } from '../wire/index.js';
import type { Packer } from './adj-rib-out.js';

export const wirePacker: Packer = {
  announce: packAnnouncements,
  prepare: prepareAnnouncement,
  announcePrepared: packPrepared,
  withdraw: packWithdrawals,
  endOfRib: encodeEndOfRib,
  routeRefresh: (family, subtype) =>
    encodeMessage({ type: 'ROUTE_REFRESH', afi: family === 'ipv4-unicast' ? 1 : 2, safi: 1, subtype }),
};
