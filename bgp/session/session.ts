/**
 * A BGP session with one peer: executes the pure FSM's actions (bgp/fsm/) on a socket
 * and timers. It turns bytes into messages with the codec's framer, messages and timer
 * expiries into FSM events, and FSM actions into writes, timers and emitted events.
 *
 * Clock, transport and randomness are injected (SessionDeps), so tests run on a fake
 * clock over an in-memory duplex pair.
 *
 * Every state change is the FSM's: the session only feeds it events.
 *
 * Connection collisions (RFC 4271 6.8), kept as simple as the RFC lets them be (as in
 * OpenBGPD): a stopped session refuses a connection; Idle waiting out its idle hold and
 * Active take it; Established refuses it with Cease / Connection Collision Resolution. In Connect, OpenSent and OpenConfirm it is
 * tracked as a second connection until the peer's OPEN arrives on it (RFC 4271 8.2.2);
 * then, in Connect, our own attempt (which has not come up) gives way to it; in OpenSent
 * and OpenConfirm the one initiated by the higher BGP Identifier stays (resolveCollision)
 * and the other gets Cease / Connection Collision Resolution.
 */
import { EventEmitter } from 'node:events';
import {
  afiSafiOf,
  DEFAULT_FSM_CONFIG,
  buildOpen,
  initialContext,
  negotiate,
  notificationGr,
  resolveCollision,
  transition,
} from '../fsm/index.js';
import type {
  FsmAction,
  FsmContext,
  FsmEvent,
  FsmEventName,
  LocalOpenParams,
  Negotiated,
  State,
  TimerName,
} from '../fsm/index.js';
import {
  BgpNotification,
  CeaseSubcode,
  DEFAULT_CONTEXT,
  ErrorCode,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MessageFramer,
  MessageType,
  decodeMessage,
  describeNotification,
  encodeMessage,
  notificationName,
  shutdownNotification,
} from '../wire/index.js';
import type { BgpMessage, CodecContext, Family, NotificationMessage, OpenMessage, UpdateMessage } from '../wire/index.js';
import { systemClock, tcpConnect } from './clock.js';
import type {
  DownReason,
  MessageCounters,
  MessageKind,
  NotificationRecord,
  SessionConfig,
  SessionDeps,
  SessionEvents,
  SessionInfo,
  SocketLike,
  StopMode,
} from './types.js';

const CEASE = ErrorCode.CEASE;
const { ADMIN_SHUTDOWN: CEASE_ADMIN_SHUTDOWN, CONNECTION_REJECTED: CEASE_CONNECTION_REJECTED, CONNECTION_COLLISION: CEASE_COLLISION, HARD_RESET: CEASE_HARD_RESET } = CeaseSubcode;
/** After our final NOTIFICATION, how long the peer gets to close before we cut the socket. */
const CLOSE_GRACE_MS = 3000;

const TIMER_EVENT: Record<TimerName, FsmEventName> = {
  connectRetry: 'ConnectRetryTimer_Expires',
  hold: 'HoldTimer_Expires',
  keepalive: 'KeepaliveTimer_Expires',
  idleHold: 'IdleHoldTimer_Expires',
  idleHoldReset: 'IdleHoldResetTimer_Expires',
};

const KIND_OF_TYPE: Record<number, MessageKind> = {
  [MessageType.OPEN]: 'open',
  [MessageType.UPDATE]: 'update',
  [MessageType.NOTIFICATION]: 'notification',
  [MessageType.KEEPALIVE]: 'keepalive',
  [MessageType.ROUTE_REFRESH]: 'routeRefresh',
};

/** One TCP connection to the peer and its framing state. */
interface Conn {
  readonly sock: SocketLike;
  readonly framer: MessageFramer;
  readonly initiatedLocally: boolean;
  /** TCP is established (an outgoing attempt may still be connecting). */
  up: boolean;
  /** We closed it (or it closed and was handled): no more events from it. */
  dropped: boolean;
  /** The socket itself is gone. */
  closed: boolean;
  /** errno code (ECONNREFUSED) or message of the last socket error. */
  error: string | null;
  closeTimer: unknown;
  /** Second connection only: how long it may take to send its OPEN. */
  openTimer: unknown;
  readonly whenClosed: Promise<void>;
  resolveClosed: () => void;
}

