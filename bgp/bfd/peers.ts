/**
 * BFD for the BGP speaker: one BFD session per peer that asks for it, kept in step with
 * the peer list (`set`), and the events the speaker acts on: 'down' when a session that
 * was Up leaves Up (the speaker then ends the BGP session with Cease / BFD Down, RFC
 * 9384) and 'up' when it is Up again. The UDP runner is created when the first peer
 * needs it, so an agent without BFD opens no BFD socket.
 */
import { EventEmitter } from 'node:events';
import { BfdRunner } from './runner.js';
import type { BfdSession, BfdTimers } from './session.js';
import { diagName, type BfdState } from './types.js';

export interface BfdPeerWant {
  readonly address: string;
  readonly localAddress?: string;
  readonly timers: BfdTimers;
}

/** What `routectl peers` shows of a peer's BFD session. Times in ms. */
export interface BfdStatus {
  readonly state: BfdState;
  /** ISO time of the last state change. */
  readonly since: string;
  /** Configured: our Desired Min TX (once Up), Required Min RX, Detect Mult. */
  readonly minTx: number;
  readonly minRx: number;
  readonly multiplier: number;
  /** Negotiated: the interval we send at (6.8.7) and the time we wait before declaring the peer down (6.8.4). */
  readonly txInterval: number | null;
  readonly detectTime: number | null;
  /** What the peer asked for (null before its first packet). */
  readonly remote: { readonly minTx: number; readonly minRx: number; readonly multiplier: number } | null;
  /** The diagnostic of the last Down (ours, e.g. "Control Detection Time Expired"), or null. */
  readonly lastDiagnostic: string | null;
  /** The diagnostic the peer sends now. */
  readonly remoteDiagnostic: string | null;
  readonly transitions: number;
  readonly localDiscriminator: number;
  readonly remoteDiscriminator: number;
  readonly sourcePort: number | null;
  /** Why the session could not be set up (socket errors), else null. */
  readonly error: string | null;
}

export interface BfdRunnerLike {
  add(spec: { peer: string; localAddress?: string; timers: BfdTimers }): Promise<BfdSession>;
  remove(peer: string): Promise<void>;
  sourcePort(peer: string): number | undefined;
  close(): Promise<void>;
  on(event: 'discard', l: (d: { reason: string; from: string; text: string }) => void): unknown;
}

interface Tracked {
  want: BfdPeerWant;
  session: BfdSession | null;
  error: string | null;
  lastDiag: number | null;
  detach: () => void;
}

const sameTimers = (a: BfdTimers, b: BfdTimers): boolean => a.minTx === b.minTx && a.minRx === b.minRx && a.multiplier === b.multiplier;
const ms = (us: number | null): number | null => (us === null ? null : Math.round(us / 100) / 10);

export class BfdPeers extends EventEmitter {
  private runner: BfdRunnerLike | null = null;
  private readonly tracked = new Map<string, Tracked>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly makeRunner: () => BfdRunnerLike = () => new BfdRunner()) {
    super();
  }

  /** The whole desired set: sessions are added, retimed (Poll, 6.8.3) or removed. Never rejects. */
  set(wants: readonly BfdPeerWant[]): Promise<void> {
    this.chain = this.chain.then(() => this.apply(wants));
    return this.chain;
  }

  status(address: string): BfdStatus | null {
    const t = this.tracked.get(address);
    if (!t) return null;
    const i = t.session?.info();
    return {
      state: i?.state ?? 'AdminDown',
      since: new Date(i?.since ?? Date.now()).toISOString(),
      minTx: t.want.timers.minTx,
      minRx: t.want.timers.minRx,
      multiplier: t.want.timers.multiplier,
      txInterval: i ? ms(i.txIntervalUs) : null,
      detectTime: i && i.detectTimeUs > 0 ? ms(i.detectTimeUs) : null,
      remote:
        i && i.remoteMinTxUs !== null && i.remoteMinRxUs !== null && i.remoteMultiplier !== null
          ? { minTx: ms(i.remoteMinTxUs)!, minRx: ms(i.remoteMinRxUs)!, multiplier: i.remoteMultiplier }
          : null,
      lastDiagnostic: t.lastDiag === null ? null : diagName(t.lastDiag),
      remoteDiagnostic: i?.remoteDiag == null ? null : diagName(i.remoteDiag),
      transitions: i?.transitions ?? 0,
      localDiscriminator: t.session?.localDiscr ?? 0,
      remoteDiscriminator: i?.remoteDiscr ?? 0,
      sourcePort: this.runner?.sourcePort(address) ?? null,
      error: t.error,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    for (const t of this.tracked.values()) t.detach();
    this.tracked.clear();
    await this.runner?.close();
    this.runner = null;
  }

  private async apply(wants: readonly BfdPeerWant[]): Promise<void> {
    if (this.closed) return;
    const next = new Map(wants.map((w) => [w.address, w]));
    for (const [address, t] of [...this.tracked]) {
      const w = next.get(address);
      if (w && (w.localAddress ?? null) === (t.want.localAddress ?? null) && t.session) {
        if (!sameTimers(w.timers, t.want.timers)) t.session.setTimers(w.timers);
        t.want = w;
        continue;
      }
      t.detach();
      this.tracked.delete(address);
      if (t.session) await this.runner?.remove(address);
    }
    for (const [address, w] of next) {
      if (this.tracked.has(address)) continue;
      const t: Tracked = { want: w, session: null, error: null, lastDiag: null, detach: () => undefined };
      this.tracked.set(address, t);
      try {
        const runner = this.ensureRunner();
        const session = await runner.add({ peer: address, ...(w.localAddress ? { localAddress: w.localAddress } : {}), timers: w.timers });
        const onState = (from: BfdState, to: BfdState, diag: number): void => {
          if (from === 'Up') t.lastDiag = diag;
          this.emit('state', address, from, to, diag);
          if (from === 'Up') this.emit('down', address, diag);
          if (to === 'Up') this.emit('up', address);
        };
        session.on('state', onState);
        t.session = session;
        t.detach = () => session.off('state', onState);
      } catch (err) {
        t.error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
        this.emit('setupError', address, err);
      }
    }
  }

  private ensureRunner(): BfdRunnerLike {
    if (!this.runner) {
      this.runner = this.makeRunner();
      this.runner.on('discard', (d) => this.emit('discard', d));
    }
    return this.runner;
  }
}
