/**
 * Process plumbing for the lab harness: run a command and collect its output, spawn a
 * long-lived daemon with its output in a log file, and stop a process by PID
 * (SIGTERM, then SIGKILL after a grace period).
 *
 * Nothing here matches processes by name: the lab only ever signals PIDs it started
 * itself, because several people share this machine and its daemons.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the child's stdin, then stdin is closed. */
  readonly input?: string;
  /** Kill the child (SIGKILL) after this many ms; the result then has code 124. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Thrown by `run` when a command exits non-zero; carries its stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly result: ExecResult,
  ) {
    super(`command failed (exit ${result.code}): ${argv.join(' ')}\n${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export function exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('exec: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (timedOut ? `\n(timed out after ${opts.timeoutMs} ms)` : ''),
      });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export async function run(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await exec(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** Spawn a long-lived process with stdout and stderr appended to `logFile`. */
export function spawnLogged(argv: readonly string[], logFile: string, opts: SpawnOptions = {}): ChildProcess {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('spawn: empty argv');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', fd, fd] });
    // A daemon dying must not crash the test process with an unhandled 'error'.
    child.on('error', () => undefined);
    return child;
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM means it exists but is not ours to signal; treat as alive (and never touch it).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's command line as NUL-joined text, or undefined when it is gone. */
export function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** A zombie still answers kill(0); it is dead for our purposes. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /\) Z /.test(stat);
  } catch {
    return true;
  }
}

export function gone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`) || isZombie(pid);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when a child has exited and been reaped (its /proc entry is gone). */
export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Stop a child we spawned: SIGKILL at once when `hard` (a crash), else SIGTERM then
 * SIGKILL. Resolves once it has exited and been reaped.
 */
export async function stopChild(child: ChildProcess | undefined, hard = false): Promise<void> {
  const pid = child?.pid;
  if (!child || pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitExit(child);
  if (hard) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  } else await terminate(pid);
  await exited;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves once the PID is gone. */
export async function terminate(pid: number, graceMs = 3000): Promise<void> {
  if (gone(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (gone(pid)) return;
    await sleep(25);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && !gone(pid)) await sleep(25);
}

/** Last `lines` lines of a file, or a note that it is missing. */
export function tail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return `(no ${file})`;
  }
}
