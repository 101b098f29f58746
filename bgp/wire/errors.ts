/**
 * The one error type the codec throws. It carries everything needed to send the
 * NOTIFICATION RFC 4271 6 prescribes, so the session does not have to guess.
 */
import type { ErrorHandling } from './types.js';

export class BgpNotification extends Error {
  override readonly name = 'BgpNotification';
  constructor(
    readonly code: number,
    readonly subcode: number,
    readonly data: Buffer = Buffer.alloc(0),
    message?: string,
    /** Decode errors are session-reset unless a caller lowers it (RFC 7606). */
    readonly handling: ErrorHandling = 'session-reset',
  ) {
    super(message ?? `NOTIFICATION ${code}/${subcode}`);
  }
}
