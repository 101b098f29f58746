/** The Store contract, run against both the in-memory and the file-backed store. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CasConflictError,
  InvalidKeyError,
  LocalStore,
  MemoryStore,
  StoreCorruptError,
  StoreLockedError,
  update,
  type Store,
} from '../../../src/store/index.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rtc-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const impls: [string, () => Promise<Store>][] = [
  ['MemoryStore', () => Promise.resolve(new MemoryStore())],
  ['LocalStore', () => LocalStore.open(tempDir())],
];

describe.each(impls)('%s', (_name, make) => {
  it('put/get/list/delete with increasing revisions', async () => {
    const s = await make();
    const r1 = await s.put('endpoints/a', { ip: '198.51.100.2' });
    const r2 = await s.put('endpoints/b', { ip: '198.51.100.3' });
    const r3 = await s.put('ipam/blocks', [1, 2]);
    expect(r2).toBeGreaterThan(r1);
    expect(r3).toBeGreaterThan(r2);
    expect(await s.get('endpoints/a')).toEqual({ key: 'endpoints/a', value: { ip: '198.51.100.2' }, revision: r1 });
    expect((await s.list('endpoints/')).map((e) => e.key)).toEqual(['endpoints/a', 'endpoints/b']);
    expect(await s.delete('endpoints/a')).toBe(true);
    expect(await s.delete('endpoints/a')).toBe(false);
    expect(await s.get('endpoints/a')).toBeUndefined();
    await s.close();
  });

  it('compare-and-swap: create-only, update-at-revision, conflicts are typed', async () => {
    const s = await make();
    const r1 = await s.put('ipam/x', 1, { expectRevision: 0 });
    await expect(s.put('ipam/x', 2, { expectRevision: 0 })).rejects.toBeInstanceOf(CasConflictError);
    const r2 = await s.put('ipam/x', 2, { expectRevision: r1 });
    await expect(s.put('ipam/x', 3, { expectRevision: r1 })).rejects.toThrow(/changed concurrently/);
    await expect(s.delete('ipam/x', { expectRevision: r1 })).rejects.toBeInstanceOf(CasConflictError);
    expect((await s.get('ipam/x'))?.value).toBe(2);
    expect(await s.delete('ipam/x', { expectRevision: r2 })).toBe(true);
    await s.close();
  });

  it('update() retries a lost race and applies both changes', async () => {
    const s = await make();
    await s.put('ipam/list', []);
    const add = (n: number) =>
      update(s, 'ipam/list', (cur) => [...((cur?.value as number[] | undefined) ?? []), n]);
    await Promise.all([add(1), add(2), add(3)]);
    expect(((await s.get('ipam/list'))?.value as number[]).sort()).toEqual([1, 2, 3]);
    await s.close();
  });

  it('update() from a known entry: no read when it is current; a conflict reads and retries; no change reads first', async () => {
    const s = await make();
    let gets = 0;
    const get = s.get.bind(s);
    s.get = (k) => (gets++, get(k));
    const rev = await s.put('ipam/doc', { n: 1 });
    const bump = (cur: { value: unknown } | undefined) => ({ n: ((cur?.value as { n: number }).n ?? 0) + 1 });
    const e1 = await update(s, 'ipam/doc', bump, 10, { key: 'ipam/doc', value: { n: 1 }, revision: rev });
    expect(gets).toBe(0);
    expect((await get('ipam/doc'))?.value).toEqual({ n: 2 });
    // Someone else wrote meanwhile: the copy is stale, the guarded write conflicts, the retry reads.
    await s.put('ipam/doc', { n: 10 });
    await update(s, 'ipam/doc', bump, 10, e1);
    expect(gets).toBe(1);
    expect((await get('ipam/doc'))?.value).toEqual({ n: 11 });
    // A change that leaves the copy as it is is answered from a read, not from the copy.
    const stale = { key: 'ipam/doc', value: { n: 2 }, revision: e1!.revision };
    const same = await update(s, 'ipam/doc', (cur) => cur?.value, 10, stale);
    expect(same?.value).toEqual({ n: 11 });
    expect(gets).toBe(2);
    await s.close();
  });

  it('returned values are copies', async () => {
    const s = await make();
    await s.put('a/b', { list: [1] });
    const e = await s.get('a/b');
    (e?.value as { list: number[] }).list.push(2);
    expect((await s.get('a/b'))?.value).toEqual({ list: [1] });
    await s.close();
  });

  it('rejects bad keys', async () => {
    const s = await make();
    await expect(s.put('../etc/passwd', 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(s.put('a//b', 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await s.close();
  });

  it('watch sees puts and deletes under its prefix only', async () => {
    const s = await make();
    const seen: string[] = [];
    const stop = s.watch?.('endpoints/', (e) => seen.push(`${e.type} ${e.type === 'put' ? e.entry.key : e.key}`));
    await s.put('endpoints/a', 1);
    await s.put('ipam/a', 1);
    await s.delete('endpoints/a');
    stop?.();
    await s.put('endpoints/b', 1);
    expect(seen).toEqual(['put endpoints/a', 'delete endpoints/a']);
    await s.close();
  });
});

describe('LocalStore on disk', () => {
  it('survives reopen with the same entries and revisions, and keeps revisions increasing', async () => {
    const dir = tempDir();
    const a = await LocalStore.open(dir);
    await a.put('endpoints/a', { n: 1 });
    const r = await a.put('ipam/blocks', { n: 2 });
    await a.delete('endpoints/a');
    await a.close();
    const b = await LocalStore.open(dir);
    expect(await b.get('endpoints/a')).toBeUndefined();
    expect(await b.get('ipam/blocks')).toEqual({ key: 'ipam/blocks', value: { n: 2 }, revision: r });
    expect(await b.put('ipam/other', 0)).toBeGreaterThan(r + 1);
    await b.close();
    expect(readdirSync(dir).sort()).toEqual(['endpoints.json', 'ipam.json']);
  });

  it('removes stray temp files and refuses a corrupt document', async () => {
    const dir = tempDir();
    const a = await LocalStore.open(dir);
    await a.put('ipam/x', 1);
    await a.close();
    writeFileSync(join(dir, 'ipam.json.tmp-1-1'), '{"half');
    const b = await LocalStore.open(dir);
    expect((await b.get('ipam/x'))?.value).toBe(1);
    await b.close();
    expect(readdirSync(dir)).toEqual(['ipam.json']);
    writeFileSync(join(dir, 'ipam.json'), '{"half');
    await expect(LocalStore.open(dir)).rejects.toBeInstanceOf(StoreCorruptError);
  });

  it('one live owner per directory; a stale lock is taken over', async () => {
    const dir = tempDir();
    const a = await LocalStore.open(dir);
    writeFileSync(join(dir, 'LOCK'), '1\n'); // pid 1 is alive: held by someone else
    await expect(LocalStore.open(dir)).rejects.toBeInstanceOf(StoreLockedError);
    writeFileSync(join(dir, 'LOCK'), '999999999\n'); // no such process: stale
    const b = await LocalStore.open(dir);
    await b.close();
    await a.close().catch(() => undefined);
  });
});
