/** No TCP-MD5 password reaches a log line: Secrets print as <redacted>, and plain-text `password` keys are censored. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../bgp/net/index.js';
import { createLogger } from '../../src/log.js';

function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  let out = '';
  const destination = new Writable({
    write(c: Buffer, _e, cb) {
      out += c.toString();
      cb();
    },
  });
  return { log: createLogger({ level: 'info', destination }), text: () => out };
}

describe('logs and passwords', () => {
  it('a Secret logged anywhere in an object prints <redacted>', () => {
    const { log, text } = capture();
    log.info({ op: 't', peer: '203.0.113.1', cfg: { bgp: { peers: [{ address: '203.0.113.1', password: new Secret('hunter2') }] } } }, 'x');
    log.info({ op: 't', deep: { a: { b: { secret: new Secret('hunter2') } } } }, 'y');
    expect(text()).not.toContain('hunter2');
    expect(text().match(/<redacted>/g)).toHaveLength(2);
  });

  it('a plain-text password key is censored in the shapes the agent logs', () => {
    const { log, text } = capture();
    log.info({ op: 't', password: 'plain1' }, 'x');
    log.info({ op: 't', peer: { address: '203.0.113.1', password: 'plain2' } }, 'x');
    log.info({ op: 't', peers: [{ address: '203.0.113.1', password: 'plain3' }] }, 'x');
    expect(text()).not.toMatch(/plain[123]/);
  });
});
