/**
 * Reading agent.yaml: YAML text → plain value → zod schema → cross-field checks → Config.
 * Every problem found is reported at once, each with its line in the file, its field
 * path, what is wrong and the fix (ConfigError); nothing partial is ever returned.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { type Document, type ScalarTag, LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { crossChecks } from './checks.js';
import { type ConfigProblem, ConfigError, formatPath } from './errors.js';
import { describeValue } from './leaves.js';
import { type Config, configSchema } from './schema.js';

export interface ParseOptions {
  /** The default for `node` (tests pin it; the agent uses the machine's hostname). */
  readonly hostname?: string;
}

type Segments = readonly (string | number)[];

export function loadConfig(path: string, opts: ParseOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(path, [{ path: '', message: `cannot read the config: ${message}`, fix: 'pass the path of agent.yaml with --config (see deploy/agent.example.yaml)' }], { cause: err });
  }
  return parseConfig(text, path, opts);
}

export function parseConfig(text: string, source: string, opts: ParseOptions = {}): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    // YAML reads an unquoted 65000.10 as the float 65000.1; keep such scalars as their
    // text so that asdot AS numbers mean what was written (and no other field takes floats).
    customTags: (tags) =>
      tags.map((t) =>
        typeof t === 'object' && t.tag === 'tag:yaml.org,2002:float' && t.format === undefined && String(t.test).includes('[0-9]')
          ? ({ ...t, resolve: (s: string) => s } as ScalarTag)
          : t,
      ),
  });
  const at = (pos: number): { line: number; column: number } => {
    const { line, col } = lines.linePos(pos);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({
        path: '',
        message: `YAML: ${e.message.split('\n')[0] ?? e.code}`,
        fix: 'correct the YAML syntax (quote IPv6 addresses that begin or end with "::")',
        ...at(e.pos[0]),
      })),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) {
    throw new ConfigError(source, [{ path: '', message: 'the file is empty', fix: 'start from deploy/agent.example.yaml' }]);
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(source, [{ path: '', message: `expected a mapping at the top, got ${describeValue(value)}`, fix: 'start from deploy/agent.example.yaml' }]);
  }

  const parsed = configSchema.safeParse(value);
  let problems: { segments: Segments; path: string; message: string; fix: string }[];
  if (!parsed.success) {
    problems = parsed.error.issues.flatMap(issueToProblems);
  } else {
    problems = crossChecks(parsed.data);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      source,
      problems
        .map(({ segments, ...p }) => ({ ...p, ...locate(doc, segments, at) }))
        // In file order, so the operator can fix them top to bottom.
        .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
    );
  }
  const data = parsed.data as z.output<typeof configSchema>;
  return { ...data, node: data.node ?? opts.hostname ?? osHostname() } as Config;
}

/** The line of the deepest part of the path that exists in the document. */
function locate(
  doc: Document,
  segments: Segments,
  at: (pos: number) => { line: number; column: number },
): Partial<Pick<ConfigProblem, 'line' | 'column'>> {
  for (let n = segments.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
    if (isNode(node) && node.range) return at(node.range[0]);
  }
  return {};
}

function issueToProblems(iss: z.ZodIssue): { segments: Segments; path: string; message: string; fix: string }[] {
  const segments = iss.path;
  const one = (message: string, fix: string, segs: Segments = segments) => ({ segments: segs, path: formatPath(segs), message, fix });
  switch (iss.code) {
    case z.ZodIssueCode.custom:
      return [one(iss.message, String((iss.params as { fix?: unknown } | undefined)?.fix ?? 'see deploy/agent.example.yaml'))];
    case z.ZodIssueCode.unrecognized_keys: {
      const known = knownKeys(segments);
      return iss.keys.map((key) => {
        const near = known.find((k) => closeEnough(k, key));
        const fix = near !== undefined ? `did you mean ${near}?` : `remove it; the keys here are: ${known.join(', ')}`;
        return one('unknown key', fix, [...segments, key]);
      });
    }
    case z.ZodIssueCode.invalid_type: {
      if (iss.received === 'undefined') return [one('missing', `add ${String(segments[segments.length - 1])} (see deploy/agent.example.yaml)`)];
      const got = iss.received === 'null' ? 'nothing (null)' : iss.received === 'array' ? 'a list' : /^[aeiou]/.test(iss.received) ? `an ${iss.received}` : `a ${iss.received}`;
      if (iss.expected === 'array') return [one(`expected a list, got ${got}`, 'write a list, e.g. [a, b], or remove the key for the default')];
      if (iss.expected === 'object') return [one(`expected a mapping, got ${got}`, 'write KEY: VALUE pairs (see deploy/agent.example.yaml), or remove the key for the default')];
      return [one(`expected ${iss.expected}, got ${got}`, 'see deploy/agent.example.yaml')];
    }
    default:
      return [one(iss.message, 'see deploy/agent.example.yaml')];
  }
}

/** The keys a strict object at this path accepts, read from the schema itself. */
function knownKeys(segments: Segments): string[] {
  let s: z.ZodTypeAny = configSchema;
  const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (t instanceof z.ZodEffects) t = t.innerType();
      else if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
      else if (t instanceof z.ZodDefault) t = t.removeDefault();
      else return t;
    }
  };
  for (const seg of segments) {
    const u = unwrap(s);
    if (typeof seg === 'number' && u instanceof z.ZodArray) s = u.element;
    else if (typeof seg === 'string' && u instanceof z.ZodObject) s = (u.shape as Record<string, z.ZodTypeAny>)[seg] ?? u;
    else return [];
  }
  const u = unwrap(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape as object) : [];
}

/** Same word in another case, or at most two edits away: a likely misspelling. */
function closeEnough(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  if (Math.abs(a.length - b.length) > 2 || Math.min(a.length, b.length) < 4) return false;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return ((d[a.length] as number[])[b.length] as number) <= 2;
}
