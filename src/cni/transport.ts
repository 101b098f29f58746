/**
 * routectl-cni's one HTTP/1.1 exchange with the agent, over its unix socket, on node:net.
 *
 * The plugin is a new process for every CNI call, so what it loads is ADD latency:
 * node:http and its first request cost the plugin ~5 ms here, while the exchange it needs
 * is one request with `connection: close` and one answer. This client writes that request
 * and reads that answer: a status line, headers, and a body delimited by content-length,
 * by chunked transfer coding, or by the end of the connection (RFC 9112 section 6.3).
 * Anything else is an EPROTO error that names what was wrong, and the whole exchange is
 * bounded by a timeout (a runtime must never hang on a stuck agent).
 */
import { connect } from 'node:net';

export interface AgentAnswer {
  readonly status: number;
  readonly json: unknown;
}

const protoError = (what: string, cause?: unknown): Error =>
  Object.assign(new Error(`the agent's answer is not valid HTTP/1.1: ${what}`), { code: 'EPROTO', ...(cause === undefined ? {} : { cause }) });

/** Decodes a chunked body (RFC 9112 section 7.1); undefined while it is incomplete. */
function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const sizeText = buf.toString('latin1', at, eol).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw protoError(`bad chunk size "${sizeText.slice(0, 20)}"`);
    const size = parseInt(sizeText, 16);
    if (size === 0) return Buffer.concat(parts); // trailers, if any, are not needed
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

interface Head {
  readonly status: number;
  readonly bodyAt: number;
  readonly length: number | undefined;
  readonly chunked: boolean;
}

function parseHead(buf: Buffer): Head | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > 64 * 1024) throw protoError('headers longer than 64 KiB');
    return undefined;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (!m) throw protoError(`status line "${lines[0]!.slice(0, 40)}"`);
  let length: number | undefined;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw protoError(`header line "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d+$/.test(value)) throw protoError(`content-length "${value}"`);
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      chunked = value.toLowerCase().split(',').map((s) => s.trim()).includes('chunked');
    }
  }
  return { status: Number(m[1]), bodyAt: end + 4, length: chunked ? undefined : length, chunked };
}

/**
 * One request (JSON body, or none) and its JSON answer. Rejects with the socket's own
 * error (ENOENT, ECONNREFUSED, EACCES, ...), ETIMEDOUT after `timeoutMs`, ECONNRESET when
 * the agent closes before a whole answer, or EPROTO for an answer that is not HTTP/1.1 JSON.
 */
export function unixRequest(socket: string, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const head =
      `${method} ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
      (body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n`) +
      '\r\n';
    const conn = connect(socket);
    let got: Buffer = Buffer.alloc(0);
    let parsed: Head | undefined;
    let done = false;
    const finish = (err: Error | undefined, answer?: AgentAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer!);
      // Closed a turn later: the plugin prints its answer and exits first. Destroying a
      // socket reads process.stderr, which creates that stream on first use (0.6 ms when
      // the runtime gives the plugin a pipe there).
      setImmediate(() => conn.destroy());
    };
    const answerWith = (raw: Buffer): void => {
      try {
        finish(undefined, { status: parsed!.status, json: JSON.parse(raw.toString('utf8')) });
      } catch (err) {
        finish(Object.assign(new Error(`the agent answered ${parsed!.status} with something that is not JSON`), { code: 'EPROTO', cause: err }));
      }
    };
    /** Tries to complete the answer from what arrived; `ended`: the agent closed. */
    const tryComplete = (ended: boolean): void => {
      try {
        parsed ??= parseHead(got);
        if (parsed === undefined) {
          if (ended) finish(Object.assign(new Error('the agent closed the connection before answering'), { code: 'ECONNRESET' }));
          return;
        }
        const rest = got.subarray(parsed.bodyAt);
        if (parsed.chunked) {
          const b = dechunk(rest);
          if (b !== undefined) answerWith(b);
          else if (ended) finish(Object.assign(new Error('the agent closed the connection in the middle of its answer'), { code: 'ECONNRESET' }));
        } else if (parsed.length !== undefined) {
          if (rest.length >= parsed.length) answerWith(rest.subarray(0, parsed.length));
          else if (ended) finish(Object.assign(new Error(`the agent closed the connection after ${rest.length} of ${parsed.length} body bytes`), { code: 'ECONNRESET' }));
        } else if (ended) {
          answerWith(rest);
        }
      } catch (err) {
        finish(err as Error);
      }
    };
    const timer = setTimeout(() => finish(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    conn.on('error', (err) => finish(err));
    conn.on('data', (c: Buffer) => {
      got = got.length === 0 ? c : Buffer.concat([got, c]);
      tryComplete(false);
    });
    conn.on('end', () => tryComplete(true));
    conn.on('close', () => tryComplete(true));
    conn.write(head + payload);
  });
}
