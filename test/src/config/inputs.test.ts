/**
 * agent.yaml as an untrusted input, with real files: what is read (regular files only,
 * at most 1 MiB, UTF-8 text), how much of a bad input an error quotes, AS number bounds
 * and warnings, the advertise rules, and the two ways a config enters: `routectl
 * validate` and the agent's start (which refuses a bad file before starting anything,
 * and logs the warnings of a good one).
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type SpeakerConfigForAgent, type SpeakerLike } from '../../../src/agent.js';
import { ConfigError, MAX_CONFIG_BYTES, loadConfig, loadConfigWithWarnings, parseConfig } from '../../../src/config/index.js';
import { MAX_PROBLEM_LINES } from '../../../src/config/errors.js';
import { quoteExcerpt } from '../../../src/config/excerpt.js';
import { asnWarning } from '../../../src/config/warnings.js';
import { createLogger } from '../../../src/log.js';
import { runCaptured } from '../cli/run.js';

const GOOD = 'node: w1\nrouterId: 203.0.113.2\nasn: 65001\n';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-inputs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function loadError(path: string): ConfigError {
  try {
    loadConfig(path, { hostname: 'h' });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`${path} was accepted`);
}

function parseError(text: string): ConfigError {
  try {
    parseConfig(text, 't.yaml', { hostname: 'h' });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('config was accepted');
}

describe('reading the file: regular files only, 1 MiB, UTF-8 text', () => {
  it('a FIFO is refused from its stat, without a read that would wait for a writer', () => {
    const fifo = join(dir, 'agent.yaml');
    execFileSync('mkfifo', [fifo]);
    expect(loadError(fifo).message).toBe(`${fifo}: cannot read the config: it is a FIFO (named pipe), not a regular file; fix: pass the path of agent.yaml with --config (see deploy/agent.example.yaml)`);
  });

  it('/dev/urandom and /dev/null are character devices; a directory is a directory', () => {
    expect(loadError('/dev/urandom').message).toMatch(/^\/dev\/urandom: cannot read the config: it is a character device, not a regular file; fix: /);
    expect(loadError('/dev/null').message).toContain('it is a character device');
    expect(loadError(dir).message).toContain('it is a directory, not a regular file');
  });

  it('a symbolic link to a regular file is read (a Kubernetes ConfigMap mounts its files so)', () => {
    mkdirSync(join(dir, '..data'));
    writeFileSync(join(dir, '..data', 'agent.yaml'), GOOD);
    symlinkSync(join(dir, '..data', 'agent.yaml'), join(dir, 'agent.yaml'));
    expect(loadConfig(join(dir, 'agent.yaml')).asn).toBe(65001);
  });

  it('at most 1 MiB: a file of exactly 1 MiB is read, one byte more is refused with its size', () => {
    const pad = (n: number) => `${GOOD}#${'x'.repeat(n - GOOD.length - 2)}\n`;
    expect(Buffer.byteLength(pad(MAX_CONFIG_BYTES))).toBe(MAX_CONFIG_BYTES);
    expect(loadConfig(file('max.yaml', pad(MAX_CONFIG_BYTES))).asn).toBe(65001);
    const big = file('big.yaml', pad(MAX_CONFIG_BYTES + 1));
    expect(loadError(big).message).toBe(`${big}: the file is 1048577 bytes; a config is at most 1048576 bytes (1 MiB); fix: pass the path of agent.yaml with --config (see deploy/agent.example.yaml); is this the right file?`);
  });

  it('a binary file: one short line naming the first NUL byte, no dump of its bytes', () => {
    const bin = Buffer.alloc(9700);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919 + 13) % 256;
    const p = file('bin.yaml', bin);
    const e = loadError(p);
    expect(e.problems).toHaveLength(1);
    expect(e.message).toMatch(/: not a text file: a NUL byte at offset \d+ \(line \d+\); fix: agent\.yaml is YAML text in UTF-8: is this the right file\?$/);
    expect(e.message.length).toBeLessThan(250);
  });

  it('invalid UTF-8: the offset and line of the first bad byte (a literal U+FFFD before it is fine)', () => {
    const text = Buffer.concat([Buffer.from(`${GOOD}description: "\uFFFD ok"\n# caf`), Buffer.from([0xe9]), Buffer.from('\n')]);
    const off = text.indexOf(0xe9);
    const e = loadError(file('latin1.yaml', text));
    expect(e.message).toContain(`not UTF-8 text: byte 0xe9 at offset ${off} (line 5)`);
  });

  it('a UTF-8 byte order mark is accepted', () => {
    expect(loadConfig(file('bom.yaml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(GOOD)]))).asn).toBe(65001);
  });

  it('random text: errors quote excerpts and stop after a bounded number of lines', () => {
    // Valid UTF-8, no NUL, much of it YAML noise: every error line stays short.
    const lines = Array.from({ length: 5000 }, (_, i) => `k${i}${'z'.repeat(i % 300)}: [${i}`).join('\n');
    const e = loadError(file('noise.yaml', lines));
    const out = e.message.split('\n');
    expect(out.length).toBeLessThanOrEqual(MAX_PROBLEM_LINES + 1);
    for (const l of out) expect(l.length).toBeLessThan(400);
  });

  it('nesting too deep for the YAML reader is a config error, not a crash', () => {
    const e = parseError(`${GOOD}bgp: ${'['.repeat(20000)}${']'.repeat(20000)}\n`);
    expect(e.message).toContain('YAML: ');
  });
});

describe('excerpts of bad values', () => {
  it('quoteExcerpt: short values as JSON; long ones cut at 64 characters with the full length; no split surrogates', () => {
    expect(quoteExcerpt('abc')).toBe('"abc"');
    expect(quoteExcerpt('a\nb')).toBe('"a\\nb"');
    expect(quoteExcerpt('x'.repeat(64))).toBe(JSON.stringify('x'.repeat(64)));
    expect(quoteExcerpt('x'.repeat(100000))).toBe(`"${'x'.repeat(64)}…" (100000 characters)`);
    expect(quoteExcerpt('😀'.repeat(70))).toBe(`"${'😀'.repeat(64)}…" (70 characters)`);
  });

  it('a 100 kB value, a 100 kB key, a 100 kB top-level scalar: each error line is short and says how long it was', () => {
    const long = 'v'.repeat(100000);
    const rows = [
      [`routerId: 203.0.113.2\nasn: 65001\nnode: ${long}\n`, 'node: "vvvv'],
      [`${GOOD}? ${long}\n: 1\n`, '… (100000 characters): unknown key'],
      [long, 'expected a mapping at the top, got "vvvv'],
      [`${GOOD}bgp: { import: ["${long}"] }\n`, 'bgp.import[0]: "vvvv'],
    ] as const;
    for (const [text, want] of rows) {
      const m = parseError(text).message;
      expect(m).toContain(want);
      expect(m).toContain('100000 characters');
      expect(m.length).toBeLessThan(500);
    }
  });

  it('ten thousand unknown keys: 50 lines and a count of the rest', () => {
    const text = GOOD + Array.from({ length: 10000 }, (_, i) => `junk${i}: 1`).join('\n');
    const e = parseError(text);
    expect(e.problems).toHaveLength(10000);
    const lines = e.message.split('\n');
    expect(lines).toHaveLength(MAX_PROBLEM_LINES + 1);
    expect(lines[MAX_PROBLEM_LINES]).toBe('t.yaml: … and 9950 more problems (fix the ones above first)');
  });
});

describe('AS numbers: 1..4294967295, 0 refused, AS_TRANS and reserved ones warned about', () => {
  const asnError = (v: string): string => parseError(`routerId: 203.0.113.2\nasn: ${v}\n`).problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  it.each([
    ['-5', 'asn: -5 is negative; AS numbers are 1..4294967295'],
    ['-4294967296', 'asn: -4294967296 is negative'],
    ['0', 'asn: AS 0 is reserved (RFC 7607)'],
    ['"0.0"', 'asn: AS 0 is reserved (RFC 7607)'],
    ['4294967296', 'asn: 4294967296 is larger than 4294967295'],
    ['"99999999999999999999"', 'asn: expected an AS number, got "99999999999999999999"'],
    ['1.5e300', 'larger than 4294967295'],
    ['65001.5x', 'expected an AS number'],
    ['true', 'expected an AS number, got boolean true'],
  ])('asn: %s', (v, want) => {
    expect(asnError(v)).toContain(want);
  });

  it('a peer with a negative AS is refused too (so the agent never sends an OPEN it cannot encode)', () => {
    const e = parseError(`${GOOD}bgp: { peers: [{ address: 203.0.113.1, asn: -1 }] }\n`);
    expect(e.problems.map((p) => [p.path, p.message])).toEqual([['bgp.peers[0].asn', '-1 is negative; AS numbers are 1..4294967295']]);
  });

  it('the edges that are valid: 1, 4294967295, asdot 65535.65535', () => {
    expect(parseConfig('routerId: 203.0.113.2\nasn: 1\n', 't').asn).toBe(1);
    expect(parseConfig('routerId: 203.0.113.2\nasn: 4294967295\n', 't').asn).toBe(4294967295);
    expect(parseConfig('routerId: 203.0.113.2\nasn: "65535.65535"\n', 't').asn).toBe(4294967295);
  });

  it('warnings: AS_TRANS, documentation, last-of-range and IANA-reserved numbers; none for private or public ones', () => {
    expect(asnWarning(23456)).toMatch(/^AS 23456 is AS_TRANS \(RFC 6793\)/);
    expect(parseConfig('routerId: 203.0.113.2\nasn: "0.23456"\n', 't').asn).toBe(23456);
    for (const n of [64496, 64511, 65536, 65551]) expect(asnWarning(n)).toBe(`AS ${n} is reserved for documentation (RFC 5398)`);
    for (const n of [65535, 4294967295]) expect(asnWarning(n)).toMatch(/RFC 7300/);
    for (const n of [65552, 131071]) expect(asnWarning(n)).toMatch(/reserved by IANA/);
    // What the lab and the docs use, private (RFC 6996) and public numbers: no noise.
    for (const n of [1, 3320, 64495, 64512, 65000, 65001, 65534, 131072, 4199999999, 4200000000, 4200000009, 4294967294]) expect(asnWarning(n), String(n)).toBeNull();
    const { warnings } = loadConfigWithWarnings(file('w.yaml', 'routerId: 203.0.113.2\nasn: 64500\nbgp: { peers: [{ address: 203.0.113.1, asn: 65000 }] }\n'));
    expect(warnings).toEqual([{ path: 'asn', message: 'AS 64500 is reserved for documentation (RFC 5398)', fix: 'use your own AS number, or a private one (RFC 6996: 64512-65534, 4200000000-4294967294)', line: 2, column: 6 }]);
  });
});

describe('bgp.advertise and peers', () => {
  const base = `${GOOD}pools: [{ cidr: 198.51.100.0/28, zone: app }]\nzones: [{ name: app, cidrs: [198.51.100.0/25] }]\n`;
  const adv = (list: string, extra = '') => `${base}bgp:\n  peers: [{ address: 203.0.113.1, asn: 65000 }]\n  advertise: [${list}]\n${extra}`;
  const msgs = (text: string) => parseError(text).problems.map((p) => `${p.path}: ${p.message}`);

  it('default routes only with allowDefault: true', () => {
    expect(msgs(adv('0.0.0.0/0'))).toEqual(['bgp.advertise[0]: 0.0.0.0/0 is a default route: every router that learns it would send this worker all traffic it has no better route for']);
    expect(msgs(adv('"::/0"'))[0]).toMatch(/^bgp\.advertise\[0\]: ::\/0 is a default route/);
    const ok = parseConfig(adv('0.0.0.0/0, "::/0"', '  allowDefault: true\n'), 't');
    expect(ok.bgp.advertise).toEqual(['0.0.0.0/0', '::/0']);
    expect(ok.bgp.allowDefault).toBe(true);
  });

  it("the peer's own address, or a prefix covering it", () => {
    expect(msgs(adv('203.0.113.1/32'))).toEqual(["bgp.advertise[0]: 203.0.113.1/32 is the address of peer bgp.peers[0] (203.0.113.1): the fabric's traffic for that router would be drawn to this worker"]);
    expect(msgs(adv('203.0.113.0/30'))[0]).toContain('203.0.113.0/30 covers the address of peer bgp.peers[0]');
    // Next to it is fine.
    expect(parseConfig(adv('203.0.113.4/30, 203.0.113.2/32'), 't').bgp.advertise).toEqual(['203.0.113.4/30', '203.0.113.2/32']);
  });

  it('a container pool, or a prefix inside one; a prefix covering a pool is a summary and allowed', () => {
    expect(msgs(adv('198.51.100.0/28'))).toEqual(['bgp.advertise[0]: 198.51.100.0/28 is container pool pools[0]: the agent advertises pool addresses itself']);
    expect(msgs(adv('198.51.100.7/32'))[0]).toContain('198.51.100.7/32 is inside container pool pools[0] (198.51.100.0/28)');
    expect(parseConfig(adv('198.51.100.0/24, 198.51.100.16/32'), 't').bgp.advertise).toEqual(['198.51.100.0/24', '198.51.100.16/32']);
  });

  it("a peer whose address is this worker's routerId", () => {
    expect(msgs(`${GOOD}bgp: { peers: [{ address: 203.0.113.2, asn: 65000 }] }\n`)).toEqual(["bgp.peers[0].address: 203.0.113.2 is this worker's own routerId"]);
  });
});

describe('the two ways in: routectl validate and routectl agent', () => {
  it('validate: the canonical form on stdout, the warnings with their lines on stderr, exit 0', async () => {
    const p = file('w.yaml', 'routerId: 203.0.113.2\nasn: 64500\nnode: w1\n');
    const r = await runCaptured(['validate', p]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^node: w1\nrouterId: 203\.0\.113\.2\nasn: 64500\n/);
    expect(r.err).toBe(`${p}:2:6: warning: asn: AS 64500 is reserved for documentation (RFC 5398); fix: use your own AS number, or a private one (RFC 6996: 64512-65534, 4200000000-4294967294)\n1 warning in ${p} (valid: the agent starts and logs them)\n`);
  });

  it('validate: no warnings, nothing on stderr', async () => {
    const r = await runCaptured(['validate', file('ok.yaml', GOOD)]);
    expect([r.code, r.err]).toEqual([0, '']);
  });

  it('validate and agent --config refuse asn: -5, a FIFO and /dev/urandom; the agent starts nothing', async () => {
    const bad = file('neg.yaml', `${GOOD.replace('asn: 65001', 'asn: -5')}api: { socket: ${dir}/api.sock }\n`);
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    for (const [p, want] of [[bad, 'asn: -5 is negative'], [fifo, 'a FIFO (named pipe)'], ['/dev/urandom', 'a character device']] as const) {
      const v = await runCaptured(['validate', p]);
      expect(v.code, p).toBe(1);
      expect(v.out).toBe('');
      expect(v.err).toContain(want);
      const a = await runCaptured(['agent', '--config', p]);
      expect(a.code, p).toBe(1);
      expect(a.err).toContain(want);
      expect(a.err).toMatch(/invalid config, nothing started \(1 problem\)/);
    }
  });

  it('the agent logs each warning once at start', async () => {
    let logText = '';
    const log = createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, cb) { logText += c.toString(); cb(); } }) });
    const cfg = parseConfig(`node: w1\nrouterId: 203.0.113.2\nasn: 65551\nbgp: { listen: { port: 0 }, peers: [{ address: 203.0.113.1, asn: 65535 }, { address: 203.0.113.3, asn: 65000 }] }\napi: { socket: ${dir}/api.sock }\n`, 't');
    const agent = await runAgent(cfg, { log, handleSignals: false, metricsListen: null, createSpeaker: (c) => new NullSpeaker(c) });
    await agent.stop();
    const warnings = logText.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.op === 'config' && l.event === 'warning');
    expect(warnings.map((w) => [w.level, w.field, w.msg])).toEqual([
      ['warn', 'asn', 'asn: AS 65551 is reserved for documentation (RFC 5398)'],
      ['warn', 'bgp.peers[0].asn', 'bgp.peers[0].asn: AS 65535 is reserved, the last AS number of its range (RFC 7300)'],
    ]);
  });
});

class NullSpeaker extends EventEmitter implements SpeakerLike {
  constructor(readonly cfg: SpeakerConfigForAgent) {
    super();
  }
  async start() {}
  async stop() {}
  setAdvertisements() {}
  async setPeers() {}
  setImportFilter() {}
  peerStatus() {
    return [];
  }
  routes() {
    return [];
  }
  advertisedCount() {
    return 0;
  }
}
