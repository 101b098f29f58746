/**
 * A netlink socket owned by a worker thread, for requests that keep the sender waiting
 * without using a CPU.
 *
 * The kernel runs an rtnetlink request inside sendmsg(2), and the `netlink` package calls
 * sendmsg on the thread that sends. Deleting a veth sleeps there for RCU grace periods:
 * 10–18 ms per veth on an idle host, during which an event loop that sent it could read
 * no Docker event and send no UPDATE. Sent from this thread, that wait holds up only the
 * container it is for.
 *
 * Creating a veth is not sent from here: it takes about 0.5 ms of CPU, longer only when
 * the cores are busy, and under a burst of 100 `docker start`s the hop to a thread and
 * back (its wake-up on saturated cores) made the creation slower (6 → 10–20 ms at p50)
 * and the agent's CPU for the burst grew by 130–140 ms.
 *
 * The thread does nothing but send the datagrams it is given and pass back, unparsed,
 * every datagram the kernel sends to its socket; framing, sequence numbers and acks stay
 * in RtnlSocket. The thread runs socket-thread.js; src/script-thread.ts starts it with
 * the first send and again after it died.
 */
import type { Worker } from 'node:worker_threads';
import { ScriptThread, ThreadClosedError } from '../../script-thread.js';

export interface TransportError {
  readonly code?: string;
  readonly message: string;
}

/** What RtnlSocket needs from a netlink socket. */
export interface Transport {
  /**
   * Sends one datagram; `done` once sendmsg(2) has run. Returns true when sendmsg(2) has
   * already run when `send` returns: the kernel applies rtnetlink requests inside it, so the
   * change is in the kernel by then. False when that is not certain (the send was queued).
   */
  send(bufs: readonly Uint8Array[], done: (err?: TransportError) => void): boolean;
  onMessage(fn: (buf: Buffer) => void): void;
  onError(fn: (err: TransportError) => void): void;
  addMembership(group: number): void;
  ref(): void;
  unref(): void;
  close(): void;
}

/** What socket-thread.js is started with. */
export interface SocketThreadData {
  readonly protocol: number;
  readonly recvBufferSize: number;
  readonly sendBufferSize: number;
}

/** Messages to socket-thread.js. */
export type ToSocketThread = { readonly t: 'send'; readonly id: number; readonly bufs: readonly Uint8Array[] } | { readonly t: 'close' };

/** Messages from socket-thread.js: a datagram from the kernel, a socket error, or a send's completion. */
export type FromSocketThread =
  | { readonly id?: undefined; readonly t: 'msg'; readonly buf: Uint8Array }
  | { readonly id?: undefined; readonly t: 'error'; readonly code?: string; readonly message: string }
  | { readonly id: number; readonly t: 'sent'; readonly err?: TransportError };

export class ThreadTransport implements Transport {
  private readonly worker: ScriptThread<FromSocketThread>;
  private message: (buf: Buffer) => void = () => undefined;
  private error: (err: TransportError) => void = () => undefined;

  constructor(opts: SocketThreadData) {
    this.worker = new ScriptThread<FromSocketThread>(new URL('./socket-thread.js', import.meta.url), {
      name: 'netlink',
      workerData: opts,
      onMessage: (m) => {
        if (m.t === 'msg') this.message(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength));
        else if (m.t === 'error') this.error({ ...(m.code === undefined ? {} : { code: m.code }), message: m.message });
      },
      // What was sent may or may not have reached the kernel; its ack will not come.
      onExit: (err) => this.error({ code: 'EIO', message: err.message }),
    });
  }

  /** The running thread, if any (for tests: terminating it shows what a crash does). */
  get thread(): Worker | undefined {
    return this.worker.thread;
  }

  /** Sent by the thread, later: never inline. */
  send(bufs: readonly Uint8Array[], done: (err?: TransportError) => void): boolean {
    this.worker.request({ t: 'send', bufs } satisfies Omit<ToSocketThread & { t: 'send' }, 'id'>).then(
      (m) => done(m.t === 'sent' ? m.err : undefined),
      (err: Error) => done({ code: err instanceof ThreadClosedError ? 'EBADF' : 'EIO', message: err.message }),
    );
    return false;
  }

  onMessage(fn: (buf: Buffer) => void): void {
    this.message = fn;
  }

  onError(fn: (err: TransportError) => void): void {
    this.error = fn;
  }

  addMembership(): void {
    throw new Error('a netlink thread is for requests, not for notifications');
  }

  ref(): void {
    this.worker.hold(true);
  }

  unref(): void {
    this.worker.hold(false);
  }

  close(): void {
    void this.worker.close({ t: 'close' } satisfies ToSocketThread);
  }
}
