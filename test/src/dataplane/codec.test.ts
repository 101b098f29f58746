/** rtnetlink bodies and the container-side script, byte for byte / line for line. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTAINER_SCRIPT, containerBatch, containerDevLine, containerEarly, containerScript, findHelperTools, helperEnv, nsenterArgv, spareArgv, spareFirstLine } from '../../../src/dataplane/container.js';
import {
  decodeLink,
  decodeRoute,
  encodeGetLink,
  encodeLinkUp,
  encodeNewVeth,
  encodeRoute,
} from '../../../src/dataplane/netlink/codec.js';

describe('route codec', () => {
  it('IPv4 host route: rtmsg, RTA_TABLE, RTA_DST, RTA_OIF', () => {
    const b = encodeRoute({ family: 4, dst: '198.51.100.7/32', type: 'unicast', oif: 9 }, 88);
    expect(b.toString('hex')).toBe(
      // family 2, dst_len 32, src_len 0, tos 0, table 254, proto 88, scope link 253, type unicast 1, flags 0
      '02200000fe58fd01' + '00000000' +
        '08000f00fe000000' + // RTA_TABLE 254
        '08000100c6336407' + // RTA_DST 198.51.100.7
        '0800040009000000', // RTA_OIF 9
    );
    expect(decodeRoute(b)).toEqual({ family: 4, dst: '198.51.100.7/32', type: 'unicast', protocol: 88, scope: 'link', oif: 9 });
  });

  it('IPv6 host route and blackholes round-trip; other tables are skipped', () => {
    for (const r of [
      { family: 6 as const, dst: '2001:db8:c:1::5/128', type: 'unicast' as const, oif: 3 },
      { family: 4 as const, dst: '198.51.100.0/26', type: 'blackhole' as const },
      { family: 6 as const, dst: '2001:db8:c:1::/122', type: 'blackhole' as const },
    ]) {
      const d = decodeRoute(encodeRoute(r, 88));
      expect(d).toMatchObject({ family: r.family, dst: r.dst, type: r.type, protocol: 88 });
      if (r.type === 'blackhole') expect(d?.oif).toBeUndefined();
    }
    const local = encodeRoute({ family: 4, dst: '198.51.100.7/32', type: 'unicast', oif: 1 }, 2);
    local.writeUInt32LE(255, 12 + 4); // RTA_TABLE local
    expect(decodeRoute(local)).toBeUndefined();
  });
});

describe('link codec', () => {
  it('veth: host name + MAC, linkinfo kind veth, peer name and netns fd inside VETH_INFO_PEER', () => {
    const b = encodeNewVeth({ hostName: 'rtc0123456789a', hostMac: 'ee:ee:ee:ee:ee:ee', peerName: 'eth0', peerNetnsFd: 21 });
    const hex = b.toString('hex');
    expect(b.length % 4).toBe(0);
    expect(hex).toContain(Buffer.from('rtc0123456789a\0').toString('hex'));
    expect(hex).toContain('0a000100eeeeeeeeeeee'); // IFLA_ADDRESS, 6 bytes
    expect(hex).toContain(Buffer.from('veth\0').toString('hex'));
    expect(hex).toContain('0800' + '1c00' + '15000000'); // IFLA_NET_NS_FD 21
    expect(hex).toContain(Buffer.from('eth0\0').toString('hex'));
    // One TX and one RX queue (IFLA_NUM_TX_QUEUES 31, IFLA_NUM_RX_QUEUES 32), for each end:
    // the kernel then never shrinks them under the rtnl lock.
    const queues = '0800' + '1f00' + '01000000' + '0800' + '2000' + '01000000';
    expect(hex.split(queues).length - 1).toBe(2);
    // The host's own attributes decode back (the parser skips LINKINFO).
    expect(decodeLink(b)).toEqual({ index: 0, name: 'rtc0123456789a', mac: 'ee:ee:ee:ee:ee:ee', up: false });
  });

  it('a veth end names its peer (IFLA_LINK, IFLA_LINK_NETNSID); a link without a peer does not; get link by index, in another namespace by id', () => {
    const ifinfo = (index: number): string => '0000' + '0100' + Buffer.from(Uint32Array.of(index).buffer).toString('hex') + '41000100' + 'ffffffff';
    const attr = (type: number, hex: string): string => Buffer.from(Uint16Array.of(4 + hex.length / 2, type).buffer).toString('hex') + hex;
    const name = (n: string): string => attr(3, Buffer.from(`${n}\0`).toString('hex').padEnd(Math.ceil((n.length + 1) / 4) * 8, '0'));
    const veth = Buffer.from(ifinfo(12) + name('rtc0123456789a') + attr(5, '02000000') + attr(37, '03000000'), 'hex');
    expect(decodeLink(veth)).toEqual({ index: 12, name: 'rtc0123456789a', up: true, peer: { index: 2, netnsId: 3 } });
    const sameNs = Buffer.from(ifinfo(12) + name('vethA') + attr(5, '0d000000'), 'hex');
    expect(decodeLink(sameNs)?.peer).toEqual({ index: 13 });
    const plain = Buffer.from(ifinfo(4) + name('fab0') + attr(5, '04000000'), 'hex');
    expect(decodeLink(plain)?.peer).toBeUndefined();
    expect(encodeGetLink(7).toString('hex')).toBe('00000000' + '07000000' + '00000000' + '00000000');
    expect(encodeGetLink(2, 3).toString('hex')).toBe('00000000' + '02000000' + '00000000' + '00000000' + '08002e00' + '03000000');
  });

  it('set up: ifinfomsg flags and change mask IFF_UP', () => {
    expect(encodeLinkUp(7).toString('hex')).toBe('00000000' + '07000000' + '01000000' + '01000000');
  });
});

describe('container side', () => {
  const side = { ifName: 'eth0', ipv4: '198.51.100.2', ipv6: '2001:db8:c:1::2', gateway4: '169.254.1.1', gateway6: 'fe80::ecee:eeff:feee:eeee' };
  it('ip -batch: up, /32, on-link gateway, default, /128 nodad, v6 default via the host link-local', () => {
    expect(containerBatch(side).split('\n')).toEqual([
      'link set dev eth0 up',
      'address add 198.51.100.2/32 dev eth0',
      'route add 169.254.1.1/32 dev eth0 scope link',
      'route add 0.0.0.0/0 via 169.254.1.1 dev eth0',
      'address add 2001:db8:c:1::2/128 dev eth0 nodad',
      'route add ::/0 via fe80::ecee:eeff:feee:eeee dev eth0',
      '',
    ]);
  });
  it('the helper enters the namespace; it is told the families once allocated, then the interface', () => {
    expect(nsenterArgv('/proc/42/ns/net')).toEqual(['nsenter', '--net=/proc/42/ns/net', '--', 'sh', '-c', CONTAINER_SCRIPT]);
    expect(containerEarly({ ipv6: true })).toBe('6\n');
    expect(containerEarly({ ipv6: false })).toBe('4\n');
    expect(containerDevLine(side)).toBe('# eth0\n');
    expect(() => containerDevLine({ ...side, ifName: 'eth0; reboot' })).toThrow(/not an interface name/);
  });
  it('the script: IPv4 starts ip at once, which takes the interface line as a comment; cancelled, it exits 0 having run nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-script-'));
    try {
      // A stand-in for ip: says how it was started and echoes its batch.
      const ip = join(dir, 'ip');
      writeFileSync(ip, '#!/bin/sh\necho "ip $*"; cat\n', { mode: 0o755 });
      const script = containerScript(ip);
      const sh = (input: string) => spawnSync('sh', ['-c', script], { input, encoding: 'utf8' });
      // Cancelled before start(): no ip.
      expect(sh('')).toMatchObject({ status: 0, stdout: '', stderr: '' });
      // IPv4 only: nothing to switch on, so ip runs before the rest comes, and gets all of it.
      expect(sh('4\n')).toMatchObject({ status: 0, stdout: 'ip -batch -\n', stderr: '' });
      expect(sh('4\n# eth0\nlink set dev eth0 up\n')).toMatchObject({ status: 0, stdout: 'ip -batch -\n# eth0\nlink set dev eth0 up\n', stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Each sysctl is read before it is written; what is written is noted.
    expect(CONTAINER_SCRIPT).toContain('zero() { v=; read -r v < "$1" || :; [ "$v" = 0 ] || { echo 0 > "$1"; changed=1; }; }');
    expect(CONTAINER_SCRIPT.split('\n').at(-1)).toBe('exec ip -batch -');
  });
  it('the helper runs its programs by absolute path, found once on PATH, in the C locale', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-tools-'));
    try {
      for (const [sub, name] of [['a', 'nsenter'], ['b', 'sh'], ['b', 'ip'], ['a', 'ip']] as const) {
        mkdirSync(join(dir, sub), { recursive: true });
        writeFileSync(join(dir, sub, name), '#!/bin/sh\n', { mode: 0o755 });
      }
      writeFileSync(join(dir, 'a', 'sh'), 'not executable', { mode: 0o644 });
      const tools = findHelperTools(`relative:${dir}/a:${dir}/b`);
      // The first executable on PATH wins; a non-executable file is passed over.
      expect(tools).toEqual({ nsenter: `${dir}/a/nsenter`, sh: `${dir}/b/sh`, ip: `${dir}/a/ip` });
      expect(nsenterArgv('/proc/42/ns/net', tools)).toEqual([`${dir}/a/nsenter`, '--net=/proc/42/ns/net', '--', `${dir}/b/sh`, '-c', containerScript(`${dir}/a/ip`)]);
      expect(containerScript(`${dir}/a/ip`).split('\n').at(-1)).toBe(`exec ${dir}/a/ip -batch -`);
      // Not found anywhere (or only in a relative directory): the bare name.
      expect(findHelperTools('relative:/nonexistent')).toEqual({ nsenter: 'nsenter', sh: 'sh', ip: 'ip' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(helperEnv('/usr/sbin:/usr/bin')).toEqual({ PATH: '/usr/sbin:/usr/bin', LC_ALL: 'C' });
    // A spare becomes nsenterArgv's helper once told the namespace on its first line.
    const tools = { nsenter: '/x/nsenter', sh: '/x/sh', ip: '/x/ip' };
    const spare = spareArgv(tools);
    expect(spare.slice(0, 2)).toEqual(['/x/sh', '-c']);
    expect(spare.slice(3)).toEqual(['/x/nsenter', '/x/sh', containerScript('/x/ip')]);
    expect(spareFirstLine('/proc/42/ns/net')).toBe('/proc/42/ns/net\n');
    expect(spareFirstLine('/var/run/netns/a\nb')).toBeUndefined();
  });
});
