/**
 * EtcdStore: the Store interface on an etcd v3 cluster, through the etcd3 client (gRPC).
 *
 * - Keys live under one prefix (`store.etcd.prefix`, default `/routectl/`): the client's
 *   namespace adds it, so `ipam/hosts/w1` is `/routectl/ipam/hosts/w1` in etcd.
 * - Values are JSON text. A revision is etcd's own: the store revision of a write and an
 *   entry's mod_revision, so `expectRevision` maps one to one onto an etcd transaction
 *   guard: `mod_revision(key) == N`, or `create_revision(key) == 0` for "must not exist"
 *   (etcd API: a key that does not exist has create_revision 0). The guard and the write
 *   are one transaction, so a lost race is a CasConflictError, never an overwrite.
 * - Liveness: `holdLease` keeps a key alive under an etcd lease that the client renews
 *   (keep-alive at a third of the TTL); the key goes away by itself when this process
 *   stops renewing it (dies, loses etcd for longer than the TTL).
 *
 * `open` refuses to return before it has talked to at least one member: a wrong CA, a
 * missing certificate or no reachable endpoint is an error at start that names each
 * endpoint and what went wrong with it, and nothing is started.
 */
import { readFile } from 'node:fs/promises';
import { circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCNotImplementedError,
  GRPCUnauthenticatedError,
  isRecoverableError,
  type IOptions,
  type Lease,
  type MultiRangeBuilder,
  type Namespace,
  type SingleRangeBuilder,
} from 'etcd3';
import { CasConflictError, checkKey, MAX_TXN_OPS, StoreError, StoreUnavailableError, type Guard, type Json, type Store, type StoreEntry, type TxnOp, type WatchEvent, type WriteOptions } from './store.js';

export interface EtcdTlsFiles {
  /** PEM file of the CA that signed the members' certificates. */
  readonly ca?: string | undefined;
  /** PEM files of this client's certificate and key (etcd's --client-cert-auth). */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  /** Key prefix, '/'-terminated (default `/routectl/`). */
  readonly prefix?: string;
  readonly tls?: EtcdTlsFiles | undefined;
  /** Deadline of each request in ms (default 5000). */
  readonly requestTimeoutMs?: number;
  /** How long `open` waits for the first answer of each endpoint, ms (default 5000). */
  readonly connectTimeoutMs?: number;
  /**
   * What `open` does when no endpoint answers and none of the failures is a TLS problem:
   * 'fail' (default: the CLI, which needs an answer now) or 'start' (the agent: it starts,
   * adopts its kernel state and waits for etcd; `unreachableAtOpen` says why).
   */
  readonly whenUnreachable?: 'fail' | 'start';
}

/** etcd could not be reached or used; the message names the endpoints and the cause. */
export class EtcdStoreError extends StoreError {
  override readonly name = 'EtcdStoreError';
}

/** etcd did not answer this time (no quorum, no member reachable, deadline): retry later. */
export class EtcdUnavailableError extends StoreUnavailableError {
  override readonly name = 'EtcdUnavailableError';
}

/** Errors that waiting does not cure: credentials, permissions, a request etcd refuses as such. */
const PERMANENT = [
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCNotImplementedError,
  GRPCUnauthenticatedError,
];

/** A TLS handshake problem (wrong CA, name mismatch): a configuration error, never waited out. */
const TLS_PROBLEM = /certificate|SSL|TLS|handshake|self[- ]signed|unable to verify/i;

const DEFAULT_TIMEOUT_MS = 5000;

