/**
 * The BGP finite state machine, RFC 4271 8.2.2, as one explicit state × event switch.
 *
 * `transition()` is pure: it reads a state, an event and the context, and returns the
 * next state, the actions to execute (in order) and the new context. The session owns
 * the socket and the timers and feeds events back in.
 *
 * Optional session attributes (RFC 4271 8.1.1/8.1.2) as this speaker sets them:
 * DampPeerOscillations TRUE (idle-hold backoff), PassiveTcpEstablishment per start
 * event, DelayOpen FALSE, SendNOTIFICATIONwithoutOPEN FALSE,
 * CollisionDetectEstablishedState FALSE, AllowAutomaticStop TRUE.
 *
 * Deviations, each a choice real routers make too:
 * - every non-manual return to Idle schedules the IdleHoldTimer, whose expiry restarts
 *   the session (RFC leaves the damping method open); ManualStop never restarts;
 * - a connection from the peer while the IdleHoldTimer runs is taken (Idle -> OpenSent),
 *   as FRR and BIRD accept a peer's connection during their own retry wait: a ToR back
 *   from an outage gets its session at once, not after our backoff; a stopped session
 *   (no idle hold running) still refuses it;
 * - a NOTIFICATION received in OpenSent/OpenConfirm is not answered with an FSM Error
 *   NOTIFICATION (the peer is closing anyway);
 * - a passive session whose ConnectRetryTimer expires in Active keeps listening instead
 *   of connecting;
 * - header errors send the Message Header Error the codec found in every state with a
 *   connection (RFC 4271 6.1), not an FSM Error;
 * - one FSM per session, not per connection: OpenCollisionDump in OpenSent/OpenConfirm
 *   (RFC 4271 6.8 keeps the peer's other connection) leaves the session in Active, where
 *   the kept connection comes in as TcpConnectionConfirmed. RFC 4271 sends the dumped
 *   connection's own FSM to Idle while the kept one's goes on.
 */
import { CeaseSubcode, ErrorCode } from '../wire/notification.js';
import { idleHoldDelay } from './backoff.js';
import type {
  DownKind,
  FsmAction,
  FsmContext,
  FsmEnv,
  FsmEvent,
  FsmEventName,
  NotificationSpec,
  State,
  TransitionResult,
} from './types.js';

/** RFC 4271 4.5 error codes and RFC 4486 Cease subcodes used by the FSM. */
const { HOLD_TIMER_EXPIRED, FSM: FSM_ERROR, CEASE } = ErrorCode;
const { ADMIN_SHUTDOWN: CEASE_ADMIN_SHUTDOWN, PEER_DECONFIGURED: CEASE_PEER_DECONFIGURED, CONNECTION_COLLISION: CEASE_COLLISION } = CeaseSubcode;
/** RFC 6608 FSM Error subcodes: unexpected message in OpenSent / OpenConfirm / Established. */
const FSM_SUBCODE: Partial<Record<State, number>> = { OpenSent: 1, OpenConfirm: 2, Established: 3 };
const MESSAGE_EVENTS: ReadonlySet<FsmEventName> = new Set([
  'BGPOpen',
  'BGPHeaderErr',
  'BGPOpenMsgErr',
  'NotifMsgVerErr',
  'NotifMsg',
  'KeepAliveMsg',
  'UpdateMsg',
  'UpdateMsgErr',
]);

const EMPTY = Buffer.alloc(0);
const defaultEnv: FsmEnv = { random: Math.random };

function stay(state: State, ctx: FsmContext, actions: FsmAction[] = []): TransitionResult {
  return { next: state, actions, ctx };
}

/** The actions that stop every per-connection timer. */
function stopConnectionTimers(): FsmAction[] {
  return [
    { type: 'stopTimer', timer: 'connectRetry' },
    { type: 'stopTimer', timer: 'hold' },
    { type: 'stopTimer', timer: 'keepalive' },
    { type: 'stopTimer', timer: 'idleHoldReset' },
  ];
}

interface IdleOptions {
  readonly reason: DownKind;
  readonly event: FsmEventName;
  /** A NOTIFICATION to send before closing. */
  readonly notify?: NotificationSpec;
  /** The code/subcode of the NOTIFICATION received, for the reason. */
  readonly received?: { readonly code: number; readonly subcode: number };
  /** ManualStop: ConnectRetryCounter to zero and no automatic restart. */
  readonly manual?: boolean;
}

