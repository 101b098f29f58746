/**
 * Typed errors of the RIB: bad input from the speaker's callers (an invalid prefix, a
 * malformed prefix-list entry, a bad community). Protocol errors are BgpNotification.
 */
export class RibError extends Error {
  override readonly name = 'RibError';
}