function zeroCounters(): MessageCounters {
  return { open: 0, update: 0, notification: 0, keepalive: 0, routeRefresh: 0 };
}

function errnoOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const msg = (err as { message?: unknown }).message;
    if (typeof msg === 'string') return msg;
  }
  return String(err);
}

function seconds(s: number): string {
  return String(Math.round(s * 10) / 10);
}

function record(n: Pick<NotificationMessage, 'code' | 'subcode' | 'shutdownMessage'>, at: Date): NotificationRecord {
  return { code: n.code, subcode: n.subcode, name: notificationName(n.code, n.subcode), text: n.shutdownMessage ?? null, at };
}

export class Session extends EventEmitter<SessionEvents> {
  private readonly cfg: Required<Omit<SessionConfig, 'localAddress' | 'hostname' | 'restarting' | 'forwardingKept' | 'gracefulRestartNotification'>> &
    Pick<SessionConfig, 'localAddress' | 'hostname' | 'restarting' | 'forwardingKept' | 'gracefulRestartNotification'>;
  private readonly deps: SessionDeps;
  private local: LocalOpenParams;
  private fsm: State = 'Idle';
  private ctx: FsmContext;
  private conn: Conn | null = null;
  private second: Conn | null = null;
  private readonly timers = new Map<TimerName, unknown>();
  private negotiated: Negotiated | null = null;
  private codecCtx: CodecContext = DEFAULT_CONTEXT;
  private readonly queue: { event: FsmEvent; detail: string | undefined }[] = [];
  private busy = false;
  private currentUpdate: UpdateMessage | null = null;
  private lastReceived: NotificationMessage | null = null;
  private adminUp = false;
  private stopText: string | undefined;
  private sinceMs: number;
  private readonly counters = { in: zeroCounters(), out: zeroCounters() };
  private flaps = 0;
  private lastError: string | null = null;
  private lastSent: NotificationRecord | null = null;
  private lastRecv: NotificationRecord | null = null;

  constructor(cfg: SessionConfig, deps: Partial<SessionDeps> = {}) {
    super();
    this.cfg = {
      ...cfg,
      port: cfg.port ?? 179,
      holdTime: cfg.holdTime ?? 90,
      connectRetryTime: cfg.connectRetryTime ?? 30,
      passive: cfg.passive ?? false,
      gracefulRestartTime: cfg.gracefulRestartTime ?? 120,
      idleHoldMax: cfg.idleHoldMax ?? DEFAULT_FSM_CONFIG.idleHoldMax,
    };
    this.deps = { clock: deps.clock ?? systemClock, connect: deps.connect ?? tcpConnect, random: deps.random ?? Math.random };
    this.local = {
      asn: cfg.localAsn,
      routerId: cfg.routerId,
      holdTime: this.cfg.holdTime,
      families: cfg.families,
      gracefulRestartTime: this.cfg.gracefulRestartTime,
      ...(cfg.gracefulRestartNotification !== undefined ? { notification: cfg.gracefulRestartNotification } : {}),
      ...(cfg.restarting !== undefined ? { restarting: cfg.restarting } : {}),
      ...(cfg.forwardingKept !== undefined ? { forwardingKept: cfg.forwardingKept } : {}),
      ...(cfg.hostname !== undefined ? { hostname: cfg.hostname } : {}),
    };
    this.ctx = initialContext({ connectRetryTime: this.cfg.connectRetryTime, idleHoldMax: this.cfg.idleHoldMax });
    this.sinceMs = this.deps.clock.now();
  }

  get state(): State {
    return this.fsm;
  }

  // ---------------------------------------------------------------- public API

  /** AutomaticStart (or its passive variant): connect, and reconnect with backoff after failures. */
  start(): void {
    this.adminUp = true;
    this.stopText = undefined;
    this.fire({ type: this.cfg.passive ? 'AutomaticStart_with_PassiveTcpEstablishment' : 'AutomaticStart' });
  }

