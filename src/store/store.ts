/**
 * The Store interface: a small key/value API shaped like etcd's, so the embedded local
 * store and an etcd-backed store are interchangeable.
 *
 * - Keys are '/'-separated paths (`ipam/v1/allocations`, `endpoints/<id>`). The first
 *   segment is the key's class; a backend may keep each class together.
 * - Values are JSON documents. Callers validate what they read (zod at the edge); the
 *   store only guarantees it returns what was last written.
 * - Every write bumps one store-wide, monotonically increasing revision, and each entry
 *   remembers the revision of its last write (etcd's mod_revision). Compare-and-swap:
 *   `put`/`delete` with `expectRevision` succeed only when the entry's revision is that
 *   number, and `expectRevision: 0` means "must not exist" (etcd's `create_revision == 0`
 *   transaction guard). A lost race is a typed `CasConflictError`, never a silent overwrite.
 */

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

export interface StoreEntry {
  readonly key: string;
  readonly value: Json;
  /** Revision of the last write to this key. */
  readonly revision: number;
}

export interface WriteOptions {
  /** Succeed only if the key's current revision equals this; 0 means the key must not exist. */
  readonly expectRevision?: number;
}

/** A transaction's guard: the key's revision must be this (0: the key must not exist). */
export interface Guard {
  readonly key: string;
  readonly revision: number;
}

/** One write of a transaction. */
export type TxnOp = { readonly put: string; readonly value: Json } | { readonly delete: string };

/** etcd's default `--max-txn-ops`: the most writes one transaction may carry. */
export const MAX_TXN_OPS = 128;

export type WatchEvent =
  | { readonly type: 'put'; readonly entry: StoreEntry }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

export interface Store {
  get(key: string): Promise<StoreEntry | undefined>;
  /** Writes the value and returns the new revision. */
  put(key: string, value: Json, opts?: WriteOptions): Promise<number>;
  /** Removes the key; false when it did not exist (and no expectRevision was given). */
  delete(key: string, opts?: WriteOptions): Promise<boolean>;
  /** Every entry whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<readonly StoreEntry[]>;
  /**
   * Several writes, all or nothing, when every guard holds (one etcd transaction); returns
   * the store revision of the write. A guard that does not hold is a CasConflictError
   * naming its key, and nothing is written. At most MAX_TXN_OPS writes.
   */
  transact?(guards: readonly Guard[], ops: readonly TxnOp[]): Promise<number>;
  /** The entry at `key` and every entry under `prefix`, read at one revision. */
  snapshot?(key: string, prefix: string): Promise<{ readonly entry: StoreEntry | undefined; readonly under: readonly StoreEntry[] }>;
  /** Changes under `prefix` after the call; returns the function that stops watching. */
  watch?(prefix: string, onEvent: (e: WatchEvent) => void): () => void;
  close(): Promise<void>;
}

/** A store with transactions and one-revision reads (etcd, the memory store). */
export type TxnStore = Store & Required<Pick<Store, 'transact' | 'snapshot'>>;

export function hasTransactions(store: Store): store is TxnStore {
  return store.transact !== undefined && store.snapshot !== undefined;
}

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/**
 * The store cannot answer now (etcd without quorum, no member reachable, a deadline
 * passed): the same request may succeed later. Callers that can wait (a container that
 * is not wired yet, a release owed) keep the work and retry; nothing was written.
 */
export class StoreUnavailableError extends StoreError {
  override readonly name: string = 'StoreUnavailableError';
}

/** True for an error that says "try again later" rather than "this is wrong". */
export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError;
}

/** A compare-and-swap guard failed: someone else wrote the key first. */
export class CasConflictError extends StoreError {
  override readonly name = 'CasConflictError';
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(
      `store: ${key} changed concurrently (expected revision ${expected}, found ${actual === 0 ? 'no entry' : actual}); re-read and retry`,
    );
  }
}

