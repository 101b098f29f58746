/**
 * Bounds on the agent's two HTTP listeners (the API socket and the metrics port), so that
 * clients which connect and then stall, or never send a request at all, cannot pile up
 * sockets and file descriptors. node:http's defaults keep a silent connection for 60 to
 * 90 s (its headers timeout, checked on a 30 s sweep), no idle limit once a request is
 * under way, and no cap on connections: a client opening them faster than that piles
 * them up.
 */
import type { Server, ServerOptions } from 'node:http';

export interface HttpLimits {
  /** Whole request headers must arrive within this (ms). */
  readonly headersMs: number;
  /** The whole request (headers and body) must arrive within this (ms). */
  readonly requestMs: number;
  /** An idle keep-alive connection, between requests, is closed after this (ms). */
  readonly keepAliveMs: number;
  /** A socket with no traffic in either direction is closed after this (ms), whatever its state. */
  readonly idleMs: number;
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

/** The API: local and small requests from routectl and routectl-cni. */
export const API_LIMITS: HttpLimits = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, idleMs: 60_000, maxConnections: 256 };

/** The metrics port: a scraper or probe every few seconds, a handful of them at most. */
export const METRICS_LIMITS: HttpLimits = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, idleMs: 60_000, maxConnections: 64 };

/**
 * createServer options: node checks headersTimeout/requestTimeout on a sweep every
 * connectionsCheckingInterval ms (default 30 s); a quarter of the shortest bound, so a
 * short bound (tests) is enforced close to its value.
 */
export function serverOptions(l: HttpLimits): ServerOptions {
  return { connectionsCheckingInterval: Math.max(50, Math.floor(Math.min(l.headersMs, l.requestMs) / 4)) };
}

/** Applies the bounds to a server made with serverOptions(). */
export function applyLimits(server: Server, l: HttpLimits): void {
  // node requires headersTimeout <= requestTimeout (when the latter is not 0).
  server.requestTimeout = l.requestMs;
  server.headersTimeout = Math.min(l.headersMs, l.requestMs);
  server.keepAliveTimeout = l.keepAliveMs;
  // Socket inactivity: with no 'timeout' listener on the server, node destroys the socket.
  server.timeout = l.idleMs;
  server.maxConnections = l.maxConnections;
}