/**
 * The common "go back to Idle" of RFC 4271 8.2.2: (send NOTIFICATION,) set the
 * ConnectRetryTimer to zero, release resources, drop the connection, count the retry
 * and damp peer oscillations.
 */
function toIdle(ctx: FsmContext, env: FsmEnv, o: IdleOptions): TransitionResult {
  const actions: FsmAction[] = [];
  if (o.notify) {
    actions.push({ type: 'sendNotification', code: o.notify.code, subcode: o.notify.subcode, data: o.notify.data ?? EMPTY });
  }
  actions.push(...stopConnectionTimers(), { type: 'releaseResources' }, { type: 'dropConnection' });
  const codes = o.notify ?? o.received;
  actions.push({
    type: 'down',
    reason: o.reason,
    event: o.event,
    ...(codes ? { code: codes.code, subcode: codes.subcode } : {}),
  });
  const base = { ...ctx, holdTime: 0, keepaliveTime: 0 };
  if (o.manual) {
    actions.push({ type: 'stopTimer', timer: 'idleHold' });
    return { next: 'Idle', actions, ctx: { ...base, connectRetryCounter: 0, failures: 0, idleHoldRunning: false } };
  }
  const failures = ctx.failures + 1;
  actions.push({ type: 'startTimer', timer: 'idleHold', seconds: idleHoldDelay(failures, ctx.config, env.random) });
  return {
    next: 'Idle',
    actions,
    ctx: { ...base, connectRetryCounter: ctx.connectRetryCounter + 1, failures, idleHoldRunning: true },
  };
}

/** Idle -> Connect (active) or Active (passive), RFC 4271 8.2.2 Idle state, events 1-5. */
function start(ctx: FsmContext, passive: boolean, resetCounter: boolean): TransitionResult {
  const next: FsmContext = {
    ...ctx,
    passive,
    idleHoldRunning: false,
    connectRetryCounter: resetCounter ? 0 : ctx.connectRetryCounter,
  };
  const actions: FsmAction[] = [
    { type: 'stopTimer', timer: 'idleHold' },
    { type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime },
  ];
  if (passive) return { next: 'Active', actions, ctx: next };
  actions.push({ type: 'connect' });
  return { next: 'Connect', actions, ctx: next };
}

/** A TCP connection is up (either direction): send OPEN, hold timer to the large value (8.2.2). */
function connectionUp(ctx: FsmContext): TransitionResult {
  return {
    next: 'OpenSent',
    actions: [
      { type: 'stopTimer', timer: 'connectRetry' },
      { type: 'sendOpen' },
      { type: 'startTimer', timer: 'hold', seconds: ctx.config.openHoldTime },
    ],
    ctx,
  };
}

/** Restart (or stop, when 0 was negotiated) the hold timer. */
function restartHold(ctx: FsmContext): FsmAction[] {
  return ctx.holdTime > 0
    ? [{ type: 'startTimer', timer: 'hold', seconds: ctx.holdTime }]
    : [{ type: 'stopTimer', timer: 'hold' }];
}

function restartKeepalive(ctx: FsmContext): FsmAction[] {
  return ctx.keepaliveTime > 0
    ? [{ type: 'startTimer', timer: 'keepalive', seconds: ctx.keepaliveTime }]
    : [{ type: 'stopTimer', timer: 'keepalive' }];
}

function errorSpec(event: FsmEvent): NotificationSpec | undefined {
  if (event.type === 'BGPHeaderErr' || event.type === 'BGPOpenMsgErr' || event.type === 'UpdateMsgErr') {
    return { code: event.code, subcode: event.subcode, data: event.data ?? EMPTY };
  }
  return undefined;
}

function adminStop(ctx: FsmContext, env: FsmEnv, event: FsmEvent, sendCease: boolean): TransitionResult {
  if (event.type === 'ManualStop') {
    return toIdle(ctx, env, {
      reason: 'admin-stop',
      event: event.type,
      manual: true,
      ...(sendCease && !event.silent ? { notify: { code: CEASE, subcode: event.subcode ?? CEASE_ADMIN_SHUTDOWN, data: event.data ?? EMPTY } } : {}),
    });
  }
  if (event.type === 'AutomaticStop') {
    return toIdle(ctx, env, {
      reason: 'admin-stop',
      event: event.type,
      ...(sendCease ? { notify: { code: CEASE, subcode: event.subcode ?? CEASE_PEER_DECONFIGURED, data: event.data ?? EMPTY } } : {}),
    });
  }
  throw new Error(`not a stop event: ${event.type}`);
}