  /**
   * ManualStop, then Idle with no restart. Resolves once the sockets are closed.
   * 'hard' (default): the peer is to drop our routes: Cease / Administrative Shutdown
   * carrying `text` (RFC 9003), wrapped in Cease / Hard Reset when the N bit was
   * negotiated (RFC 8538 3). 'graceful': the peer is to keep our routes as a graceful
   * restart helper: Cease / Administrative Shutdown with N negotiated (RFC 8538 4), a
   * plain close of the connection without it (RFC 4724 4.2).
   */
  async stop(text?: string, mode: StopMode = 'hard'): Promise<void> {
    this.adminUp = false;
    this.stopText = text;
    const waits = [this.conn, this.second].filter((c): c is Conn => c !== null).map((c) => c.whenClosed);
    const data = text !== undefined ? shutdownNotification(CEASE_ADMIN_SHUTDOWN, text).data : Buffer.alloc(0);
    const nBit = this.fsm === 'Established' && this.negotiated !== null && notificationGr(this.negotiated);
    if (mode === 'graceful' && this.fsm === 'Established' && this.negotiated?.gracefulRestart && !nBit) {
      // RFC 4724 4.2: without the N bit a peer keeps our routes only when the connection
      // just closes; any NOTIFICATION would make it drop them.
      this.fire({ type: 'ManualStop', silent: true });
    } else if (mode === 'hard' && nBit) {
      // RFC 8538 3/4: with N negotiated only Hard Reset makes the peer drop our routes; its
      // data is the error code and subcode of the NOTIFICATION it wraps, then that one's
      // data (here Cease / Administrative Shutdown and its RFC 9003 text).
      this.fire({ type: 'ManualStop', subcode: CEASE_HARD_RESET, data: Buffer.concat([Buffer.from([CEASE, CEASE_ADMIN_SHUTDOWN]), data]) });
    } else {
      // Graceful with N negotiated: RFC 8538 4 keeps GR for any Cease but Hard Reset.
      this.fire({ type: 'ManualStop', data });
    }
    if (this.second) this.closeConn(this.second, false);
    await Promise.all(waits);
  }

  /**
   * AutomaticStop (RFC 4271 8.1.2): Cease with this RFC 4486 subcode (e.g. 1, Maximum
   * Number of Prefixes Reached) and data, then Idle, and a restart after the idle hold.
   * Call stop() instead to stay down.
   */
  cease(subcode: number, data: Buffer = Buffer.alloc(0)): void {
    this.fire({ type: 'AutomaticStop', subcode, data });
  }

  /** A connection the listener accepted from this peer's address. */
  acceptIncoming(sock: SocketLike): void {
    if (!this.adminUp) {
      // RFC 4271 8.2.2: a stopped session refuses connections.
      this.reject(sock, CEASE_CONNECTION_REJECTED);
      return;
    }
    if (this.fsm === 'Idle') {
      // Waiting out the idle hold after a failure: the FSM takes the peer's connection
      // (bgp/fsm/fsm.ts, Idle × TcpConnectionConfirmed), or drops it when it does not.
      const c = this.attach(sock, false);
      this.tune(sock);
      this.conn = c;
      this.fire({ type: 'TcpConnectionConfirmed' });
      return;
    }
    if (this.fsm === 'Established' || this.second !== null) {
      // RFC 4271 6.8: with CollisionDetectEstablishedState FALSE an Established session
      // keeps its connection and the new one is closed.
      this.reject(sock, CEASE_COLLISION);
      return;
    }
    const c = this.attach(sock, false);
    this.tune(sock);
    if (this.fsm === 'Active' && this.conn === null) {
      this.conn = c;
      this.fire({ type: 'TcpConnectionConfirmed' });
      return;
    }
    // Connect, OpenSent, OpenConfirm: tracked until the peer's OPEN arrives on it.
    this.second = c;
    c.openTimer = this.deps.clock.setTimeout(() => {
      if (this.second === c) this.closeConn(c, false);
    }, this.ctx.config.openHoldTime * 1000);
  }

