/**
 * The LocalStore's file writer: the durable replace of one document (temp file, fsync,
 * rename, directory fsync) done as one job on a dedicated worker thread.
 *
 * Why a thread: done with fs/promises, a replace is eight separate operations (open,
 * write, fsync, close, rename, open dir, fsync, close), each a trip through libuv's
 * thread pool and back through the event loop. On a busy agent (endpoints being plumbed,
 * helper processes starting) every trip waits to be scheduled, and the replace took
 * 80 ms at the median and 0.8 s at p99 while its system calls took a few ms. Here it is
 * one message out and one back; the calls run synchronously in order on the thread,
 * which blocks nothing else. The sequence of system calls, and so what a kill -9 can
 * leave behind, is the same as before.
 *
 * The thread runs writer-thread.js; src/script-thread.ts starts it with the first write
 * and again after it died. The writes it had not answered then fail: they may or may not
 * be on disk, so the caller's view stays the old one.
 */
import { ScriptThread } from '../script-thread.js';

export interface ReplaceJob {
  /** Temporary file in the same directory as `final`. */
  readonly tmp: string;
  readonly final: string;
  readonly dir: string;
  readonly data: string;
  /** fsync the file and the directory (false only for tests of logic). */
  readonly sync: boolean;
}

/** The thread's answer to one job (writer-thread.js). */
export interface WriterReply {
  readonly id?: number;
  readonly error?: { readonly message: string; readonly code?: string };
}

/** One worker thread per store; jobs run in submission order. */
export class FileWriter {
  private readonly thread = new ScriptThread<WriterReply>(new URL('./writer-thread.js', import.meta.url), { name: 'store writer' });

  async replace(job: ReplaceJob): Promise<void> {
    const r = await this.thread.request({ ...job });
    if (r.error !== undefined) throw Object.assign(new Error(r.error.message), r.error.code === undefined ? {} : { code: r.error.code });
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