/**
 * OpenSent / OpenConfirm, OpenCollisionDump: Cease / Connection Collision Resolution on
 * the connection that goes, then Active (see the deviations above): no damping, the
 * session goes on at once with the connection that was kept.
 */
function collisionDump(ctx: FsmContext): TransitionResult {
  return {
    next: 'Active',
    actions: [
      { type: 'sendNotification', code: CEASE, subcode: CEASE_COLLISION, data: EMPTY },
      { type: 'stopTimer', timer: 'hold' },
      { type: 'stopTimer', timer: 'keepalive' },
      { type: 'releaseResources' },
      { type: 'dropConnection' },
      { type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime },
      { type: 'down', reason: 'collision', event: 'OpenCollisionDump', code: CEASE, subcode: CEASE_COLLISION },
    ],
    ctx: { ...ctx, holdTime: 0, keepaliveTime: 0, connectRetryCounter: ctx.connectRetryCounter + 1 },
  };
}

/** OpenSent / OpenConfirm / Established: an event the state does not expect -> FSM Error (RFC 6608). */
function fsmError(state: State, ctx: FsmContext, env: FsmEnv, event: FsmEvent): TransitionResult {
  const subcode = MESSAGE_EVENTS.has(event.type) ? (FSM_SUBCODE[state] ?? 0) : 0;
  return toIdle(ctx, env, { reason: 'notification-sent', event: event.type, notify: { code: FSM_ERROR, subcode } });
}

/** Connect / Active: an unexpected event drops the connection without a NOTIFICATION (no OPEN was sent). */
function dropQuietly(ctx: FsmContext, env: FsmEnv, event: FsmEvent): TransitionResult {
  const reason: DownKind =
    event.type === 'AutomaticStop'
      ? 'admin-stop'
      : event.type === 'HoldTimer_Expires'
        ? 'hold-timer-expired'
        : event.type === 'NotifMsg' || event.type === 'NotifMsgVerErr'
          ? 'notification-received'
          : 'connection-closed';
  const received = event.type === 'NotifMsg' || event.type === 'NotifMsgVerErr' ? { code: event.code, subcode: event.subcode } : undefined;
  return toIdle(ctx, env, { reason, event: event.type, ...(received ? { received } : {}) });
}

