/**
 * LocalStore: the embedded default store — JSON files in one directory, no server.
 *
 * Layout: one file per key class (`<dir>/<class>.json`, the class being the key's first
 * segment), holding every entry of that class and the store revision of its last write.
 * A write never edits a file in place:
 *   1. the new document goes to a temporary file in the same directory,
 *   2. fsync(temp) — the bytes are on disk before the name points at them,
 *   3. rename(temp, final) — POSIX rename(2) replaces the name atomically, so a reader or
 *      a restart sees either the old document or the new one, never a mix,
 *   4. fsync(dir) — the rename itself is durable (ext4/xfs need this for a new entry).
 * (The four steps run as one job on a writer thread: writer.ts.) Only then does the put
 * resolve and the in-memory view change. A kill -9 at any point
 * leaves the previous document (plus a stray temp file, removed at the next open) or the
 * new one: nothing acknowledged is lost and nothing is half-written.
 *
 * One process owns a directory at a time (a LOCK file holding its pid; a lock whose pid
 * is gone is stale and taken over). Writes are serialized in that process, so the CAS
 * checks against the in-memory view are exact. The whole class is rewritten per write:
 * fine for this agent's sizes (thousands of endpoints = a few hundred KB per write).
 */
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cloneJson, KvCore } from './memory.js';
import { FileWriter } from './writer.js';
import { keyClass, StoreError, type Json, type Store, type StoreEntry, type WatchEvent, type WriteOptions } from './store.js';

const FORMAT = 'routectl-store/1';
const FILE_SUFFIX = '.json';
const TMP_MARK = '.tmp-';

interface ClassDoc {
  readonly format: typeof FORMAT;
  readonly revision: number;
  readonly entries: Record<string, { readonly v: Json; readonly r: number }>;
}

/** A file that exists but is not a store document: refuse to start rather than guess. */
export class StoreCorruptError extends StoreError {
  override readonly name = 'StoreCorruptError';
  constructor(
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`store: ${file} is not a valid store document; move it aside to start from empty, or restore it`, options);
  }
}

/** Another live process holds the directory. */
export class StoreLockedError extends StoreError {
  override readonly name = 'StoreLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`store: ${dir} is in use by process ${pid}; stop it first (one agent per store directory)`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LocalStoreOptions {
  /** Skip fsync (tests of logic only; never in the agent). */
  readonly unsafeNoSync?: boolean;
}

export class LocalStore implements Store {
  private readonly core = new KvCore();
  private queue: Promise<unknown> = Promise.resolve();
  private tmpSeq = 0;
  private readonly writer = new FileWriter();
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly opts: LocalStoreOptions,
  ) {}

  static async open(dir: string, opts: LocalStoreOptions = {}): Promise<LocalStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const s = new LocalStore(dir, opts);
    await s.lock();
    try {
      await s.load();
    } catch (err) {
      await s.unlock();
      throw err;
    }
    return s;
  }

  private async lock(): Promise<void> {
    const file = join(this.dir, 'LOCK');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) throw new StoreLockedError(this.dir, pid);
      // Stale: its owner died (kill -9 leaves the file behind).
      await unlink(file).catch(() => undefined);
    }
    throw new StoreError(`store: could not take ${file}`);
  }

  private async unlock(): Promise<void> {
    await unlink(join(this.dir, 'LOCK')).catch(() => undefined);
  }

  private async load(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const file = join(this.dir, name);
      if (name.includes(TMP_MARK)) {
        // A write that never reached its rename: the previous document is still intact.
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (!name.endsWith(FILE_SUFFIX)) continue;
      let doc: ClassDoc;
      try {
        doc = JSON.parse(await readFile(file, 'utf8')) as ClassDoc;
      } catch (cause) {
        throw new StoreCorruptError(file, { cause });
      }
      if (doc?.format !== FORMAT || typeof doc.revision !== 'number' || typeof doc.entries !== 'object' || doc.entries === null) {
        throw new StoreCorruptError(file);
      }
      const cls = name.slice(0, -FILE_SUFFIX.length);
      for (const [key, e] of Object.entries(doc.entries)) {
        if (keyClass(key) !== cls || typeof e?.r !== 'number') throw new StoreCorruptError(file);
        this.core.entries.set(key, { value: e.v, revision: e.r });
      }
      this.core.revision = Math.max(this.core.revision, doc.revision);
    }
  }

  /** Runs write operations one at a time, in call order. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async persistClass(cls: string, revision: number, change: { key: string; value?: Json }): Promise<void> {
    const entries: Record<string, { v: Json; r: number }> = {};
    for (const [key, r] of this.core.entries) {
      if (keyClass(key) === cls && key !== change.key) entries[key] = { v: r.value, r: r.revision };
    }
    if (change.value !== undefined) entries[change.key] = { v: change.value, r: revision };
    const doc: ClassDoc = { format: FORMAT, revision, entries };
    const final = join(this.dir, cls + FILE_SUFFIX);
    const tmp = join(this.dir, `${cls}${FILE_SUFFIX}${TMP_MARK}${process.pid}-${++this.tmpSeq}`);
    // One job on the writer thread: temp write, fsync, rename (temp removed if it fails),
    // directory fsync — the steps 1–4 above, in that order.
    await this.writer.replace({ tmp, final, dir: this.dir, data: JSON.stringify(doc), sync: !this.opts.unsafeNoSync });
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('store: closed');
  }

  get(key: string): Promise<StoreEntry | undefined> {
    const e = this.core.get(key);
    return Promise.resolve(e && { ...e, value: cloneJson(e.value) });
  }

  list(prefix: string): Promise<readonly StoreEntry[]> {
    return Promise.resolve(this.core.list(prefix).map((e) => ({ ...e, value: cloneJson(e.value) })));
  }

  put(key: string, value: Json, opts?: WriteOptions): Promise<number> {
    const copy = cloneJson(value);
    return this.serialize(async () => {
      this.ensureOpen();
      this.core.check(key, opts);
      const rev = this.core.revision + 1;
      await this.persistClass(keyClass(key), rev, { key, value: copy });
      this.core.applyPut(key, copy, rev);
      return rev;
    });
  }

  delete(key: string, opts?: WriteOptions): Promise<boolean> {
    return this.serialize(async () => {
      this.ensureOpen();
      this.core.check(key, opts);
      if (!this.core.entries.has(key)) return false;
      const rev = this.core.revision + 1;
      await this.persistClass(keyClass(key), rev, { key });
      this.core.applyDelete(key, rev);
      return true;
    });
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void): () => void {
    return this.core.watch(prefix, onEvent);
  }

  close(): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.writer.close();
      await this.unlock();
    });
  }
}