async function readPem(what: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new EtcdStoreError(`store.etcd.tls.${what}: cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

async function credentials(tls: EtcdTlsFiles | undefined): Promise<IOptions['credentials']> {
  if (tls === undefined || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined)) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new EtcdStoreError('store.etcd.tls: cert and key go together; give both or neither');
  }
  // No ca: the system's roots (grpc's default), as for any TLS client.
  const rootCertificate = tls.ca === undefined ? undefined : await readPem('ca', tls.ca);
  const certChain = tls.cert === undefined ? undefined : await readPem('cert', tls.cert);
  const privateKey = tls.key === undefined ? undefined : await readPem('key', tls.key);
  return { rootCertificate: rootCertificate as Buffer, ...(certChain ? { certChain } : {}), ...(privateKey ? { privateKey } : {}) };
}

/** The gRPC message without its status-code noise, for a one-line error. */
function reason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\s+/g, ' ').trim();
}

function parseValue(key: string, raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch (cause) {
    throw new EtcdStoreError(`store: etcd key ${key} does not hold JSON`, { cause });
  }
}

export class EtcdStore implements Store {
  private readonly kv: Namespace;
  private readonly watchers = new Set<() => void>();
  private readonly leases = new Set<Lease>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
    readonly endpoints: readonly string[],
    private readonly timeoutMs: number,
  ) {
    this.kv = client.namespace(prefix);
  }

  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    if (opts.endpoints.length === 0) throw new EtcdStoreError('store.etcd.endpoints: no endpoint given');
    const creds = await credentials(opts.tls);
    const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const connectMs = opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const base: Omit<IOptions, 'hosts'> = {
      ...(creds ? { credentials: creds } : {}),
      dialTimeout: connectMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // Per member: after 3 failures in a row calls skip it, and one call tries it again
      // after a second (the client's default waits 5 s, and every failed try starts the
      // wait again): a member back from an outage, or a cluster back from losing quorum,
      // is used again within about a second.
      faultHandling: { host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }) },
    };
    // Ask every endpoint once, each on its own connection, so that an error names the
    // endpoint it belongs to (a bad CA shows up as a TLS handshake failure on each).
    const failures: string[] = [];
    await Promise.all(
      opts.endpoints.map(async (ep) => {
        const probe = new Etcd3({ ...base, hosts: [ep], defaultCallOptions: { deadline: Date.now() + connectMs } });
        try {
          await probe.maintenance.status();
        } catch (err) {
          failures.push(`${ep}: ${reason(err)}`);
        } finally {
          probe.close();
        }
      }),
    );
    let unreachable: string | undefined;
    if (failures.length === opts.endpoints.length) {
      const tlsHint = opts.tls?.ca !== undefined ? ` (TLS with CA ${opts.tls.ca}: a certificate error above means the CA did not sign the member's certificate or the name does not match)` : '';
      const text = `store: no etcd endpoint answered${tlsHint}: ${failures.sort().join('; ')}`;
      // A TLS problem is a wrong config: never started around. Silence is waited out.
      if (opts.whenUnreachable !== 'start' || failures.some((f) => TLS_PROBLEM.test(f))) throw new EtcdStoreError(text);
      unreachable = text;
    }
    const client = new Etcd3({ ...base, hosts: [...opts.endpoints] });
    const store = new EtcdStore(client, opts.prefix ?? '/routectl/', opts.endpoints, timeoutMs);
    store.unreachableAtOpen = unreachable;
    return store;
  }

  /** Why no endpoint answered at open (whenUnreachable 'start'); undefined when one did. */
  unreachableAtOpen: string | undefined;

  private fail(op: string, key: string, err: unknown): never {
    if (err instanceof StoreError) throw err;
    const text = `store: etcd ${op} ${key} failed (${this.endpoints.join(', ')}): ${reason(err)}`;
    if (PERMANENT.some((c) => err instanceof c)) throw new EtcdStoreError(text, { cause: err });
    throw new EtcdUnavailableError(text, { cause: err });
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('store: closed');
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.ensureOpen();
    checkKey(key);
    try {
      const res = await this.kv.get(key).exec();
      const kv = res.kvs[0];
      if (kv === undefined) return undefined;
      return { key, value: parseValue(key, kv.value.toString()), revision: Number(kv.mod_revision) };
    } catch (err) {
      this.fail('get', key, err);
    }
  }

  async list(prefix: string): Promise<readonly StoreEntry[]> {
    this.ensureOpen();
    try {
      const res = await this.kv.getAll().prefix(prefix).sort('Key', 'Ascend').exec();
      return res.kvs.map((kv) => {
        const key = kv.key.toString();
        return { key, value: parseValue(key, kv.value.toString()), revision: Number(kv.mod_revision) };
      });
    } catch (err) {
      this.fail('list', prefix, err);
    }
  }

  /** The key's mod_revision now (0: no entry), for the conflict message. */
  private async revisionOf(key: string): Promise<number> {
    const res = await this.kv.get(key).exec();
    return Number(res.kvs[0]?.mod_revision ?? 0);
  }

  async put(key: string, value: Json, opts?: WriteOptions): Promise<number> {
    this.ensureOpen();
    checkKey(key);
    const text = JSON.stringify(value);
    try {
      if (opts?.expectRevision === undefined) {
        const res = await this.kv.put(key).value(text).exec();
        return Number(res.header.revision);
      }
      const expect = opts.expectRevision;
      const guard = expect === 0 ? this.kv.if(key, 'Create', '==', 0) : this.kv.if(key, 'Mod', '==', expect);
      const res = await guard.then(this.kv.put(key).value(text)).commit();
      if (!res.succeeded) throw new CasConflictError(key, expect, await this.revisionOf(key));
      return Number(res.header.revision);
    } catch (err) {
      this.fail('put', key, err);
    }
  }

  async delete(key: string, opts?: WriteOptions): Promise<boolean> {
    this.ensureOpen();
    checkKey(key);
    try {
      if (opts?.expectRevision === undefined) {
        const res = await this.kv.delete().key(key).exec();
        return Number(res.deleted) > 0;
      }
      const expect = opts.expectRevision;
      const guard = expect === 0 ? this.kv.if(key, 'Create', '==', 0) : this.kv.if(key, 'Mod', '==', expect);
      const res = await guard.then(this.kv.delete().key(key)).commit();
      if (!res.succeeded) throw new CasConflictError(key, expect, await this.revisionOf(key));
      // Guard 0 holds only when there is nothing to delete.
      return expect !== 0;
    } catch (err) {
      this.fail('delete', key, err);
    }
  }

  /** One etcd transaction: every guard a compare, every write an operation of its success branch. */
  async transact(guards: readonly Guard[], ops: readonly TxnOp[]): Promise<number> {
    this.ensureOpen();
    const first = guards[0];
    if (first === undefined) throw new StoreError('store: a transaction needs a guard');
    if (ops.length > MAX_TXN_OPS) throw new StoreError(`store: a transaction of ${ops.length} writes (etcd takes at most ${MAX_TXN_OPS})`);
    for (const g of guards) checkKey(g.key);
    for (const o of ops) checkKey('put' in o ? o.put : o.delete);
    try {
      let txn = this.kv.if(first.key, first.revision === 0 ? 'Create' : 'Mod', '==', first.revision);
      for (const g of guards.slice(1)) txn = txn.and(g.key, g.revision === 0 ? 'Create' : 'Mod', '==', g.revision);
      const res = await txn.then(...ops.map((o) => ('put' in o ? this.kv.put(o.put).value(JSON.stringify(o.value)) : this.kv.delete().key(o.delete)))).commit();
      if (!res.succeeded) {
        // Which guard failed, for the message (the first whose revision moved).
        for (const g of guards) {
          const actual = await this.revisionOf(g.key);
          if (actual !== g.revision) throw new CasConflictError(g.key, g.revision, actual);
        }
        throw new CasConflictError(first.key, first.revision, await this.revisionOf(first.key));
      }
      return Number(res.header.revision);
    } catch (err) {
      this.fail('txn', first.key, err);
    }
  }

  /**
   * One range read of `key` and one of `prefix` in a transaction, so both are read at one
   * revision (whichever branch the compare takes, it runs the same two reads).
   */
  async snapshot(key: string, prefix: string): Promise<{ readonly entry: StoreEntry | undefined; readonly under: readonly StoreEntry[] }> {
    this.ensureOpen();
    checkKey(key);
    try {
      const reads = (): [SingleRangeBuilder, MultiRangeBuilder] => [this.kv.get(key), this.kv.getAll().prefix(prefix).sort('Key', 'Ascend')];
      const res = await this.kv.if(key, 'Create', '==', 0).then(...reads()).else(...reads()).commit();
      const ranges = res.responses.map((r) => r.response_range?.kvs ?? []);
      // A transaction's answers carry the keys as etcd has them, with the namespace prefix.
      const entry = (kv: { key: Buffer; value: Buffer; mod_revision: string }): StoreEntry => {
        const k = kv.key.toString().slice(this.prefix.length);
        return { key: k, value: parseValue(k, kv.value.toString()), revision: Number(kv.mod_revision) };
      };
      const head = ranges[0]?.[0];
      return { entry: head === undefined ? undefined : entry(head), under: (ranges[1] ?? []).map(entry) };
    } catch (err) {
      this.fail('snapshot', key, err);
    }
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void): () => void {
    this.ensureOpen();
    let stopped = false;
    let cancel: (() => void) | undefined;
    void this.kv
      .watch()
      .prefix(prefix)
      .create()
      .then((w) => {
        cancel = () => void w.cancel().catch(() => undefined);
        if (stopped) cancel();
        w.on('put', (kv) => {
          const key = kv.key.toString();
          try {
            onEvent({ type: 'put', entry: { key, value: parseValue(key, kv.value.toString()), revision: Number(kv.mod_revision) } });
          } catch {
            // A foreign non-JSON value under our prefix: not ours to report as a change.
          }
        });
        w.on('delete', (kv) => onEvent({ type: 'delete', key: kv.key.toString(), revision: Number(kv.mod_revision) }));
      })
      .catch(() => undefined);
    const stop = (): void => {
      stopped = true;
      cancel?.();
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    return stop;
  }

  /**
   * Puts `key` under a fresh lease of `ttlSeconds` and keeps it renewed; resolves once the
   * key is written. `onLost` hears of a lease etcd no longer knows (expired while this
   * process could not reach it): the key is gone until the caller holds a new one.
   */
  async holdLease(key: string, value: Json, ttlSeconds: number, onLost?: (err: Error) => void): Promise<{ readonly id: string; release(): Promise<void> }> {
    this.ensureOpen();
    checkKey(key);
    const lease = this.kv.lease(ttlSeconds, { autoKeepAlive: true });
    this.leases.add(lease);
    if (onLost) lease.on('lost', onLost);
    try {
      await lease.put(key).value(JSON.stringify(value)).exec();
      const id = await lease.grant();
      return {
        id,
        release: async () => {
          this.leases.delete(lease);
          await lease.revoke().catch(() => undefined);
        },
      };
    } catch (err) {
      this.leases.delete(lease);
      lease.release();
      this.fail('lease put', key, err);
    }
  }

  /** Seconds left of a lease and the TTL it was granted with; undefined once it expired. */
  async leaseTtl(id: string): Promise<{ readonly ttl: number; readonly grantedTtl: number } | undefined> {
    this.ensureOpen();
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
      const ttl = Number(res.TTL);
      return ttl < 0 ? undefined : { ttl, grantedTtl: Number(res.grantedTTL) };
    } catch (err) {
      this.fail('lease ttl', id, err);
    }
  }

  /** The lease a key is attached to ('0' for none), or undefined without the key. */
  async leaseOf(key: string): Promise<string | undefined> {
    this.ensureOpen();
    checkKey(key);
    try {
      const res = await this.kv.get(key).exec();
      return res.kvs[0]?.lease;
    } catch (err) {
      this.fail('get', key, err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    // Revoke, not just stop renewing: a worker that stops cleanly is gone at once.
    await Promise.all([...this.leases].map((l) => l.revoke().catch(() => undefined)));
    this.leases.clear();
    this.client.close();
  }
}
