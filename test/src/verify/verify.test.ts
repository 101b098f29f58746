/**
 * verify(): the three views (desired endpoints, own kernel links and routes, each peer's
 * Adj-RIB-Out) compared over fakes. A clean state has no mismatch; each injected fault
 * shows up as exactly its own kind, naming the prefix, link, endpoint or peer.
 */
import { describe, expect, it } from 'vitest';
import { verify, type VerifyInput, type VerifyPeer } from '../../../src/verify/index.js';

const tor = (over: Partial<VerifyPeer> = {}): VerifyPeer => ({
  address: '203.0.113.1',
  state: 'Established',
  families: ['ipv4-unicast', 'ipv6-unicast'],
  problems: [],
  advertised: ['203.0.113.10/32', '198.51.100.2/32', '2001:db8:c:1::2/128', '198.51.100.3/32', '2001:db8:c:1::3/128'],
  ...over,
});

/** Two endpoints, one static VIP, one peer that has everything: clean. */
function clean(): VerifyInput {
  return {
    endpoints: [
      { id: 'aaaa1111', name: 'web', hostIfName: 'rtcaaaa1111', ipv4: '198.51.100.2', ipv6: '2001:db8:c:1::2' },
      { id: 'bbbb2222', name: 'db', hostIfName: 'rtcbbbb2222', ipv4: '198.51.100.3', ipv6: '2001:db8:c:1::3' },
    ],
    advertise: ['203.0.113.10/32'],
    aggregates: [],
    blackholes: [],
    kernel: {
      links: [
        { name: 'rtcaaaa1111', index: 10, up: true },
        { name: 'rtcbbbb2222', index: 11, up: true },
      ],
      routes: [
        { dst: '198.51.100.2/32', type: 'unicast', oif: 10 },
        { dst: '2001:db8:c:1::2/128', type: 'unicast', oif: 10 },
        { dst: '198.51.100.3/32', type: 'unicast', oif: 11 },
        { dst: '2001:db8:c:1::3/128', type: 'unicast', oif: 11 },
      ],
    },
    peers: [tor()],
  };
}

const kinds = (i: VerifyInput) => verify(i).mismatches.map((m) => [m.kind, m.subject, m.peer, m.endpoint]);

