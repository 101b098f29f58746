/** EtcdStore against a real etcd member started by the test (the Store contract, CAS, TLS, leases). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore, EtcdStoreError } from '../../../src/store/etcd.js';
import { CasConflictError, InvalidKeyError, update, type WatchEvent } from '../../../src/store/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

let etcd: TestEtcd;
let n = 0;
/** A fresh prefix per test: tests share the member but never each other's keys. */
const open = (): Promise<EtcdStore> => EtcdStore.open({ endpoints: [etcd.endpoint], prefix: `/t${++n}/` });

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe('EtcdStore', () => {
  it('put/get/list/delete with increasing revisions, keys under the prefix', async () => {
    const s = await open();
    const r1 = await s.put('endpoints/a', { ip: '198.51.100.2' });
    const r2 = await s.put('endpoints/b', { ip: '198.51.100.3' });
    const r3 = await s.put('ipam/blocks', [1, 2]);
    expect(r2).toBeGreaterThan(r1);
    expect(r3).toBeGreaterThan(r2);
    expect(await s.get('endpoints/a')).toEqual({ key: 'endpoints/a', value: { ip: '198.51.100.2' }, revision: r1 });
    expect((await s.list('endpoints/')).map((e) => e.key)).toEqual(['endpoints/a', 'endpoints/b']);
    // Another prefix sees nothing of it.
    const other = await open();
    expect(await other.list('')).toEqual([]);
    expect(await s.delete('endpoints/a')).toBe(true);
    expect(await s.delete('endpoints/a')).toBe(false);
    expect(await s.get('endpoints/a')).toBeUndefined();
    await expect(s.put('a//b', 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await Promise.all([s.close(), other.close()]);
  });

  it('compare-and-swap by mod revision: create-only, update-at-revision, conflicts are typed', async () => {
    const s = await open();
    const r1 = await s.put('ipam/x', 1, { expectRevision: 0 });
    const e = await s.put('ipam/x', 2, { expectRevision: 0 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(CasConflictError);
    expect((e as CasConflictError).actual).toBe(r1);
    const r2 = await s.put('ipam/x', 2, { expectRevision: r1 });
    await expect(s.put('ipam/x', 3, { expectRevision: r1 })).rejects.toThrow(/changed concurrently/);
    await expect(s.delete('ipam/x', { expectRevision: r1 })).rejects.toBeInstanceOf(CasConflictError);
    expect((await s.get('ipam/x'))?.value).toBe(2);
    expect(await s.delete('ipam/x', { expectRevision: r2 })).toBe(true);
    await expect(s.put('ipam/x', 4, { expectRevision: r2 })).rejects.toBeInstanceOf(CasConflictError);
    await s.close();
  });

  it('transact: several writes at once when every guard holds, nothing when one does not; snapshot reads a key and a prefix together', async () => {
    const s = await open();
    const r1 = await s.transact([{ key: 'ipam/hosts/w1', revision: 0 }], [{ put: 'ipam/endpoints/w1/a', value: { n: 1 } }, { put: 'ipam/hosts/w1', value: { v: 2 } }]);
    // One revision for the whole transaction, as etcd gives it.
    expect((await s.get('ipam/endpoints/w1/a'))?.revision).toBe(r1);
    expect((await s.get('ipam/hosts/w1'))?.revision).toBe(r1);
    // A stale guard: a typed conflict naming the key, and none of the writes.
    const e = await s.transact([{ key: 'ipam/hosts/w1', revision: r1 - 1 }], [{ delete: 'ipam/endpoints/w1/a' }, { put: 'ipam/endpoints/w1/b', value: 2 }]).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(CasConflictError);
    expect((e as CasConflictError).key).toBe('ipam/hosts/w1');
    expect((e as CasConflictError).actual).toBe(r1);
    expect((await s.list('ipam/endpoints/')).map((x) => x.key)).toEqual(['ipam/endpoints/w1/a']);
    const r2 = await s.transact([{ key: 'ipam/hosts/w1', revision: r1 }], [{ delete: 'ipam/endpoints/w1/a' }, { put: 'ipam/endpoints/w1/b', value: 2 }, { put: 'ipam/hosts/w1', value: { v: 3 } }]);
    const snap = await s.snapshot('ipam/hosts/w1', 'ipam/endpoints/w1/');
    // Keys as the Store names them (without the namespace prefix).
    expect(snap.entry).toEqual({ key: 'ipam/hosts/w1', value: { v: 3 }, revision: r2 });
    expect(snap.under).toEqual([{ key: 'ipam/endpoints/w1/b', value: 2, revision: r2 }]);
    expect(await s.snapshot('ipam/hosts/w9', 'ipam/endpoints/w9/')).toEqual({ entry: undefined, under: [] });
    // More writes than etcd takes in one transaction: refused before anything is sent.
    const many = Array.from({ length: 129 }, (_, i) => ({ put: `ipam/x/${i}`, value: i }));
    await expect(s.transact([{ key: 'ipam/hosts/w1', revision: r2 }], many)).rejects.toThrow(/129 writes/);
    expect(await s.list('ipam/x/')).toEqual([]);
    await s.close();
  });

  it('update() from two clients at once: every increment lands', async () => {
    const [a, b] = [await open(), await open()];
    // Same prefix for both: reopen b on a's prefix.
    await b.close();
    const b2 = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix: a.prefix });
    const inc = (s: EtcdStore) => update(s, 'ipam/counter', (cur) => ((cur?.value as number | undefined) ?? 0) + 1, 100);
    await Promise.all([...Array.from({ length: 10 }, () => inc(a)), ...Array.from({ length: 10 }, () => inc(b2))]);
    expect((await a.get('ipam/counter'))?.value).toBe(20);
    await Promise.all([a.close(), b2.close()]);
  });

  it('watch sees puts and deletes under its prefix', async () => {
    const s = await open();
    const seen: WatchEvent[] = [];
    const stop = s.watch('endpoints/', (e) => seen.push(e));
    // The watch is set up asynchronously: write until it has seen a first event.
    for (let i = 0; seen.length === 0 && i < 200; i++) {
      await s.put('endpoints/probe', i);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen.length).toBeGreaterThan(0);
    seen.length = 0;
    await s.put('other/x', 1);
    const rev = await s.put('endpoints/a', { ip: '198.51.100.9' });
    await s.delete('endpoints/a');
    for (let i = 0; seen.length < 2 && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
    expect(seen[0]).toEqual({ type: 'put', entry: { key: 'endpoints/a', value: { ip: '198.51.100.9' }, revision: rev } });
    expect(seen[1]).toMatchObject({ type: 'delete', key: 'endpoints/a' });
    stop();
    await s.close();
  });

  it('a leased key lives while held and goes when released', async () => {
    const s = await open();
    const lease = await s.holdLease('nodes/w1', { node: 'w1' }, 5);
    expect((await s.get('nodes/w1'))?.value).toEqual({ node: 'w1' });
    const ttl = await s.leaseTtl(lease.id);
    expect(ttl?.grantedTtl).toBe(5);
    expect(await s.leaseOf('nodes/w1')).toBe(lease.id);
    await lease.release();
    expect(await s.get('nodes/w1')).toBeUndefined();
    expect(await s.leaseTtl(lease.id)).toBeUndefined();
    await s.close();
  });

  it('no endpoint answering: a clear error naming each endpoint', async () => {
    const err = await EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], connectTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdStoreError);
    expect((err as Error).message).toMatch(/no etcd endpoint answered.*http:\/\/127\.0\.0\.1:1: /);
  });
});

describe('EtcdStore over TLS', () => {
  let dir: string;
  let tlsEtcd: TestEtcd;
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtc-etcd-tls-'));
    for (const ca of ['ca', 'other-ca']) {
      ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
    }
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    execFileSync('sh', ['-c', "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"], { cwd: dir });
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
    tlsEtcd = await startEtcd({ tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') } });
  });
  afterAll(async () => {
    await tlsEtcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the right CA: works', async () => {
    const s = await EtcdStore.open({ endpoints: [tlsEtcd.endpoint], tls: { ca: join(dir, 'ca.pem') } });
    await s.put('a/b', 1);
    expect((await s.get('a/b'))?.value).toBe(1);
    await s.close();
  });

  it('a wrong CA: a clear error at open naming the endpoint and the TLS problem', async () => {
    const err = await EtcdStore.open({ endpoints: [tlsEtcd.endpoint], tls: { ca: join(dir, 'other-ca.pem') }, connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdStoreError);
    const msg = (err as Error).message;
    expect(msg).toContain(tlsEtcd.endpoint);
    expect(msg).toContain('other-ca.pem');
    expect(msg).toMatch(/certificate|SSL|TLS|handshake/i);
  });

  it('a CA file that does not exist: an error naming the file', async () => {
    await expect(EtcdStore.open({ endpoints: [tlsEtcd.endpoint], tls: { ca: join(dir, 'missing.pem') } })).rejects.toThrow(/store\.etcd\.tls\.ca: cannot read .*missing\.pem/);
  });
});
