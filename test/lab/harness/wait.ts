/**
 * `waitFor`: poll a condition until it holds or a deadline passes. On timeout the error
 * names what was awaited, the last value or error seen, and the tails of the daemon
 * logs the caller registered, so a failed lab run explains itself.
 */

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is awaited, in words: "bgpd session to 203.0.113.2 Established". */
  readonly what: string;
  /** Called on timeout; its text is appended to the error (e.g. daemon log tails). */
  readonly diagnostics?: () => string | Promise<string>;
}

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Resolves with the first truthy value `fn` returns. A throw from `fn` counts as "not
 * yet" (the daemon may not be answering yet) and is reported if the wait times out.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const start = Date.now();
  let last: unknown;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() - start >= timeoutMs) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  let msg = `timed out after ${timeoutMs} ms waiting for ${opts.what}`;
  if (lastErr !== undefined) msg += `\nlast error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`;
  else msg += `\nlast value: ${JSON.stringify(last)}`;
  if (opts.diagnostics) {
    try {
      msg += `\n${await opts.diagnostics()}`;
    } catch (e) {
      msg += `\n(diagnostics failed: ${String(e)})`;
    }
  }
  throw new WaitTimeoutError(msg);
}
