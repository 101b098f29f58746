/**
 * The endpoint sets written over nfnetlink (src/policy/ipset-netlink.ts) against the real
 * kernel, in a throwaway namespace (rtc-ipnl-*): the sets are created by the `ipset`
 * command, filled by the agent's netlink writer (bundled, started with `ip netns exec`:
 * a netlink socket belongs to the namespace of the process that opens it, and the test
 * process stays in the root namespace), and read back with `ipset save`. The result must be
 * exactly what `ipset -exist restore` of the same add/del lines gives.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSetOp } from '../../policy/applier.js';
import { exec, run } from './harness/proc.js';
import { bundleEntry } from '../src/store/child-bundle.js';

const NS = `rtc-ipnl-${randomBytes(2).toString('hex')}`;
let bundle = '';

const nsx = (args: string[], stdin?: string): Promise<string> => run(['ip', 'netns', 'exec', NS, ...args], stdin === undefined ? {} : { input: stdin });
/** One batch through the netlink writer, inside the namespace. */
function write(ops: readonly EndpointSetOp[]): { ok: boolean; error?: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, bundle, JSON.stringify(ops)], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`driver: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: boolean; error?: string };
}
/** The members of our sets, as `ipset save` prints them, sorted. */
async function members(...sets: string[]): Promise<string[]> {
  const text = await nsx(['ipset', 'save']);
  return text.split('\n').filter((l) => sets.some((s) => l.startsWith(`add ${s} `))).sort();
}
const add = (family: 4 | 6, addr: string, iface: string, set = family === 4 ? 'rtc-ep-4' : 'rtc-ep-6'): EndpointSetOp => ({ verb: 'add', set, family, addr, iface });
const del = (family: 4 | 6, addr: string, iface: string, set = family === 4 ? 'rtc-ep-4' : 'rtc-ep-6'): EndpointSetOp => ({ verb: 'del', set, family, addr, iface });

beforeAll(async () => {
  await run(['ip', 'netns', 'add', NS]);
  for (const [name, fam, max] of [['rtc-ep-4', 'inet', 65536], ['rtc-ep-6', 'inet6', 65536], ['rtc-cmp-4', 'inet', 65536], ['rtc-cmp-6', 'inet6', 65536], ['rtc-tiny-4', 'inet', 2]] as const) {
    await nsx(['ipset', 'create', name, 'hash:net,iface', 'family', fam, 'maxelem', String(max)]);
  }
  bundle = await bundleEntry(join(import.meta.dirname, '../src/policy/ipset-netlink-driver.ts'), ['netlink']);
}, 60_000);

afterAll(async () => {
  await exec(['ip', 'netns', 'del', NS]);
  if (bundle) rmSync(dirname(bundle), { recursive: true, force: true });
});

describe('endpoint sets over nfnetlink, real kernel', () => {
  it('add and del of IPv4 and IPv6 members; -exist meaning for repeats and for what is gone', async () => {
    expect(write([add(4, '198.51.100.7', 'rtc0a1b2c3d4e5'), add(6, '2001:db8:b::7', 'rtc0a1b2c3d4e5'), add(4, '198.51.100.8', 'rtcffffffffff0')])).toEqual({ ok: true });
    expect(await members('rtc-ep-4', 'rtc-ep-6')).toEqual([
      'add rtc-ep-4 198.51.100.7,rtc0a1b2c3d4e5',
      'add rtc-ep-4 198.51.100.8,rtcffffffffff0',
      'add rtc-ep-6 2001:db8:b::7,rtc0a1b2c3d4e5',
    ]);
    // Again (already there), and a delete of something never added: both succeed, nothing changes.
    expect(write([add(4, '198.51.100.7', 'rtc0a1b2c3d4e5'), del(6, '2001:db8:b::99', 'rtc0a1b2c3d4e5')])).toEqual({ ok: true });
    expect(await members('rtc-ep-4', 'rtc-ep-6')).toHaveLength(3);
    // The same address on another veth is another member (the anti-spoofing pair).
    expect(write([del(4, '198.51.100.7', 'rtc0a1b2c3d4e5'), del(6, '2001:db8:b::7', 'rtc0a1b2c3d4e5')])).toEqual({ ok: true });
    expect(await members('rtc-ep-4', 'rtc-ep-6')).toEqual(['add rtc-ep-4 198.51.100.8,rtcffffffffff0']);
  });

  it('a burst of 300 changes in one write gives exactly what `ipset -exist restore` of the same lines gives', async () => {
    const ops: EndpointSetOp[] = [];
    for (let i = 0; i < 150; i++) {
      ops.push(add(4, `203.0.113.${i}`, `rtc${i.toString(16).padStart(11, '0')}`, 'rtc-ep-4'));
      ops.push(add(6, `2001:db8:c::${i.toString(16)}`, `rtc${i.toString(16).padStart(11, '0')}`, 'rtc-ep-6'));
    }
    for (let i = 0; i < 150; i += 3) ops.push(del(4, `203.0.113.${i}`, `rtc${i.toString(16).padStart(11, '0')}`, 'rtc-ep-4'));
    expect(write(ops)).toEqual({ ok: true });
    const viaCommand = ops.map((o) => `${o.verb} ${o.set.replace('rtc-ep', 'rtc-cmp')} ${o.addr},${o.iface}`).join('\n') + '\n';
    await nsx(['ipset', '-exist', 'restore'], viaCommand);
    const ours = (await members('rtc-ep-4', 'rtc-ep-6')).filter((l) => !l.includes('198.51.100.8'));
    const theirs = (await members('rtc-cmp-4', 'rtc-cmp-6')).map((l) => l.replace('rtc-cmp', 'rtc-ep'));
    expect(ours).toHaveLength(150 + 150 - 50);
    expect(ours).toEqual(theirs.sort());
  });

  it('errors name the change and the reason, and the changes before and after a bad one still go in', async () => {
    const r = write([add(4, '192.0.2.1', 'rtcaaaaaaaaaa1', 'rtc-tiny-4'), add(4, '192.0.2.2', 'rtcaaaaaaaaaa2', 'rtc-nosuchset'), add(4, '192.0.2.3', 'rtcaaaaaaaaaa3', 'rtc-tiny-4')]);
    expect(r.ok).toBe(false);
    expect(r.error).toContain('add rtc-nosuchset 192.0.2.2,rtcaaaaaaaaaa2: ENOENT (no such set)');
    expect(await members('rtc-tiny-4')).toEqual(['add rtc-tiny-4 192.0.2.1,rtcaaaaaaaaaa1', 'add rtc-tiny-4 192.0.2.3,rtcaaaaaaaaaa3']);
    const full = write([add(4, '192.0.2.4', 'rtcaaaaaaaaaa4', 'rtc-tiny-4')]);
    expect(full).toEqual({ ok: false, error: expect.stringContaining('add rtc-tiny-4 192.0.2.4,rtcaaaaaaaaaa4: IPSET_ERR_HASH_FULL') });
    // An IPv6 address sent to an IPv4 set: refused by the kernel, named.
    const mismatch = write([add(6, '2001:db8::1', 'rtcaaaaaaaaaa5', 'rtc-ep-4')]);
    expect(mismatch.ok).toBe(false);
    expect(mismatch.error).toContain('add rtc-ep-4 2001:db8::1,rtcaaaaaaaaaa5: ');
    expect(await members('rtc-tiny-4')).toHaveLength(2);
  });

  it('bad input is refused before anything is sent: a malformed address or interface name', async () => {
    const before = await members('rtc-ep-4');
    const r = write([add(4, '198.51.100.50', 'rtcok000000001'), add(4, '198.51.100.300', 'rtcok000000002')]);
    expect(r).toEqual({ ok: false, error: 'ipset add rtc-ep-4: "198.51.100.300" is not an IPv4 address' });
    expect(write([add(4, '198.51.100.51', 'this-name-is-too-long')]).error).toBe('ipset add rtc-ep-4: "this-name-is-too-long" is not an interface name');
    expect(await members('rtc-ep-4')).toEqual(before);
  });
});
