/**
 * One BFD session (RFC 5880), Asynchronous mode, active role, no Echo, no Demand, no
 * authentication. It executes the pure FSM (fsm.ts) and the interval rules (timers.ts)
 * on an injected clock, and hands encoded Control packets to an injected `send`; the
 * runner owns the sockets. It has no timer of its own: it keeps two clock times (the next
 * periodic packet, the end of the detection time) and a scheduler shared by all sessions
 * of a runner (scheduler.ts) calls `tick` when one of them comes. So the whole session,
 * timers and Poll/Final included, is tested on a fake clock.
 *
 * Nothing is allocated per packet on the way out: one packet value and one 24-octet
 * buffer per session are rewritten for every packet.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../session/types.js';
import { MIN_LENGTH, encodeControl } from './codec.js';
import { recvEvent, transition, type BfdEvent } from './fsm.js';
import { BfdScheduler, type Scheduled } from './scheduler.js';
import { MIN_TX_FRACTION, TX_SLACK_FRACTION, advertisedMinTx, detectionTime, jittered, txInterval } from './timers.js';
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
  /**
   * Sends one encoded packet. The buffer is the session's own and is rewritten for its
   * next packet: `send` copies it, or returns true when it keeps it (a queued send), and
   * the session then takes a new one.
   */
  readonly send: (packet: Buffer) => boolean | void;
  /** The scheduler shared by the runner's sessions; default: one of the session's own. */
  readonly scheduler?: BfdScheduler;
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

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class BfdSession extends EventEmitter implements Scheduled {
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
  private readonly scheduler: BfdScheduler;
  /** Clock times (ms): the next periodic packet is due; the earliest it may go (6.8.7: 75 %). */
  private txDue = Infinity;
  private txEarliest = Infinity;
  /** How much before txDue the scheduler may send it, to share a wake-up (timers.ts). */
  private txSlack = 0;
  /** Clock time the detection time runs out (6.8.4); Infinity before the first packet. */
  private detectAt = Infinity;
  private detectUs = 0;
  /** The packet being sent, and its bytes: rewritten for every packet. */
  private readonly out: Mutable<ControlPacket>;
  private outBuf = Buffer.alloc(MIN_LENGTH);
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
    this.scheduler = deps.scheduler ?? new BfdScheduler(deps.clock);
    this.out = { ...this.packet() };
  }

  /** Scheduled: the next periodic packet or the end of the detection time, whichever is first. */
  get wakeAt(): number {
    return this.txDue < this.detectAt ? this.txDue : this.detectAt;
  }

  /** Scheduled: called by the scheduler at (or after) wakeAt, and at other sessions' wake-ups. */
  tick(now: number): void {
    if (now >= this.detectAt) {
      this.detectAt = Infinity;
      this.fire('DetectionTimeExpired');
    }
    if (now >= this.txEarliest && this.txDue - now <= this.txSlack) {
      this.sendNow(false);
      this.planTx(now);
    }
  }

  get current(): BfdState {
    return this.state;
  }

  /** AdminDown -> Down, and start transmitting. */
  start(): void {
    this.scheduler.add(this);
    this.fire('AdminUp');
  }

  /** Down administratively (6.8.16): tell the peer with State AdminDown, stop the timers. */
  stop(): void {
    this.fire('AdminDown');
    this.sendNow(false);
    this.txDue = this.txEarliest = this.detectAt = Infinity;
    this.scheduler.remove(this);
  }

  /** A packet for this session that passed the codec's and the runner's checks (not kept: the runner reuses it). */
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
    // 6.8.4: every valid packet starts the detection time over; only a deadline earlier
    // than the scheduler's armed timer (shorter timers) re-arms it.
    this.detectAt = this.deps.clock.now() + this.detectUs / 1000;
    this.scheduler.wake(this.detectAt);
    this.fire(recvEvent(p.state));
    // 6.8.7: a Poll is answered with a Final at once, whatever the transmit timer says.
    if (p.poll) this.sendNow(true);
    // The peer now wants our packets further apart (or closer; often in the same Poll
    // that announces it): the new interval paces the next packet, not after the old one
    // ran out, or a peer that just went from 1 s to 300 ms would wait up to a second.
    if (minRxChanged) this.planTx(this.deps.clock.now());
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
      this.planTx(this.deps.clock.now());
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

  /** 6.8.7: the next periodic packet, jittered; none while AdminDown or when the peer asked for none. */
  private planTx(now: number): void {
    const us = txInterval(this.pacingTx, this.remoteMinRx);
    if (us === 0 || this.state === 'AdminDown') {
      this.txDue = this.txEarliest = Infinity;
      return;
    }
    const ms = us / 1000;
    this.txEarliest = now + MIN_TX_FRACTION * ms;
    this.txDue = now + jittered(us, this.timers.multiplier, this.deps.random) / 1000;
    this.txSlack = TX_SLACK_FRACTION * ms;
    this.scheduler.wake(this.txDue);
  }

  private sendNow(final: boolean): void {
    this.packetsOut++;
    const o = this.out;
    o.diag = this.localDiag;
    o.state = this.state;
    // 6.8.7: P and F are never both set; a Final answers, the Poll rides the next periodic one.
    o.poll = this.polling && !final;
    o.final = final;
    o.detectMult = this.timers.multiplier;
    o.yourDiscr = this.remoteDiscr;
    o.desiredMinTx = this.advertisedTx;
    o.requiredMinRx = this.timers.minRx * 1000;
    encodeControl(o, this.outBuf);
    if (this.deps.send(this.outBuf) === true) this.outBuf = Buffer.alloc(MIN_LENGTH);
  }
}
