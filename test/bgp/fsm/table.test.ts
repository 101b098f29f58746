/**
 * The RFC 4271 8.2.2 transition table, one row per (state, event) cell: next state and
 * the key actions, in order (a row's actions must contain them as a subsequence;
 * NONE means no action at all). `absent` lists actions that must not appear.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, STATES, initialContext, transition } from '../../../bgp/fsm/index.js';
import type { FsmAction, FsmContext, FsmEvent, FsmEventName, State } from '../../../bgp/fsm/index.js';

const env = { random: () => 1 }; // jitter factor 1.0: the first idle hold is exactly 1 s

function ev(name: FsmEventName): FsmEvent {
  switch (name) {
    case 'BGPOpen':
      return { type: name, holdTime: 90 };
    case 'BGPHeaderErr':
      return { type: name, code: 1, subcode: 2 };
    case 'BGPOpenMsgErr':
      return { type: name, code: 2, subcode: 2 };
    case 'UpdateMsgErr':
      return { type: name, code: 3, subcode: 1 };
    case 'NotifMsg':
      return { type: name, code: 6, subcode: 2 };
    case 'NotifMsgVerErr':
      return { type: name, code: 2, subcode: 1 };
    case 'ManualStop':
      return { type: name, data: Buffer.from('bye') };
    case 'AutomaticStop':
      return { type: name };
    default:
      return { type: name } as FsmEvent;
  }
}

function show(a: FsmAction): string {
  switch (a.type) {
    case 'sendNotification':
      return `notify ${a.code}/${a.subcode}`;
    case 'startTimer':
      return `start ${a.timer} ${a.seconds}`;
    case 'stopTimer':
      return `stop ${a.timer}`;
    case 'down':
      return `down ${a.reason}`;
    default:
      return a.type;
  }
}

function isSubsequence(want: readonly string[], got: readonly string[]): boolean {
  let i = 0;
  for (const g of got) if (i < want.length && g === want[i]) i++;
  return i === want.length;
}

const NONE: readonly string[] = [];
type Row = [State, FsmEventName, State, readonly string[], { ctx?: Partial<FsmContext>; absent?: string[]; note?: string }?];

const START = ['start connectRetry 30', 'connect'];
const UP = ['stop connectRetry', 'sendOpen', 'start hold 240'];
const idle = (reason: string, notify?: string): string[] =>
  notify ? [`notify ${notify}`, 'dropConnection', `down ${reason}`, 'start idleHold 1'] : ['dropConnection', `down ${reason}`, 'start idleHold 1'];
const manualIdle = (notify?: string): string[] =>
  notify ? [`notify ${notify}`, 'dropConnection', 'down admin-stop', 'stop idleHold'] : ['dropConnection', 'down admin-stop', 'stop idleHold'];
const quiet = { absent: ['notify'] };
const starts = (s: State): Row[] =>
  (['ManualStart', 'AutomaticStart', 'ManualStart_with_PassiveTcpEstablishment', 'AutomaticStart_with_PassiveTcpEstablishment'] as const).map(
    (e) => [s, e, s, NONE] as Row,
  );

const negotiated: Partial<FsmContext> = { holdTime: 90, keepaliveTime: 30 };

const rows: Row[] = [
  // Idle
  ['Idle', 'ManualStart', 'Connect', START],
  ['Idle', 'ManualStop', 'Idle', ['stop idleHold']],
  ['Idle', 'AutomaticStart', 'Connect', START],
  ['Idle', 'ManualStart_with_PassiveTcpEstablishment', 'Active', ['start connectRetry 30'], { absent: ['connect'] }],
  ['Idle', 'AutomaticStart_with_PassiveTcpEstablishment', 'Active', ['start connectRetry 30'], { absent: ['connect'] }],
  ['Idle', 'AutomaticStop', 'Idle', NONE],
  ['Idle', 'ConnectRetryTimer_Expires', 'Idle', NONE],
  ['Idle', 'HoldTimer_Expires', 'Idle', NONE],
  ['Idle', 'KeepaliveTimer_Expires', 'Idle', NONE],
  ['Idle', 'IdleHoldTimer_Expires', 'Connect', ['stop idleHold', ...START], { ctx: { idleHoldRunning: true } }],
  ['Idle', 'IdleHoldResetTimer_Expires', 'Idle', NONE],
  ['Idle', 'Tcp_CR_Acked', 'Idle', ['dropConnection']],
  ['Idle', 'TcpConnectionConfirmed', 'Idle', ['dropConnection'], { note: 'stopped', absent: ['sendOpen'] }],
  ['Idle', 'TcpConnectionConfirmed', 'OpenSent', ['stop idleHold', ...UP], { ctx: { idleHoldRunning: true, failures: 3 }, absent: ['dropConnection'], note: 'during the idle hold: the peer is back' }],
  ['Idle', 'TcpConnectionFails', 'Idle', NONE],
  ['Idle', 'BGPOpen', 'Idle', NONE],
  ['Idle', 'BGPHeaderErr', 'Idle', NONE],
  ['Idle', 'BGPOpenMsgErr', 'Idle', NONE],
  ['Idle', 'OpenCollisionDump', 'Idle', NONE],
  ['Idle', 'NotifMsgVerErr', 'Idle', NONE],
  ['Idle', 'NotifMsg', 'Idle', NONE],
  ['Idle', 'KeepAliveMsg', 'Idle', NONE],
  ['Idle', 'UpdateMsg', 'Idle', NONE],
  ['Idle', 'UpdateMsgErr', 'Idle', NONE],

  // Connect
  ...starts('Connect'),
  ['Connect', 'ManualStop', 'Idle', manualIdle(), quiet],
  ['Connect', 'AutomaticStop', 'Idle', idle('admin-stop'), quiet],
  ['Connect', 'ConnectRetryTimer_Expires', 'Connect', ['dropConnection', 'start connectRetry 30', 'connect']],
  ['Connect', 'HoldTimer_Expires', 'Idle', idle('hold-timer-expired'), quiet],
  ['Connect', 'KeepaliveTimer_Expires', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'IdleHoldTimer_Expires', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'IdleHoldResetTimer_Expires', 'Connect', NONE],
  ['Connect', 'Tcp_CR_Acked', 'OpenSent', UP],
  ['Connect', 'TcpConnectionConfirmed', 'OpenSent', UP],
  ['Connect', 'TcpConnectionFails', 'Idle', idle('connect-failed'), quiet],
  ['Connect', 'BGPOpen', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'BGPHeaderErr', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'BGPOpenMsgErr', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'OpenCollisionDump', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'NotifMsgVerErr', 'Idle', idle('notification-received'), quiet],
  ['Connect', 'NotifMsg', 'Idle', idle('notification-received'), quiet],
  ['Connect', 'KeepAliveMsg', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'UpdateMsg', 'Idle', idle('connection-closed'), quiet],
  ['Connect', 'UpdateMsgErr', 'Idle', idle('connection-closed'), quiet],

  // Active
  ...starts('Active'),
  ['Active', 'ManualStop', 'Idle', manualIdle(), quiet],
  ['Active', 'AutomaticStop', 'Idle', idle('admin-stop'), quiet],
  ['Active', 'ConnectRetryTimer_Expires', 'Connect', START],
  ['Active', 'ConnectRetryTimer_Expires', 'Active', ['start connectRetry 30'], { ctx: { passive: true }, absent: ['connect'], note: 'passive' }],
  ['Active', 'HoldTimer_Expires', 'Idle', idle('hold-timer-expired'), quiet],
  ['Active', 'KeepaliveTimer_Expires', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'IdleHoldTimer_Expires', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'IdleHoldResetTimer_Expires', 'Active', NONE],
  ['Active', 'Tcp_CR_Acked', 'OpenSent', UP],
  ['Active', 'TcpConnectionConfirmed', 'OpenSent', UP],
  ['Active', 'TcpConnectionFails', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'BGPOpen', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'BGPHeaderErr', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'BGPOpenMsgErr', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'OpenCollisionDump', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'NotifMsgVerErr', 'Idle', idle('notification-received'), quiet],
  ['Active', 'NotifMsg', 'Idle', idle('notification-received'), quiet],
  ['Active', 'KeepAliveMsg', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'UpdateMsg', 'Idle', idle('connection-closed'), quiet],
  ['Active', 'UpdateMsgErr', 'Idle', idle('connection-closed'), quiet],

  // OpenSent
  ...starts('OpenSent'),
  ['OpenSent', 'ManualStop', 'Idle', manualIdle('6/2')],
  ['OpenSent', 'AutomaticStop', 'Idle', idle('admin-stop', '6/3')],
  ['OpenSent', 'ConnectRetryTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['OpenSent', 'HoldTimer_Expires', 'Idle', idle('hold-timer-expired', '4/0')],
  ['OpenSent', 'KeepaliveTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['OpenSent', 'IdleHoldTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['OpenSent', 'IdleHoldResetTimer_Expires', 'OpenSent', NONE],
  ['OpenSent', 'Tcp_CR_Acked', 'OpenSent', NONE],
  ['OpenSent', 'TcpConnectionConfirmed', 'OpenSent', NONE],
  ['OpenSent', 'TcpConnectionFails', 'Active', ['stop hold', 'dropConnection', 'start connectRetry 30', 'down connection-closed']],
  ['OpenSent', 'BGPOpen', 'OpenConfirm', ['stop connectRetry', 'sendKeepalive', 'start keepalive 30', 'start hold 90']],
  ['OpenSent', 'BGPHeaderErr', 'Idle', idle('notification-sent', '1/2')],
  ['OpenSent', 'BGPOpenMsgErr', 'Idle', idle('open-error', '2/2')],
  ['OpenSent', 'OpenCollisionDump', 'Active', ['notify 6/7', 'releaseResources', 'dropConnection', 'start connectRetry 30', 'down collision'], { absent: ['start idleHold'] }],
  ['OpenSent', 'NotifMsgVerErr', 'Idle', idle('notification-received'), quiet],
  ['OpenSent', 'NotifMsg', 'Idle', idle('notification-received'), quiet],
  ['OpenSent', 'KeepAliveMsg', 'Idle', idle('notification-sent', '5/1')],
  ['OpenSent', 'UpdateMsg', 'Idle', idle('notification-sent', '5/1')],
  ['OpenSent', 'UpdateMsgErr', 'Idle', idle('notification-sent', '5/1')],

  // OpenConfirm
  ...starts('OpenConfirm'),
  ['OpenConfirm', 'ManualStop', 'Idle', manualIdle('6/2')],
  ['OpenConfirm', 'AutomaticStop', 'Idle', idle('admin-stop', '6/3')],
  ['OpenConfirm', 'ConnectRetryTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['OpenConfirm', 'HoldTimer_Expires', 'Idle', idle('hold-timer-expired', '4/0')],
  ['OpenConfirm', 'KeepaliveTimer_Expires', 'OpenConfirm', ['sendKeepalive', 'start keepalive 30']],
  ['OpenConfirm', 'IdleHoldTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['OpenConfirm', 'IdleHoldResetTimer_Expires', 'OpenConfirm', NONE],
  ['OpenConfirm', 'Tcp_CR_Acked', 'OpenConfirm', NONE],
  ['OpenConfirm', 'TcpConnectionConfirmed', 'OpenConfirm', NONE],
  ['OpenConfirm', 'TcpConnectionFails', 'Idle', idle('connection-closed'), quiet],
  ['OpenConfirm', 'BGPOpen', 'Idle', idle('notification-sent', '5/2')],
  ['OpenConfirm', 'BGPHeaderErr', 'Idle', idle('notification-sent', '1/2')],
  ['OpenConfirm', 'BGPOpenMsgErr', 'Idle', idle('notification-sent', '2/2')],
  ['OpenConfirm', 'OpenCollisionDump', 'Active', ['notify 6/7', 'releaseResources', 'dropConnection', 'start connectRetry 30', 'down collision'], { absent: ['start idleHold'] }],
  ['OpenConfirm', 'NotifMsgVerErr', 'Idle', idle('notification-received'), quiet],
  ['OpenConfirm', 'NotifMsg', 'Idle', idle('notification-received'), quiet],
  ['OpenConfirm', 'KeepAliveMsg', 'Established', ['start hold 90', 'start idleHoldReset 60', 'established']],
  ['OpenConfirm', 'UpdateMsg', 'Idle', idle('notification-sent', '5/2')],
  ['OpenConfirm', 'UpdateMsgErr', 'Idle', idle('notification-sent', '5/2')],

  // Established
  ...starts('Established'),
  ['Established', 'ManualStop', 'Idle', ['notify 6/2', 'releaseResources', 'dropConnection', 'down admin-stop', 'stop idleHold']],
  ['Established', 'AutomaticStop', 'Idle', ['notify 6/3', 'releaseResources', 'dropConnection', 'down admin-stop', 'start idleHold 1']],
  ['Established', 'ConnectRetryTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['Established', 'HoldTimer_Expires', 'Idle', ['notify 4/0', 'releaseResources', 'dropConnection', 'down hold-timer-expired', 'start idleHold 1']],
  ['Established', 'KeepaliveTimer_Expires', 'Established', ['sendKeepalive', 'start keepalive 30']],
  ['Established', 'IdleHoldTimer_Expires', 'Idle', idle('notification-sent', '5/0')],
  ['Established', 'IdleHoldResetTimer_Expires', 'Established', NONE],
  ['Established', 'Tcp_CR_Acked', 'Established', NONE],
  ['Established', 'TcpConnectionConfirmed', 'Established', NONE],
  ['Established', 'TcpConnectionFails', 'Idle', ['releaseResources', ...idle('connection-closed')], quiet],
  ['Established', 'BGPOpen', 'Idle', idle('notification-sent', '5/3')],
  ['Established', 'BGPHeaderErr', 'Idle', idle('notification-sent', '1/2')],
  ['Established', 'BGPOpenMsgErr', 'Idle', idle('notification-sent', '5/3')],
  ['Established', 'OpenCollisionDump', 'Idle', idle('collision', '6/7')],
  ['Established', 'NotifMsgVerErr', 'Idle', ['releaseResources', ...idle('notification-received')], quiet],
  ['Established', 'NotifMsg', 'Idle', ['releaseResources', ...idle('notification-received')], quiet],
  ['Established', 'KeepAliveMsg', 'Established', ['start hold 90']],
  ['Established', 'UpdateMsg', 'Established', ['processUpdate', 'start hold 90']],
  ['Established', 'UpdateMsgErr', 'Idle', ['notify 3/1', 'releaseResources', 'dropConnection', 'down notification-sent', 'start idleHold 1']],
];

function ctxFor(state: State, extra?: Partial<FsmContext>): FsmContext {
  const base = initialContext();
  const withHold = state === 'OpenConfirm' || state === 'Established' ? { ...base, ...negotiated } : base;
  return { ...withHold, ...extra };
}

describe('FSM table (RFC 4271 8.2.2)', () => {
  it('has a row for every (state, event) cell', () => {
    const cells = new Set(rows.map(([s, e]) => `${s} × ${e}`));
    const missing: string[] = [];
    for (const s of STATES) for (const e of EVENT_NAMES) if (!cells.has(`${s} × ${e}`)) missing.push(`${s} × ${e}`);
    expect(missing).toEqual([]);
    expect(cells.size).toBe(STATES.length * EVENT_NAMES.length);
  });

  it.each(rows.map((r) => [`${r[0]} × ${r[1]}${r[4]?.note ? ` (${r[4].note})` : ''} -> ${r[2]}`, r] as const))('%s', (_name, row) => {
    const [state, event, next, keys, opts] = row;
    const r = transition(state, ev(event), ctxFor(state, opts?.ctx), env);
    const got = r.actions.map(show);
    expect(r.next).toBe(next);
    if (keys === NONE) expect(got).toEqual([]);
    else expect(isSubsequence(keys, got), `want ${JSON.stringify(keys)} in ${JSON.stringify(got)}`).toBe(true);
    for (const a of opts?.absent ?? []) expect(got.some((g) => g === a || g.startsWith(`${a} `))).toBe(false);
  });
});

describe('FSM: a connection during the idle hold', () => {
  it('keeps the failure count, so a peer that fails again backs off further', () => {
    const ctx = { ...initialContext(), idleHoldRunning: true, failures: 3, connectRetryCounter: 3 };
    const r = transition('Idle', { type: 'TcpConnectionConfirmed' }, ctx, env);
    expect(r.next).toBe('OpenSent');
    expect(r.ctx).toMatchObject({ idleHoldRunning: false, failures: 3 });
    const again = transition('OpenSent', { type: 'NotifMsg', code: 6, subcode: 2 }, r.ctx, env);
    expect(again.actions).toContainEqual({ type: 'startTimer', timer: 'idleHold', seconds: 8 });
  });
});
