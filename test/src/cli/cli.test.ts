/**
 * The routectl CLI, run in-process against a fake API server on a temp socket: human and
 * JSON output (golden files in test/src/cli/golden, the temp socket path masked as
 * <SOCKET>), and the exit codes: status 0 when every peer is Established, 1 when not,
 * 2 when the agent cannot be reached. ROUTECTL_UPDATE_GOLDEN=1 rewrites the goldens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../src/api/index.js';
import { fakeHandlers, healthyPeers, unhealthyPeers } from '../api/fake-handlers.js';
import { expectGoldenFile, runCaptured, type CliRun } from './run.js';

let dir: string;
let healthy: ApiServer;
let unhealthy: ApiServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-cli-'));
  healthy = await startApiServer(join(dir, 'healthy.sock'), fakeHandlers(healthyPeers));
  unhealthy = await startApiServer(join(dir, 'unhealthy.sock'), fakeHandlers(unhealthyPeers));
});
afterAll(async () => {
  await healthy.close();
  await unhealthy.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliRun> => runCaptured(argv, dir);
const golden = expectGoldenFile;

describe('routectl status', () => {
  it('exit 0 and the table when every peer is Established', async () => {
    const r = await cli('status', '--socket', healthy.path);
    expect([r.code, r.err]).toEqual([0, '']);
    golden('status-healthy.txt', r.out);
  });

  it('exit 1 with the reasons in words when a peer is not Established', async () => {
    const r = await cli('status', '--socket', unhealthy.path);
    expect([r.code, r.err]).toEqual([1, '']);
    expect(r.out).toContain('connect: ECONNREFUSED, retry in 4 s');
    expect(r.out).toContain('NOTIFICATION received: Cease / Administrative Shutdown: maintenance');
    golden('status-unhealthy.txt', r.out);
  });

  it('--json prints the API answer with the docs/design.md fields, same exit codes', async () => {
    const ok = await cli('status', '--json', '--socket', healthy.path);
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.out) as Record<string, unknown>;
    for (const k of ['node', 'asn', 'routerId', 'uptimeSeconds', 'peers', 'endpoints', 'routes', 'version']) expect(j).toHaveProperty(k);
    golden('status-unhealthy.json', (await cli('status', '--json', '--socket', unhealthy.path)).out);
    expect((await cli('status', '--json', '--socket', unhealthy.path)).code).toBe(1);
  });

  it('exit 2 with the socket path when the agent cannot be reached', async () => {
    const r = await cli('status', '--socket', join(dir, 'nothing.sock'));
    expect(r).toEqual({ code: 2, out: '', err: 'routectl: routectl agent is not running (no socket at <TMP>/nothing.sock)\n' });
    expect((await cli('status', '--json', '--socket', join(dir, 'nothing.sock'))).code).toBe(2);
  });

  it('uses /run/routectl/routectl.sock by default', async () => {
    const r = await cli('status');
    // The machine running the tests has no agent there (or one we may not reach); either way it is named.
    expect(r.err).toContain('/run/routectl/routectl.sock');
  });
});

describe('routectl drain', () => {
  it('without --gshut-wait leaves the wait to the agent; with it, asks for RFC 8326 graceful shutdown first', async () => {
    const plain = await cli('drain', '--socket', healthy.path);
    expect(plain).toEqual({ code: 0, out: 'draining: 3 routes withdrawn from 2 established peers; the agent stops once they took it\n', err: '' });
    const g = await cli('drain', '--gshut-wait', '2m', '--socket', healthy.path);
    expect(g).toEqual({ code: 0, out: 'draining: 3 routes sent with GRACEFUL_SHUTDOWN for 120 s, then withdrawn from 2 established peers; the agent stops once they took it\n', err: '' });
    const j = await cli('drain', '--gshut-wait', '10s', '--json', '--socket', healthy.path);
    expect(JSON.parse(j.out)).toEqual({ draining: true, routes: 3, peers: 2, gracefulShutdownWait: 10 });
    expect((await cli('drain', '--gshut-wait', '0', '--json', '--socket', healthy.path)).out).toContain('"gracefulShutdownWait": 0');
  });

  it('a bad --gshut-wait is a usage error naming the value', async () => {
    for (const bad of ['10x', '-1', '2h', '3601', '']) {
      const r = await cli('drain', '--gshut-wait', bad, '--socket', healthy.path);
      expect(r.code).toBe(64);
      expect(r.err).toContain(`${JSON.stringify(bad)} is not a time from 0 to 1h`);
    }
  });
});

describe('routectl release', () => {
  it('ends a max-prefix hold; a peer not held or unknown is exit 1 with the reason', async () => {
    const r = await cli('release', '203.0.113.5', '--socket', unhealthy.path);
    expect(r).toEqual({ code: 0, out: '203.0.113.5: hold released; the session starts (state Active)\n', err: '' });
    const js = await cli('release', '203.0.113.5', '--json', '--socket', unhealthy.path);
    expect(JSON.parse(js.out)).toMatchObject({ address: '203.0.113.5', held: null });
    expect(await cli('release', '203.0.113.1', '--socket', unhealthy.path)).toEqual({
      code: 1,
      out: '',
      err: 'routectl: 203.0.113.1 is not held down (state Established): nothing to release\n',
    });
    expect((await cli('release', '203.0.113.99', '--socket', unhealthy.path)).err).toBe('routectl: 203.0.113.99 is not a configured peer\n');
    expect((await cli('release', 'nope', '--socket', unhealthy.path)).code).toBe(1);
  });
});

describe('routectl peers', () => {
  it('lists peers and shows one in detail', async () => {
    const all = await cli('peers', '--socket', unhealthy.path);
    expect(all.code).toBe(0);
    golden('peers.txt', all.out);
    const one = await cli('peers', '203.0.113.4', '--socket', unhealthy.path);
    expect(one.code).toBe(0);
    golden('peer-detail.txt', one.out);
    const js = await cli('peers', '203.0.113.4', '--json', '--socket', unhealthy.path);
    expect(JSON.parse(js.out)).toEqual(unhealthyPeers[2]);
  });

  it('an unknown peer: the agent error, exit 1', async () => {
    const r = await cli('peers', '203.0.113.99', '--socket', unhealthy.path);
    expect(r).toEqual({ code: 1, out: '', err: 'routectl: 203.0.113.99 is not a configured peer\n' });
  });
});

describe('routectl routes', () => {
  it('advertised and received by default; one view with a flag; filtered routes say why', async () => {
    const both = await cli('routes', '--socket', healthy.path);
    expect(both.code).toBe(0);
    golden('routes.txt', both.out);
    expect(both.out).toContain('filtered: not matched by bgp.import');
    const rec = await cli('routes', '--received', '--peer', '203.0.113.1', '--json', '--socket', healthy.path);
    expect(JSON.parse(rec.out)).toMatchObject({ view: 'received', peer: '203.0.113.1' });
    const both2 = JSON.parse((await cli('routes', '--json', '--socket', healthy.path)).out) as Record<string, unknown>;
    expect(Object.keys(both2)).toEqual(['advertised', 'received']);
  });

  it('the kernel view error is passed on; conflicting flags are a usage error', async () => {
    const k = await cli('routes', '--kernel', '--socket', healthy.path);
    expect(k.code).toBe(1);
    expect(k.err).toMatch(/^routectl: the kernel view needs the dataplane/);
    const c = await cli('routes', '--received', '--advertised', '--socket', healthy.path);
    expect(c.code).toBe(64);
    expect(c.err).toMatch(/option '--received' cannot be used with option '--advertised'/);
  });
});

describe('routectl usage', () => {
  it('unknown command and --help', async () => {
    const bad = await cli('statuss');
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/unknown command 'statuss'/);
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const c of ['agent', 'validate', 'status', 'peers', 'routes']) expect(help.out).toContain(c);
  });
});
