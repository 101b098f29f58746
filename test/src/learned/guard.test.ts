import { describe, expect, it } from 'vitest';
import { HijackGuard, interfaceRanges } from '../../../src/learned/hijack-guard.js';
import { chooseNextHops } from '../../../src/learned/installer.js';
import { decodeLearnedRoute, encodeLearnedRoute } from '../../../src/learned/route-codec.js';

const guard = new HijackGuard([
  { prefix: '198.51.100.0/28', what: 'container pool of zone app' },
  { prefix: '198.51.100.0/24', what: 'zone app' },
  { prefix: '2001:db8:c:1::/64', what: 'zone app' },
  ...interfaceRanges({ upA: [{ address: '203.0.113.2', cidr: '203.0.113.2/30', internal: false }], lo: [{ address: '127.0.0.1', cidr: '127.0.0.1/8', internal: true }] }),
]);

describe('hijack guard', () => {
  it.each([
    ['198.51.100.0/28', /^hijack guard: equals 198\.51\.100\.0\/28 \(container pool/],
    ['198.51.100.4/30', /lies inside 198\.51\.100\.0\/28/],
    ['198.51.0.0/16', /covers 198\.51\.100\.0\/24 \(zone app\)/],
    ['169.254.1.0/24', /lies inside 169\.254\.0\.0\/16/],
    ['169.254.0.0/16', /equals 169\.254\.0\.0\/16/],
    ['203.0.113.0/30', /equals 203\.0\.113\.0\/30 \(subnet of upA\)/],
    ['203.0.113.2/32', /address of upA/],
    ['2001:db8:c:1::/64', /equals 2001:db8:c:1::\/64/],
    ['fe80::/64', /IPv6 link-local/],
  ])('refuses %s', (p, why) => {
    expect(guard.accepts(p)).toBe(false);
    expect(guard.reason(p)).toMatch(why);
  });
  it.each(['0.0.0.0/0', '::/0', '203.0.113.128/25', '2001:db8:a::/48', '127.0.0.0/8'])('accepts %s', (p) => {
    expect(guard.check(p)).toBeNull();
  });
});

describe('next hops for the kernel', () => {
  it('IPv6: the global next hop; a link-local one only with the session interface; IPv4-mapped never', () => {
    const e = (nextHops: string[], iface: string | null) => ({ prefix: '::/0', family: 'ipv6-unicast' as const, paths: [{ peer: 'p', nextHops, interface: iface }] });
    expect(chooseNextHops(e(['2001:db8:f::1', 'fe80::1'], 'upA')).nextHops).toEqual([{ gateway: '2001:db8:f::1', interface: null }]);
    expect(chooseNextHops(e(['fe80::1'], 'upA')).nextHops).toEqual([{ gateway: 'fe80::1', interface: 'upA' }]);
    expect(chooseNextHops(e(['fe80::1'], null)).nextHops).toEqual([]);
    const mapped = chooseNextHops(e(['::ffff:203.0.113.1'], 'upA'));
    expect(mapped.nextHops).toEqual([]);
    expect(mapped.skipped[0]).toMatch(/IPv4-mapped/);
  });
  it('IPv4: two peers, two next hops', () => {
    const r = chooseNextHops({ prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: 'a', nextHops: ['203.0.113.1'], interface: null }, { peer: 'b', nextHops: ['203.0.113.5'], interface: null }] });
    expect(r.nextHops.map((n) => n.gateway)).toEqual(['203.0.113.1', '203.0.113.5']);
  });
});

describe('multipath route codec', () => {
  it('round-trips a two-next-hop route and a one-next-hop route', () => {
    const multi = { family: 4 as const, dst: '0.0.0.0/0', table: 254, metric: 20, nextHops: [{ gateway: '203.0.113.1', ifindex: 0 }, { gateway: '203.0.113.5', ifindex: 7 }] };
    expect(decodeLearnedRoute(encodeLearnedRoute(multi, 88))).toEqual({ ...multi, protocol: 88 });
    const one = { family: 6 as const, dst: '2001:db8:a::/48', table: 1000, metric: 20, nextHops: [{ gateway: 'fe80::1', ifindex: 3 }] };
    expect(decodeLearnedRoute(encodeLearnedRoute(one, 88))).toEqual({ ...one, protocol: 88 });
  });
});
