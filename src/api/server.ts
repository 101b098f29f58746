/**
 * The control API server: HTTP/1.1 + JSON on a root-only unix socket (node:http on a
 * path). Routes are a table (method, pattern, optional zod body schema, handler), so later
 * parts of the agent (the CNI runtime) add theirs without touching this file. Every error
 * is `{error: {code, message}}` with its HTTP status; a failing handler never takes the
 * server down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { z } from 'zod';
import { canonicalAddress } from '../net.js';
import type { Logger } from '../log.js';
import { ApiError } from './errors.js';
import { API_LIMITS, applyLimits, serverOptions, type HttpLimits } from './http-limits.js';
import { prepareSocketPath } from './socket.js';
import type { ApiHandlers, ErrorBody } from './types.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestContext<B> {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: B;
}

export interface ApiRoute<B = undefined> {
  readonly method: Method;
  /** "/v1/peers/:address" — `:name` segments become params (URL-decoded). */
  readonly pattern: string;
  /** Request body schema (JSON); requests without one have body undefined. */
  readonly body?: z.ZodType<B, z.ZodTypeDef, unknown>;
  handle(ctx: RequestContext<B>): unknown;
}

/** Typed helper for route tables: infers B from the body schema. */
export function defineRoute<B = undefined>(route: ApiRoute<B>): ApiRoute<unknown> {
  return route as unknown as ApiRoute<unknown>;
}

export interface ApiServer {
  readonly path: string;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  readonly routes?: readonly ApiRoute<unknown>[];
  readonly log?: Logger;
  /** Largest accepted request body; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Bytes of a refused (too large) body read and discarded before the connection is dropped; default 16 MiB. */
  readonly maxDiscardBytes?: number;
  /** Timeouts and the connection cap; default API_LIMITS. */
  readonly limits?: HttpLimits;
}

const RouteQuerySchema = z
  .object({
    view: z.enum(['received', 'advertised', 'kernel']).default('received'),
    peer: z.string().optional(),
  })
  .strict();

const DrainQuerySchema = z
  .object({
    gracefulShutdownWait: z
      .string()
      .regex(/^\d{1,4}$/, 'seconds, a whole number from 0 to 3600')
      .transform(Number)
      .refine((n) => n <= 3600, 'seconds, a whole number from 0 to 3600')
      .optional(),
  })
  .strict();

/** A peer as the API names it: its address, or for an unnumbered peer its interface's name. */
function peerParam(text: string): string {
  const a = canonicalAddress(text);
  if (a !== null) return a;
  // Linux interface names: 1..15 characters, no "/", ":" or white space (dev_valid_name).
  if (/^[^/:\s%]{1,15}$/.test(text) && text !== '.' && text !== '..') return text;
  throw new ApiError(400, 'bad_request', `${JSON.stringify(text)} is not an IPv4 or IPv6 address, nor an interface name (unnumbered peer)`);
}

/** The built-in read routes, backed by the agent's handlers. */
export function builtinRoutes(h: ApiHandlers): ApiRoute<unknown>[] {
  return [
    defineRoute({ method: 'GET', pattern: '/healthz', handle: () => h.healthz() }),
    defineRoute({ method: 'GET', pattern: '/v1/status', handle: () => h.status() }),
    defineRoute({ method: 'GET', pattern: '/v1/peers', handle: () => h.peers() }),
    defineRoute({ method: 'GET', pattern: '/v1/peers/:address', handle: ({ params }) => h.peer(peerParam(params.address ?? '')) }),
    defineRoute({
      method: 'POST',
      pattern: '/v1/peers/:address/release',
      handle: ({ params }) => {
        if (!h.releaseHold) throw new ApiError(501, 'not_implemented', 'this agent does not release held peers');
        return h.releaseHold(peerParam(params.address ?? ''));
      },
    }),
    defineRoute({
      method: 'POST',
      pattern: '/v1/drain',
      handle: ({ query }) => {
        if (!h.drain) throw new ApiError(501, 'not_implemented', 'this agent cannot drain');
        const q = DrainQuerySchema.safeParse(Object.fromEntries(query));
        if (!q.success) throw new ApiError(400, 'bad_request', zodText(q.error));
        return h.drain(q.data.gracefulShutdownWait !== undefined ? { gracefulShutdownWait: q.data.gracefulShutdownWait } : {});
      },
    }),
    defineRoute({
      method: 'GET',
      pattern: '/v1/routes',
      handle: ({ query }) => {
        const q = RouteQuerySchema.safeParse(Object.fromEntries(query));
        if (!q.success) throw new ApiError(400, 'bad_request', zodText(q.error));
        return h.routes({ view: q.data.view, peer: q.data.peer === undefined || q.data.peer === '' ? null : peerParam(q.data.peer) });
      },
    }),
    defineRoute({ method: 'GET', pattern: '/v1/endpoints', handle: () => h.endpoints() }),
    defineRoute({
      method: 'GET',
      pattern: '/v1/verify',
      handle: () => {
        if (!h.verify) throw new ApiError(501, 'not_implemented', 'this agent does not answer verify');
        return h.verify();
      },
    }),
  ];
}

