/**
 * The bgp/ library's public API. Layers, bottom up: wire (codec), fsm (RFC 4271 8 state
 * machine), session (socket + timers), rib (Adj-RIB-In/Out, Loc-RIB), speaker (peers).
 * The wire codec's names are exported flat; the other layers by name, so that helpers
 * that exist in several layers (prefix parsing) do not collide.
 */
export * from './wire/index.js';
export * as fsm from './fsm/index.js';
export * as bfd from './bfd/index.js';
export { Session, systemClock, tcpConnect } from './session/index.js';
export type { SessionConfig, SessionDeps, SessionInfo, DownReason, DownKind } from './session/index.js';
export * as rib from './rib/index.js';
export {
  AdjRibIn,
  AdjRibOut,
  LocRib,
  DesiredRoutes,
  PrefixList,
  RibError,
  decide,
  nextHopsFor,
  wirePacker,
} from './rib/index.js';
export type { Advertisement, BestRoute, Explanation, DecisionStep, ImportFilterSpec } from './rib/index.js';
export * from './speaker/index.js';
export * as net from './net/index.js';
export { Secret, NativeSocketError } from './net/index.js';
