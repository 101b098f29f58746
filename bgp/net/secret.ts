/**
 * A secret (a TCP-MD5 password) that cannot leak by accident: JSON, string conversion and
 * util.inspect (so pino, console and every `--json` answer) print `<redacted>`. Only
 * `bytes()` gives the value, for the one socket option that needs it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

export const REDACTED = '<redacted>';

export class Secret {
  readonly #value: Buffer;

  constructor(value: string | Buffer) {
    this.#value = Buffer.from(value);
  }

  /** The secret itself (a copy). */
  bytes(): Buffer {
    return Buffer.from(this.#value);
  }

  get length(): number {
    return this.#value.length;
  }

  equals(other: Secret | undefined | null): boolean {
    if (!other) return false;
    const o = other.#value;
    return o.length === this.#value.length && timingSafeEqual(o, this.#value);
  }

  /** A short digest that tells two secrets apart without showing either (reload comparisons). */
  fingerprint(): string {
    return createHash('sha256').update(this.#value).digest('hex').slice(0, 16);
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
