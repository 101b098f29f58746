/**
 * RuncStates over a real directory laid out as dockerd's exec root: learning runc's root
 * from a running container's SandboxKey (and refusing what does not fit), and one call
 * per container waited for when runc writes its state file (temporary file renamed), also
 * when its directory came before the wait or before the root was learnt.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuncStates, runcRootFor } from '../../../src/runtime/runc.js';
import { tick, until } from './wait.js';

const id = (n: number): string => n.toString(16).padStart(64, 'a');

const dirs: string[] = [];
const watchers: RuncStates[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function execRoot(): { exec: string; root: string; writeState: (cid: string) => void; sandboxKey: string } {
  const exec = mkdtempSync(join(tmpdir(), 'rtc-runc-'));
  dirs.push(exec);
  const root = join(exec, 'runtime-runc', 'moby');
  mkdirSync(root, { recursive: true });
  mkdirSync(join(exec, 'netns'));
  const writeState = (cid: string): void => {
    mkdirSync(join(root, cid), { recursive: true });
    writeFileSync(join(root, cid, 'state.json.tmp'), '{}');
    renameSync(join(root, cid, 'state.json.tmp'), join(root, cid, 'state.json'));
  };
  return { exec, root, writeState, sandboxKey: join(exec, 'netns', '0123456789ab') };
}

function states(): { r: RuncStates; seen: string[]; failed: Error[] } {
  const seen: string[] = [];
  const failed: Error[] = [];
  const r = new RuncStates((cid) => seen.push(cid), (e) => failed.push(e));
  watchers.push(r);
  return { r, seen, failed };
}

describe('runcRootFor', () => {
  it('is <exec-root>/runtime-runc/moby for <exec-root>/netns/<sandbox>, and nothing for another shape', () => {
    expect(runcRootFor('/var/run/docker/netns/0123456789ab')).toBe('/var/run/docker/runtime-runc/moby');
    expect(runcRootFor('/run/other/0123456789ab')).toBeUndefined();
    expect(runcRootFor('netns/0123456789ab')).toBeUndefined();
  });
});

describe('RuncStates', () => {
  it('learns the root only from a running container whose state file is there', () => {
    const { root, writeState, sandboxKey } = execRoot();
    const { r } = states();
    expect(r.learn('', id(1))).toEqual({ known: false, why: 'dockerd gave no SandboxKey' });
    expect(r.learn('/somewhere/else/x', id(1))).toMatchObject({ known: false, why: expect.stringContaining('not <exec-root>/netns/<sandbox>') });
    expect(r.learn(sandboxKey, id(1))).toMatchObject({ known: false, why: expect.stringContaining('not runc, or another layout') });
    expect(r.known).toBeUndefined();
    writeState(id(1));
    expect(r.learn(sandboxKey, id(1))).toEqual({ known: true, root, fresh: true });
    expect(r.learn(sandboxKey, id(1))).toEqual({ known: true, root, fresh: false });
  });

  it('calls once per container waited for when its state file is renamed into place; never for one not waited for or forgotten', async () => {
    const { writeState, sandboxKey } = execRoot();
    const { r, seen } = states();
    writeState(id(1));
    r.learn(sandboxKey, id(1));
    r.expect(id(2));
    r.expect(id(3));
    r.expect(id(4));
    r.forget(id(4));
    expect(r.pending).toBe(2);
    writeState(id(2));
    writeState(id(4));
    writeState(id(5));
    await until(() => seen.length === 1, 'the state of 2');
    // 3: its directory first, its state a moment later.
    mkdirSync(join(r.known!, id(3)));
    await tick(20);
    expect(seen).toEqual([id(2)]);
    writeState(id(3));
    await until(() => seen.length === 2, 'the state of 3');
    writeState(id(2)); // rewritten (runc updates it): no second call
    await tick(30);
    expect(seen).toEqual([id(2), id(3)]);
    expect(r.pending).toBe(0);
  });

  it('sees states that came before the wait, or before the root was learnt', async () => {
    const { writeState, sandboxKey } = execRoot();
    const { r, seen } = states();
    r.expect(id(7)); // nothing learnt yet
    writeState(id(7));
    writeState(id(8));
    await tick(20);
    expect(seen).toEqual([]);
    writeState(id(1));
    r.learn(sandboxKey, id(1));
    expect(seen).toEqual([id(7)]);
    r.expect(id(8)); // its state file is there already
    expect(seen).toEqual([id(7), id(8)]);
  });

  it('watches the root again when it was removed and made again', async () => {
    const { root, writeState, sandboxKey } = execRoot();
    const { r, seen } = states();
    writeState(id(1));
    r.learn(sandboxKey, id(1));
    rmSync(root, { recursive: true });
    await tick(20);
    mkdirSync(root, { recursive: true });
    r.expect(id(2));
    mkdirSync(join(root, id(2)));
    await tick(20);
    writeState(id(2));
    await until(() => seen.length === 1, 'the state of 2 in the new root');
    expect(seen).toEqual([id(2)]);
  });

  it('ignores what is not a container id, and nothing is called after close()', async () => {
    const { writeState, sandboxKey } = execRoot();
    const { r, seen } = states();
    writeState(id(1));
    r.learn(sandboxKey, id(1));
    r.expect('../etc');
    r.expect(id(9));
    expect(r.pending).toBe(1);
    r.close();
    writeState(id(9));
    await tick(30);
    expect(seen).toEqual([]);
    expect(r.pending).toBe(0);
  });
});
