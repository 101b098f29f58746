/**
 * Typed errors of the control API. ApiError travels server → client as
 * `{error: {code, message}}` with an HTTP status; ApiClientError is what the CLI gets,
 * with a kind it maps to exit codes and a message that says what to do.
 */

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ApiClientErrorKind =
  /** No socket, or nothing listening on it. */
  | 'not-running'
  /** The socket exists but this user may not connect (it is root-only). */
  | 'permission'
  | 'timeout'
  /** The agent answered with an error ({error: {code, message}}). */
  | 'http'
  /** The answer was not the JSON we expect. */
  | 'protocol';

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  constructor(
    readonly kind: ApiClientErrorKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when the agent could not be reached at all (the CLI exits 2). */
  get unreachable(): boolean {
    return this.kind !== 'http';
  }
}

/** Refusal to start the server: the socket path is unsafe or taken. */
export class ApiSocketError extends Error {
  override readonly name = 'ApiSocketError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
