/**
 * ConfigError: every problem found in one agent.yaml, each with the field path, what is
 * wrong and how to fix it. The message has one line per problem so an operator can act
 * on all of them in one edit, and `routectl validate` prints it as is. A file that is
 * nothing but problems (a binary, a wrong file) gives at most MAX_PROBLEM_LINES lines
 * and a count of the rest; `problems` keeps them all.
 */
import { cutExcerpt } from './excerpt.js';

/** The most problem lines one error message shows. */
export const MAX_PROBLEM_LINES = 50;

export interface ConfigProblem {
  /** Field path as written in the file: `bgp.peers[1].asn`; "" for the document itself. */
  readonly path: string;
  readonly message: string;
  readonly fix: string;
  /** 1-based line and column in the source, when the field could be located. */
  readonly line?: number;
  readonly column?: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    const shown = problems.slice(0, MAX_PROBLEM_LINES).map((p) => formatProblem(source, p));
    const more = problems.length - shown.length;
    super([...shown, ...(more > 0 ? [`${source}: … and ${more} more problems (fix the ones above first)`] : [])].join('\n'), options);
  }
}

/** `agent.yaml:12:7: bgp.peers[1].asn: AS 0 is reserved; fix: use the peer's AS number, 1..4294967295` */
export function formatProblem(source: string, p: ConfigProblem): string {
  const where = p.line === undefined ? source : `${source}:${p.line}:${p.column ?? 1}`;
  const field = p.path === '' ? '' : `${p.path}: `;
  return `${where}: ${field}${p.message}; fix: ${p.fix}`;
}

/** `agent.yaml:3:6: warning: asn: AS 64500 is reserved for documentation (RFC 5398); fix: …` */
export function formatWarning(source: string, p: ConfigProblem): string {
  const where = p.line === undefined ? source : `${source}:${p.line}:${p.column ?? 1}`;
  const field = p.path === '' ? '' : `${p.path}: `;
  return `${where}: warning: ${field}${p.message}; fix: ${p.fix}`;
}

/** Path segments (as zod and yaml use them) to the operator's spelling: `bgp.peers[1].asn`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const seg of segments) {
    // A key is input too (an unknown key may be anything): cut and escaped.
    const s = typeof seg === 'string' ? cutExcerpt(seg) : seg;
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}
