/** The shared scheduling primitives: a bound on tasks at once, per-key order, idle(). */
import { describe, expect, it } from 'vitest';
import { KeyedSerializer, Limiter } from '../../src/concurrency.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Limiter', () => {
  it('never runs more than max at once; waiting tasks start in call order; a failure frees its place', async () => {
    const l = new Limiter(2);
    let now = 0;
    let peak = 0;
    const started: number[] = [];
    const tasks = Array.from({ length: 7 }, (_, i) =>
      l.run(async () => {
        started.push(i);
        peak = Math.max(peak, ++now);
        for (let k = 0; k < 3; k++) await turn();
        now--;
        if (i === 1) throw new Error('task 1 fails');
        return i;
      }),
    );
    const r = await Promise.allSettled(tasks);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });
});

describe('KeyedSerializer', () => {
  it('one key runs in call order, other keys alongside; idle() waits for all of it', async () => {
    const s = new KeyedSerializer();
    const log: string[] = [];
    const job = (name: string, turns: number) => async () => {
      log.push(`${name}+`);
      for (let k = 0; k < turns; k++) await turn();
      log.push(`${name}-`);
    };
    void s.run(['a'], job('a1', 3));
    void s.run(['b'], job('b1', 1));
    void s.run(['a'], job('a2', 0)).catch(() => undefined);
    let idle = false;
    const done = s.idle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    await done;
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
    expect(s.size).toBe(0);
  });
});
