/**
 * The helper launcher, with real processes: input relayed in order, exit code and stderr
 * back, a program that cannot start, the launcher dying under running helpers (and being
 * started again), close() cancelling helpers, and a process with nothing else to do still
 * waiting for a running helper but not for an idle launcher.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HelperLauncher } from '../../../src/dataplane/launcher.js';
import { bundleEntry } from '../store/child-bundle.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

describe('HelperLauncher', () => {
  it('relays the input in order and reports exit code and stderr', async () => {
    const l = new HelperLauncher();
    try {
      const ok = l.open(['sh', '-c', 'read -r a; read -r b; read -r c; [ "$a $b $c" = "one two three" ] || exit 3; echo fine >&2'], ENV);
      ok.write('one\n');
      ok.write('two\n');
      ok.end('three\n');
      expect(await ok.exited).toEqual({ code: 0, signal: null, stderr: 'fine\n' });
      const bad = l.open(['sh', '-c', 'echo "no such thing" >&2; exit 7'], ENV);
      bad.end();
      expect(await bad.exited).toEqual({ code: 7, signal: null, stderr: 'no such thing\n' });
      const killed = l.open(['sh', '-c', 'sleep 30'], ENV);
      killed.kill();
      expect(await killed.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
      // Many at once, each answered under its own id.
      const many = Array.from({ length: 20 }, (_, i) => {
        const h = l.open(['sh', '-c', `read -r x; [ "$x" = ${i} ] || exit 1; exit $((x % 5))`], ENV);
        h.end(`${i}\n`);
        return h.exited;
      });
      expect((await Promise.all(many)).map((e) => ('code' in e ? e.code : e.error))).toEqual(Array.from({ length: 20 }, (_, i) => i % 5));
    } finally {
      l.close();
    }
  });

  it('spares: an open that brings the first line takes a started spare; without a template or a line, argv runs', async () => {
    const l = new HelperLauncher();
    const children = (): string[] =>
      spawnSync('ps', ['-o', 'args=', '--ppid', String(l.pid)], { encoding: 'utf8' }).stdout.split('\n').filter((x) => x.includes('spare-marker'));
    try {
      const direct = ['sh', '-c', 'read -r y; echo "direct $y" >&2'];
      // No template yet: argv runs even with a first line.
      const a = l.open(direct, ENV, 'ns-a\n');
      a.end('data\n');
      expect(await a.exited).toMatchObject({ code: 0, stderr: 'direct data\n' }); // the first line is a spare's only
      l.setSpares(['sh', '-c', 'read -r ns || exit 0; read -r y; echo "spare $ns $y" >&2', 'spare-marker'], ENV, 2);
      for (let i = 0; i < 100 && children().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(children()).toHaveLength(2); // started ahead, waiting
      for (const ns of ['ns-b', 'ns-c', 'ns-d']) {
        const h = l.open(direct, ENV, `${ns}\n`);
        h.end('data\n');
        expect(await h.exited).toMatchObject({ code: 0, stderr: `spare ${ns} data\n` });
      }
      // Without a first line: argv.
      const e = l.open(direct, ENV);
      e.end('data\n');
      expect(await e.exited).toMatchObject({ code: 0, stderr: 'direct data\n' });
      for (let i = 0; i < 100 && children().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(children()).toHaveLength(2); // refilled
    } finally {
      l.close();
    }
  });

  it('a program that cannot start is reported by its errno', async () => {
    const l = new HelperLauncher();
    try {
      const h = l.open(['/nonexistent/routectl-helper'], ENV);
      h.end('x\n');
      expect(await h.exited).toEqual({ error: 'ENOENT' });
    } finally {
      l.close();
    }
  });

  it('close() reports running helpers as closed; their stdin closes, they, the spares and the launcher exit', async () => {
    const l = new HelperLauncher();
    l.setSpares(['sh', '-c', 'read -r ns || exit 0; exit 8'], ENV, 2);
    const h = l.open(['sh', '-c', 'read -r x || exit 0; exit 9'], ENV);
    const pid = l.pid!;
    const exited = h.exited;
    l.close();
    expect(await exited).toEqual({ error: 'the helper launcher was closed' });
    expect(l.pid).toBeUndefined();
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return !/^Z/m.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout);
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  });

  it('the launcher dying fails its running helpers; the next open starts a new one', async () => {
    const l = new HelperLauncher();
    try {
      const h = l.open(['sh', '-c', 'sleep 30'], ENV);
      const pid = l.pid;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
      expect(await h.exited).toMatchObject({ error: expect.stringMatching(/the helper launcher exited \(SIGKILL\)/) });
      const again = l.open(['sh', '-c', 'exit 0'], ENV);
      again.end();
      expect(await again.exited).toEqual({ code: 0, signal: null, stderr: '' });
      expect(l.pid).not.toBe(pid);
    } finally {
      l.close();
    }
  });

  it('an idle launcher does not keep a process alive; a running helper does', async () => {
    const child = await bundleEntry(join(import.meta.dirname, 'launcher-child.ts'));
    try {
      const r = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 20_000 });
      expect(r.error).toBeUndefined(); // a timeout would be an error here
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('exit 4\n'); // it waited for the helper
      expect(r.status).toBe(0);
    } finally {
      rmSync(dirname(child), { recursive: true, force: true });
    }
  });
});
