/**
 * The container-side helper's script (src/dataplane/container.ts) inside real network
 * namespaces (rtc-chlp-*), with a stand-in for `ip` that reports the sysctls it finds and
 * echoes its batch: in a namespace with IPv6 on it starts ip at once, which gets the
 * interface line (a comment to ip); in one where Docker left IPv6 off (`all` and
 * `default`) it switches `all` on, which switches on `default` and an interface created
 * before the helper ran, and starts ip at once too; where only `default` was off, it
 * switches that on, reads the interface line, switches that interface on (it inherited
 * the old `default`), and only then starts ip.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerScript, spareArgv } from '../../src/dataplane/container.js';
import { exec, run } from './harness/proc.js';

const tag = randomBytes(2).toString('hex');
const ON = `rtc-chlp-${tag}-on`;
const OFF = `rtc-chlp-${tag}-off`;
const dir = mkdtempSync(join(tmpdir(), 'rtc-chlp-'));
const ip = join(dir, 'ip');
const conf = (k: string): string => `/proc/sys/net/ipv6/conf/${k}/disable_ipv6`;

/** Runs the script in `ns` with `input` on stdin. */
const helper = (ns: string, input: string) =>
  spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', containerScript(ip)], { input, encoding: 'utf8', timeout: 10_000 });
const sysctl = async (ns: string, k: string): Promise<string> => (await run(['ip', 'netns', 'exec', ns, 'cat', conf(k)])).trim();

beforeAll(async () => {
  // The stand-in: prints how it was started and the disable_ipv6 it sees, then its batch.
  writeFileSync(ip, `#!/bin/sh\necho "ip $* all=$(cat ${conf('all')}) default=$(cat ${conf('default')}) d0=$(cat ${conf('d0')} 2>/dev/null)"\ncat\n`, { mode: 0o755 });
  for (const ns of [ON, OFF]) await run(['ip', 'netns', 'add', ns]);
  // Docker's `--net none` namespace: IPv6 off, and an interface that inherited it.
  for (const k of ['all', 'default']) await run(['ip', 'netns', 'exec', OFF, 'sh', '-c', `echo 1 > ${conf(k)}`]);
  await run(['ip', '-n', OFF, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
  await run(['ip', '-n', ON, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
}, 30_000);

afterAll(async () => {
  for (const ns of [ON, OFF]) await exec(['ip', 'netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe('container-side helper script, real namespaces', () => {
  it('IPv6 already on: changes nothing; ip starts at once and gets the interface line as a comment', async () => {
    expect(await sysctl(ON, 'd0')).toBe('0');
    const r = helper(ON, '6\n# d0\nlink set dev d0 up\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ip -batch - all=0 default=0 d0=0\n# d0\nlink set dev d0 up\n');
  });

  it('IPv6 off, as Docker leaves it: switches all on (default and the interface with it), then starts ip at once', async () => {
    expect(await sysctl(OFF, 'd0')).toBe('1');
    const r = helper(OFF, '6\n# d0\nlink set dev d0 up\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ip -batch - all=0 default=0 d0=0\n# d0\nlink set dev d0 up\n');
    for (const k of ['all', 'default', 'd0']) expect(await sysctl(OFF, k)).toBe('0');
  });

  it('only default off: switches it on, then the interface named on the next line, then starts ip', async () => {
    for (const k of ['default', 'd0']) await run(['ip', 'netns', 'exec', OFF, 'sh', '-c', `echo 1 > ${conf(k)}`]);
    expect(await sysctl(OFF, 'all')).toBe('0');
    const r = helper(OFF, '6\n# d0\nlink set dev d0 up\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ip -batch - all=0 default=0 d0=0\nlink set dev d0 up\n');
    for (const k of ['all', 'default', 'd0']) expect(await sysctl(OFF, k)).toBe('0');
  });

  it('cancelled before the interface line (stdin closed): exits 0 without starting ip', async () => {
    await run(['ip', 'netns', 'exec', OFF, 'sh', '-c', `echo 1 > ${conf('default')}`]);
    const r = helper(OFF, '6\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('IPv4 only: no sysctl touched, ip starts at once', async () => {
    expect(await sysctl(OFF, 'default')).toBe('0');
    await run(['ip', 'netns', 'exec', OFF, 'sh', '-c', `echo 1 > ${conf('default')}`]);
    const r = helper(OFF, '4\n');
    expect(r.stdout).toBe('ip -batch - all=0 default=1 d0=0\n');
    expect(await sysctl(OFF, 'default')).toBe('1');
  });

  it('a spare, started in the worker namespace, enters the namespace named on its first line and runs the script there', async () => {
    const argv = spareArgv({ nsenter: 'nsenter', sh: 'sh', ip });
    const r = spawnSync(argv[0]!, argv.slice(1), { input: `/var/run/netns/${ON}\n6\n# d0\nlink set dev d0 up\n`, encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // d0 exists only in that namespace: the stand-in read its sysctl there.
    expect(r.stdout).toBe('ip -batch - all=0 default=0 d0=0\n# d0\nlink set dev d0 up\n');
  });

  it('the real ip takes the interface line as a comment', async () => {
    const r = spawnSync('ip', ['netns', 'exec', ON, 'ip', '-batch', '-'], { input: '# d0\nlink set dev d0 up\n', encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await run(['ip', '-n', ON, '-o', 'link', 'show', 'd0'])).toMatch(/[<,]UP[,>]/);
  });
});
