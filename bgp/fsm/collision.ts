/**
 * Connection collision detection, RFC 4271 6.8, as a pure decision: of two connections
 * to the same peer, keep the one initiated by the speaker with the higher BGP
 * Identifier (RFC 6286 2.3: on equal identifiers, the higher AS number).
 */
import { routerIdToNumber } from './open.js';

export interface CollisionInput {
  readonly localId: string;
  readonly remoteId: string;
  /** Only needed when the identifiers are equal (eBGP, RFC 6286). */
  readonly localAsn?: number;
  readonly remoteAsn?: number;
  /** Who opened the connection that already exists (OpenSent/OpenConfirm). */
  readonly existingInitiatedLocally: boolean;
  /** Who opened the connection on which the new OPEN arrived. */
  readonly newInitiatedLocally: boolean;
}

export type CollisionDecision = 'close-existing' | 'close-new';

export function resolveCollision(c: CollisionInput): CollisionDecision {
  // Both opened by the same side (a peer reconnecting) is not a 6.8 collision: the
  // connection already under way stays, as OpenBGPD keeps it.
  if (c.existingInitiatedLocally === c.newInitiatedLocally) return 'close-new';
  const local = routerIdToNumber(c.localId) ?? 0;
  const remote = routerIdToNumber(c.remoteId) ?? 0;
  const localWins = local !== remote ? local > remote : (c.localAsn ?? 0) > (c.remoteAsn ?? 0);
  // The winner's connection is the one its owner initiated.
  return c.existingInitiatedLocally === localWins ? 'close-new' : 'close-existing';
}