describe('verify', () => {
  it('a consistent worker: ok, nothing to report, everything compared', () => {
    const r = verify(clean());
    expect(r.mismatches).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checked).toEqual({ endpoints: 2, desiredPrefixes: 5, kernel: true, peers: ['203.0.113.1'] });
  });

  it('a host route deleted by hand: missing-host-route naming the prefix and endpoint', () => {
    const i = clean();
    const r = verify({ ...i, kernel: { ...i.kernel!, routes: i.kernel!.routes.filter((x) => x.dst !== '198.51.100.2/32') } });
    expect(r.ok).toBe(false);
    expect(r.mismatches).toEqual([
      { kind: 'missing-host-route', subject: '198.51.100.2/32', peer: null, endpoint: 'aaaa1111', message: 'missing host route 198.51.100.2/32 for endpoint web (aaaa1111) (dev rtcaaaa1111)' },
    ]);
  });

  it('a veth gone, a veth down, a route via the wrong link', () => {
    const i = clean();
    const links = [{ name: 'rtcbbbb2222', index: 11, up: false }];
    const routes = i.kernel!.routes.map((x) => (x.dst === '2001:db8:c:1::3/128' ? { ...x, oif: 99 } : x));
    expect(kinds({ ...i, kernel: { links, routes } })).toEqual([
      ['missing-veth', 'rtcaaaa1111', null, 'aaaa1111'],
      ['veth-down', 'rtcbbbb2222', null, 'bbbb2222'],
      ['wrong-route-interface', '2001:db8:c:1::3/128', null, 'bbbb2222'],
    ]);
  });

  it('own routes and links nobody wants', () => {
    const i = clean();
    const r = verify({
      ...i,
      kernel: {
        links: [...i.kernel!.links, { name: 'rtcdead0000', index: 12, up: true }],
        routes: [...i.kernel!.routes, { dst: '198.51.100.9/32', type: 'unicast', oif: 12 }, { dst: '198.51.100.64/26', type: 'blackhole' }],
      },
    });
    expect(r.mismatches.map((m) => m.message)).toEqual([
      'unexpected own route blackhole 198.51.100.64/26 (proto 88): no endpoint wants it',
      'unexpected own route 198.51.100.9/32 (proto 88): no endpoint wants it',
      'unexpected own link rtcdead0000: no endpoint wants it',
    ]);
  });

  it('a peer missing a prefix, and one sent that is not desired', () => {
    const i = clean();
    const sent = tor().advertised.filter((p) => p !== '2001:db8:c:1::3/128').concat('198.51.100.77/32');
    const r = verify({ ...i, peers: [tor({ advertised: sent })] });
    expect(r.mismatches.map((m) => [m.kind, m.message])).toEqual([
      ['prefix-not-sent', 'prefix 2001:db8:c:1::3/128 (endpoint db (bbbb2222)) not sent to peer 203.0.113.1'],
      ['prefix-sent-not-desired', 'prefix 198.51.100.77/32 sent to peer 203.0.113.1 but not desired'],
    ]);
  });

  it('a configured family the peer did not negotiate is a gap; one left out of its families is not expected; a family the speaker cannot send says why', () => {
    const i = clean();
    const v4only = tor({ address: '203.0.113.5', families: ['ipv4-unicast'], advertised: ['203.0.113.10/32', '198.51.100.2/32', '198.51.100.3/32'] });
    expect(verify({ ...i, peers: [v4only] }).mismatches.map((m) => [m.kind, m.message])).toEqual([
      ['prefix-not-sent', 'prefix 2001:db8:c:1::2/128 (endpoint web (aaaa1111)) not sent to peer 203.0.113.5: ipv6-unicast not negotiated with this peer'],
      ['prefix-not-sent', 'prefix 2001:db8:c:1::3/128 (endpoint db (bbbb2222)) not sent to peer 203.0.113.5: ipv6-unicast not negotiated with this peer'],
    ]);
    expect(verify({ ...i, peers: [{ ...v4only, configuredFamilies: ['ipv4-unicast'] }] }).ok).toBe(true);
    // Configured for IPv6 only: the IPv4 prefixes it was not sent are not expected either.
    const v6only = tor({ families: ['ipv6-unicast'], configuredFamilies: ['ipv6-unicast'], advertised: ['2001:db8:c:1::2/128', '2001:db8:c:1::3/128'] });
    expect(verify({ ...i, peers: [v6only] }).ok).toBe(true);
    const noNh = tor({ problems: ['ipv6-unicast: no global IPv6 address on the session interface'], advertised: ['203.0.113.10/32', '198.51.100.2/32', '198.51.100.3/32'] });
    const r = verify({ ...i, peers: [noNh] });
    expect(r.mismatches).toHaveLength(2);
    expect(r.mismatches[0]!.message).toBe('prefix 2001:db8:c:1::2/128 (endpoint web (aaaa1111)) not sent to peer 203.0.113.1: ipv6-unicast: no global IPv6 address on the session interface');
  });

  it('peers not Established are noted, not compared', () => {
    const r = verify({ ...clean(), peers: [tor({ address: '203.0.113.3', state: 'Active', advertised: [] })] });
    expect(r.ok).toBe(true);
    expect(r.checked.peers).toEqual([]);
    expect(r.notes).toEqual(['peer 203.0.113.3 not compared: Active, not Established']);
  });

  it('aggregated pools: the block is required and blackholed; host prefixes inside may be sent or not', () => {
    const i = clean();
    const eps = i.endpoints!.map((e) => ({ ...e, advertised: ['198.51.100.0/28', '2001:db8:c:1::/120'] }));
    const routes = [...i.kernel!.routes, { dst: '198.51.100.0/28', type: 'blackhole' }, { dst: '2001:db8:c:1::/120', type: 'blackhole' }];
    const base = { ...i, endpoints: eps, blackholes: ['198.51.100.0/28', '2001:db8:c:1::/120'], kernel: { links: i.kernel!.links, routes } };
    const blocksOnly = tor({ advertised: ['203.0.113.10/32', '198.51.100.0/28', '2001:db8:c:1::/120'] });
    expect(verify({ ...base, peers: [blocksOnly] }).mismatches).toEqual([]);
    const both = tor({ advertised: [...blocksOnly.advertised, '198.51.100.2/32'] });
    expect(verify({ ...base, peers: [both] }).ok).toBe(true);
    const noBlock = tor({ advertised: ['203.0.113.10/32', '2001:db8:c:1::/120'] });
    expect(kinds({ ...base, peers: [noBlock] })).toEqual([['prefix-not-sent', '198.51.100.0/28', '203.0.113.1', 'aaaa1111']]);
    const noBlackhole = { ...base, kernel: { links: i.kernel!.links, routes: routes.filter((x) => x.dst !== '198.51.100.0/28') } };
    expect(kinds({ ...noBlackhole, peers: [blocksOnly] })).toEqual([['missing-blackhole', '198.51.100.0/28', null, null]]);
  });

  it('speaker-only mode: static advertisements against each Adj-RIB-Out, kernel not checked', () => {
    const input: VerifyInput = { endpoints: null, advertise: ['203.0.113.10/32', '2001:db8:f::/48'], aggregates: [], blackholes: [], kernel: null, peers: [tor({ advertised: ['203.0.113.10/32', '2001:db8:f::/48'] })] };
    const r = verify(input);
    expect(r).toMatchObject({ ok: true, checked: { endpoints: null, desiredPrefixes: 2, kernel: false } });
    expect(r.notes[0]).toMatch(/kernel not checked: speaker-only mode/);
    const missing = verify({ ...input, peers: [tor({ advertised: ['203.0.113.10/32'] })] });
    expect(missing.mismatches.map((m) => m.message)).toEqual(['prefix 2001:db8:f::/48 not sent to peer 203.0.113.1']);
  });

  it('compares canonical text: non-canonical IPv6 in one view matches the other', () => {
    const i = clean();
    const r = verify({ ...i, peers: [tor({ advertised: tor().advertised.map((p) => p.replace('2001:db8:c:1::2', '2001:0db8:000c:0001:0:0:0:2')) })] });
    expect(r.mismatches).toEqual([]);
  });
});
