/**
 * The LocalStore's writer thread: a replace that fails leaves the previous view and no
 * temp file, the store keeps working, and the thread does not keep the process alive.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LocalStore } from '../../../src/store/local.js';
import { FileWriter } from '../../../src/store/writer.js';
import { bundleEntry } from './child-bundle.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'rtc-writer-'));
  dirs.push(d);
  return d;
};

it('a failed rename rejects the put, keeps the old view, removes the temp file; other writes go on', async () => {
  const dir = tmp();
  const s = await LocalStore.open(dir);
  try {
    await s.put('a/x', { n: 1 });
    // A directory where the class file `b.json` should go: rename(2) fails (EISDIR).
    mkdirSync(join(dir, 'b.json'));
    await expect(s.put('b/y', { n: 1 })).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await s.get('b/y')).toBeUndefined();
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await s.put('a/x', { n: 2 });
    expect(JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8')).entries['a/x'].v).toEqual({ n: 2 });
  } finally {
    await s.close();
  }
});

it('jobs complete in order and each resolves after its file is in place', async () => {
  const dir = tmp();
  const w = new FileWriter();
  try {
    const jobs = Array.from({ length: 20 }, (_, i) =>
      w.replace({ tmp: join(dir, `f.tmp-${i}`), final: join(dir, 'f'), dir, data: String(i), sync: true }).then(() => Number(readFileSync(join(dir, 'f'), 'utf8'))),
    );
    const seen = await Promise.all(jobs);
    // Each saw its own or a later value, never an earlier one; the last one wins.
    seen.forEach((v, i) => expect(v).toBeGreaterThanOrEqual(i));
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('19');
  } finally {
    await w.close();
  }
});

it('an idle writer thread does not keep the process alive', async () => {
  const dir = tmp();
  const child = await bundleEntry(join(import.meta.dirname, 'idle-child.ts'));
  try {
    const r = spawnSync(process.execPath, [child, dir], { timeout: 10_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined(); // a timeout would be an error here
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('written\n');
    expect(JSON.parse(readFileSync(join(dir, 'idle.json'), 'utf8')).entries['idle/x'].v).toEqual({ ok: true });
  } finally {
    rmSync(dirname(child), { recursive: true, force: true });
  }
});