  /**
   * Whole encoded UPDATE messages; false means wait for 'drain' (or not Established:
   * nothing sent). `joined`: the same messages in one buffer, when the caller has it.
   */
  sendUpdates(msgs: readonly Buffer[], joined?: Buffer): boolean {
    const c = this.conn;
    if (this.fsm !== 'Established' || c === null || c.dropped || c.sock.destroyed) return false;
    if (joined !== undefined || msgs.length === 1) {
      // One buffer: a plain write(2), without the cork's writev bookkeeping.
      this.counters.out.update += msgs.length;
      return c.sock.write(joined ?? msgs[0]!);
    }
    c.sock.cork();
    let ok = true;
    try {
      for (const m of msgs) {
        ok = c.sock.write(m);
        this.counters.out.update++;
      }
    } finally {
      c.sock.uncork();
    }
    return ok;
  }

  /** RFC 2918 ROUTE-REFRESH for one family; only when Established and negotiated. */
  /**
   * RFC 4724 3: the R bit says "I have restarted", so that the peer does not wait for our
   * End-of-RIB. Once the restart is over (everything re-advertised) a later OPEN must not
   * say so: a peer that restarts itself would take it as our routes being complete before
   * it has them (FRR's bgpd then lets zebra sweep its stale routes at once).
   */
  setRestarting(on: boolean): void {
    this.local = { ...this.local, restarting: on };
  }

  sendRouteRefresh(family: Family): void {
    const c = this.conn;
    if (this.fsm !== 'Established' || c === null || !this.negotiated?.routeRefresh) return;
    this.write(c, { type: 'ROUTE_REFRESH', ...afiSafiOf(family), subtype: 0 });
  }

  info(): SessionInfo {
    const n = this.negotiated;
    const c = this.conn;
    const live = c !== null && !c.dropped && (this.fsm === 'OpenSent' || this.fsm === 'OpenConfirm' || this.fsm === 'Established');
    return {
      state: this.fsm,
      since: new Date(this.sinceMs),
      negotiated: n,
      localAddress: live ? (c.sock.localAddress ?? null) : null,
      remoteAddress: live ? (c.sock.remoteAddress ?? null) : null,
      counters: { in: { ...this.counters.in }, out: { ...this.counters.out } },
      flaps: this.flaps,
      lastError: this.lastError,
      lastNotificationSent: this.lastSent,
      lastNotificationReceived: this.lastRecv,
      holdTime: n ? n.holdTime : this.cfg.holdTime,
      keepalive: n ? n.keepalive : Math.floor(this.cfg.holdTime / 3),
      connectRetry: this.cfg.connectRetryTime,
    };
  }

  // ---------------------------------------------------------------- FSM driving

