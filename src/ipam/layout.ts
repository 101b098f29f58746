/**
 * How a worker's IPAM document is kept in the Store: the document (HostDoc: the worker's
 * endpoints' allocations, its claimed blocks, a next-fit cursor per pool) is the same in
 * both modes; what differs is its stored form.
 *
 * - One document (the local store): `ipam/hosts/<node>` holds all of it; a change rewrites
 *   it, guarded by its revision. The local store rewrites a file per write anyway.
 * - A key per endpoint (cluster mode, etcd): `ipam/hosts/<node>` is the head (blocks and
 *   cursors) and each endpoint's allocation is `ipam/endpoints/<node>/<id>`. A change is
 *   one etcd transaction guarded by the head's revision: the head (always written, so its
 *   revision moves with every change) and only the endpoint keys the change touched. The
 *   write stays a few hundred bytes however many containers the worker runs; a rewrite of
 *   one document would grow with them, and etcd replicates, fsyncs and keeps in its history
 *   every byte of every revision (a worker with 300 containers rewrote 40 kB per start,
 *   which doubled etcd's commit time). Reads take the head and the endpoint keys at one
 *   revision (Store.snapshot).
 *
 * A change with more endpoint writes than one etcd transaction takes (MAX_TXN_OPS; a
 * reconcile after a long outage, the first write after a move from the one-document form)
 * goes in several transactions, each guarded by the head's revision, the head last: a crash
 * between them leaves endpoint keys written that the head does not yet account for, which
 * the next read takes as they are (an allocation never acknowledged is then freed by the
 * reconcile at start; a release that was owed is done again).
 */
import { z } from 'zod';
import { MAX_TXN_OPS, type CasCell, type Guard, type Json, type Store, type StoreEntry, type TxnOp, type TxnStore, type Versioned } from '../store/store.js';
import { IpamError } from './errors.js';

export const HOSTS_PREFIX = 'ipam/hosts/';
export const ENDPOINTS_PREFIX = 'ipam/endpoints/';

const EndpointSchema = z.object({ zone: z.string(), ipv4: z.string().optional(), ipv6: z.string().optional() }).strict();
export type EndpointRecord = z.infer<typeof EndpointSchema>;

// The stored document is an edge: validate it when read.
const HostDocSchema = z.object({
  v: z.literal(1),
  endpoints: z.record(EndpointSchema),
  /** pool cidr -> claimed block cidrs */
  blocks: z.record(z.array(z.string())),
  /** pool cidr -> last address handed out */
  cursors: z.record(z.string()),
});
export type HostDoc = z.infer<typeof HostDocSchema>;

/** The head of the key-per-endpoint form. */
const HeadSchema = z.object({ v: z.literal(2), blocks: z.record(z.array(z.string())), cursors: z.record(z.string()) });
/** An endpoint's own key: its allocation and its id (the key segment is an encoding of it). */
const KeyedEndpointSchema = EndpointSchema.extend({ id: z.string() }).strict();

export const emptyDoc = (): HostDoc => ({ v: 1, endpoints: {}, blocks: {}, cursors: {} });

/** The document as stored, and the revision it was read or written at. */
export interface StoredDoc extends Versioned<HostDoc> {
  /** Key per endpoint: read from the one-document form (the next write moves it). */
  readonly legacy?: boolean;
}

/**
 * How the document is read and written (a CasCell: Ipam changes it with casUpdate). write
 * stores `next`, computed from `cur` (undefined: no document yet), guarded by cur's
 * revision; a CasConflictError means someone wrote since and nothing of `next` is stored.
 */
export interface DocLayout extends CasCell<HostDoc> {
  /** The key of the document (one document) or of its head (key per endpoint). */
  readonly key: string;
  read(): Promise<StoredDoc | undefined>;
  write(cur: StoredDoc | undefined, next: HostDoc): Promise<number>;
}

