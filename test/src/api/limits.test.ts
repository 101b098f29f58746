/**
 * The bounds on both HTTP listeners, over real sockets: the API's unix socket and the
 * metrics TCP port. Connections that never send a request, that stall in their headers,
 * or idle after a request are closed; past the connection cap new ones are closed at
 * once; a body over the API's limit gets a 413 with the JSON error (not a reset), with
 * or without a Content-Length. Short bounds are injected; every wait is for a condition.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiClient, ApiClientError, defineRoute, startApiServer, type ApiServer, type HttpLimits } from '../../../src/api/index.js';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/index.js';
import { waitFor } from '../../bgp/speaker/tcp-helpers.js';
import { fakeHandlers } from './fake-handlers.js';

let dir: string;
const closers: (() => Promise<void>)[] = [];
const sockets: Socket[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-limits-'));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of closers.splice(0)) await c();
  rmSync(dir, { recursive: true, force: true });
});

const SHORT: HttpLimits = { headersMs: 60_000, requestMs: 60_000, keepAliveMs: 60_000, idleMs: 300, maxConnections: 1000 };

const echo = defineRoute({
  method: 'POST',
  pattern: '/v1/test/echo',
  body: z.object({ name: z.string(), count: z.number().int() }).strict(),
  handle: ({ body }) => ({ got: body }),
});

async function api(limits: HttpLimits, maxBodyBytes?: number): Promise<ApiServer> {
  const s = await startApiServer(join(dir, 'routectl.sock'), fakeHandlers(), {
    routes: [echo],
    limits,
    ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
  });
  closers.push(() => s.close());
  return s;
}

async function metrics(limits: HttpLimits): Promise<MetricsServer> {
  const s = await startMetricsServer(
    '127.0.0.1:0',
    { metrics: async () => 'x 1\n', contentType: 'text/plain', healthz: () => ({ ok: true, heartbeatAgeMs: 0 }), readyz: () => ({ ready: true, reason: 'ok', notEstablished: [] }) },
    undefined,
    limits,
  );
  closers.push(() => s.close());
  return s;
}

interface Tracked {
  readonly sock: Socket;
  closed: boolean;
  data: string;
}

/** Opens `n` connections and waits until each is connected; they send nothing. */
async function openIdle(n: number, open: () => Socket): Promise<Tracked[]> {
  const out: Tracked[] = [];
  for (let i = 0; i < n; i++) {
    const sock = open();
    sockets.push(sock);
    const t: Tracked = { sock, closed: false, data: '' };
    sock.on('error', () => undefined);
    sock.on('data', (c: Buffer) => (t.data += c.toString()));
    sock.on('close', () => (t.closed = true));
    out.push(t);
  }
  await waitFor('connections up', () => out.every((t) => t.closed || !t.sock.connecting));
  return out;
}

