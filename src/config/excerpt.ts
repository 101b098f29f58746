/**
 * Quoting untrusted text in error messages. An error names the bad value so the operator
 * can find it, but a value can be anything a file, a label or a request carried: a whole
 * binary, a 100 kB label. Messages quote at most EXCERPT_MAX characters of it, say that
 * it was cut and how long it really was, and never carry control characters raw
 * (JSON.stringify escapes them), so one bad input gives one readable line.
 */

/** The most characters of an input that an error message quotes. */
export const EXCERPT_MAX = 64;

/**
 * `"value"` as JSON, or for a long one `"first 64 characters…" (1234 characters)`.
 * Cut on code points, so a surrogate pair is never split.
 */
export function quoteExcerpt(value: string, max = EXCERPT_MAX): string {
  if (value.length <= max) return JSON.stringify(value);
  const chars = [...value];
  if (chars.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(`${chars.slice(0, max).join('')}…`)} (${chars.length} characters)`;
}

/** The text itself, cut the same way but not quoted (for names inside a message, e.g. a field path). */
export function cutExcerpt(value: string, max = EXCERPT_MAX): string {
  const chars = [...value];
  const cut = chars.length <= max ? value : `${chars.slice(0, max).join('')}… (${chars.length} characters)`;
  // Control characters escaped as JSON would (a key with a newline stays on one line).
  return /[\u0000-\u001f\u007f]/.test(cut) ? JSON.stringify(cut).slice(1, -1) : cut;
}