export function transition(state: State, event: FsmEvent, ctx: FsmContext, env: FsmEnv = defaultEnv): TransitionResult {
  const e = event.type;
  switch (state) {
    // ------------------------------------------------------------------ Idle
    case 'Idle':
      switch (e) {
        case 'ManualStart':
          return start(ctx, false, true);
        case 'ManualStart_with_PassiveTcpEstablishment':
          return start(ctx, true, true);
        case 'AutomaticStart':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          // 8.1.2: while the IdleHoldTimer runs, automatic starts wait for it.
          if (ctx.idleHoldRunning) return stay(state, ctx);
          return start(ctx, e === 'AutomaticStart_with_PassiveTcpEstablishment', true);
        case 'IdleHoldTimer_Expires':
          if (!ctx.idleHoldRunning) return stay(state, ctx);
          return start(ctx, ctx.passive, false);
        case 'ManualStop':
          // RFC: ignored in Idle; a pending automatic restart is cancelled too.
          return stay(state, { ...ctx, idleHoldRunning: false, failures: 0, connectRetryCounter: 0 }, [
            { type: 'stopTimer', timer: 'idleHold' },
          ]);
        case 'TcpConnectionConfirmed':
          if (ctx.idleHoldRunning) {
            // Waiting out the idle hold after a failure: the peer that connects is back,
            // so the session takes its connection now rather than refusing it and making
            // it wait for its own backoff too. The hold damps our own attempts (8.1.2),
            // not a peer's; the failure count stays, so a flapping peer still backs off.
            const next = { ...ctx, idleHoldRunning: false };
            const up = connectionUp(next);
            return { ...up, actions: [{ type: 'stopTimer', timer: 'idleHold' }, ...up.actions] };
          }
          // Not started (stopped by the operator, or held down): refused.
          return stay(state, ctx, [{ type: 'dropConnection' }]);
        case 'Tcp_CR_Acked':
          // No connection of ours is under way in Idle.
          return stay(state, ctx, [{ type: 'dropConnection' }]);
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'AutomaticStop':
        case 'ConnectRetryTimer_Expires':
        case 'HoldTimer_Expires':
        case 'KeepaliveTimer_Expires':
        case 'TcpConnectionFails':
        case 'BGPOpen':
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
        case 'OpenCollisionDump':
        case 'NotifMsgVerErr':
        case 'NotifMsg':
        case 'KeepAliveMsg':
        case 'UpdateMsg':
        case 'UpdateMsgErr':
          // RFC 4271 8.2.2: any other event in Idle does not change the state.
          return stay(state, ctx);
      }
      break;

    // ------------------------------------------------------------------ Connect
    case 'Connect':
      switch (e) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          return stay(state, ctx);
        case 'ManualStop':
        case 'AutomaticStop':
          return adminStop(ctx, env, event, false);
        case 'ConnectRetryTimer_Expires':
          // Drop the attempt, restart the timer, try again; stay in Connect.
          return stay(state, ctx, [
            { type: 'dropConnection' },
            { type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime },
            { type: 'connect' },
          ]);
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          return connectionUp(ctx);
        case 'TcpConnectionFails':
          return toIdle(ctx, env, { reason: 'connect-failed', event: e });
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'HoldTimer_Expires':
        case 'KeepaliveTimer_Expires':
        case 'IdleHoldTimer_Expires':
        case 'BGPOpen':
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
        case 'OpenCollisionDump':
        case 'NotifMsgVerErr':
        case 'NotifMsg':
        case 'KeepAliveMsg':
        case 'UpdateMsg':
        case 'UpdateMsgErr':
          return dropQuietly(ctx, env, event);
      }
      break;

    // ------------------------------------------------------------------ Active
    case 'Active':
      switch (e) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          return stay(state, ctx);
        case 'ManualStop':
        case 'AutomaticStop':
          return adminStop(ctx, env, event, false);
        case 'ConnectRetryTimer_Expires':
          if (ctx.passive) {
            return stay(state, ctx, [{ type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime }]);
          }
          return {
            next: 'Connect',
            actions: [{ type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime }, { type: 'connect' }],
            ctx,
          };
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          return connectionUp(ctx);
        case 'TcpConnectionFails':
          return toIdle(ctx, env, { reason: 'connection-closed', event: e });
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'HoldTimer_Expires':
        case 'KeepaliveTimer_Expires':
        case 'IdleHoldTimer_Expires':
        case 'BGPOpen':
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
        case 'OpenCollisionDump':
        case 'NotifMsgVerErr':
        case 'NotifMsg':
        case 'KeepAliveMsg':
        case 'UpdateMsg':
        case 'UpdateMsgErr':
          return dropQuietly(ctx, env, event);
      }
      break;

    // ------------------------------------------------------------------ OpenSent
    case 'OpenSent':
      switch (e) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          return stay(state, ctx);
        case 'ManualStop':
        case 'AutomaticStop':
          return adminStop(ctx, env, event, true);
        case 'HoldTimer_Expires':
          return toIdle(ctx, env, { reason: 'hold-timer-expired', event: e, notify: { code: HOLD_TIMER_EXPIRED, subcode: 0 } });
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          // 8.2.2: a second connection; the session tracks it per 6.8 until its OPEN arrives.
          return stay(state, ctx);
        case 'TcpConnectionFails':
          // 8.2.2: close, restart the ConnectRetryTimer, keep listening, go to Active.
          return {
            next: 'Active',
            actions: [
              { type: 'stopTimer', timer: 'hold' },
              { type: 'dropConnection' },
              { type: 'startTimer', timer: 'connectRetry', seconds: ctx.config.connectRetryTime },
              { type: 'down', reason: 'connection-closed', event: e },
            ],
            ctx,
          };
        case 'BGPOpen': {
          // 8.2.2: stop ConnectRetryTimer, send KEEPALIVE, set KeepaliveTimer and HoldTimer
          // to the negotiated values (RFC 4271 4.2: hold 0 means neither runs).
          const holdTime = event.type === 'BGPOpen' ? event.holdTime : 0;
          const next: FsmContext = { ...ctx, holdTime, keepaliveTime: Math.floor(holdTime / 3) };
          return {
            next: 'OpenConfirm',
            actions: [
              { type: 'stopTimer', timer: 'connectRetry' },
              { type: 'sendKeepalive' },
              ...restartKeepalive(next),
              ...restartHold(next),
            ],
            ctx: next,
          };
        }
        case 'BGPHeaderErr':
          return toIdle(ctx, env, { reason: 'notification-sent', event: e, notify: errorSpec(event)! });
        case 'BGPOpenMsgErr':
          return toIdle(ctx, env, { reason: 'open-error', event: e, notify: errorSpec(event)! });
        case 'OpenCollisionDump':
          return collisionDump(ctx);
        case 'NotifMsgVerErr':
        case 'NotifMsg':
          return dropQuietly(ctx, env, event);
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'ConnectRetryTimer_Expires':
        case 'KeepaliveTimer_Expires':
        case 'IdleHoldTimer_Expires':
        case 'KeepAliveMsg':
        case 'UpdateMsg':
        case 'UpdateMsgErr':
          return fsmError(state, ctx, env, event);
      }
      break;

    // ------------------------------------------------------------------ OpenConfirm
    case 'OpenConfirm':
      switch (e) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          return stay(state, ctx);
        case 'ManualStop':
        case 'AutomaticStop':
          return adminStop(ctx, env, event, true);
        case 'HoldTimer_Expires':
          return toIdle(ctx, env, { reason: 'hold-timer-expired', event: e, notify: { code: HOLD_TIMER_EXPIRED, subcode: 0 } });
        case 'KeepaliveTimer_Expires':
          return stay(state, ctx, [{ type: 'sendKeepalive' }, ...restartKeepalive(ctx)]);
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          return stay(state, ctx);
        case 'TcpConnectionFails':
          return toIdle(ctx, env, { reason: 'connection-closed', event: e });
        case 'NotifMsgVerErr':
        case 'NotifMsg':
          return dropQuietly(ctx, env, event);
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          return toIdle(ctx, env, { reason: 'notification-sent', event: e, notify: errorSpec(event)! });
        case 'OpenCollisionDump':
          return collisionDump(ctx);
        case 'KeepAliveMsg':
          // 8.2.2: restart the HoldTimer, go to Established. Past failures are forgotten
          // once the session has stayed up for idleHoldResetTime.
          return {
            next: 'Established',
            actions: [
              ...restartHold(ctx),
              { type: 'startTimer', timer: 'idleHoldReset', seconds: ctx.config.idleHoldResetTime },
              { type: 'established' },
            ],
            ctx,
          };
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'ConnectRetryTimer_Expires':
        case 'IdleHoldTimer_Expires':
        case 'BGPOpen': // a second OPEN on the same connection (collisions are resolved by the session)
        case 'UpdateMsg':
        case 'UpdateMsgErr':
          return fsmError(state, ctx, env, event);
      }
      break;

    // ------------------------------------------------------------------ Established
    case 'Established':
      switch (e) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
          return stay(state, ctx);
        case 'ManualStop':
        case 'AutomaticStop':
          return adminStop(ctx, env, event, true);
        case 'HoldTimer_Expires':
          return toIdle(ctx, env, { reason: 'hold-timer-expired', event: e, notify: { code: HOLD_TIMER_EXPIRED, subcode: 0 } });
        case 'KeepaliveTimer_Expires':
          return stay(state, ctx, [{ type: 'sendKeepalive' }, ...restartKeepalive(ctx)]);
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          // 6.8: CollisionDetectEstablishedState FALSE: the session refuses the new connection.
          return stay(state, ctx);
        case 'TcpConnectionFails':
          return toIdle(ctx, env, { reason: 'connection-closed', event: e });
        case 'NotifMsgVerErr':
        case 'NotifMsg':
          return dropQuietly(ctx, env, event);
        case 'KeepAliveMsg':
          return stay(state, ctx, restartHold(ctx));
        case 'UpdateMsg':
          return stay(state, ctx, [{ type: 'processUpdate' }, ...restartHold(ctx)]);
        case 'UpdateMsgErr':
        case 'BGPHeaderErr':
          return toIdle(ctx, env, { reason: 'notification-sent', event: e, notify: errorSpec(event)! });
        case 'OpenCollisionDump':
          return toIdle(ctx, env, { reason: 'collision', event: e, notify: { code: CEASE, subcode: CEASE_COLLISION } });
        case 'IdleHoldResetTimer_Expires':
          return stay(state, { ...ctx, failures: 0 });
        case 'ConnectRetryTimer_Expires':
        case 'IdleHoldTimer_Expires':
        case 'BGPOpen':
        case 'BGPOpenMsgErr':
          return fsmError(state, ctx, env, event);
      }
      break;
  }
  // Unreachable with the types above; a corrupted state must not go unnoticed.
  throw new Error(`FSM: no transition for ${state} × ${e}`);
}
