/**
 * The agent's structured logger: pino, one JSON object per line, with a fixed set of keys
 * so that logs can be queried the same way everywhere:
 *   op     what the agent was doing ("config.load", "api.listen", "bgp.session")
 *   event  what happened ("started", "state-change", "notification-received")
 *   peer   the BGP peer address, set by the per-peer child logger
 *   err    an Error, serialised with its message, stack and cause
 * The level comes from ROUTECTL_LOG_LEVEL (default info). Codec and FSM never log; the
 * session and agent layers do, through these loggers.
 */
import { pino, type DestinationStream, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

/** The keys every log line may carry besides msg, level and time. */
export interface LogFields {
  readonly op?: string;
  readonly event?: string;
  readonly peer?: string;
  readonly err?: unknown;
  readonly [key: string]: unknown;
}

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** Overrides ROUTECTL_LOG_LEVEL. */
  readonly level?: string;
  /** Where lines go; default stdout (journald takes them from there under systemd). */
  readonly destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const wanted = opts.level ?? process.env.ROUTECTL_LOG_LEVEL ?? 'info';
  const valid = (LOG_LEVELS as readonly string[]).includes(wanted);
  const log = pino(
    {
      level: valid ? wanted : 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not numbers: operators grep for "error", not 50.
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause },
      // TCP-MD5 passwords are Secrets (they print as <redacted> anyway); this catches a
      // password that reached a log call as plain text, in the shapes the agent logs.
      redact: { paths: ['password', '*.password', 'peers[*].password', 'cfg.bgp.peers[*].password', 'bgp.peers[*].password'], censor: '<redacted>' },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  if (!valid) {
    log.warn({ op: 'log.init', event: 'bad-level' }, `ROUTECTL_LOG_LEVEL=${wanted} is not one of ${LOG_LEVELS.join(', ')}; using info`);
  }
  return log;
}

/** A child logger whose every line names the peer. */
export function peerLogger(log: Logger, peer: string): Logger {
  return log.child({ peer });
}

/** A NOTIFICATION as the logs carry it (the session's record of the last one sent or received). */
export interface LoggedNotification {
  readonly code: number;
  readonly subcode: number;
  readonly name: string;
  readonly text: string;
}

/** One line per NOTIFICATION: op bgp.session, event notification-sent / notification-received. */
export function logNotification(log: Logger, peer: string, direction: 'sent' | 'received', n: LoggedNotification): void {
  const words = `${n.name} (${n.code}/${n.subcode})${n.text ? `: ${JSON.stringify(n.text)}` : ''}`;
  log.warn(
    { op: 'bgp.session', event: `notification-${direction}`, peer, code: n.code, subcode: n.subcode, name: n.name, text: n.text },
    `NOTIFICATION ${direction}: ${words}`,
  );
}

/** One line per peer state change, with the reason; leaving Established is a warning. */
export function logPeerState(log: Logger, peer: string, from: string, to: string, reason: string | null): void {
  const level = from === 'Established' && to !== 'Established' ? 'warn' : 'info';
  log[level]({ op: 'bgp.session', event: 'state-change', peer, from, to, reason }, `${from} -> ${to}${reason ? `: ${reason}` : ''}`);
}

/** What an endpoint line says about the endpoint. */
export interface LoggedEndpoint {
  readonly id: string;
  readonly name?: string | null;
  readonly zone: string;
  readonly ipv4?: string | null;
  readonly ipv6?: string | null;
}

/**
 * One line per endpoint added or removed: op endpoint, event endpoint-added /
 * endpoint-removed, with id, name, zone and addresses; `reason` says why (e.g. "container
 * started", "container died", "reconcile: container gone"), `err` when removal followed a failure.
 */
export function logEndpoint(log: Logger, event: 'added' | 'removed', ep: LoggedEndpoint, extra: { readonly reason?: string; readonly err?: unknown } = {}): void {
  const addrs = [ep.ipv4, ep.ipv6].filter(Boolean).join(' ');
  log.info(
    { op: 'endpoint', event: `endpoint-${event}`, endpoint: ep.id, name: ep.name ?? null, zone: ep.zone, ipv4: ep.ipv4 ?? null, ipv6: ep.ipv6 ?? null, ...extra },
    `endpoint ${event}: ${ep.name ?? ep.id} (${ep.zone}) ${addrs}${extra.reason ? `: ${extra.reason}` : ''}`,
  );
}
