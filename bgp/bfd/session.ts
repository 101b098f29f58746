/**
 * One BFD session (RFC 5880), Asynchronous mode, active role, no Echo, no Demand, no
 * authentication. It executes the pure FSM (fsm.ts) and the interval rules (timers.ts)
 * on an injected clock, and hands encoded Control packets to an injected `send`; the
 * runner owns the sockets. So the whole session, timers and Poll/Final included, is
 * tested on a fake clock.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../session/types.js';
import { encodeControl } from './codec.js';
import { recvEvent, transition, type BfdEvent } from './fsm.js';
import { advertisedMinTx, detectionTime, jittered, onTxGrid, txInterval } from './timers.js';
import { Diag, type BfdState, type ControlPacket } from './types.js';

export interface BfdTimers {
  /** Our Desired Min TX once Up, ms (RFC 5880 6.8.1 bfd.DesiredMinTxInterval). */
  readonly minTx: number;
  /** Our Required Min RX, ms. */
  readonly minRx: number;
  /** Our Detect Mult. */
  readonly multiplier: number;
}

export interface BfdSessionDeps {
  readonly clock: Clock;
  /** [0, 1), for the transmit jitter. */
  readonly random: () => number;
  readonly send: (packet: Buffer) => void;
}

export interface BfdSessionInfo {
  readonly state: BfdState;
  /** bfd.LocalDiag: why we last left Up (or went AdminDown). */
  readonly localDiag: number;
  readonly remoteState: BfdState | null;
  /** The Diag the peer sent last. */
  readonly remoteDiag: number | null;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  /** The interval we transmit at now, before jitter, µs (0: the peer asked for none). */
  readonly txIntervalUs: number;
  /** How long we wait for the peer's packets before declaring it down, µs (0: nothing received yet). */
  readonly detectTimeUs: number;
  readonly remoteMultiplier: number | null;
  readonly remoteMinRxUs: number | null;
  readonly remoteMinTxUs: number | null;
  /** Clock time of the last state change. */
  readonly since: number;
  readonly transitions: number;
  readonly packets: { readonly in: number; readonly out: number };
}

export class BfdSession extends EventEmitter {
  private state: BfdState = 'AdminDown';
  private localDiag = 0;
  private remoteDiscr = 0;
  private remoteState: BfdState | null = null;
  private remoteDiag: number | null = null;
  /** 6.8.1: bfd.RemoteMinRxInterval starts at 1 µs. */
  private remoteMinRx = 1;
  private remoteMinTx: number | null = null;
  private remoteMult: number | null = null;
  /** The Desired Min TX we put in our packets (6.8.3: at least 1 s until Up). */
  private advertisedTx: number;
  /** The Desired Min TX that paces our packets: an increase waits for the Poll's Final (6.8.3). */
  private pacingTx: number;
  private polling = false;
  private txTimer: unknown = null;
  private detectTimer: unknown = null;
  /** Clock time the detection time runs out, and the time the armed timer fires. */
  private detectDeadline = 0;
  private detectTimerAt = 0;
  private detectUs = 0;
  private sinceMs: number;
  private transitions = 0;
  private packetsIn = 0;
  private packetsOut = 0;

  constructor(
    readonly localDiscr: number,
    private timers: BfdTimers,
    private readonly deps: BfdSessionDeps,
  ) {
    super();
    if (localDiscr <= 0 || localDiscr > 0xffffffff) throw new RangeError(`local discriminator ${localDiscr} must be 1-2^32-1 (RFC 5880 6.8.1)`);
    this.advertisedTx = advertisedMinTx(timers.minTx * 1000, false);
    this.pacingTx = this.advertisedTx;
    this.sinceMs = deps.clock.now();
  }

  get current(): BfdState {
    return this.state;
  }

  /** AdminDown -> Down, and start transmitting. */
  start(): void {
    this.fire('AdminUp');
    this.scheduleTx(0);
  }

  /** Down administratively (6.8.16): tell the peer with State AdminDown, stop the timers. */
  stop(): void {
    this.fire('AdminDown');
    this.sendNow(false);
    this.clearTimers();
  }

  /** A packet for this session that passed the codec's and the runner's checks. */
  receive(p: ControlPacket): void {
    this.packetsIn++;
    // 6.8.6, after the checks: remember what the peer said.
    this.remoteDiscr = p.myDiscr;
    this.remoteState = p.state;
    this.remoteDiag = p.diag;
    this.remoteMult = p.detectMult;
    this.remoteMinTx = p.desiredMinTx;
    const minRxChanged = p.requiredMinRx !== this.remoteMinRx;
    this.remoteMinRx = p.requiredMinRx;
    if (p.final && this.polling) {
      // 6.8.3: the Poll Sequence ended; an increased interval now paces us.
      this.polling = false;
      this.pacingTx = this.advertisedTx;
    }
    if (this.state === 'AdminDown') return;
    this.detectUs = detectionTime(p.detectMult, this.timers.minRx * 1000, p.desiredMinTx);
    this.armDetect();
    this.fire(recvEvent(p.state));
    // 6.8.7: a Poll is answered with a Final at once, whatever the transmit timer says.
    if (p.poll) this.sendNow(true);
    // The peer now wants our packets further apart (or closer; often in the same Poll
    // that announces it): the new interval paces the next packet, not after the old one
    // ran out, or a peer that just went from 1 s to 300 ms would wait up to a second.
    if (minRxChanged) this.scheduleTx(this.nextTxMs());
  }

