/**
 * A real single-member etcd (Debian's etcd-server) for store and IPAM tests: started in a
 * temp dir on 127.0.0.1 with ports the kernel picked, stopped by its PID, dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpGet } from 'node:http';
import { request as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdTls {
  readonly cert: string;
  readonly key: string;
}

export interface TestEtcd {
  readonly endpoint: string;
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => p.once('exit', () => resolve()));
}

/** etcd's /health says true once the member has a leader and serves requests. */
function healthy(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const get = endpoint.startsWith('https') ? httpsGet : httpGet;
    const req = get(`${endpoint}/health`, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Starts etcd and resolves once it answers /health (through TLS when `tls` is given). */
export async function startEtcd(opts: { tls?: EtcdTls } = {}): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const scheme = opts.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${client}`;
  const args = [
    '--name', 'm1',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
    '--log-level', 'error',
    ...(opts.tls ? ['--cert-file', opts.tls.cert, '--key-file', opts.tls.key] : []),
  ];
  const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error('etcd did not start');
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(pid, 'SIGTERM');
    await exited(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  // Wait for the member to serve (a condition; the pause only paces the polling); 60 s on a loaded machine.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited with ${proc.exitCode}: ${stderr}`);
    }
    const up = await healthy(endpoint);
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not listen on ${endpoint}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { endpoint, pid, dir, stop };
}
