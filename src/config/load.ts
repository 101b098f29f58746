/**
 * Reading agent.yaml: YAML text → plain value → zod schema → cross-field checks → Config.
 * Every problem found is reported at once, each with its line in the file, its field
 * path, what is wrong and the fix (ConfigError); nothing partial is ever returned.
 * Warnings (warnings.ts) come with a valid config, located the same way.
 *
 * The file itself is an input with bounds: only a regular file (a FIFO would block the
 * read, a device such as /dev/urandom never ends), at most MAX_CONFIG_BYTES, read with
 * that bound even if it grows meanwhile, and UTF-8 text without NUL bytes. Errors about
 * its content quote short excerpts only (excerpt.ts), and at most MAX_PROBLEM_LINES lines.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { hostname as osHostname } from 'node:os';
import { type Document, type ScalarTag, LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { crossChecks } from './checks.js';
import { type ConfigProblem, ConfigError, formatPath } from './errors.js';
import { cutExcerpt } from './excerpt.js';
import { describeValue } from './leaves.js';
import { type Config, configSchema } from './schema.js';
import { configWarnings } from './warnings.js';

export interface ParseOptions {
  /** The default for `node` (tests pin it; the agent uses the machine's hostname). */
  readonly hostname?: string;
}

/** A valid config and what is unusual in it (never a reason to refuse it). */
export interface LoadedConfig {
  readonly config: Config;
  readonly warnings: readonly ConfigProblem[];
}

/** The largest agent.yaml read: 1 MiB (a real one is a few kB; the largest lab config is under 10 kB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

type Segments = readonly (string | number)[];

const PATH_FIX = 'pass the path of agent.yaml with --config (see deploy/agent.example.yaml)';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  if (code === 'ELOOP') return 'too many symbolic links';
  return cutExcerpt((err as Error).message, 200);
}

/**
 * The file's text: stat first (no open of a FIFO or device), then at most
 * MAX_CONFIG_BYTES + 1 bytes read from the opened file (checked again, as the path may
 * have been replaced in between), then UTF-8 decoding that refuses binary content.
 */
export function readConfigText(path: string): string {
  const fail = (message: string, fix: string, cause?: unknown): ConfigError =>
    new ConfigError(path, [{ path: '', message, fix }], cause === undefined ? undefined : { cause });
  const notRegular = (st: Stats) => fail(`cannot read the config: it is ${kindOf(st)}, not a regular file`, PATH_FIX);
  const tooBig = (size: string) => fail(`the file is ${size}; a config is at most ${MAX_CONFIG_BYTES} bytes (1 MiB)`, `${PATH_FIX}; is this the right file?`);
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw fail(`cannot read the config: ${errnoText(err)}`, PATH_FIX, err);
  }
  if (!st.isFile()) throw notRegular(st);
  if (st.size > MAX_CONFIG_BYTES) throw tooBig(`${st.size} bytes`);
  let fd: number;
  try {
    // O_NONBLOCK: should the path have become a FIFO since the stat, open must not wait for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw fail(`cannot read the config: ${errnoText(err)}`, PATH_FIX, err);
  }
  let bytes: Buffer;
  try {
    const again = fstatSync(fd);
    if (!again.isFile()) throw notRegular(again);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > MAX_CONFIG_BYTES) throw tooBig(`more than ${MAX_CONFIG_BYTES} bytes (it grew while being read)`);
    bytes = buf.subarray(0, n);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw fail(`cannot read the config: ${errnoText(err)}`, PATH_FIX, err);
  } finally {
    closeSync(fd);
  }
  return decodeText(path, bytes);
}

/** 1-based line of a byte offset. */
function lineOf(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** UTF-8 text (a leading BOM dropped); a NUL byte or invalid UTF-8 is a short error with its offset. */
export function decodeText(source: string, bytes: Uint8Array): string {
  const fix = 'agent.yaml is YAML text in UTF-8: is this the right file?';
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new ConfigError(source, [{ path: '', message: `not a text file: a NUL byte at offset ${nul} (line ${lineOf(bytes, nul)})`, fix, line: lineOf(bytes, nul) }]);
  }
  // ignoreBOM: keep it in the text, so byte offsets below count it; dropped at the end.
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  if (!isUtf8(bytes)) {
    // The first U+FFFD that was not in the file itself marks the first invalid byte: all
    // before it decoded as written, so its offset is the byte length of the text before it.
    for (let i = text.indexOf('�'); i >= 0; i = text.indexOf('�', i + 1)) {
      const off = Buffer.byteLength(text.slice(0, i));
      if (bytes[off] === 0xef && bytes[off + 1] === 0xbf && bytes[off + 2] === 0xbd) continue;
      const hex = (bytes[off] ?? 0).toString(16).padStart(2, '0');
      throw new ConfigError(source, [{ path: '', message: `not UTF-8 text: byte 0x${hex} at offset ${off} (line ${lineOf(bytes, off)})`, fix, line: lineOf(bytes, off) }]);
    }
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

export function loadConfig(path: string, opts: ParseOptions = {}): Config {
  return parseConfigWithWarnings(readConfigText(path), path, opts).config;
}

/** loadConfig, with the warnings (`routectl validate` prints them). */
export function loadConfigWithWarnings(path: string, opts: ParseOptions = {}): LoadedConfig {
  return parseConfigWithWarnings(readConfigText(path), path, opts);
}

export function parseConfig(text: string, source: string, opts: ParseOptions = {}): Config {
  return parseConfigWithWarnings(text, source, opts).config;
}

export function parseConfigWithWarnings(text: string, source: string, opts: ParseOptions = {}): LoadedConfig {
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
        message: `YAML: ${cutExcerpt(e.message.split('\n')[0] ?? e.code, 200)}`,
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
  // Cluster mode aggregates by default: a worker's blocks are its own there (claimed in
  // etcd), so one prefix per block is all the fabric needs (docs/cluster.md).
  const pools = data.pools.map((p) => ({ ...p, aggregate: p.aggregate ?? data.store.etcd !== undefined }));
  const config = { ...data, pools, node: data.node ?? opts.hostname ?? osHostname() } as Config;
  const warnings = configWarnings(config).map(({ segments, ...w }) => ({ ...w, ...locate(doc, segments, at) }));
  return { config, warnings };
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
