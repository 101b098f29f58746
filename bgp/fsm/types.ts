/**
 * Vocabulary of the BGP finite state machine (RFC 4271 8): states, events, actions and
 * the immutable context the pure `transition()` threads through. Nothing here touches a
 * socket or a clock; bgp/session/ turns timers and bytes into these events and executes
 * the actions.
 */

/** RFC 4271 8.2.2 state names, exactly as operators know them. */
export type State = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
export const STATES: readonly State[] = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];

/** RFC 4271 8.1 event names (the subset this speaker generates). */
export const EVENT_NAMES = [
  'ManualStart', // 1
  'ManualStop', // 2
  'AutomaticStart', // 3
  'ManualStart_with_PassiveTcpEstablishment', // 4
  'AutomaticStart_with_PassiveTcpEstablishment', // 5
  'AutomaticStop', // 8
  'ConnectRetryTimer_Expires', // 9
  'HoldTimer_Expires', // 10
  'KeepaliveTimer_Expires', // 11
  'IdleHoldTimer_Expires', // 13 (8.1.2 DampPeerOscillations)
  'IdleHoldResetTimer_Expires', // the session stayed Established long enough: forget past errors
  'Tcp_CR_Acked', // 16
  'TcpConnectionConfirmed', // 17
  'TcpConnectionFails', // 18
  'BGPOpen', // 19
  'BGPHeaderErr', // 21
  'BGPOpenMsgErr', // 22
  'OpenCollisionDump', // 23
  'NotifMsgVerErr', // 24
  'NotifMsg', // 25
  'KeepAliveMsg', // 26
  'UpdateMsg', // 27
  'UpdateMsgErr', // 28
] as const;
export type FsmEventName = (typeof EVENT_NAMES)[number];

/** The NOTIFICATION a decode error calls for (RFC 4271 6). */
export interface NotificationSpec {
  readonly code: number;
  readonly subcode: number;
  readonly data?: Buffer;
}

type ErrEventName = 'BGPHeaderErr' | 'BGPOpenMsgErr' | 'UpdateMsgErr';
type NotifEventName = 'NotifMsg' | 'NotifMsgVerErr';
type PlainEventName = Exclude<FsmEventName, ErrEventName | NotifEventName | 'BGPOpen' | 'ManualStop' | 'AutomaticStop'>;

export type FsmEvent =
  | { readonly type: PlainEventName }
  /** `holdTime` is the negotiated hold time (bgp/fsm/open.ts negotiate()). */
  | { readonly type: 'BGPOpen'; readonly holdTime: number }
  /** The NOTIFICATION to send, as the codec's BgpNotification carried it. */
  | ({ readonly type: ErrEventName } & NotificationSpec)
  /** What the peer sent (for the down reason). */
  | { readonly type: NotifEventName; readonly code: number; readonly subcode: number }
  /**
   * `data`: RFC 9003 shutdown communication for the Cease NOTIFICATION. `subcode`: the
   * Cease subcode (default 2, Administrative Shutdown; 9 Hard Reset, RFC 8538 3).
   * `silent`: close without a NOTIFICATION, so that a graceful-restart peer without the
   * RFC 8538 N bit keeps our routes (RFC 4724 4.2 only covers a closed connection).
   */
  | { readonly type: 'ManualStop'; readonly data?: Buffer; readonly subcode?: number; readonly silent?: boolean }
  /** `subcode`: RFC 4486 Cease subcode (default 3, Peer De-configured). */
  | { readonly type: 'AutomaticStop'; readonly subcode?: number; readonly data?: Buffer };

export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'idleHold' | 'idleHoldReset';

/** Why a session left its connection behind (the session adds the words). */
export type DownKind =
  | 'notification-received'
  | 'notification-sent'
  | 'hold-timer-expired'
  | 'connection-closed'
  | 'connect-failed'
  | 'admin-stop'
  | 'collision'
  | 'open-error';

export type FsmAction =
  | { readonly type: 'connect' }
  | { readonly type: 'dropConnection' }
  | { readonly type: 'sendOpen' }
  | { readonly type: 'sendKeepalive' }
  | { readonly type: 'sendNotification'; readonly code: number; readonly subcode: number; readonly data: Buffer }
  | { readonly type: 'startTimer'; readonly timer: TimerName; readonly seconds: number }
  | { readonly type: 'stopTimer'; readonly timer: TimerName }
  /** Leave Established: the RIB drops the peer's routes (RFC 4271 8.2.2 "deletes all routes"). */
  | { readonly type: 'releaseResources' }
  | { readonly type: 'established' }
  | { readonly type: 'processUpdate' }
  | {
      readonly type: 'down';
      readonly reason: DownKind;
      readonly event: FsmEventName;
      readonly code?: number;
      readonly subcode?: number;
    };

export interface FsmConfig {
  /** RFC 4271 10: ConnectRetryTime, suggested 120 s; we default to 30 s like most routers. */
  readonly connectRetryTime: number;
  /** RFC 4271 8.2.2: the "large value" the hold timer gets in OpenSent (4 minutes suggested). */
  readonly openHoldTime: number;
  /** Idle-hold backoff: first delay, cap (seconds); see backoff.ts for why the cap is short. */
  readonly idleHoldInitial: number;
  readonly idleHoldMax: number;
  /** Established this long (seconds) and the backoff starts over. */
  readonly idleHoldResetTime: number;
}

export const DEFAULT_FSM_CONFIG: FsmConfig = {
  connectRetryTime: 30,
  openHoldTime: 240,
  idleHoldInitial: 1,
  idleHoldMax: 8,
  idleHoldResetTime: 60,
};

/** Everything the FSM remembers between events; replaced, never mutated. */
export interface FsmContext {
  readonly config: FsmConfig;
  /** RFC 4271 8: ConnectRetryCounter. */
  readonly connectRetryCounter: number;
  /** Set by the *_with_PassiveTcpEstablishment start events: never initiate a connection. */
  readonly passive: boolean;
  /** Negotiated hold and keepalive (seconds) once an OPEN was accepted; 0 = none (RFC 4271 4.2). */
  readonly holdTime: number;
  readonly keepaliveTime: number;
  /** Consecutive failures since the last stable session: drives the idle-hold backoff. */
  readonly failures: number;
  /** An IdleHoldTimer is running: automatic starts wait for it (8.1.2 DampPeerOscillations). */
  readonly idleHoldRunning: boolean;
}

export function initialContext(config: Partial<FsmConfig> = {}): FsmContext {
  return {
    config: { ...DEFAULT_FSM_CONFIG, ...config },
    connectRetryCounter: 0,
    passive: false,
    holdTime: 0,
    keepaliveTime: 0,
    failures: 0,
    idleHoldRunning: false,
  };
}

/** Randomness is injected so the FSM stays a pure function; returns [0, 1). */
export interface FsmEnv {
  readonly random: () => number;
}

export interface TransitionResult {
  readonly next: State;
  readonly actions: readonly FsmAction[];
  readonly ctx: FsmContext;
}
