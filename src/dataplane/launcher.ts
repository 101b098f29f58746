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
 * Protocol: one JSON object per line each way.
 *   agent → launcher   {op:'open', id, argv, env}   start a helper
 *                      {op:'write', id, data}        to its stdin
 *                      {op:'end', id, data}          last input, stdin closed
 *                      {op:'kill', id}               SIGKILL
 *   launcher → agent   {op:'exit', id, code, signal, stderr}  or  {op:'exit', id, error}
 * The launcher's stdin closing (the agent stopped or died) closes every helper's stdin:
 * a helper that has not had its batch yet exits having changed nothing more; then the
 * launcher exits. If the launcher dies, every helper it was running is reported failed and
 * the next open starts a new one.
 *
 * Its code is a plain script run with `node -e`, so it runs the same from the built output,
 * from TypeScript sources under a test runner, and from a bundle.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

const LAUNCHER_SOURCE = `
'use strict';
const { spawn } = require('node:child_process');
const kids = new Map();
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
function open(m) {
  let done = false;
  const exit = (r) => { if (done) return; done = true; kids.delete(m.id); send(Object.assign({ op: 'exit', id: m.id }, r)); };
  let p;
  try {
    p = spawn(m.argv[0], m.argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env: m.env });
  } catch (err) {
    exit({ error: String((err && (err.code || err.message)) || err) });
    return;
  }
  kids.set(m.id, p);
  let stderr = '';
  p.stdin.on('error', () => {});
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (d) => { if (stderr.length < 4096) stderr += d; });
  p.on('error', (err) => exit({ error: String(err.code || err.message) }));
  p.on('close', (code, signal) => exit({ code, signal, stderr }));
}
function handle(m) {
  if (m.op === 'open') return open(m);
  const p = kids.get(m.id);
  if (!p) return;
  if (m.op === 'write') p.stdin.write(m.data);
  else if (m.op === 'end') p.stdin.end(m.data || '');
  else if (m.op === 'kill') p.kill('SIGKILL');
}
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line !== '') handle(JSON.parse(line));
  }
});
process.stdin.on('end', () => { for (const p of kids.values()) p.stdin.end(); });
`;

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

interface ExitMessage {
  readonly op: 'exit';
  readonly id: number;
  readonly code?: number | null;
  readonly signal?: string | null;
  readonly stderr?: string;
  readonly error?: string;
}

export class HelperLauncher {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private seq = 0;
  private readonly running = new Map<number, (e: HelperExit) => void>();

  /** The launcher's process id while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the launcher now (else at the first open), so that the first helper does not wait for it. */
  warm(): void {
    this.process();
  }

  open(argv: readonly string[], env: Record<string, string>): LaunchedHelper {
    const p = this.process();
    const id = ++this.seq;
    const exited = new Promise<HelperExit>((resolve) => this.running.set(id, resolve));
    const send = (m: object): void => {
      if (this.proc === p && this.running.has(id)) p.stdin.write(`${JSON.stringify(m)}\n`);
    };
    this.hold(p, true);
    send({ op: 'open', id, argv, env });
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
    const p = spawn(process.execPath, ['-e', LAUNCHER_SOURCE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    this.proc = p;
    let buf = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line !== '') this.onExit(JSON.parse(line) as ExitMessage);
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

  private hold(p: ChildProcessWithoutNullStreams, on: boolean): void {
    for (const h of [p, p.stdin, p.stdout, p.stderr] as { ref?: () => void; unref?: () => void }[]) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }

  private onExit(m: ExitMessage): void {
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
