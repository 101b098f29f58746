/**
 * `routectl verify` and `routectl routes --kernel` against a fake API server whose verify
 * answer is computed by the real comparator (src/verify) from a worker with a host route
 * deleted by hand and a peer missing a prefix: human and JSON output as golden files, exit
 * 1 on any mismatch, 0 when clean, 2 when the agent cannot be reached, 1 with the agent's
 * words when it has no verify (501).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../src/api/index.js';
import type { RouteEntry } from '../../../src/api/types.js';
import { kernelRouteEntries, verify, type VerifyInput } from '../../../src/verify/index.js';
import { fakeHandlers, healthyPeers, unhealthyPeers } from '../api/fake-handlers.js';
import { expectGoldenFile, runCaptured, type CliRun } from './run.js';


const own = {
  links: [
    { index: 7, name: 'rtcaaaa1111', up: true },
    { index: 8, name: 'rtcbbbb2222', up: true },
  ],
  routes: [
    { family: 4 as const, dst: '198.51.100.2/32', type: 'unicast' as const, protocol: 88, scope: 'link' as const, oif: 7 },
    { family: 6 as const, dst: '2001:db8:c:1::2/128', type: 'unicast' as const, protocol: 88, scope: 'universe' as const, oif: 7 },
    { family: 6 as const, dst: '2001:db8:c:1::3/128', type: 'unicast' as const, protocol: 88, scope: 'universe' as const, oif: 8 },
    { family: 4 as const, dst: '198.51.100.0/28', type: 'blackhole' as const, protocol: 88, scope: 'universe' as const },
  ],
};

const input: VerifyInput = {
  endpoints: [
    { id: 'aaaa1111', name: 'web', hostIfName: 'rtcaaaa1111', ipv4: '198.51.100.2', ipv6: '2001:db8:c:1::2' },
    // Its /32 was deleted by hand: the kernel has only the /128.
    { id: 'bbbb2222', name: 'db', hostIfName: 'rtcbbbb2222', ipv4: '198.51.100.3', ipv6: '2001:db8:c:1::3' },
  ],
  advertise: ['203.0.113.10/32'],
  aggregates: [],
  blackholes: [],
  kernel: own,
  peers: [
    // 2001:db8:c:1::3/128 never reached this peer.
    { address: '203.0.113.1', state: 'Established', families: ['ipv4-unicast', 'ipv6-unicast'], problems: [], advertised: ['203.0.113.10/32', '198.51.100.2/32', '2001:db8:c:1::2/128', '198.51.100.3/32'] },
    { address: '203.0.113.3', state: 'Active', families: ['ipv4-unicast'], problems: [], advertised: [] },
  ],
};
const cleanInput: VerifyInput = { endpoints: null, advertise: ['203.0.113.10/32'], aggregates: [], blackholes: [], kernel: null, peers: [{ ...input.peers[0]!, advertised: ['203.0.113.10/32'] }] };

let dir: string;
let dirty: ApiServer;
let clean: ApiServer;
let old: ApiServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-verify-'));
  const kernel: RouteEntry[] = kernelRouteEntries(own);
  dirty = await startApiServer(join(dir, 'dirty.sock'), fakeHandlers(unhealthyPeers, { kernel, verify: verify(input) }));
  clean = await startApiServer(join(dir, 'clean.sock'), fakeHandlers(healthyPeers, { verify: verify(cleanInput) }));
  old = await startApiServer(join(dir, 'old.sock'), fakeHandlers(healthyPeers));
});
afterAll(async () => {
  await Promise.all([dirty.close(), clean.close(), old.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliRun> => runCaptured(argv, dir);
const golden = expectGoldenFile;

describe('routectl verify', () => {
  it('prints every mismatch and exits 1', async () => {
    const r = await cli('verify', '--socket', dirty.path);
    expect([r.code, r.err]).toEqual([1, '']);
    expect(r.out).toContain('missing host route 198.51.100.3/32 for endpoint db (bbbb2222)');
    expect(r.out).toContain('prefix 2001:db8:c:1::3/128 (endpoint db (bbbb2222)) not sent to peer 203.0.113.1');
    expect(r.out).toContain('unexpected own route blackhole 198.51.100.0/28');
    golden('verify-mismatch.txt', r.out);
    const j = await cli('verify', '--json', '--socket', dirty.path);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, checked: { endpoints: 2, kernel: true, peers: ['203.0.113.1'] } });
    golden('verify-mismatch.json', j.out);
  });

  it('clean: exit 0', async () => {
    const r = await cli('verify', '--socket', clean.path);
    expect([r.code, r.err]).toEqual([0, '']);
    golden('verify-clean.txt', r.out);
    expect((await cli('verify', '--json', '--socket', clean.path)).code).toBe(0);
  });

  it('unreachable: exit 2 with the socket path; an agent without verify: its words, exit 1', async () => {
    const r = await cli('verify', '--socket', join(dir, 'none.sock'));
    expect(r).toEqual({ code: 2, out: '', err: 'routectl: routectl agent is not running (no socket at <TMP>/none.sock)\n' });
    const o = await cli('verify', '--socket', old.path);
    expect(o).toEqual({ code: 1, out: '', err: 'routectl: this agent does not answer verify\n' });
  });
});

describe('routectl routes --kernel', () => {
  it('own routes with their device, blackholes as such', async () => {
    const r = await cli('routes', '--kernel', '--socket', dirty.path);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toContain('198.51.100.2/32      dev rtcaaaa1111');
    golden('routes-kernel.txt', r.out);
    const j = JSON.parse((await cli('routes', '--kernel', '--json', '--socket', dirty.path)).out) as { view: string; routes: RouteEntry[] };
    expect(j.view).toBe('kernel');
    expect(j.routes.map((x) => x.prefix)).toEqual(['198.51.100.0/28', '198.51.100.2/32', '2001:db8:c:1::2/128', '2001:db8:c:1::3/128']);
    golden('routes-kernel.json', JSON.stringify(j, null, 2) + '\n');
  });
});
