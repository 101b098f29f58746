/**
 * CNI_NETNS checks (src/cni/netns.ts) against real files and the real kernel: what is a
 * network namespace, which is the agent's own, and what every other kind of path is
 * called in the error. The lab (test/lab/cni-inputs.test.ts) runs the same through the
 * plugin with namespaces of its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cniStatusProblem } from '../../../src/cni/agent.js';
import { loadNsType, netnsProblem } from '../../../src/cni/netns.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-netns-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('netnsProblem', () => {
  it('the NS_GET_NSTYPE ioctl loads here (koffi), so the namespace type is known', async () => {
    expect(await loadNsType()).not.toBeNull();
  });

  it("the agent's own namespace, by its /proc path and through a symbolic link", async () => {
    expect(await netnsProblem('/proc/self/ns/net')).toBe("/proc/self/ns/net is the agent's own network namespace (the host's): the container's addresses and routes would land on the host itself");
    symlinkSync('/proc/self/ns/net', join(dir, 'link'));
    expect(await netnsProblem(join(dir, 'link'))).toMatch(/link is the agent's own network namespace/);
  });

  it('another network namespace is accepted (here: ours, compared with a namespace that is not it)', async () => {
    expect(await netnsProblem('/proc/self/ns/net', { self: '/proc/self/ns/mnt' })).toBeNull();
  });

  it('what is not a network namespace says what it is', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await netnsProblem('/dev/null')).toBe('/dev/null is a character device, not a network namespace');
    expect(await netnsProblem(file)).toBe(`${file} is a regular file, not a network namespace`);
    expect(await netnsProblem(fifo)).toBe(`${fifo} is a FIFO, not a network namespace`);
    expect(await netnsProblem(dir)).toBe(`${dir} is a directory, not a network namespace`);
    expect(await netnsProblem('/proc/self/ns/mnt')).toBe('/proc/self/ns/mnt is a mount namespace, not a network namespace');
    expect(await netnsProblem('/proc/self/ns/uts')).toBe('/proc/self/ns/uts is a UTS namespace, not a network namespace');
    expect(await netnsProblem(join(dir, 'nope'))).toBe(`${join(dir, 'nope')} does not exist`);
    expect(await netnsProblem(`/${'a/'.repeat(150)}x`)).toMatch(/^(\/a){100}… \(302 characters\) does not exist$/);
  });
});

describe('cniStatusProblem: ready with at least one session Established', () => {
  const p = (address: string, state: string) => ({ address, state });
  it.each([
    ['no peers', [], 500, null],
    ['one of two up', [p('203.0.113.1', 'Established'), p('203.0.113.3', 'Active')], 500, null],
    ['none up, within the grace', [p('203.0.113.1', 'Connect')], 10, null],
    ['one peer, down', [p('203.0.113.1', 'Active')], 500, 'its BGP session is not Established (203.0.113.1 Active)'],
    ['two down', [p('203.0.113.1', 'Idle'), p('203.0.113.3', 'OpenSent')], 500, 'none of its 2 BGP sessions is Established (203.0.113.1 Idle, 203.0.113.3 OpenSent)'],
  ] as const)('%s', (_n, peers, up, want) => {
    expect(cniStatusProblem(peers, up, 120)).toBe(want);
  });
  it('names at most 8 peers and counts the rest', () => {
    const peers = Array.from({ length: 20 }, (_, i) => p(`203.0.113.${i + 1}`, 'Active'));
    expect(cniStatusProblem(peers, 500, 120)).toBe(`none of its 20 BGP sessions is Established (${peers.slice(0, 8).map((x) => `${x.address} Active`).join(', ')}, and 12 more)`);
  });
});
