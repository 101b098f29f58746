/**
 * The helper launcher: one small child process that starts the container-side helpers
 * (container.ts) for the agent and relays their input and exit.
 *
 * Why not spawn them from the agent: spawn(2) from Node forks the calling process, and
 * the event loop waits while the kernel copies its page tables. Measured here: 0.8 ms per
 * spawn for a 45 MB process, 2.5 ms at the agent's ~80 MB, 4.5 ms at 145 MB, 12 ms at
 * 345 MB: per container, on the loop that also sends the UPDATEs and answers CNI. The
 * launcher is a bare Node process with nothing else in it, so its fork stays at the low
 * end, and the agent's loop only writes a line to a pipe.
 *
 * Spares: with a template ({op:'spares'}), the launcher keeps `count` processes started
 * ahead of need, each waiting for one line on stdin (for the container helpers: the
 * namespace to enter). An open that brings that line (`first`) takes a spare, so that the
 * fork and the first exec are already done; without one it starts `argv` as it is.
 *
 * Protocol: one JSON object per line each way.
 *   agent → launcher   {op:'spares', argv, env, count}   the spares' template
 *                      {op:'open', id, argv, env, first?}   start a helper (first: the
 *                                                  line that makes a spare into it)
 *                      {op:'write', id, data}        to its stdin
 *                      {op:'end', id, data}          last input, stdin closed
 *                      {op:'kill', id}               SIGKILL
 *   launcher → agent   {op:'exit', id, code, signal, stderr}  or  {op:'exit', id, error}
 * The launcher's stdin closing (the agent stopped or died) closes every helper's and every
 * spare's stdin: a helper that has not had its batch yet exits having changed nothing
 * more, a spare exits; then the launcher exits. If the launcher dies, every helper it was running is reported failed and
 * the next open starts a new one.
 *
 * The launcher runs launcher-process.js, next to this module.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The spares' template (see setSpares). */
export interface SparesTemplate {
  readonly argv: readonly string[];
  readonly env: Record<string, string>;
  readonly count: number;
}

/** Messages to launcher-process.js, one JSON line each (see the header). */
export type ToLauncher =
  | ({ readonly op: 'spares' } & SparesTemplate)
  | { readonly op: 'open'; readonly id: number; readonly argv: readonly string[]; readonly env: Record<string, string>; readonly first?: string }
  | { readonly op: 'write' | 'end'; readonly id: number; readonly data: string }
  | { readonly op: 'kill'; readonly id: number };

/** The message from launcher-process.js when a helper ended. */
export interface LauncherExit {
  readonly op: 'exit';
  readonly id: number;
  readonly code?: number | null;
  readonly signal?: string | null;
  readonly stderr?: string;
  readonly error?: string;
}

/** How a launched helper ended. */
export type HelperExit =
  | { readonly code: number | null; readonly signal: string | null; readonly stderr: string }
  /** It could not be started (errno name), or the launcher died under it. */
  | { readonly error: string };

export interface LaunchedHelper {
  write(data: string): void;
  end(data?: string): void;
  kill(): void;
  readonly exited: Promise<HelperExit>;
}

export class HelperLauncher {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private seq = 0;
  private readonly running = new Map<number, (e: HelperExit) => void>();
  private spares: SparesTemplate | undefined;

  /** The launcher's process id while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the launcher now (else at the first open), so that the first helper does not wait for it. */
  warm(): void {
    this.process();
  }

  /**
   * Keeps `count` processes of `argv` started ahead of need (see the header); an open that
   * brings their first line of input takes one.
   */
  setSpares(argv: readonly string[], env: Record<string, string>, count: number): void {
    this.spares = { argv, env, count };
    if (this.proc) this.post(this.proc, { op: 'spares', ...this.spares });
  }

  /** Starts `argv`, or hands `first` to a spare (see setSpares) to make it this helper. */
  open(argv: readonly string[], env: Record<string, string>, first?: string): LaunchedHelper {
    const p = this.process();
    const id = ++this.seq;
    const exited = new Promise<HelperExit>((resolve) => this.running.set(id, resolve));
    const send = (m: ToLauncher): void => {
      if (this.proc === p && this.running.has(id)) this.post(p, m);
    };
    this.hold(p, true);
    send({ op: 'open', id, argv, env, ...(first !== undefined ? { first } : {}) });
    return {
      write: (data) => send({ op: 'write', id, data }),
      end: (data = '') => send({ op: 'end', id, data }),
      kill: () => send({ op: 'kill', id }),
      exited,
    };
  }

  /** Stops the launcher: helpers not yet configured are cancelled (their stdin closes). */
  close(): void {
    const p = this.proc;
    this.proc = undefined;
    if (p) p.stdin.end();
    this.failAll('the helper launcher was closed');
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.proc) return this.proc;
    const p = spawn(process.execPath, [fileURLToPath(new URL('./launcher-process.js', import.meta.url))], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    this.proc = p;
    if (this.spares) this.post(p, { op: 'spares', ...this.spares });
    let buf = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line !== '') this.onExit(JSON.parse(line) as LauncherExit);
      }
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    p.stdin.on('error', () => undefined); // reported by 'close'
    const gone = (why: string): void => {
      if (this.proc !== p) return;
      this.proc = undefined;
      this.failAll(why);
    };
    p.on('error', (err) => gone(`the helper launcher could not run: ${err.message}`));
    p.on('close', (code, signal) => gone(`the helper launcher exited (${signal ?? code})${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`));
    // Only helpers running keep the agent alive (hold), as a spawned child would.
    this.hold(p, false);
    return p;
  }

  private post(p: ChildProcessWithoutNullStreams, m: ToLauncher): void {
    p.stdin.write(`${JSON.stringify(m)}\n`);
  }

  private hold(p: ChildProcessWithoutNullStreams, on: boolean): void {
    for (const h of [p, p.stdin, p.stdout, p.stderr] as { ref?: () => void; unref?: () => void }[]) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }

  private onExit(m: LauncherExit): void {
    const done = this.running.get(m.id);
    if (!done) return;
    this.running.delete(m.id);
    if (this.running.size === 0 && this.proc) this.hold(this.proc, false);
    done(m.error !== undefined ? { error: m.error } : { code: m.code ?? null, signal: m.signal ?? null, stderr: m.stderr ?? '' });
  }

  private failAll(why: string): void {
    const all = [...this.running.values()];
    this.running.clear();
    for (const done of all) done({ error: why });
  }
}