  /** Runs events in order; events raised while one is processed (re-entrant input, timers) wait their turn. */
  private fire(event: FsmEvent | FsmEvent[], detail?: string): void {
    for (const e of Array.isArray(event) ? event : [event]) this.queue.push({ event: e, detail });
    if (this.busy) return;
    this.busy = true;
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) this.step(item.event, item.detail);
    } finally {
      this.busy = false;
    }
  }

  private step(event: FsmEvent, detail: string | undefined): void {
    const from = this.fsm;
    const r = transition(from, event, this.ctx, { random: this.deps.random });
    this.ctx = r.ctx;
    this.fsm = r.next;
    if (from !== r.next) this.sinceMs = this.deps.clock.now();
    const down = this.downReason(from, event, r.actions, detail);
    let established = false;
    for (const a of r.actions) {
      if (a.type === 'established') established = true;
      else this.execute(a);
    }
    if (r.next === 'Idle' && this.second) this.closeConn(this.second, false);
    if (from !== r.next) this.emit('state', from, r.next, down?.text ?? event.type);
    if (down) {
      if (from === 'Established') this.flaps++;
      if (down.kind !== 'admin-stop') this.lastError = down.text;
      this.emit('down', down);
    }
    if (established && this.negotiated) this.emit('established', this.negotiated);
  }

  private execute(a: FsmAction): void {
    switch (a.type) {
      case 'connect':
        this.connectOut();
        return;
      case 'dropConnection':
        if (this.conn) this.closeConn(this.conn, true);
        return;
      case 'sendOpen':
        if (this.conn) this.write(this.conn, buildOpen(this.local));
        return;
      case 'sendKeepalive':
        if (this.conn) this.write(this.conn, { type: 'KEEPALIVE' });
        return;
      case 'sendNotification':
        if (this.conn) this.sendNotification(this.conn, a.code, a.subcode, a.data);
        return;
      case 'startTimer':
        this.startTimer(a.timer, a.seconds);
        return;
      case 'stopTimer':
        this.stopTimer(a.timer);
        return;
      case 'releaseResources':
        this.negotiated = null;
        this.codecCtx = DEFAULT_CONTEXT;
        this.currentUpdate = null;
        return;
      case 'processUpdate': {
        const u = this.currentUpdate;
        this.currentUpdate = null;
        if (u) this.emit('update', u);
        return;
      }
      case 'established':
      case 'down':
        // Emitted by step() after the state change.
        return;
    }
  }

  /** The typed reason, in words, for a 'down' action. */
  private downReason(from: State, event: FsmEvent, actions: readonly FsmAction[], detail: string | undefined): DownReason | undefined {
    const down = actions.find((a): a is Extract<FsmAction, { type: 'down' }> => a.type === 'down');
    if (!down) return undefined;
    const notify = actions.find((a): a is Extract<FsmAction, { type: 'sendNotification' }> => a.type === 'sendNotification');
    const retry = actions.find((a): a is Extract<FsmAction, { type: 'startTimer' }> => a.type === 'startTimer' && a.timer === 'idleHold');
    const codes = down.code !== undefined ? { code: down.code, subcode: down.subcode ?? 0 } : {};
    const sentText = (): string => {
      if (!notify) return 'NOTIFICATION sent';
      const shutdown = carriesStopText(notify.code, notify.subcode, notify.data) && this.stopText !== undefined;
      const described = describeNotification({
        code: notify.code,
        subcode: notify.subcode,
        data: shutdown ? Buffer.alloc(0) : notify.data,
        ...(shutdown ? { shutdownMessage: this.stopText } : {}),
      });
      return `NOTIFICATION sent: ${described}`;
    };
    const unexpected = `unexpected ${event.type} in ${from}`;
    let text: string;
    switch (down.reason) {
      case 'notification-received':
        text = this.lastReceived ? `NOTIFICATION received: ${describeNotification(this.lastReceived)}` : 'NOTIFICATION received';
        break;
      case 'notification-sent':
        text = `${sentText()}; ${detail ?? unexpected}`;
        break;
      case 'open-error':
        text = `OPEN rejected: ${detail ?? 'bad OPEN'}; ${sentText()}`;
        break;
      case 'hold-timer-expired':
        text = 'hold timer expired';
        break;
      case 'connect-failed':
        text = `connect: ${detail ?? 'failed'}${retry ? `, retry in ${seconds(retry.seconds)} s` : ''}`;
        break;
      case 'connection-closed':
        text = detail ?? unexpected;
        break;
      case 'admin-stop':
        if (event.type === 'ManualStop') text = this.stopText ? `administratively stopped: ${JSON.stringify(this.stopText)}` : 'administratively stopped';
        else text = `automatic stop, ${sentText()}`;
        break;
      case 'collision':
        text = 'connection collision resolution (RFC 4271 6.8): the other connection was kept';
        break;
    }
    return { kind: down.reason, text, ...codes };
  }

  // ---------------------------------------------------------------- timers

  private startTimer(name: TimerName, secs: number): void {
    this.stopTimer(name);
    const h = this.deps.clock.setTimeout(() => {
      if (this.timers.get(name) !== h) return;
      this.timers.delete(name);
      this.fire({ type: TIMER_EVENT[name] } as FsmEvent);
    }, secs * 1000);
    this.timers.set(name, h);
  }

  private stopTimer(name: TimerName): void {
    const h = this.timers.get(name);
    if (h === undefined) return;
    this.deps.clock.clearTimeout(h);
    this.timers.delete(name);
  }

  // ---------------------------------------------------------------- connections

  private connectOut(): void {
    let sock: SocketLike;
    try {
      sock = this.deps.connect({
        host: this.cfg.peerAddress,
        port: this.cfg.port,
        ...(this.cfg.localAddress ? { localAddress: this.cfg.localAddress } : {}),
      });
    } catch (err) {
      // The FSM is mid-step; the failure is the next event.
      this.fire({ type: 'TcpConnectionFails' }, errnoOf(err));
      return;
    }
    const c = this.attach(sock, true);
    this.conn = c;
    sock.once('connect', () => {
      if (c !== this.conn || c.dropped) return;
      c.up = true;
      this.tune(sock);
      this.fire({ type: 'Tcp_CR_Acked' });
    });
  }

  /** RFC 4271 does not need Nagle: small KEEPALIVEs and NOTIFICATIONs must go out now. */
  private tune(sock: SocketLike): void {
    if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
  }

  private attach(sock: SocketLike, initiatedLocally: boolean): Conn {
    let resolveClosed: () => void = () => undefined;
    const whenClosed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    const c: Conn = {
      sock,
      framer: new MessageFramer(),
      initiatedLocally,
      up: !initiatedLocally,
      dropped: false,
      closed: false,
      error: null,
      closeTimer: undefined,
      openTimer: undefined,
      whenClosed,
      resolveClosed,
    };
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('error', (err: unknown) => {
      c.error = errnoOf(err);
    });
    // The peer closed its side: BGP has no half-open use, so close ours too.
    sock.on('end', () => this.onClosed(c));
    sock.on('close', () => this.onClosed(c));
    sock.on('drain', () => {
      if (c === this.conn && this.fsm === 'Established') this.emit('drain');
    });
    return c;
  }

  private onClosed(c: Conn): void {
    if (!c.closed) {
      c.closed = true;
      if (c.closeTimer !== undefined) this.deps.clock.clearTimeout(c.closeTimer);
      if (c.openTimer !== undefined) this.deps.clock.clearTimeout(c.openTimer);
      c.closeTimer = undefined;
      c.openTimer = undefined;
      if (!c.sock.destroyed) c.sock.destroy();
      c.resolveClosed();
    }
    if (c.dropped) return;
    c.dropped = true;
    if (c === this.second) {
      this.second = null;
      return;
    }
    if (c !== this.conn) return;
    this.conn = null;
    const detail = this.fsm === 'Connect' ? (c.error ?? 'connection closed') : c.error ? `connection closed: ${c.error}` : 'connection closed by peer';
    this.fire({ type: 'TcpConnectionFails' }, detail);
  }

  /** Close a connection we are done with: gracefully (flush, FIN, wait for the peer) or at once. */
  private closeConn(c: Conn, graceful: boolean): void {
    if (c.dropped) return;
    c.dropped = true;
    if (this.conn === c) this.conn = null;
    if (this.second === c) this.second = null;
    if (c.openTimer !== undefined) this.deps.clock.clearTimeout(c.openTimer);
    c.openTimer = undefined;
    if (c.closed) return;
    // An attempt still connecting has nothing to flush.
    if (!graceful || !c.up || c.sock.destroyed) {
      c.sock.destroy();
      return;
    }
    c.sock.end();
    c.closeTimer = this.deps.clock.setTimeout(() => {
      c.closeTimer = undefined;
      c.sock.destroy();
    }, CLOSE_GRACE_MS);
  }

  /** Refuse a connection with a Cease NOTIFICATION (RFC 4486). */
  private reject(sock: SocketLike, subcode: number): void {
    sock.on('error', () => undefined);
    const c = this.attach(sock, false);
    c.dropped = true;
    this.tune(sock);
    this.sendNotification(c, CEASE, subcode, Buffer.alloc(0), false);
    c.dropped = false;
    this.closeConn(c, true);
  }

  private write(c: Conn, m: BgpMessage): void {
    if (c.sock.destroyed || c.sock.writableEnded) return;
    let buf: Buffer;
    try {
      buf = encodeMessage(m, this.codecCtx);
    } catch (err) {
      // Our own message does not encode: a bug, but it must not take the process down.
      c.error = errnoOf(err);
      return;
    }
    this.counters.out[KIND_OF_TYPE[buf[18]!]!]++;
    c.sock.write(buf);
  }

  private sendNotification(c: Conn, code: number, subcode: number, data: Buffer, recordIt = true): void {
    this.write(c, { type: 'NOTIFICATION', code, subcode, data });
    if (!recordIt) return;
    const shutdown = carriesStopText(code, subcode, data) && this.stopText !== undefined;
    this.lastSent = record({ code, subcode, ...(shutdown ? { shutdownMessage: this.stopText } : {}) }, new Date(this.deps.clock.now()));
  }

  // ---------------------------------------------------------------- input

  private onData(c: Conn, chunk: Buffer): void {
    if (c.dropped) return;
    let frames: Buffer[];
    try {
      frames = c.framer.push(chunk);
    } catch (err) {
      this.inputError(c, MessageType.OPEN, err, true);
      return;
    }
    for (const raw of frames) {
      if (c.dropped) break;
      this.onFrame(c, raw);
    }
  }

  private onFrame(c: Conn, raw: Buffer): void {
    const type = raw[18]!;
    const kind = KIND_OF_TYPE[type];
    if (kind) this.counters.in[kind]++;
    let m: BgpMessage;
    try {
      m = decodeMessage(raw, this.codecCtx);
    } catch (err) {
      this.inputError(c, type, err, false);
      return;
    }
    if (c === this.second && m.type !== 'OPEN') {
      // RFC 4271 6.8: the second connection is tracked until its OPEN; anything else ends it.
      this.closeConn(c, false);
      return;
    }
    if (c !== this.conn && c !== this.second) return;
    switch (m.type) {
      case 'OPEN':
        this.onOpen(c, m);
        return;
      case 'KEEPALIVE':
        this.fire({ type: 'KeepAliveMsg' });
        return;
      case 'UPDATE':
        // RFC 7606 outcomes below session-reset travel with the message; the RIB applies them.
        this.currentUpdate = m;
        this.fire({ type: 'UpdateMsg' });
        return;
      case 'NOTIFICATION':
        this.onNotification(c, m);
        return;
      case 'ROUTE_REFRESH':
        if (this.fsm === 'Established') {
          this.emit('routeRefresh', { afi: m.afi, safi: m.safi, subtype: m.subtype });
        } else {
          // RFC 6608: any message but OPEN/NOTIFICATION/KEEPALIVE before Established is unexpected.
          this.fire({ type: 'UpdateMsg' }, `unexpected ROUTE-REFRESH in ${this.fsm}`);
        }
        return;
    }
  }

  /** A decode error: the exact NOTIFICATION the codec prescribes, through the FSM. */
  private inputError(c: Conn, type: number, err: unknown, header: boolean): void {
    const n =
      err instanceof BgpNotification
        ? err
        : new BgpNotification(type === MessageType.OPEN ? 2 : 3, 0, Buffer.alloc(0), `decode failed: ${errnoOf(err)}`);
    if (c === this.second || c !== this.conn) {
      this.sendNotification(c, n.code, n.subcode, n.data, false);
      this.closeConn(c, true);
      return;
    }
    const spec = { code: n.code, subcode: n.subcode, data: n.data };
    if (header || n.code === 1) this.fire({ type: 'BGPHeaderErr', ...spec }, n.message);
    else if (type === MessageType.OPEN) this.fire({ type: 'BGPOpenMsgErr', ...spec }, n.message);
    else this.fire({ type: 'UpdateMsgErr', ...spec }, n.message);
  }

  /** The peer's OPEN, on the session's connection or on the second one (RFC 4271 6.8). */
  private onOpen(c: Conn, m: OpenMessage): void {
    if (c === this.conn && this.fsm !== 'OpenSent') {
      this.fire({ type: 'BGPOpen', holdTime: 0 }, `unexpected OPEN in ${this.fsm}`);
      return;
    }
    let n: Negotiated;
    try {
      n = negotiate(this.local, m, { peerAsn: this.cfg.peerAsn });
    } catch (err) {
      this.inputError(c, MessageType.OPEN, err, false);
      return;
    }
    if (c === this.second) {
      if (!this.keepsSecond(c, m.bgpId, n.peerAsn)) {
        this.sendNotification(c, CEASE, CEASE_COLLISION, Buffer.alloc(0));
        this.closeConn(c, true);
        return;
      }
      this.adopt(c);
    }
    this.useNegotiated(c, n);
    this.fire({ type: 'BGPOpen', holdTime: n.holdTime });
  }

  /** RFC 4271 6.8: whether the second connection, whose OPEN has just arrived, is the one to keep. */
  private keepsSecond(c: Conn, remoteId: string, remoteAsn: number): boolean {
    switch (this.fsm) {
      case 'Connect':
      case 'Active':
        // No OPEN went out on a connection of ours: nothing to compare.
        return true;
      case 'OpenSent':
      case 'OpenConfirm':
        return (
          resolveCollision({
            localId: this.cfg.routerId,
            remoteId,
            localAsn: this.cfg.localAsn,
            remoteAsn,
            existingInitiatedLocally: this.conn?.initiatedLocally ?? true,
            newInitiatedLocally: c.initiatedLocally,
          }) === 'close-existing'
        );
      default:
        // Established: CollisionDetectEstablishedState FALSE; Idle has closed it already.
        return false;
    }
  }

  /**
   * The second connection becomes the session's: the FSM dumps the one it had (OpenSent,
   * OpenConfirm: OpenCollisionDump, then Active), or our own attempt that has not come up
   * is dropped (Connect), and the kept one comes in as TcpConnectionConfirmed, which sends
   * our OPEN; its OPEN, already here, follows as BGPOpen.
   */
  private adopt(c: Conn): void {
    if (this.fsm === 'OpenSent' || this.fsm === 'OpenConfirm') this.fire({ type: 'OpenCollisionDump' });
    else if (this.conn) this.closeConn(this.conn, false);
    if (c.openTimer !== undefined) this.deps.clock.clearTimeout(c.openTimer);
    c.openTimer = undefined;
    this.second = null;
    this.conn = c;
    this.fire({ type: 'TcpConnectionConfirmed' });
  }

  private useNegotiated(c: Conn, n: Negotiated): void {
    this.negotiated = n;
    this.codecCtx = {
      asn4: n.asn4,
      extendedMessage: n.extendedMessage,
      extendedNextHopV4: n.extendedNextHop.includes('ipv4-unicast'),
    };
    // RFC 8654: larger messages only once both sides said so.
    if (n.extendedMessage) c.framer.setMaxLength(MAX_EXTENDED_MESSAGE_LENGTH);
  }

  private onNotification(c: Conn, m: NotificationMessage): void {
    this.lastReceived = m;
    this.lastRecv = record(m, new Date(this.deps.clock.now()));
    if (m.code === CEASE && m.subcode === CEASE_COLLISION && this.second !== null && (this.fsm === 'OpenSent' || this.fsm === 'OpenConfirm')) {
      // The peer dumped this connection in favour of the one we are still tracking (6.8):
      // closed first, so that no NOTIFICATION goes back; the other one's OPEN decides next.
      this.closeConn(c, false);
      this.fire({ type: 'OpenCollisionDump' });
      return;
    }
    // RFC 4271 6.2: Unsupported Version Number is its own event.
    if (m.code === 2 && m.subcode === 1) this.fire({ type: 'NotifMsgVerErr', code: m.code, subcode: m.subcode });
    else this.fire({ type: 'NotifMsg', code: m.code, subcode: m.subcode });
  }
}

/** Cease / Administrative Shutdown, or a Hard Reset wrapping one (RFC 8538 3): it carries stop()'s text. */
function carriesStopText(code: number, subcode: number, data: Buffer): boolean {
  return code === CEASE && (subcode === CEASE_ADMIN_SHUTDOWN || (subcode === CEASE_HARD_RESET && data[0] === CEASE && data[1] === CEASE_ADMIN_SHUTDOWN));
}
