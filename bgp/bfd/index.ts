/**
 * BFD (RFC 5880, single hop RFC 5881) for the speaker: codec, FSM and timer rules are
 * pure; BfdSession runs one session on an injected clock; BfdRunner owns the UDP
 * sockets; BfdPeers is what the BGP speaker calls.
 */
export * from './types.js';
export { BFD_VERSION, BfdPacketError, decodeControl, encodeControl, type BfdCheck, type ControlPacketSlot } from './codec.js';
export { BFD_EVENTS, recvEvent, transition, type BfdEvent, type BfdTransition } from './fsm.js';
export { MIN_TX_FRACTION, SLOW_TX_US, TX_SLACK_FRACTION, advertisedMinTx, detectionTime, jittered, txInterval } from './timers.js';
export { BfdScheduler, type Scheduled } from './scheduler.js';
export { BfdSession, type BfdSessionDeps, type BfdSessionInfo, type BfdTimers } from './session.js';
export { BfdRunner, BfdRunnerError, type BfdPeerSpec, type BfdRunnerDeps, type BfdRunnerOptions, type DiscardReason, type UdpFamily } from './runner.js';
export { BfdNativeError, attachTtl255Filter, ttl255Program } from './ttl-filter.js';
export { BfdPeers, type BfdPeerWant, type BfdRunnerLike, type BfdStatus } from './peers.js';
