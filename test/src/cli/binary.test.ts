/**
 * The built `routectl` executable as an operator runs it: compiled with the project's
 * build config into a temp dir, then run as real processes — the shebang entry,
 * `validate`, an agent process answering `status`, the root-only socket refusing another
 * user (exit 2, "permission denied"), SIGTERM ending the agent with exit 0 and no socket left.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
let dir: string;
let bin: string;
let agent: ChildProcess | undefined;
let buildLog = '';

function run(args: string[], opts: { uid?: number } = {}) {
  const argv = opts.uid === undefined ? [process.execPath, bin, ...args] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, bin, ...args];
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-bin-'));
  chmodSync(dir, 0o755); // the other user must reach the compiled files (not the socket)
  // Type errors elsewhere in the tree (other work in progress) do not stop tsc emitting;
  // what matters here is that the CLI's files were produced, checked below.
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8', timeout: 170_000 });
  buildLog = `${tsc.stdout}${tsc.stderr}`;
}, 180_000);

afterAll(() => {
  if (agent?.exitCode === null) agent.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('the routectl executable', () => {
  beforeAll(() => {
    // The tree npm would lay out: package.json (type: module, bin) next to dist/ and node_modules/.
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    bin = join(dir, pkg.bin.routectl ?? '');
  });

  it('is the package bin, starts with a shebang, and prints the package version', () => {
    expect(existsSync(bin), buildLog).toBe(true);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    expect(run(['--version'])).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });

  it('validate: canonical form of the example config, exit 0', () => {
    const r = run(['validate', join(root, 'deploy/agent.example.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^node: w1\nrouterId: 203\.0\.113\.2\nasn: 65001\n/);
  });

  it('agent process: status over the socket, root only, SIGTERM exits 0 and removes the socket', async () => {
    const sock = join(dir, 'run', 'routectl.sock');
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(
      cfg,
      `node: w1\nrouterId: 203.0.113.2\nasn: 65001\nbgp:\n  listen: { port: 0 }\n  connectRetryTime: 1\n  peers: [{ address: 127.0.0.2, asn: 65000, port: 9, localAddress: 127.0.0.1 }]\n  advertise: [198.51.100.10/32]\napi: { socket: ${sock} }\n`,
    );
    agent = spawn(process.execPath, [bin, 'agent', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROUTECTL_LOG_LEVEL: 'info' } });
    let log = '';
    agent.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    agent.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((r) => agent?.once('exit', (code) => r(code)));
    const end = Date.now() + 15_000;
    while (!existsSync(sock) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(sock), log).toBe(true);

    const st = run(['status', '--socket', sock]);
    expect(st.code).toBe(1); // the peer cannot be reached
    expect(st.out).toMatch(/127\.0\.0\.2\s+65000\s+eBGP\s+(Idle|Connect|Active)/);
    expect(JSON.parse(run(['status', '--json', '--socket', sock]).out)).toMatchObject({ node: 'w1', routes: 1, endpoints: 0 });

    const nobody = run(['status', '--socket', sock], { uid: 65534 });
    expect(nobody).toEqual({ code: 2, out: '', err: `routectl: permission denied on ${sock}: the API is root-only; run as root (sudo routectl …)\n` });

    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(log).toMatch(/"event":"stopped"/);
    expect(run(['status', '--socket', sock])).toEqual({ code: 2, out: '', err: `routectl: routectl agent is not running (no socket at ${sock})\n` });
  });
});
