/**
 * ConfigError: every problem found in one agent.yaml, each with the field path, what is
 * wrong and how to fix it. The message has one line per problem so an operator can act
 * on all of them in one edit, and `routectl validate` prints it as is.
 */

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
    super(problems.map((p) => formatProblem(source, p)).join('\n'), options);
  }
}

/** `agent.yaml:12:7: bgp.peers[1].asn: AS 0 is reserved; fix: use the peer's AS number, 1..4294967295` */
export function formatProblem(source: string, p: ConfigProblem): string {
  const where = p.line === undefined ? source : `${source}:${p.line}:${p.column ?? 1}`;
  const field = p.path === '' ? '' : `${p.path}: `;
  return `${where}: ${field}${p.message}; fix: ${p.fix}`;
}

/** Path segments (as zod and yaml use them) to the operator's spelling: `bgp.peers[1].asn`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}
