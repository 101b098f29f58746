/**
 * The control API client the CLI uses: one GET/POST over the unix socket with a bounded
 * timeout, and errors that tell the operator what is wrong in words — agent not running
 * (with the socket path), permission denied, no answer in time, or the agent's own error.
 */
import { request } from 'node:http';
import { ApiClientError } from './errors.js';
import type { DrainRequest, DrainResponse, EndpointsResponse, ErrorBody, InspectResponse, PeerDetail, PeersResponse, ReconcileResponse, RouteQuery, RoutesResponse, StatusResponse, VerifyResponse } from './types.js';

export const DEFAULT_SOCKET = '/run/routectl/routectl.sock';
export const DEFAULT_TIMEOUT_MS = 5000;

export interface ApiClientOptions {
  readonly timeoutMs?: number;
}

export class ApiClient {
  readonly timeoutMs: number;

  constructor(
    readonly socketPath: string = DEFAULT_SOCKET,
    opts: ApiClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  status(): Promise<StatusResponse> {
    return this.get('/v1/status');
  }
  peers(): Promise<PeersResponse> {
    return this.get('/v1/peers');
  }
  peer(address: string): Promise<PeerDetail> {
    return this.get(`/v1/peers/${encodeURIComponent(address)}`);
  }
  routes(q: Partial<RouteQuery> = {}): Promise<RoutesResponse> {
    const qs = new URLSearchParams();
    if (q.view) qs.set('view', q.view);
    if (q.peer) qs.set('peer', q.peer);
    const s = qs.toString();
    return this.get(`/v1/routes${s ? `?${s}` : ''}`);
  }
  endpoints(): Promise<EndpointsResponse> {
    return this.get('/v1/endpoints');
  }
  verify(): Promise<VerifyResponse> {
    return this.get('/v1/verify');
  }
  /** One endpoint by container name, id or unique id prefix. */
  inspect(container: string): Promise<InspectResponse> {
    return this.get(`/v1/endpoints/${encodeURIComponent(container)}`);
  }
  /** Pause (true) or resume (false) the agent's repair loop. */
  setRepairPaused(paused: boolean): Promise<ReconcileResponse> {
    return this.post('/v1/reconcile', { paused });
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  /** End a peer's max-prefix hold: its session starts at once (409 not_held when it is not held). */
  releaseHold(address: string): Promise<PeerDetail> {
    return this.call<PeerDetail>('POST', `/v1/peers/${encodeURIComponent(address)}/release`);
  }

  /**
   * Maintenance stop: every route withdrawn, then the agent exits. `gracefulShutdownWait`:
   * seconds of RFC 8326 graceful shutdown first (overrides the agent's config; 0: none).
   */
  drain(opts: DrainRequest = {}): Promise<DrainResponse> {
    const q = opts.gracefulShutdownWait !== undefined ? `?gracefulShutdownWait=${opts.gracefulShutdownWait}` : '';
    return this.call<DrainResponse>('POST', `/v1/drain${q}`);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const sock = this.socketPath;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (e: ApiClientError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const req = request(
        {
          socketPath: sock,
          path,
          method,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => fail(new ApiClientError('protocol', `reading the answer from ${sock}: ${err.message}`, undefined, undefined, { cause: err })));
          res.on('end', () => {
            if (settled) return;
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch (err) {
              fail(new ApiClientError('protocol', `the agent at ${sock} answered ${res.statusCode} with something that is not JSON`, res.statusCode, undefined, { cause: err }));
              return;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              settled = true;
              clearTimeout(timer);
              resolve(json as T);
              return;
            }
            const e = (json as Partial<ErrorBody>).error;
            fail(new ApiClientError('http', e?.message ?? `HTTP ${status}`, status, e?.code ?? 'unknown'));
          });
        },
      );
      // A bounded wait: a hung agent must not hang the readiness probe that calls us.
      const timer = setTimeout(() => {
        fail(new ApiClientError('timeout', `no answer from the routectl agent at ${sock} within ${formatSeconds(this.timeoutMs)} (is it stuck? see its logs: journalctl -u routectl)`));
      }, this.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => fail(connectError(sock, err)));
      req.end(payload);
    });
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export function connectError(sock: string, err: NodeJS.ErrnoException): ApiClientError {
  const o = { cause: err };
  switch (err.code) {
    case 'ENOENT':
      return new ApiClientError('not-running', `routectl agent is not running (no socket at ${sock})`, undefined, undefined, o);
    case 'ECONNREFUSED':
      return new ApiClientError('not-running', `routectl agent is not running (nothing listens on ${sock}; a stale socket from an earlier run)`, undefined, undefined, o);
    case 'EACCES':
    case 'EPERM':
      return new ApiClientError('permission', `permission denied on ${sock}: the API is root-only; run as root (sudo routectl …)`, undefined, undefined, o);
    case 'ENOTSOCK':
      return new ApiClientError('not-running', `${sock} is not a socket; check --socket or api.socket in agent.yaml`, undefined, undefined, o);
    default:
      return new ApiClientError('not-running', `cannot reach the routectl agent at ${sock}: ${err.code ?? ''} ${err.message}`.replace('  ', ' '), undefined, undefined, o);
  }
}