/** A key that the store cannot hold (empty segment, '..', control characters). */
export class InvalidKeyError extends StoreError {
  override readonly name = 'InvalidKeyError';
  constructor(readonly key: string) {
    super(`store: invalid key ${JSON.stringify(key)}: use '/'-separated segments of [A-Za-z0-9._:-] (no empty, '.' or '..')`);
  }
}

const SEGMENT = /^[A-Za-z0-9._:-]+$/;

export function checkKey(key: string): void {
  const segs = key.split('/');
  for (const s of segs) {
    if (!SEGMENT.test(s) || s === '.' || s === '..') throw new InvalidKeyError(key);
  }
}

/** The key's class: its first segment. */
export function keyClass(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? key : key.slice(0, i);
}

/** A value and the revision it was read or written at. */
export interface Versioned<T> {
  readonly revision: number;
  readonly value: T;
}

/** A value kept under compare-and-swap: one key (update), or a document over several (IPAM in cluster mode). */
export interface CasCell<T> {
  read(): Promise<Versioned<T> | undefined>;
  /**
   * Stores `next` over `cur` (undefined: nothing stored yet), guarded by cur's revision;
   * resolves to the new revision once durable. CasConflictError: someone wrote since.
   */
  write(cur: Versioned<T> | undefined, next: T): Promise<number>;
  /** Removes it, guarded by cur's revision (a cell without it is never removed). */
  remove?(cur: Versioned<T>): Promise<void>;
}

/**
 * Read-modify-write with CAS retries: `fn` sees the current value (or undefined) and
 * returns the next one (or undefined to remove it, or the same reference to leave it).
 * Resolves to what is stored once it is durable (undefined: nothing).
 *
 * `known`: the value as the caller last wrote it, with its revision, when the caller is
 * its usual writer. The first attempt then starts from it without reading the store: the
 * write is guarded by its revision, so if anyone wrote since, it fails as a conflict and
 * the next attempt reads. (For etcd this saves the linearizable read, a quorum round
 * trip, per write.) A change that leaves `known` as it is reads the store before it
 * answers, so nothing is confirmed from a stale copy.
 */
export async function casUpdate<T>(
  cell: CasCell<T>,
  fn: (cur: Versioned<T> | undefined) => T | undefined,
  maxAttempts = 10,
  known?: Versioned<T>,
): Promise<Versioned<T> | undefined> {
  for (let attempt = 1; ; attempt++) {
    const guess = attempt === 1 ? known : undefined;
    const cur = guess ?? (await cell.read());
    const next = fn(cur);
    // Nothing to write on the strength of a copy: read, and decide again.
    if (guess !== undefined && (next === undefined || next === guess.value)) continue;
    if (cur === undefined ? next === undefined : next === cur.value) return cur;
    try {
      if (next !== undefined) return { revision: await cell.write(cur, next), value: next };
      if (cell.remove === undefined) throw new StoreError('store: internal: this value is never removed');
      await cell.remove(cur!);
      return undefined;
    } catch (err) {
      if (!(err instanceof CasConflictError) || attempt >= maxAttempts) throw err;
      // Back off a little, with jitter, so competing writers do not collide in lockstep.
      await new Promise((r) => setTimeout(r, Math.random() * 2 * attempt));
    }
  }
}

/** casUpdate of one key: `fn` sees the entry (or undefined); its result is the entry stored. */
export async function update(
  store: Store,
  key: string,
  fn: (cur: StoreEntry | undefined) => Json | undefined,
  maxAttempts = 10,
  known?: StoreEntry,
): Promise<StoreEntry | undefined> {
  const cell: CasCell<Json> = {
    read: () => store.get(key),
    write: (cur, next) => store.put(key, next, { expectRevision: cur?.revision ?? 0 }),
    remove: async (cur) => void (await store.delete(key, { expectRevision: cur.revision })),
  };
  const r = await casUpdate(cell, (cur) => fn(cur && { key, value: cur.value, revision: cur.revision }), maxAttempts, known);
  return r && { key, value: r.value, revision: r.revision };
}
