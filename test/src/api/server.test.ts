/**
 * The control API over a real unix socket in a temp dir: routes, JSON errors, zod body
 * validation, socket permissions and the refusals (unsafe directory, non-socket file,
 * live agent), stale socket removal, and the client's errors.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiClient, ApiClientError, ApiError, ApiSocketError, defineRoute, startApiServer, type ApiServer } from '../../../src/api/index.js';
import { fakeHandlers, healthyPeers, receivedRoutes } from './fake-handlers.js';

let dir: string;
const servers: (ApiServer | Server)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-api-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    if ('path' in s) await s.close();
    else await new Promise((r) => s.close(() => r(undefined)));
  }
  rmSync(dir, { recursive: true, force: true });
});

async function start(sock = join(dir, 'routectl.sock'), h = fakeHandlers()) {
  const echo = defineRoute({
    method: 'POST',
    pattern: '/v1/test/echo',
    body: z.object({ name: z.string().min(1), count: z.number().int() }).strict(),
    handle: ({ body }) => ({ got: body }),
  });
  const boom = defineRoute({ method: 'GET', pattern: '/v1/test/boom', handle: () => { throw new Error('kaput'); } });
  const s = await startApiServer(sock, h, { routes: [echo, boom] });
  servers.push(s);
  return { s, h, client: new ApiClient(sock, { timeoutMs: 2000 }) };
}

async function clientError(p: Promise<unknown>): Promise<ApiClientError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ApiClientError);
  return e as ApiClientError;
}

describe('API routes', () => {
  it('serves status, peers, one peer, routes and endpoints as JSON', async () => {
    const { client, h } = await start();
    const st = await client.status();
    expect(st).toMatchObject({ node: 'w1', asn: 65001, routerId: '203.0.113.2', uptimeSeconds: 3725, endpoints: 3, routes: 6 });
    expect(st.peers[0]).toEqual({
      address: '203.0.113.1', asn: 65000, description: 'tor-a', type: 'eBGP', state: 'Established', since: '2026-01-01T00:00:00.000Z',
      families: ['ipv4-unicast', 'ipv6-unicast'], prefixesSent: 3, prefixesReceived: 2, prefixesAccepted: 1, lastError: null, held: null,
    });
    expect((await client.peers()).peers).toEqual(healthyPeers);
    // The address is canonicalised before it reaches the handler.
    expect((await client.peer('2001:DB8:0::1')).address).toBe('2001:db8::1');
    expect(h.calls).toContain('peer 2001:db8::1');
    expect(await client.routes({ view: 'received' })).toEqual({ view: 'received', peer: null, routes: receivedRoutes });
    expect((await client.routes({ view: 'advertised', peer: '203.0.113.1' })).peer).toBe('203.0.113.1');
    expect(await client.routes()).toMatchObject({ view: 'received' }); // the default view
    expect(await client.endpoints()).toEqual({ endpoints: [] });
    expect(await client.get('/healthz')).toEqual({ ok: true });
  });

  it('answers errors as {error: {code, message}} with the HTTP status', async () => {
    const { client } = await start();
    const cases: [Promise<unknown>, number, string, RegExp][] = [
      [client.peer('203.0.113.99'), 404, 'unknown_peer', /203\.0\.113\.99 is not a configured peer/],
      [client.peer('not/an-ip'), 400, 'bad_request', /"not\/an-ip" is not an IPv4 or IPv6 address, nor an interface name/],
      [client.get('/v1/routes?view=best'), 400, 'bad_request', /view: Invalid enum value/],
      [client.get('/v1/routes?view=received&color=red'), 400, 'bad_request', /Unrecognized key/],
      [client.routes({ view: 'kernel' }), 501, 'not_implemented', /dataplane/],
      [client.get('/v1/nothing'), 404, 'not_found', /no such API path: \/v1\/nothing/],
      [client.post('/v1/status', {}), 405, 'method_not_allowed', /POST is not allowed on \/v1\/status \(allowed: GET\)/],
      [client.get('/v1/test/boom'), 500, 'internal', /kaput/],
    ];
    for (const [p, status, code, msg] of cases) {
      const e = await clientError(p);
      expect([e.kind, e.status, e.code]).toEqual(['http', status, code]);
      expect(e.message).toMatch(msg);
      expect(e.unreachable).toBe(false);
    }
    // Still serving after a handler threw.
    expect((await client.status()).node).toBe('w1');
  });

  it('drain takes the graceful shutdown wait as a query; a bad one is refused and nothing is drained', async () => {
    const { client, h } = await start();
    expect(await client.drain({ gracefulShutdownWait: 30 })).toEqual({ draining: true, routes: 3, peers: 2, gracefulShutdownWait: 30 });
    expect(await client.drain()).toMatchObject({ gracefulShutdownWait: 0 });
    expect(h.calls.filter((c) => c.startsWith('drain'))).toEqual(['drain 30', 'drain -']);
    for (const q of ['gracefulShutdownWait=-1', 'gracefulShutdownWait=3601', 'gracefulShutdownWait=ten', 'wait=10']) {
      const e = await clientError(client.post(`/v1/drain?${q}`, undefined));
      expect([e.status, e.code]).toEqual([400, 'bad_request']);
    }
    expect(h.calls.filter((c) => c.startsWith('drain'))).toHaveLength(2);
  });

  it('validates request bodies with zod', async () => {
    const { client, s } = await start();
    expect(await client.post('/v1/test/echo', { name: 'a', count: 2 })).toEqual({ got: { name: 'a', count: 2 } });
    const bad = await clientError(client.post('/v1/test/echo', { name: '', count: 1.5, extra: true }));
    expect([bad.status, bad.code]).toEqual([400, 'invalid_body']);
    expect(bad.message).toMatch(/name: String must contain at least 1/);
    expect(bad.message).toMatch(/count: Expected integer/);
    expect(bad.message).toMatch(/Unrecognized key\(s\) in object: 'extra'/);
    // Not JSON, and not declared as JSON.
    const raw = (body: string, type: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request({ socketPath: s.path, path: '/v1/test/echo', method: 'POST', headers: { 'content-type': type } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          });
          req.on('error', reject);
          req.end(body);
        }, reject);
      });
    expect(await raw('{nope', 'application/json')).toEqual({ status: 400, text: '{"error":{"code":"bad_json","message":"the request body is not valid JSON"}}\n' });
    expect((await raw('{}', 'text/plain')).status).toBe(415);
  });
});

describe('API socket safety', () => {
  it('creates a missing parent 0755, the socket 0600, and removes it on close', async () => {
    const sock = join(dir, 'run', 'routectl', 'routectl.sock');
    const { s } = await start(sock);
    expect(statSync(join(dir, 'run', 'routectl')).mode & 0o7777).toBe(0o755);
    const st = lstatSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await s.close();
    expect(existsSync(sock)).toBe(false);
  });

  it('refuses a world-writable directory without the sticky bit, accepts one with it', async () => {
    const open = join(dir, 'open');
    execFileSync('mkdir', ['-m', '0777', open]);
    await expect(startApiServer(join(open, 'r.sock'), fakeHandlers())).rejects.toThrow(ApiSocketError);
    await expect(startApiServer(join(open, 'r.sock'), fakeHandlers())).rejects.toThrow(/is world-writable \(mode 777\), so any user could replace the socket/);
    chmodSync(open, 0o1777); // like /tmp
    const s = await startApiServer(join(open, 'r.sock'), fakeHandlers());
    servers.push(s);
    expect((await new ApiClient(s.path).status()).node).toBe('w1');
  });

  it('refuses a directory owned by another user', async () => {
    const other = join(dir, 'other');
    execFileSync('mkdir', ['-m', '0755', other]);
    execFileSync('chown', ['65534', other]);
    await expect(startApiServer(join(other, 'r.sock'), fakeHandlers())).rejects.toThrow(/belongs to uid 65534/);
  });

  it('refuses when a non-socket file is at the path, and leaves the file alone', async () => {
    const sock = join(dir, 'r.sock');
    writeFileSync(sock, 'important');
    await expect(startApiServer(sock, fakeHandlers())).rejects.toThrow(/a file that is not a socket is there/);
    expect(lstatSync(sock).isFile()).toBe(true);
  });

  it('refuses when another agent answers on the socket', async () => {
    const sock = join(dir, 'r.sock');
    await start(sock);
    await expect(startApiServer(sock, fakeHandlers())).rejects.toThrow(/another routectl agent is already answering on .*r\.sock/);
    // The first one is untouched.
    expect((await new ApiClient(sock).status()).node).toBe('w1');
  });

  it('removes a stale socket (nothing listening) and starts', async () => {
    const sock = join(dir, 'r.sock');
    // A socket file left behind by a process that died without unlinking it.
    execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    expect(lstatSync(sock).isSocket()).toBe(true);
    const e = await clientError(new ApiClient(sock).status());
    expect(e.kind).toBe('not-running');
    expect(e.message).toContain(`nothing listens on ${sock}`);
    const { client } = await start(sock);
    expect((await client.status()).node).toBe('w1');
  });
});

describe('API client errors', () => {
  it('no socket: the agent is not running, with the path', async () => {
    const sock = join(dir, 'absent.sock');
    const e = await clientError(new ApiClient(sock).status());
    expect(e.kind).toBe('not-running');
    expect(e.unreachable).toBe(true);
    expect(e.message).toBe(`routectl agent is not running (no socket at ${sock})`);
  });

  it('a silent agent: bounded timeout', async () => {
    const sock = join(dir, 'silent.sock');
    const conns: import('node:net').Socket[] = [];
    const silent = createServer((c) => conns.push(c)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(sock, r));
    const t0 = Date.now();
    const e = await clientError(new ApiClient(sock, { timeoutMs: 300 }).status());
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.kind).toBe('timeout');
    expect(e.message).toBe(`no answer from the routectl agent at ${sock} within 300 ms (is it stuck? see its logs: journalctl -u routectl)`);
    for (const c of conns) c.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('ApiError carries status and code', () => {
    const e = new ApiError(404, 'unknown_peer', 'x');
    expect([e.status, e.code, e.message]).toEqual([404, 'unknown_peer', 'x']);
  });
});

describe('connect errors in words', () => {
  // Root (the tests' user) is never refused by a 0600 socket, so the errno is made up here.
  const errno = (code: string) => Object.assign(new Error(`connect ${code} /x.sock`), { code });
  it.each([
    ['ENOENT', 'not-running', 'routectl agent is not running (no socket at /x.sock)'],
    ['ECONNREFUSED', 'not-running', 'routectl agent is not running (nothing listens on /x.sock; a stale socket from an earlier run)'],
    ['EACCES', 'permission', 'permission denied on /x.sock: the API is root-only; run as root (sudo routectl …)'],
    ['ENOTSOCK', 'not-running', '/x.sock is not a socket; check --socket or api.socket in agent.yaml'],
    ['EMFILE', 'not-running', 'cannot reach the routectl agent at /x.sock: EMFILE connect EMFILE /x.sock'],
  ])('%s', async (code, kind, message) => {
    const { connectError } = await import('../../../src/api/client.js');
    const e = connectError('/x.sock', errno(code));
    expect([e.kind, e.message, e.unreachable]).toEqual([kind, message, true]);
  });
});
