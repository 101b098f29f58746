/**
 * routectl-cni's HTTP/1.1 client (src/cni/transport.ts) against real unix-socket servers:
 * Node's own HTTP server (what the agent runs), and raw servers that answer with chunked
 * coding, a body delimited by the close, a cut-off answer, garbage, or nothing at all.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unixRequest } from '../../../src/cni/transport.js';

let dir: string;
let sock: string;
const servers: { close(): unknown }[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-cnit-'));
  sock = join(dir, 's.sock');
});
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw server: reads one request, then hands the connection to `answer`. */
function raw(answer: (c: Socket, request: string) => void): Promise<Server> {
  const srv = createServer((c) => {
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: (\d+)/i.exec(got.slice(0, end));
      if (got.length >= end + 4 + (m ? Number(m[1]) : 0)) answer(c, got);
    });
  });
  servers.push(srv);
  return new Promise((resolve) => srv.listen(sock, () => resolve(srv)));
}

describe('unixRequest', () => {
  it('against node:http (the agent): the request arrives whole, the JSON answer comes back', async () => {
    let seen: { method?: string; url?: string; body: string; type?: string } = { body: '' };
    const srv = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, body, type: req.headers['content-type'] };
        const text = JSON.stringify({ ok: true, result: { échoed: JSON.parse(body) as unknown } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(sock, r));
    const body = { name: 'ünïcode', n: [1, 2, 3] };
    const a = await unixRequest(sock, 'POST', '/v1/cni/add', body, 2000);
    expect(seen).toEqual({ method: 'POST', url: '/v1/cni/add', body: JSON.stringify(body), type: 'application/json' });
    expect(a).toEqual({ status: 200, json: { ok: true, result: { échoed: body } } });
  });

  it('GET without a body; a chunked answer is decoded (chunk extensions ignored)', async () => {
    let request = '';
    await raw((c, r) => {
      request = r;
      c.end('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n{"ok"\r\nb\r\n:false,"a":\r\n2\r\n1}\r\n0\r\n\r\n');
    });
    const a = await unixRequest(sock, 'GET', '/v1/cni/status', undefined, 2000);
    expect(request.startsWith('GET /v1/cni/status HTTP/1.1\r\n')).toBe(true);
    expect(request).not.toMatch(/content-length/i);
    expect(a).toEqual({ status: 503, json: { ok: false, a: 1 } });
  });

  it('an answer without content-length ends with the connection', async () => {
    await raw((c) => {
      c.write('HTTP/1.0 200 OK\r\n\r\n{"a":');
      setTimeout(() => c.end('[1]}'), 20);
    });
    expect(await unixRequest(sock, 'GET', '/x', undefined, 2000)).toEqual({ status: 200, json: { a: [1] } });
  });

  it('an answer that arrives in pieces, headers split, is put together', async () => {
    await raw((c) => {
      const text = 'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"b":"xyz"}';
      let i = 0;
      const t = setInterval(() => {
        c.write(text.slice(i, i + 7));
        i += 7;
        if (i >= text.length) clearInterval(t); // the connection stays open: content-length ends it
      }, 2);
    });
    expect(await unixRequest(sock, 'GET', '/x', undefined, 2000)).toEqual({ status: 200, json: { b: 'xyz' } });
  });

  it('errors name what is wrong: cut-off body, no answer, not HTTP, not JSON, bad chunk', async () => {
    const cases: [string, string, RegExp][] = [
      ['HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{"a":1}', 'ECONNRESET', /after 7 of 50 body bytes/],
      ['', 'ECONNRESET', /closed the connection before answering/],
      ['SSH-2.0-OpenSSH\r\n\r\n', 'EPROTO', /status line "SSH-2.0-OpenSSH"/],
      ['HTTP/1.1 200 OK\r\ncontent-length: x1\r\n\r\n', 'EPROTO', /content-length "x1"/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello', 'EPROTO', /answered 200 with something that is not JSON/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 'EPROTO', /bad chunk size "zz"/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\n{"a"', 'ECONNRESET', /in the middle of its answer/],
    ];
    for (const [answer, code, msg] of cases) {
      const srv = await raw((c) => c.end(answer));
      const err = (await unixRequest(sock, 'GET', '/x', undefined, 2000).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err, JSON.stringify(answer)).toBeInstanceOf(Error);
      expect([err.code, err.message], JSON.stringify(answer)).toEqual([code, expect.stringMatching(msg)]);
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('bounded: a server that never answers is ETIMEDOUT after the timeout; no socket is ENOENT', async () => {
    await raw(() => undefined);
    const t0 = Date.now();
    const err = (await unixRequest(sock, 'POST', '/x', {}, 150).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ETIMEDOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const gone = (await unixRequest(join(dir, 'none.sock'), 'GET', '/x', undefined, 1000).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(gone.code).toBe('ENOENT');
  });

  it('closes its end once it has the answer, or has given up, even when the server keeps the connection open', async () => {
    const closed: string[] = [];
    await raw((c, request) => {
      c.on('close', () => closed.push(request.startsWith('POST /slow') ? 'slow' : 'answered'));
      if (request.startsWith('POST /slow')) return;
      c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}');
    });
    expect(await unixRequest(sock, 'POST', '/x', {}, 2000)).toEqual({ status: 200, json: {} });
    const err = (await unixRequest(sock, 'POST', '/slow', {}, 100).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ETIMEDOUT');
    const t0 = Date.now();
    while (closed.length < 2 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(closed.sort()).toEqual(['answered', 'slow']);
  });
});
