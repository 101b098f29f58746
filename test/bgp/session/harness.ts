/**
 * Test utilities for sessions: a fake clock, an in-memory duplex pair that behaves like
 * a TCP connection (write on one end is data on the other, end/destroy is EOF), and a
 * tiny fake network that routes connect() calls to a listening Session.
 */
import { Duplex } from 'node:stream';
import type { Clock, ConnectFn, SocketLike } from '../../../bgp/session/index.js';
import type { Session } from '../../../bgp/session/index.js';

/** Lets stream events (nextTick/microtasks/immediates) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }

  /** Timers still armed (a stopped session must leave none). */
  get pending(): number {
    return this.timers.size;
  }

  /** Delays (ms from now) of the armed timers. */
  pendingDelays(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward, firing due timers in order and letting I/O settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    while (this.fireNext(end)) await settle();
    this.t = end;
    await settle();
  }

  /** The same without settling: for code that does no I/O of its own (a BFD session). */
  advanceSync(ms: number): void {
    const end = this.t + ms;
    while (this.fireNext(end));
    this.t = end;
  }

  /** Fires the earliest timer due by `end`; false when there is none. */
  private fireNext(end: number): boolean {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
    if (!next) return false;
    this.timers.delete(next[0]);
    this.t = Math.max(this.t, next[1].at);
    next[1].fn();
    return true;
  }
}

export class PipeEnd extends Duplex {
  peer!: PipeEnd;
  remoteAddress: string | undefined;
  localAddress: string | undefined;
  noDelay = false;
  /** Drop everything written (a peer that stopped talking). */
  blackhole = false;
  private eof = false;

  setNoDelay(v = true): this {
    this.noDelay = v;
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // Delivered on a later tick, in order, as TCP would: never inside the writer's call.
    if (!this.blackhole) process.nextTick(() => this.peer.pushData(chunk));
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    process.nextTick(() => this.peer.pushEof());
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    process.nextTick(() => this.peer.pushEof());
    cb(err);
  }

  pushData(chunk: Buffer): void {
    if (this.eof || this.destroyed) return;
    this.push(chunk);
  }

  pushEof(): void {
    if (this.eof || this.destroyed) return;
    this.eof = true;
    this.push(null);
  }
}

export function duplexPair(a = '10.0.0.1', b = '10.0.0.2'): [PipeEnd, PipeEnd] {
  const x = new PipeEnd();
  const y = new PipeEnd();
  x.peer = y;
  y.peer = x;
  x.localAddress = a;
  x.remoteAddress = b;
  y.localAddress = b;
  y.remoteAddress = a;
  return [x, y];
}

export interface Link {
  readonly from: string;
  readonly to: string;
  readonly client: PipeEnd;
  readonly server: PipeEnd;
}

/** Routes connect() to the Session listening on the target address; else ECONNREFUSED. */
export class FakeNet {
  readonly listeners = new Map<string, Session>();
  readonly links: Link[] = [];
  /** Per target address: accept raw server ends instead of a Session (scripted peers). */
  readonly raw = new Map<string, (server: PipeEnd) => void>();

  /** When set, connections wait for release(): lets both sides' connects complete together. */
  hold = false;
  private held: (() => void)[] = [];

  release(): void {
    const h = this.held.splice(0);
    for (const f of h) f();
  }

  connector(from: string): ConnectFn {
    return ({ host }) => {
      const [client, server] = duplexPair(from, host);
      const complete = (): void => {
        const s = this.listeners.get(host);
        const r = this.raw.get(host);
        if (!s && !r) {
          const err = Object.assign(new Error(`connect ECONNREFUSED ${host}:179`), { code: 'ECONNREFUSED' });
          client.destroy(err);
          return;
        }
        this.links.push({ from, to: host, client, server });
        client.emit('connect');
        if (r) r(server);
        else s!.acceptIncoming(server);
      };
      setImmediate(() => {
        if (this.hold) this.held.push(complete);
        else complete();
      });
      return client as SocketLike;
    };
  }

  /** Links whose both ends are still open. */
  live(): Link[] {
    return this.links.filter((l) => !l.client.destroyed && !l.server.destroyed);
  }
}
