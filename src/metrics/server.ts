/**
 * The metrics HTTP listener (`metrics.listen`): GET /metrics (Prometheus text), /healthz
 * and /readyz (JSON, 200 or 503 — what Kubernetes probes and load balancers read).
 * Separate from the control API: it is read-only and meant for a scraper on the network,
 * while the API socket is root-only.
 */
import { createServer, type Server } from 'node:http';
import { METRICS_LIMITS, applyLimits, serverOptions, type HttpLimits } from '../api/http-limits.js';
import type { Logger } from '../log.js';
import type { HealthAnswer, ReadyAnswer } from './health.js';

export interface MetricsEndpoints {
  metrics(): Promise<string>;
  readonly contentType: string;
  healthz(): HealthAnswer;
  readyz(): ReadyAnswer;
}

export interface MetricsServer {
  /** The bound address (port resolved when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

export class MetricsListenError extends Error {
  override readonly name = 'MetricsListenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** "127.0.0.1:9273" / "[::1]:9273" → host and port (the config has validated the form). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(listen);
  if (m === null) throw new MetricsListenError(`metrics.listen ${JSON.stringify(listen)} is not ADDRESS:PORT`);
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
}

export async function startMetricsServer(listen: string, e: MetricsEndpoints, log?: Logger, limits: HttpLimits = METRICS_LIMITS): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer(serverOptions(limits), (req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    const json = (status: number, body: unknown): void => {
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      e.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': e.contentType });
          res.end(text);
        },
        (err: unknown) => {
          log?.error({ op: 'metrics.scrape', event: 'failed', err }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${(err as Error).message}\n`);
        },
      );
    } else if (path === '/healthz') {
      const h = e.healthz();
      json(h.ok ? 200 : 503, h);
    } else if (path === '/readyz') {
      const r = e.readyz();
      json(r.ready ? 200 : 503, r);
    } else {
      json(404, { error: { code: 'not_found', message: `no such path: ${path} (try /metrics, /healthz, /readyz)` } });
    }
  });
  // The port is on the network: a client that connects and idles or stalls is cut off,
  // and past the connection cap new ones are closed at once.
  applyLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(`cannot listen on ${listen} for metrics: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const bound = a && typeof a === 'object' ? a.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  log?.info({ op: 'metrics.listen', event: 'started', listen: url }, `metrics on ${url}/metrics`);
  let closed: Promise<void> | undefined;
  return {
    host,
    port: bound,
    url,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
