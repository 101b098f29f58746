/**
 * The store's semantics in one place: an in-memory map of key -> {value, revision} with
 * the compare-and-swap checks and watchers. `MemoryStore` is it alone (tests, dry runs);
 * `LocalStore` puts the same core in front of files.
 */
import {
  CasConflictError,
  checkKey,
  MAX_TXN_OPS,
  StoreError,
  type Guard,
  type Json,
  type Store,
  type StoreEntry,
  type TxnOp,
  type WatchEvent,
  type WriteOptions,
} from './store.js';

export interface CoreRecord {
  readonly value: Json;
  readonly revision: number;
}

export class KvCore {
  readonly entries = new Map<string, CoreRecord>();
  revision = 0;
  private readonly watchers = new Set<{ prefix: string; fn: (e: WatchEvent) => void }>();

  get(key: string): StoreEntry | undefined {
    const r = this.entries.get(key);
    return r === undefined ? undefined : { key, value: r.value, revision: r.revision };
  }

  list(prefix: string): StoreEntry[] {
    const out: StoreEntry[] = [];
    for (const [key, r] of this.entries) if (key.startsWith(prefix)) out.push({ key, value: r.value, revision: r.revision });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Throws CasConflictError when the guard does not hold. */
  check(key: string, opts: WriteOptions | undefined): void {
    checkKey(key);
    if (opts?.expectRevision === undefined) return;
    const actual = this.entries.get(key)?.revision ?? 0;
    if (actual !== opts.expectRevision) throw new CasConflictError(key, opts.expectRevision, actual);
  }

  applyPut(key: string, value: Json, revision: number): void {
    this.entries.set(key, { value, revision });
    this.revision = revision;
    this.notify({ type: 'put', entry: { key, value, revision } });
  }

  applyDelete(key: string, revision: number): void {
    this.entries.delete(key);
    this.revision = revision;
    this.notify({ type: 'delete', key, revision });
  }

  watch(prefix: string, fn: (e: WatchEvent) => void): () => void {
    const w = { prefix, fn };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private notify(e: WatchEvent): void {
    const key = e.type === 'put' ? e.entry.key : e.key;
    for (const w of this.watchers) if (key.startsWith(w.prefix)) w.fn(e);
  }
}

/** Values are deep-copied in and out so no caller can mutate stored state by reference. */
export function cloneJson(v: Json): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

export class MemoryStore implements Store {
  private readonly core = new KvCore();

  get(key: string): Promise<StoreEntry | undefined> {
    const e = this.core.get(key);
    return Promise.resolve(e && { ...e, value: cloneJson(e.value) });
  }

  put(key: string, value: Json, opts?: WriteOptions): Promise<number> {
    try {
      this.core.check(key, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const rev = this.core.revision + 1;
    this.core.applyPut(key, cloneJson(value), rev);
    return Promise.resolve(rev);
  }

  delete(key: string, opts?: WriteOptions): Promise<boolean> {
    try {
      this.core.check(key, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.core.entries.has(key)) return Promise.resolve(false);
    this.core.applyDelete(key, this.core.revision + 1);
    return Promise.resolve(true);
  }

  list(prefix: string): Promise<readonly StoreEntry[]> {
    return Promise.resolve(this.core.list(prefix).map((e) => ({ ...e, value: cloneJson(e.value) })));
  }

  transact(guards: readonly Guard[], ops: readonly TxnOp[]): Promise<number> {
    try {
      for (const g of guards) this.core.check(g.key, { expectRevision: g.revision });
      for (const o of ops) this.core.check('put' in o ? o.put : o.delete, undefined);
      if (ops.length > MAX_TXN_OPS) throw new StoreError(`store: a transaction of ${ops.length} writes (at most ${MAX_TXN_OPS})`);
    } catch (err) {
      return Promise.reject(err);
    }
    // Like etcd: every write of one transaction carries the same revision.
    const rev = this.core.revision + 1;
    for (const o of ops) {
      if ('put' in o) this.core.applyPut(o.put, cloneJson(o.value), rev);
      else if (this.core.entries.has(o.delete)) this.core.applyDelete(o.delete, rev);
    }
    this.core.revision = rev;
    return Promise.resolve(rev);
  }

  snapshot(key: string, prefix: string): Promise<{ entry: StoreEntry | undefined; under: readonly StoreEntry[] }> {
    const e = this.core.get(key);
    return Promise.resolve({ entry: e && { ...e, value: cloneJson(e.value) }, under: this.core.list(prefix).map((x) => ({ ...x, value: cloneJson(x.value) })) });
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void): () => void {
    return this.core.watch(prefix, onEvent);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
