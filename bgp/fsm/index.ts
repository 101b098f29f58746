/**
 * bgp/fsm: the pure half of a BGP session. types.ts (states, events, actions),
 * fsm.ts (RFC 4271 8 transition table), backoff.ts (idle-hold damping),
 * open.ts (OPEN build and negotiation), collision.ts (RFC 4271 6.8).
 */
export * from './types.js';
export { transition } from './fsm.js';
export { idleHoldDelay } from './backoff.js';
export { buildOpen, negotiate, notificationGr, afiSafiOf, routerIdToNumber } from './open.js';
export type { LocalOpenParams, PeerAsn, PeerOpenConfig, Negotiated, GracefulRestartInfo } from './open.js';
export { resolveCollision } from './collision.js';
export type { CollisionInput, CollisionDecision } from './collision.js';
