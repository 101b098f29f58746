/**
 * What the speaker needs from one BGP session: the public surface of bgp/session's
 * Session, as an interface so the speaker can be driven by anything that behaves the
 * same (the real Session in production and in the TCP tests).
 */
import type { EventEmitter } from 'node:events';
import type { SessionConfig, SessionInfo, SocketLike } from '../session/index.js';
import type { Family } from '../wire/types.js';

export type { DownReason, SessionConfig, SessionInfo } from '../session/index.js';

export interface SessionLike extends EventEmitter {
  start(): void;
  stop(text?: string): Promise<void>;
  /** AutomaticStop: Cease with this RFC 4486 subcode and data, then restart after the idle hold. */
  cease(subcode: number, data?: Buffer): void;
  acceptIncoming(sock: SocketLike): void;
  /** false: the socket buffer is full (or the session is not Established): wait for 'drain'. */
  sendUpdates(msgs: readonly Buffer[], joined?: Buffer): boolean;
  sendRouteRefresh(family: Family): void;
  readonly state: string;
  info(): SessionInfo;
}

export type SessionFactory = (cfg: SessionConfig) => SessionLike;