export function parseDoc(key: string, v: Json): HostDoc {
  const r = HostDocSchema.safeParse(v);
  if (!r.success) throw new IpamError(`store entry ${key} is not an IPAM document: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}

/** The whole document under `ipam/hosts/<node>` (the local store). */
export class OneDocument implements DocLayout {
  readonly key: string;

  constructor(
    private readonly store: Store,
    node: string,
  ) {
    this.key = HOSTS_PREFIX + node;
  }

  async read(): Promise<StoredDoc | undefined> {
    const e = await this.store.get(this.key);
    return e && { revision: e.revision, value: parseDoc(this.key, e.value) };
  }

  write(cur: StoredDoc | undefined, next: HostDoc): Promise<number> {
    return this.store.put(this.key, next as unknown as Json, { expectRevision: cur?.revision ?? 0 });
  }
}

/** A key segment for an endpoint id: [A-Za-z0-9_-] as they are, any other byte as `:xx`. */
export function endpointSegment(id: string): string {
  let out = '';
  for (const b of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `:${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The head at `ipam/hosts/<node>`, each endpoint at `ipam/endpoints/<node>/<id>` (cluster mode). */
export class KeyPerEndpoint implements DocLayout {
  readonly key: string;
  private readonly under: string;

  constructor(
    private readonly store: TxnStore,
    node: string,
  ) {
    this.key = HOSTS_PREFIX + node;
    this.under = `${ENDPOINTS_PREFIX}${node}/`;
  }

  endpointKey(id: string): string {
    return this.under + endpointSegment(id);
  }

  async read(): Promise<StoredDoc | undefined> {
    const { entry, under } = await this.store.snapshot(this.key, this.under);
    if (entry === undefined && under.length === 0) return undefined;
    return assemble(this.key, entry, under);
  }

  async write(cur: StoredDoc | undefined, next: HostDoc): Promise<number> {
    const ops: TxnOp[] = [];
    const before = cur === undefined || cur.legacy === true ? {} : cur.value.endpoints;
    for (const [id, e] of Object.entries(next.endpoints)) {
      const was = before[id];
      if (was === undefined || was.zone !== e.zone || was.ipv4 !== e.ipv4 || was.ipv6 !== e.ipv6) ops.push({ put: this.endpointKey(id), value: { id, ...e } });
    }
    for (const id of Object.keys(before)) if (next.endpoints[id] === undefined) ops.push({ delete: this.endpointKey(id) });
    return transactHeadLast(this.store, { key: this.key, revision: cur?.revision ?? 0 }, ops, { put: this.key, value: { v: 2, blocks: next.blocks, cursors: next.cursors } });
  }
}

/**
 * `ops`, then `last` (a write of the head), in transactions of at most MAX_TXN_OPS writes,
 * each guarded by the head's revision; only the last one moves it. The last revision.
 */
export async function transactHeadLast(store: Pick<TxnStore, 'transact'>, head: Guard, ops: readonly TxnOp[], last: TxnOp): Promise<number> {
  const rest = [...ops];
  while (rest.length >= MAX_TXN_OPS) await store.transact([head], rest.splice(0, MAX_TXN_OPS));
  return store.transact([head], [...rest, last]);
}

/** The document from its head (either form) and its endpoint keys. */
function assemble(key: string, head: StoreEntry | undefined, under: readonly StoreEntry[]): StoredDoc {
  let doc = emptyDoc();
  let legacy = false;
  if (head !== undefined) {
    const h = HeadSchema.safeParse(head.value);
    if (h.success) doc = { v: 1, endpoints: {}, blocks: h.data.blocks, cursors: h.data.cursors };
    else {
      doc = parseDoc(key, head.value);
      legacy = true;
    }
  }
  for (const e of under) {
    const r = KeyedEndpointSchema.safeParse(e.value);
    if (!r.success) throw new IpamError(`store entry ${e.key} is not an endpoint's allocation: ${r.error.issues[0]?.message ?? ''}`);
    const { id, ...alloc } = r.data;
    doc.endpoints[id] = alloc;
  }
  return { revision: head?.revision ?? 0, value: doc, ...(legacy ? { legacy } : {}) };
}

/** One worker's allocations as the cluster views read them (status, endpoints --all, reclaim). */
export interface HostRecord {
  readonly node: string;
  /** Revision of the head (0: endpoint keys without a head). */
  readonly revision: number;
  readonly endpoints: Readonly<Record<string, EndpointRecord>>;
  /** Every key that holds part of it (the head first), for a release. */
  readonly keys: readonly string[];
}

/** Every worker's allocations (both stored forms), by node name. */
export async function readHosts(store: Store): Promise<Map<string, HostRecord>> {
  const [heads, eps] = await Promise.all([store.list(HOSTS_PREFIX), store.list(ENDPOINTS_PREFIX)]);
  const byNode = new Map<string, { head?: StoreEntry; under: StoreEntry[] }>();
  const slot = (n: string) => byNode.get(n) ?? byNode.set(n, { under: [] }).get(n)!;
  for (const h of heads) slot(h.key.slice(HOSTS_PREFIX.length)).head = h;
  for (const e of eps) {
    const rest = e.key.slice(ENDPOINTS_PREFIX.length);
    if (rest.includes('/')) slot(rest.slice(0, rest.indexOf('/'))).under.push(e);
  }
  const out = new Map<string, HostRecord>();
  for (const [node, { head, under }] of byNode) {
    const key = HOSTS_PREFIX + node;
    let endpoints: HostDoc['endpoints'] = {};
    try {
      endpoints = assemble(key, head, under).value.endpoints;
    } catch {
      // Unreadable: shown without endpoints; a release still deletes every key of it.
    }
    out.set(node, { node, revision: head?.revision ?? 0, endpoints, keys: [...(head ? [key] : []), ...under.map((e) => e.key)] });
  }
  return out;
}

/** The one worker's record, or undefined when it has none. */
export async function readHost(store: Store, node: string): Promise<HostRecord | undefined> {
  const key = HOSTS_PREFIX + node;
  const under = `${ENDPOINTS_PREFIX}${node}/`;
  const { entry, under: eps } = store.snapshot ? await store.snapshot(key, under) : { entry: await store.get(key), under: [] };
  if (entry === undefined && eps.length === 0) return undefined;
  const s = assemble(key, entry, eps);
  return { node, revision: s.revision, endpoints: s.value.endpoints, keys: [...(entry ? [key] : []), ...eps.map((e) => e.key)] };
}
