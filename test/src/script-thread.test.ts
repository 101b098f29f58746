/**
 * ScriptThread with real worker threads: answers matched by id (in whatever order they
 * come), messages that answer nothing, a thread that dies failing what it had not
 * answered and starting again, and close(). That an idle thread does not keep a process
 * alive is shown through its two users (test/src/store/writer.test.ts,
 * test/src/dataplane/netlink-thread.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ScriptThread, ThreadClosedError } from '../../src/script-thread.js';

// What it answers: see the program's header.
const PROGRAM = new URL('./script-thread-program.js', import.meta.url);
type M = { id?: number; twice?: number; said?: string };

describe('ScriptThread', () => {
  it('answers each request by its id, and passes on what answers nothing', async () => {
    const said: string[] = [];
    const t = new ScriptThread<M>(PROGRAM, { name: 'test', workerData: { suffix: '!' }, onMessage: (m) => said.push(m.said ?? '?') });
    try {
      const order: number[] = [];
      const answers = await Promise.all([30, 1, 15].map((n) => t.request({ n }).then((m) => (order.push(n), m.twice))));
      expect(answers).toEqual([60, 2, 30]);
      expect(order).toEqual([1, 15, 30]);
      // Answered by a message without an id: the request itself stays unanswered.
      const unanswered = t.request({ say: 'hello' });
      for (let i = 0; i < 200 && said.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(said).toEqual(['hello!']);
      const failed = expect(unanswered).rejects.toBeInstanceOf(ThreadClosedError);
      await t.close();
      await failed;
    } finally {
      await t.close();
    }
  });

  it('a thread that dies fails what it had not answered, says so, and the next request starts another', async () => {
    const exits: string[] = [];
    const t = new ScriptThread<M>(PROGRAM, { name: 'test', workerData: { suffix: '' }, onExit: (e) => exits.push(e.message) });
    try {
      const slow = t.request({ n: 10_000 });
      const first = t.thread;
      const dying = t.request({ die: true });
      await expect(slow).rejects.toThrow('test thread exited (3)');
      await expect(dying).rejects.toThrow('test thread exited (3)');
      expect(exits).toEqual(['test thread exited (3)']);
      expect((await t.request({ n: 2 })).twice).toBe(4);
      expect(t.thread).toBeDefined();
      expect(t.thread).not.toBe(first);
    } finally {
      await t.close();
    }
  });

  it('close() fails what is unanswered and every later request, and is no death', async () => {
    const exits: string[] = [];
    const t = new ScriptThread<M>(PROGRAM, { name: 'test', workerData: { suffix: '' }, onExit: (e) => exits.push(e.message) });
    const slow = t.request({ n: 200 });
    const w = t.thread!;
    const exited = new Promise<number>((r) => w.once('exit', r));
    const failed = expect(slow).rejects.toBeInstanceOf(ThreadClosedError);
    await t.close({ t: 'close' });
    await failed;
    await expect(t.request({ n: 1 })).rejects.toBeInstanceOf(ThreadClosedError);
    expect(t.thread).toBeUndefined();
    await exited; // the program ended by itself after its last message (once its timer ran)
    expect(exits).toEqual([]);
  });
});
