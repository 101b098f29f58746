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
 * Its code is a plain script run with `node -e`, so it runs the same from the built output,
 * from TypeScript sources under a test runner, and from a bundle.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

const LAUNCHER_SOURCE = `
'use strict';
const { spawn } = require('node:child_process');
const kids = new Map();
const spares = [];
let template = null;
let closing = false;
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
function report(h) {
  kids.delete(h.id);
  send(Object.assign({ op: 'exit', id: h.id }, h.result));
}
function start(argv, env) {
  const h = { id: undefined, p: undefined, stderr: '', result: undefined };
  const fin = (r) => {
    if (h.result) return;
    h.result = r;
    if (h.id !== undefined) report(h);
    else if (spares.includes(h)) spares.splice(spares.indexOf(h), 1);
  };
  try {
    h.p = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env });
  } catch (err) {
    fin({ error: String((err && (err.code || err.message)) || err) });
    return h;
  }
  h.p.stdin.on('error', () => {});
  h.p.stderr.setEncoding('utf8');
  h.p.stderr.on('data', (d) => { if (h.stderr.length < 4096) h.stderr += d; });
  h.p.on('error', (err) => fin({ error: String(err.code || err.message) }));
  h.p.on('close', (code, signal) => fin({ code, signal, stderr: h.stderr }));
  return h;
}
function refill() {
  while (template && !closing && spares.length < template.count) {
    const h = start(template.argv, template.env);
    if (h.result) return;
    spares.push(h);
  }
}
function open(m) {
  let h;
  if (m.first !== undefined && spares.length > 0) {
    h = spares.shift();
    h.p.stdin.write(m.first);
    setImmediate(refill);
  } else h = start(m.argv, m.env);
  h.id = m.id;
  kids.set(m.id, h);
  if (h.result) report(h);
}
function handle(m) {
  if (m.op === 'open') return open(m);
  if (m.op === 'spares') {
    template = m;
    return refill();
  }
  const h = kids.get(m.id);
  if (!h || !h.p) return;
  if (m.op === 'write') h.p.stdin.write(m.data);
  else if (m.op === 'end') h.p.stdin.end(m.data || '');
  else if (m.op === 'kill') h.p.kill('SIGKILL');
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
process.stdin.on('end', () => {
  closing = true;
  for (const h of [...kids.values(), ...spares]) if (h.p) h.p.stdin.end();
});
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
  private spares: { readonly argv: readonly string[]; readonly env: Record<string, string>; readonly count: number } | undefined;

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
    if (this.proc) this.proc.stdin.write(`${JSON.stringify({ op: 'spares', ...this.spares })}\n`);
  }

  /** Starts `argv`, or hands `first` to a spare (see setSpares) to make it this helper. */
  open(argv: readonly string[], env: Record<string, string>, first?: string): LaunchedHelper {
    const p = this.process();
    const id = ++this.seq;
    const exited = new Promise<HelperExit>((resolve) => this.running.set(id, resolve));
    const send = (m: object): void => {
      if (this.proc === p && this.running.has(id)) p.stdin.write(`${JSON.stringify(m)}\n`);
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
    const p = spawn(process.execPath, ['-e', LAUNCHER_SOURCE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    this.proc = p;
    if (this.spares) p.stdin.write(`${JSON.stringify({ op: 'spares', ...this.spares })}\n`);
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
