/** rtnetlink bodies and the container-side script, byte for byte / line for line. */
import { describe, expect, it } from 'vitest';
import { containerBatch, nsenterArgv } from '../../../src/dataplane/container.js';
import {
  decodeLink,
  decodeRoute,
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
    // The host's own attributes decode back (the parser skips LINKINFO).
    expect(decodeLink(b)).toEqual({ index: 0, name: 'rtc0123456789a', mac: 'ee:ee:ee:ee:ee:ee', up: false });
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
  it('IPv6 is enabled inside the namespace before ip runs; IPv4-only skips it', () => {
    const argv = nsenterArgv('/proc/42/ns/net', side);
    expect(argv.slice(0, 5)).toEqual(['nsenter', '--net=/proc/42/ns/net', '--', 'sh', '-c']);
    expect(argv[5]).toBe(
      'set -e; echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 0 > /proc/sys/net/ipv6/conf/default/disable_ipv6; ' +
        'echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6; exec ip -batch -',
    );
    const { ipv6: _v6, ...v4only } = side;
    expect(nsenterArgv('/x', v4only)[5]).toBe('set -e; exec ip -batch -');
  });
});
