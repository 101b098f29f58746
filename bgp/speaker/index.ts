/**
 * bgp/speaker: peers, their sessions and tables, and the declarative advertisement API.
 * speaker.ts (the Speaker class), types.ts (config and status shapes), session-port.ts
 * (what the speaker needs from a session).
 */
export { Speaker, rejectConnection, ceaseViaSession, noNeighbourText, MD5_HINT, UNANSWERED_HINT } from './speaker.js';
export type { SpeakerDeps } from './speaker.js';
export type * from './types.js';
export { DEFAULT_MAX_PREFIX_RESTART } from './types.js';
export type { SessionLike, SessionFactory } from './session-port.js';
export type { Advertisement } from '../rib/desired.js';
