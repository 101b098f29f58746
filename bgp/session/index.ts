/**
 * bgp/session: one BGP session over an injected transport and clock. session.ts (the
 * Session class), types.ts (config, deps, DownReason, SessionInfo), clock.ts (the real
 * clock and TCP connect).
 */
export { Session } from './session.js';
export { systemClock, tcpConnect } from './clock.js';
export type * from './types.js';