  /** New intervals (configuration reload): while Up, a Poll Sequence announces them (6.8.3). */
  setTimers(t: BfdTimers): void {
    const changed = t.minTx !== this.timers.minTx || t.minRx !== this.timers.minRx || t.multiplier !== this.timers.multiplier;
    this.timers = t;
    const polling = this.polling;
    this.updateAdvertised();
    if (changed && this.state === 'Up' && !polling && !this.polling) {
      this.polling = true;
      this.sendNow(false);
    }
  }

  info(): BfdSessionInfo {
    return {
      state: this.state,
      localDiag: this.localDiag,
      remoteState: this.remoteState,
      remoteDiag: this.remoteDiag,
      localDiscr: this.localDiscr,
      remoteDiscr: this.remoteDiscr,
      txIntervalUs: txInterval(this.pacingTx, this.remoteMinRx),
      detectTimeUs: this.detectUs,
      remoteMultiplier: this.remoteMult,
      remoteMinRxUs: this.remoteState === null ? null : this.remoteMinRx,
      remoteMinTxUs: this.remoteMinTx,
      since: this.sinceMs,
      transitions: this.transitions,
      packets: { in: this.packetsIn, out: this.packetsOut },
    };
  }

  /** The packet we would send now. */
  packet(final = false): ControlPacket {
    return {
      diag: this.localDiag,
      state: this.state,
      // 6.8.7: P and F are never both set; a Final answers, the Poll rides the next periodic one.
      poll: this.polling && !final,
      final,
      cpi: false,
      demand: false,
      detectMult: this.timers.multiplier,
      myDiscr: this.localDiscr,
      yourDiscr: this.remoteDiscr,
      desiredMinTx: this.advertisedTx,
      requiredMinRx: this.timers.minRx * 1000,
      requiredMinEchoRx: 0,
    };
  }

  private fire(event: BfdEvent): void {
    const from = this.state;
    const t = transition(from, event);
    if (t.clearRemoteDiscr) this.remoteDiscr = 0;
    if (t.diag !== undefined) this.localDiag = t.diag;
    if (t.next === from) return;
    this.state = t.next;
    this.sinceMs = this.deps.clock.now();
    this.transitions++;
    if (t.next === 'Up') this.localDiag = Diag.None;
    this.updateAdvertised();
    // Tell the peer at once rather than at the next periodic packet: the handshake and a
    // Down both reach it a transmit interval sooner. The periodic timer starts over, so
    // the rate stays within 6.8.7.
    if (t.next !== 'AdminDown') {
      this.sendNow(false);
      this.scheduleTx(this.nextTxMs());
    }
    this.emit('state', from, t.next, this.localDiag);
  }

  /** 6.8.3: fast timers only while Up; a change while Up starts a Poll Sequence. */
  private updateAdvertised(): void {
    const up = this.state === 'Up';
    const next = advertisedMinTx(this.timers.minTx * 1000, up);
    if (next === this.advertisedTx) return;
    const increase = next > this.advertisedTx;
    this.advertisedTx = next;
    // A decrease may pace us at once; an increase while Up waits for the Final.
    if (!increase || !up) this.pacingTx = next;
    if (up) {
      this.polling = true;
      this.sendNow(false);
    }
  }

  private nextTxMs(): number {
    const us = txInterval(this.pacingTx, this.remoteMinRx);
    if (us === 0) return -1;
    return onTxGrid(this.deps.clock.now(), jittered(us, this.timers.multiplier, this.deps.random) / 1000, us / 1000);
  }

  private scheduleTx(ms: number): void {
    if (this.txTimer !== null) this.deps.clock.clearTimeout(this.txTimer);
    this.txTimer = null;
    if (ms < 0 || this.state === 'AdminDown') return;
    this.txTimer = this.deps.clock.setTimeout(() => {
      this.txTimer = null;
      this.sendNow(false);
      this.scheduleTx(this.nextTxMs());
    }, ms);
  }

  private sendNow(final: boolean): void {
    this.packetsOut++;
    this.deps.send(encodeControl(this.packet(final)));
  }

  /**
   * Every valid packet pushes the detection deadline out; the timer itself is re-armed
   * only when it fires early (at the deadline an older packet set), so a steady session
   * costs one timer per detection time rather than a clear and set per packet.
   */
  private armDetect(): void {
    const now = this.deps.clock.now();
    this.detectDeadline = now + this.detectUs / 1000;
    // A shorter detection time than the armed one (new timers) needs the timer sooner.
    if (this.detectTimer !== null && this.detectTimerAt <= this.detectDeadline) return;
    this.startDetectTimer(now);
  }

  private startDetectTimer(now: number): void {
    if (this.detectTimer !== null) this.deps.clock.clearTimeout(this.detectTimer);
    this.detectTimerAt = this.detectDeadline;
    this.detectTimer = this.deps.clock.setTimeout(() => {
      this.detectTimer = null;
      const at = this.deps.clock.now();
      if (at < this.detectDeadline) return this.startDetectTimer(at);
      this.fire('DetectionTimeExpired');
    }, this.detectTimerAt - now);
  }

  private clearTimers(): void {
    if (this.txTimer !== null) this.deps.clock.clearTimeout(this.txTimer);
    if (this.detectTimer !== null) this.deps.clock.clearTimeout(this.detectTimer);
    this.txTimer = null;
    this.detectTimer = null;
  }
}
