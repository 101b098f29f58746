/** src/log.ts (kept with the API tests, its first user). The logger writes one JSON object per line with the fixed keys, at the configured level. */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, peerLogger } from '../../../src/log.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('log', () => {
  const saved = process.env.ROUTECTL_LOG_LEVEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.ROUTECTL_LOG_LEVEL;
    else process.env.ROUTECTL_LOG_LEVEL = saved;
  });

  it('writes fixed keys, level names, ISO time; the peer child names the peer; err is serialised with its cause', () => {
    const c = capture();
    const log = createLogger({ level: 'info', destination: c.stream });
    const pl = peerLogger(log, '203.0.113.1');
    pl.warn({ op: 'bgp.session', event: 'state-change', err: new Error('hold timer expired', { cause: new Error('no KEEPALIVE') }) }, 'Established -> Idle');
    log.debug({ op: 'x' }, 'not shown at info');
    const [line, ...rest] = c.lines();
    expect(rest).toHaveLength(0);
    expect(line).toMatchObject({ level: 'warn', op: 'bgp.session', event: 'state-change', peer: '203.0.113.1', msg: 'Established -> Idle' });
    expect(String(line?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(line?.err).toMatchObject({ message: 'hold timer expired', type: 'Error' });
    expect(JSON.stringify(line?.err)).toContain('no KEEPALIVE');
  });

  it('takes the level from ROUTECTL_LOG_LEVEL and warns about a bad one', () => {
    process.env.ROUTECTL_LOG_LEVEL = 'debug';
    const a = capture();
    createLogger({ destination: a.stream }).debug('shown');
    expect(a.lines().map((l) => l.msg)).toEqual(['shown']);

    process.env.ROUTECTL_LOG_LEVEL = 'verbose';
    const b = capture();
    const log = createLogger({ destination: b.stream });
    log.debug('hidden');
    expect(b.lines()).toEqual([expect.objectContaining({ level: 'warn', event: 'bad-level' })]);
  });
});
