/**
 * What the speaker needs from one BGP session: the public surface of bgp/session's
 * Session, as an interface so the speaker can be driven by anything that behaves the
 * same (the real Session in production and in the TCP tests).
 */
import type { SessionConfig, SessionEvents, SessionInfo, SocketLike, StopMode } from '../session/index.js';
import type { Family } from '../wire/types.js';

export type { DownReason, RouteRefreshRequest, SessionConfig, SessionEvents, SessionInfo } from '../session/index.js';

/** A listener for one of the session's events. */
export type SessionListener<E extends keyof SessionEvents> = (...args: SessionEvents[E]) => void;

export interface SessionLike {
  on<E extends keyof SessionEvents>(event: E, listener: SessionListener<E>): unknown;
  off<E extends keyof SessionEvents>(event: E, listener: SessionListener<E>): unknown;
  start(): void;
  stop(text?: string, mode?: StopMode): Promise<void>;
  /** AutomaticStop: Cease with this RFC 4486 subcode and data, then restart after the idle hold. */
  cease(subcode: number, data?: Buffer): void;
  acceptIncoming(sock: SocketLike): void;
  /** false: the socket buffer is full (or the session is not Established): wait for 'drain'. */
  sendUpdates(msgs: readonly Buffer[], joined?: Buffer): boolean;
  sendRouteRefresh(family: Family): void;
  /** RFC 4724 3: the R bit of the OPENs sent from now on (the current session keeps what it sent). */
  setRestarting?(on: boolean): void;
  readonly state: string;
  info(): SessionInfo;
}

export type SessionFactory = (cfg: SessionConfig) => SessionLike;
