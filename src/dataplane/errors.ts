/** Dataplane errors: kernel answers carry their errno name; steps chain their cause. */

/** A netlink request the kernel refused (or a kernel-side step that failed). */
export class KernelError extends Error {
  override readonly name = 'KernelError';
  constructor(
    readonly op: string,
    /** errno name, e.g. EEXIST, ENODEV, ESRCH; 'EIO' when a helper command failed */
    readonly code: string,
    detail?: string,
  ) {
    super(`${op}: ${code}${detail ? ` (${detail})` : ''}`);
  }
}

/** A dataplane step failed; `cause` holds the KernelError or system error underneath. */
export class DataplaneError extends Error {
  override readonly name = 'DataplaneError';
  constructor(
    readonly op: string,
    options?: { cause?: unknown },
  ) {
    const c = options?.cause;
    super(`dataplane: ${op}${c instanceof Error ? `: ${c.message}` : ''}`, options);
  }
}

/** Input that can never be plumbed (bad names, addresses): rejected before touching the kernel. */
export class EndpointSpecError extends Error {
  override readonly name = 'EndpointSpecError';
}

/** "Already gone": what idempotent deletes treat as success. */
export function isGone(err: unknown): boolean {
  // ENODEV: no such link; ESRCH: no such route; ENOENT: also used for missing objects.
  return err instanceof KernelError && (err.code === 'ENODEV' || err.code === 'ESRCH' || err.code === 'ENOENT');
}

/** The container's network namespace does not exist (any more): its process is gone. */
export function isNetnsGone(err: unknown): boolean {
  return err instanceof KernelError && err.op.startsWith('open netns') && err.code === 'ENOENT';
}
