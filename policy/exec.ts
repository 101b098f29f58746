// policy/exec.ts — how the applier runs iptables/ipset: an injectable executor, so unit
// tests check argv and stdin without a kernel, and the real one runs the programs with
// child_process (stdin piped, no shell). The kernel state is per network namespace, so the
// executor runs in the caller's namespace; a prefix such as ['ip', 'netns', 'exec', NS]
// points it at another one (tests, tools).

import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Executor {
  run(argv: readonly string[], stdin?: string): Promise<ExecResult>;
}

/** A command failed; carries argv, exit code and stderr. */
export class PolicyExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`, options);
    this.name = 'PolicyExecError';
  }
}

export class ChildProcessExecutor implements Executor {
  constructor(private readonly prefix: readonly string[] = []) {}

  run(argv: readonly string[], stdin?: string): Promise<ExecResult> {
    const full = [...this.prefix, ...argv];
    const [cmd, ...args] = full;
    if (cmd === undefined) return Promise.reject(new RangeError('empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => reject(new PolicyExecError(full, -1, String(e), { cause: e })));
      child.on('close', (code) => {
        resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      // EPIPE when a command exits without reading stdin is reported by its exit code instead.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
  }
}

/** Runs and throws PolicyExecError on a non-zero exit. */
export async function mustRun(exec: Executor, argv: readonly string[], stdin?: string): Promise<string> {
  const r = await exec.run(argv, stdin);
  if (r.code !== 0) throw new PolicyExecError(argv, r.code, r.stderr);
  return r.stdout;
}
