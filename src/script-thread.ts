/**
 * A worker thread running a program file, for work the event loop must not wait for:
 * the store's durable writes (src/store/writer-thread.js) and netlink requests that
 * sleep in the kernel (src/dataplane/netlink/socket-thread.js).
 *
 * - A program is plain JavaScript next to the module that starts it, checked by tsc
 *   (checkJs) against that module's types and resolved from its `import.meta.url`, so it
 *   runs as it is from the sources (tests), from dist/ and from a test's bundle (which
 *   copies the programs next to itself: test/src/store/child-bundle.ts).
 * - The thread starts with the first message and again after it died.
 * - A request is a message with an `id`; the program answers it with a message carrying
 *   the same `id`. A message from the program without an `id` goes to `onMessage`.
 * - When the thread dies, the requests it had not answered fail (what they asked may or
 *   may not have been done) and `onExit` is told; the next message starts a new thread.
 * - The thread keeps the process alive only while a request is unanswered or while its
 *   owner holds it (`hold`), as a pending fs call or socket would.
 */
import { Worker } from 'node:worker_threads';

export interface ScriptThreadOptions<M> {
  /** What the thread is, for errors: "store writer", "netlink". */
  readonly name: string;
  readonly workerData?: unknown;
  /** A message from the program that answers no request. */
  readonly onMessage?: (m: M) => void;
  /** The thread died (not by close()); its unanswered requests have failed with `err`. */
  readonly onExit?: (err: Error) => void;
}

/** A request made after close(), or unanswered when it came. */
export class ThreadClosedError extends Error {}

export class ScriptThread<M extends { readonly id?: number }> {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (m: M) => void; reject: (e: Error) => void }>();
  private held = false;
  private closed = false;

  constructor(
    private readonly program: URL,
    private readonly opts: ScriptThreadOptions<M>,
  ) {}

  /** The running thread, if any (for tests: terminating it shows what a crash does). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** Posts `msg` with a fresh `id`; resolves with the program's answer to it. */
  request(msg: Record<string, unknown>): Promise<M> {
    if (this.closed) return Promise.reject(new ThreadClosedError(`${this.opts.name} thread closed`));
    const w = this.start();
    const id = ++this.seq;
    return new Promise<M>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.refresh();
      w.postMessage({ ...msg, id });
    });
  }

  /** Keeps the process alive while `on`, whatever is in flight. */
  hold(on: boolean): void {
    this.held = on;
    this.refresh();
  }

  /**
   * Stops the thread: with `last`, posts it and lets the program end by itself; otherwise
   * terminates it. Unanswered requests fail.
   */
  async close(last?: Record<string, unknown>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failWaiting(new ThreadClosedError(`${this.opts.name} thread closed`));
    if (!w) return;
    if (last) {
      w.postMessage(last);
      w.unref();
    } else await w.terminate();
  }

  private refresh(): void {
    if (this.held || this.waiting.size > 0) this.worker?.ref();
    else this.worker?.unref();
  }

  private failWaiting(err: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const p of waiting) p.reject(err);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.program, { workerData: this.opts.workerData });
    this.worker = w;
    this.refresh();
    w.on('message', (m: M) => {
      if (m.id === undefined) {
        this.opts.onMessage?.(m);
        return;
      }
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      this.refresh();
      p?.resolve(m);
    });
    let gone = false;
    const died = (why: string): void => {
      if (gone || this.worker !== w) return;
      gone = true;
      this.worker = undefined;
      const err = new Error(`${this.opts.name} thread ${why}`);
      this.failWaiting(err);
      this.opts.onExit?.(err);
    };
    w.on('error', (e) => died(`failed: ${e.message}`));
    w.on('exit', (code) => died(`exited (${code})`));
    return w;
  }
}