function zodText(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`).join('; ');
}

function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split('/');
  const xs = path.split('/');
  if (ps.length !== xs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as string;
    const x = xs[i] as string;
    if (p.startsWith(':')) {
      if (x === '') return null;
      try {
        params[p.slice(1)] = decodeURIComponent(x);
      } catch {
        return null;
      }
    } else if (p !== x) return null;
  }
  return params;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers?: Record<string, string>): void {
  const body: ErrorBody = { error: { code, message } };
  send(res, status, body, headers);
}

/**
 * The body as text, at most `limit` bytes. A larger body is refused with 413 as soon as it
 * is known to be too large (its Content-Length, or the first byte past the limit), and
 * the rest of it is read and thrown away while the 413 goes out: closing a socket that
 * still has unread data makes the kernel answer with a reset (RFC 1122 4.2.2.13), and the
 * client would see that instead of the 413. Past `discardLimit` discarded bytes the
 * connection is dropped after all: nobody gets to make the agent read for ever.
 */
function readBody(req: IncomingMessage, limit: number, discardLimit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    let discarded = 0;
    const refuse = (): void => {
      refused = true;
      chunks.length = 0;
      reject(new ApiError(413, 'too_large', `request body larger than ${limit} bytes`));
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) refuse();
    req.on('data', (c: Buffer) => {
      if (refused) {
        discarded += c.length;
        if (discarded > discardLimit) req.destroy();
        return;
      }
      size += c.length;
      if (size > limit) {
        refuse();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!refused) reject(err);
    });
  });
}

export function createApiHandler(routes: readonly ApiRoute<unknown>[], opts: ApiServerOptions = {}) {
  const limit = opts.maxBodyBytes ?? 1 << 20;
  const discardLimit = opts.maxDiscardBytes ?? 16 << 20;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://routectl');
    const candidates = routes.map((r) => ({ r, params: match(r.pattern, url.pathname) })).filter((c) => c.params !== null);
    if (candidates.length === 0) {
      sendError(res, 404, 'not_found', `no such API path: ${url.pathname}`);
      return;
    }
    const hit = candidates.find((c) => c.r.method === req.method);
    if (hit === undefined) {
      const allow = [...new Set(candidates.map((c) => c.r.method))].join(', ');
      sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname} (allowed: ${allow})`, { allow });
      return;
    }
    try {
      let body: unknown;
      if (hit.r.body !== undefined) {
        const type = req.headers['content-type'] ?? '';
        if (!type.startsWith('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
        const text = await readBody(req, limit, discardLimit);
        let raw: unknown;
        try {
          raw = JSON.parse(text);
        } catch {
          throw new ApiError(400, 'bad_json', 'the request body is not valid JSON');
        }
        const parsed = hit.r.body.safeParse(raw);
        if (!parsed.success) throw new ApiError(400, 'invalid_body', zodText(parsed.error));
        body = parsed.data;
      }
      const result = await hit.r.handle({ params: hit.params ?? {}, query: url.searchParams, body });
      send(res, 200, result);
    } catch (err) {
      if (err instanceof ApiError) {
        sendError(res, err.status, err.code, err.message);
      } else {
        opts.log?.error({ op: 'api.request', event: 'handler-failed', err, path: url.pathname }, 'API handler failed');
        sendError(res, 500, 'internal', err instanceof Error ? err.message : String(err));
      }
    }
  };
}

/**
 * Listens on `path` after the safety checks of socket.ts; the socket is 0600 from the
 * moment it exists (umask during bind), not just after a chmod.
 */
export async function startApiServer(path: string, handlers: ApiHandlers, opts: ApiServerOptions = {}): Promise<ApiServer> {
  await prepareSocketPath(path);
  const handle = createApiHandler([...builtinRoutes(handlers), ...(opts.routes ?? [])], opts);
  const limits = opts.limits ?? API_LIMITS;
  const server: Server = createServer(serverOptions(limits), (req, res) => void handle(req, res));
  // Requests are local and small; a client that stalls or idles does not hold a socket for ever.
  applyLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    const old = process.umask(0o177);
    try {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  chmodSync(path, 0o600);
  const ino = lstatSync(path).ino;
  opts.log?.info({ op: 'api.listen', event: 'started', socket: path }, `API listening on ${path}`);
  let closed: Promise<void> | undefined;
  return {
    path,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        // Remove the socket only if it is still ours (not one a new agent made since).
        try {
          if (lstatSync(path).ino === ino) unlinkSync(path);
        } catch {
          // already gone: nothing to remove
        }
      });
      return closed;
    },
  };
}
