import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { nextHopsFor } from '../../../bgp/rib/next-hop.js';
import { unmapAddress } from '../../../bgp/wire/prefix.js';

const info = (address: string, cidr: string): os.NetworkInterfaceInfo =>
  (address.includes(':')
    ? { address, netmask: '', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr, scopeid: 0 }
    : { address, netmask: '', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr }) as os.NetworkInterfaceInfo;

const ifaces = () => ({
  lo: [info('127.0.0.1', '127.0.0.1/8'), info('::1', '::1/128')],
  eth0: [info('203.0.113.2', '203.0.113.2/30'), info('2001:db8:f::2', '2001:db8:f::2/64'), info('fe80::2', 'fe80::2/64')],
  eth1: [info('2001:db8:e::2', '2001:db8:e::2/64'), info('fe80::3', 'fe80::3/64')],
});

describe('next hops', () => {
  it('IPv4 session: v4 is the local address; v6 is the interface global plus link-local when on-link', () => {
    const q = { localAddress: '203.0.113.2', remoteAddress: '203.0.113.1', extendedNextHopV4: false };
    expect(nextHopsFor({ ...q, family: 'ipv4-unicast' }, ifaces)).toEqual({ nextHops: ['203.0.113.2'] });
    expect(nextHopsFor({ ...q, family: 'ipv6-unicast' }, ifaces)).toEqual({ nextHops: ['2001:db8:f::2', 'fe80::2'] });
    // A multihop peer (not on the link): global only.
    expect(nextHopsFor({ ...q, remoteAddress: '192.0.2.99', family: 'ipv6-unicast' }, ifaces)).toEqual({ nextHops: ['2001:db8:f::2'] });
  });
  it('a v4-mapped local address is treated as IPv4', () => {
    expect(unmapAddress('::ffff:203.0.113.2')).toBe('203.0.113.2');
    const q = { localAddress: '::ffff:203.0.113.2', remoteAddress: '::ffff:203.0.113.1', extendedNextHopV4: false, family: 'ipv4-unicast' as const };
    expect(nextHopsFor(q, ifaces)).toEqual({ nextHops: ['203.0.113.2'] });
  });
  it('IPv6 session: v6 is the local address; v4 from the interface, else RFC 8950 when negotiated, else an error', () => {
    const q = { localAddress: '2001:db8:f::2', remoteAddress: '2001:db8:f::1', extendedNextHopV4: false };
    expect(nextHopsFor({ ...q, family: 'ipv6-unicast' }, ifaces)).toEqual({ nextHops: ['2001:db8:f::2', 'fe80::2'] });
    expect(nextHopsFor({ ...q, family: 'ipv4-unicast' }, ifaces)).toEqual({ nextHops: ['203.0.113.2'] });
    const e = { localAddress: '2001:db8:e::2', remoteAddress: '2001:db8:e::1' };
    expect(nextHopsFor({ ...e, family: 'ipv4-unicast', extendedNextHopV4: true }, ifaces)).toEqual({ nextHops: ['2001:db8:e::2', 'fe80::3'] });
    const r = nextHopsFor({ ...e, family: 'ipv4-unicast', extendedNextHopV4: false }, ifaces);
    expect('error' in r && r.error).toMatch(/RFC 8950/);
  });
  it('no global IPv6 on an IPv4 session: the IPv4-mapped address', () => {
    const only4 = () => ({ eth0: [info('203.0.113.2', '203.0.113.2/30')] });
    const q = { localAddress: '203.0.113.2', remoteAddress: '203.0.113.1', extendedNextHopV4: false, family: 'ipv6-unicast' as const };
    expect(nextHopsFor(q, only4)).toEqual({ nextHops: ['::ffff:203.0.113.2'] });
  });
});