describe('API socket bounds', () => {
  it('closes connections that never send a request', async () => {
    const s = await api(SHORT);
    const conns = await openIdle(200, () => connect(s.path));
    await waitFor('every idle connection closed', () => conns.every((c) => c.closed));
  });

  it('closes a connection that drips its headers (headers timeout), though it is never idle', async () => {
    const s = await api({ ...SHORT, headersMs: 300, idleMs: 60_000 });
    const [c] = await openIdle(1, () => connect(s.path));
    c!.sock.write('GET /v1/status HTTP/1.1\r\nhost: x\r\n');
    // A header line every 50 ms until just before the headers timeout, then quiet: a write
    // after the server's 408 and close would fail (EPIPE) and could destroy the socket
    // before the 408 is read.
    let drips = 0;
    const drip = setInterval(() => drips++ < 5 && c!.sock.writable && c!.sock.write('x-a: b\r\n'), 50);
    try {
      await waitFor('stalled request closed', () => c!.closed);
    } finally {
      clearInterval(drip);
    }
    expect(c!.data).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a keep-alive connection idle after its request', async () => {
    const s = await api({ ...SHORT, keepAliveMs: 200, idleMs: 60_000 });
    const [c] = await openIdle(1, () => connect(s.path));
    c!.sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor('answer', () => c!.data.includes('"ok":true'));
    expect(c!.data).toMatch(/keep-alive/i);
    await waitFor('idle keep-alive connection closed', () => c!.closed);
  });

  it('closes connections past the cap at once and keeps the others', async () => {
    const s = await api({ ...SHORT, idleMs: 60_000, maxConnections: 5 });
    const conns = await openIdle(12, () => connect(s.path));
    await waitFor('7 connections refused', () => conns.filter((c) => c.closed).length === 7);
    expect(conns.slice(0, 5).every((c) => !c.closed)).toBe(true);
    // The cap counts open connections: with those gone, a new client is served.
    for (const c of conns) c.sock.destroy();
    const client = new ApiClient(s.path, { timeoutMs: 5000 });
    let ok = false;
    let pending = false;
    await waitFor('a new client served', () => {
      if (!pending) {
        pending = true;
        void client.get('/healthz').then(
          () => (ok = true),
          () => (pending = false),
        );
      }
      return ok;
    });
  });

  it('answers a body over the limit with 413 and the JSON error, not a reset (Content-Length)', async () => {
    const s = await api(SHORT, 64 * 1024);
    const client = new ApiClient(s.path, { timeoutMs: 10_000 });
    const e = await client.post('/v1/test/echo', { name: 'x'.repeat(4 << 20), count: 1 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ApiClientError);
    expect(e).toMatchObject({ kind: 'http', status: 413, code: 'too_large' });
    expect((e as Error).message).toBe(`request body larger than ${64 * 1024} bytes`);
    // A body within the limit still works on the same server.
    expect(await client.post('/v1/test/echo', { name: 'y', count: 2 })).toEqual({ got: { name: 'y', count: 2 } });
  });

  it('answers a chunked body over the limit with 413 once the limit is passed, not a reset', async () => {
    const s = await api(SHORT, 64 * 1024);
    const [c] = await openIdle(1, () => connect(s.path));
    let error: Error | null = null;
    c!.sock.on('error', (err) => (error = err));
    c!.sock.write('POST /v1/test/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
    const chunk = Buffer.alloc(32 * 1024, 0x20);
    for (let i = 0; i < 64 && !c!.closed; i++) {
      // 2 MiB in 32 KiB chunks, no Content-Length; each waits for the socket to take the last.
      c!.sock.write(`${chunk.length.toString(16)}\r\n`);
      c!.sock.write(chunk);
      if (!c!.sock.write('\r\n')) await new Promise<void>((r) => c!.sock.once('drain', r).once('close', r));
    }
    c!.sock.write('0\r\n\r\n');
    await waitFor('the answer', () => c!.data.includes('\r\n\r\n{'));
    expect(c!.data).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(c!.data.slice(c!.data.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'too_large', message: `request body larger than ${64 * 1024} bytes` } });
    expect(c!.closed).toBe(false);
    expect(error).toBeNull();
  });
});

describe('metrics port bounds', () => {
  it('closes idle connections, also after a request', async () => {
    const s = await metrics({ ...SHORT, keepAliveMs: 200 });
    const conns = await openIdle(200, () => connect(s.port, '127.0.0.1'));
    conns[0]!.sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor('every connection closed', () => conns.every((c) => c.closed));
    expect(conns[0]!.data).toMatch(/^HTTP\/1\.1 200/);
  });

  it('closes connections past the cap at once', async () => {
    const s = await metrics({ ...SHORT, idleMs: 60_000, maxConnections: 3 });
    const conns = await openIdle(8, () => connect(s.port, '127.0.0.1'));
    await waitFor('5 connections refused', () => conns.filter((c) => c.closed).length === 5);
    expect(conns.slice(0, 3).every((c) => !c.closed)).toBe(true);
  });
});
