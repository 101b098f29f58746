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
 * in RtnlSocket. The thread starts with the first send and again after it died. The
 * script is inline (like launcher.ts's) so that a bundle of the agent carries it; it
 * loads the `netlink` package from where this module resolves it.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface TransportError {
  readonly code?: string;
  readonly message: string;
}

/** What RtnlSocket needs from a netlink socket. */
export interface Transport {
  /**
   * True when `send` runs sendmsg(2) before it returns (when nothing is queued before it),
   * so that an rtnetlink change is in the kernel once `send` returns.
   */
  readonly sendsInline: boolean;
  send(bufs: readonly Uint8Array[], done: (err?: TransportError) => void): void;
  onMessage(fn: (buf: Buffer) => void): void;
  onError(fn: (err: TransportError) => void): void;
  addMembership(group: number): void;
  ref(): void;
  unref(): void;
  close(): void;
}

const SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const { RawNetlinkSocket } = require(workerData.netlink);
const sock = new RawNetlinkSocket(workerData.protocol, { recvBufferSize: workerData.recvBufferSize, sendBufferSize: workerData.sendBufferSize });
const post = (m, t) => parentPort.postMessage(m, t);
sock.on('message', (buf) => {
  const copy = new Uint8Array(buf.length);
  copy.set(buf);
  post({ t: 'msg', buf: copy }, [copy.buffer]);
});
sock.on('error', (e) => post({ t: 'error', code: e.code, message: e.message }));
parentPort.on('message', (m) => {
  if (m.t === 'send') {
    sock.send(m.bufs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)), {}, (e) => post({ t: 'sent', id: m.id, err: e ? { code: e.code, message: e.message } : undefined }));
  } else if (m.t === 'close') {
    sock.close();
    parentPort.close();
  }
});
`;

type FromThread =
  | { readonly t: 'msg'; readonly buf: Uint8Array }
  | { readonly t: 'sent'; readonly id: number; readonly err?: TransportError }
  | { readonly t: 'error'; readonly code?: string; readonly message: string };

let netlinkPath: string | undefined;

export class ThreadTransport implements Transport {
  readonly sendsInline = false;
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, (err?: TransportError) => void>();
  private message: (buf: Buffer) => void = () => undefined;
  private error: (err: TransportError) => void = () => undefined;
  private wantRef = false;
  private closed = false;

  constructor(private readonly opts: { readonly protocol: number; readonly recvBufferSize: number; readonly sendBufferSize: number }) {}

  /** The running thread, if any (for tests: terminating it shows what a crash does). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  private start(): Worker {
    netlinkPath ??= createRequire(import.meta.url).resolve('netlink');
    const w = new Worker(SCRIPT, { eval: true, workerData: { netlink: netlinkPath, ...this.opts }, stdout: false, stderr: false });
    w.on('message', (m: FromThread) => {
      if (m.t === 'msg') this.message(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength));
      else if (m.t === 'sent') {
        const done = this.inFlight.get(m.id);
        this.inFlight.delete(m.id);
        done?.(m.err);
      } else this.error({ ...(m.code === undefined ? {} : { code: m.code }), message: m.message });
    });
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      // What was sent may or may not have reached the kernel; its ack will not come.
      const err = { code: 'EIO', message: `netlink thread ${why}` };
      this.failInFlight(err);
      this.error(err);
    };
    w.on('error', (e) => gone(`failed: ${e.message}`));
    w.on('exit', (code) => gone(`exited (${code})`));
    if (!this.wantRef) w.unref();
    return w;
  }

  private failInFlight(err: TransportError): void {
    const waiting = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const done of waiting) done(err);
  }

  send(bufs: readonly Uint8Array[], done: (err?: TransportError) => void): void {
    if (this.closed) {
      done({ code: 'EBADF', message: 'socket closed' });
      return;
    }
    this.worker ??= this.start();
    const id = this.nextId++;
    this.inFlight.set(id, done);
    this.worker.postMessage({ t: 'send', id, bufs });
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
    this.wantRef = true;
    this.worker?.ref();
  }

  unref(): void {
    this.wantRef = false;
    this.worker?.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    w?.postMessage({ t: 'close' });
    w?.unref();
    this.failInFlight({ code: 'EBADF', message: 'socket closed' });
  }
}
