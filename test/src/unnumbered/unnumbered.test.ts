/**
 * The unnumbered pieces that need no kernel: the router advertisement we send (RFC 4861
 * 4.2), the neighbour-table parsing and choice, the RTA_VIA route bodies (RFC 8950 next
 * hops in the kernel) and the installer's choice of next hop for IPv4 routes over IPv6.
 */
import { describe, expect, it } from 'vitest';
import { decodeRouterAdvertisement, encodeRouterAdvertisement, RouterAdvertiser } from '../../../bgp/net/index.js';
import { chooseNeighbour, decodeNeighbour, type NeighbourEntry } from '../../../src/unnumbered/index.js';
import { decodeLearnedRoute, encodeLearnedRoute } from '../../../src/learned/route-codec.js';
import { chooseNextHops } from '../../../src/learned/installer.js';

describe('our router advertisement', () => {
  it('says "a router is here", never "route through me": lifetime 0, no prefixes, our MAC', () => {
    const ra = encodeRouterAdvertisement('02:42:ac:11:00:02');
    expect(ra.toString('hex')).toBe('86000000' + '0000' + '0000' + '00000000' + '00000000' + '0101' + '0242ac110002');
    expect(decodeRouterAdvertisement(ra)).toEqual({ routerLifetime: 0, sourceLinkLayer: '02:42:ac:11:00:02' });
  });

  it('leaves the option out without a usable MAC', () => {
    expect(encodeRouterAdvertisement(null).length).toBe(16);
    expect(encodeRouterAdvertisement('00:00:00:00:00:00').length).toBe(16);
    expect(encodeRouterAdvertisement('zz:00').length).toBe(16);
  });

  it('decoding refuses an option of length 0 or one that overruns (RFC 4861 4.6)', () => {
    const head = encodeRouterAdvertisement(null);
    expect(() => decodeRouterAdvertisement(Buffer.concat([head, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]))).toThrow(RangeError);
    expect(() => decodeRouterAdvertisement(Buffer.concat([head, Buffer.from([1, 2, 0, 0, 0, 0, 0, 0])]))).toThrow(RangeError);
    expect(() => decodeRouterAdvertisement(head.subarray(0, 12))).toThrow(RangeError);
  });

  it('is sent at once and every interval; an interface that is not there is retried, with the reason', () => {
    const sent: string[] = [];
    const timers = new Map<number, () => void>();
    let n = 0;
    let present = false;
    const status: (string | null)[] = [];
    const adv = new RouterAdvertiser({
      onStatus: (_i, e) => status.push(e),
      mac: () => '02:00:00:00:00:01',
      send: (iface) => {
        if (!present) throw new Error(`no interface ${iface}`);
        sent.push(iface);
      },
      setInterval: (fn) => (timers.set(++n, fn), n),
      clearInterval: (h) => timers.delete(h as number),
    });
    adv.set(['eth1']);
    expect(adv.lastError('eth1')).toBe('no interface eth1');
    present = true;
    for (const fn of timers.values()) fn();
    expect(sent).toEqual(['eth1']);
    expect(adv.lastError('eth1')).toBeNull();
    for (const fn of timers.values()) fn();
    // Said once when it failed and once when it recovered, not at every try.
    expect(status).toEqual(['no interface eth1', null]);
    adv.set([]);
    expect(timers.size).toBe(0);
  });
});

/** An RTM_NEWNEIGH body: ndmsg, NDA_DST, NDA_LLADDR. */
function neigh(ifindex: number, address: string, state: number, flags: number): Buffer {
  const nd = Buffer.alloc(12);
  nd[0] = 10;
  nd.writeInt32LE(ifindex, 4);
  nd.writeUInt16LE(state, 8);
  nd[10] = flags;
  const dst = Buffer.alloc(20);
  dst.writeUInt16LE(20, 0);
  dst.writeUInt16LE(1, 2);
  const words = address.split('::');
  const head = words[0] ? words[0].split(':') : [];
  const tail = words[1] ? words[1].split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => dst.writeUInt16BE(parseInt(g, 16), 4 + 2 * i));
  const ll = Buffer.from([10, 0, 2, 0, 2, 0, 0, 0, 0, 1, 0, 0]);
  return Buffer.concat([nd, dst, ll]);
}

describe('the neighbour an unnumbered peer goes to', () => {
  it('decodes ndmsg and its attributes', () => {
    expect(decodeNeighbour(neigh(3, 'fe80::1', 0x04, 0x80))).toEqual({ ifindex: 3, address: 'fe80::1', state: 0x04, router: true, lladdr: true });
    const v4 = neigh(3, 'fe80::1', 0x04, 0);
    v4[0] = 2;
    expect(decodeNeighbour(v4)).toBeUndefined();
  });

  it('a router-flagged link-local on the interface first, then the lowest; never FAILED, INCOMPLETE or global ones', () => {
    const e = (ifindex: number, address: string, state: number, router: boolean): NeighbourEntry => ({ ifindex, address, state, router, lladdr: true });
    expect(chooseNeighbour([e(3, 'fe80::9', 0x04, false), e(3, 'fe80::5', 0x02, true), e(3, 'fe80::2', 0x02, false)], 3)).toBe('fe80::5');
    expect(chooseNeighbour([e(3, 'fe80::9', 0x04, false), e(3, 'fe80::2', 0x02, false)], 3)).toBe('fe80::2');
    expect(chooseNeighbour([e(3, 'fe80::1', 0x20, true), e(3, 'fe80::3', 0x01, true), e(3, '2001:db8::1', 0x02, true), e(4, 'fe80::7', 0x02, true)], 3)).toBeNull();
    // Never ourselves, router flag or not.
    expect(chooseNeighbour([e(3, 'fe80::1', 0x02, true), e(3, 'fe80::9', 0x04, false)], 3, new Set(['fe80::1']))).toBe('fe80::9');
  });
});

describe('IPv4 routes with IPv6 next hops in the kernel (RTA_VIA)', () => {
  it('one next hop: RTA_VIA (AF_INET6 + address) and RTA_OIF, decoded back', () => {
    const r = { family: 4 as const, dst: '198.51.100.128/25', table: 254, metric: 20, nextHops: [{ gateway: 'fe80::1', ifindex: 7 }] };
    const body = encodeLearnedRoute(r, 88);
    // RTA_VIA: length 4 + 2 + 16 = 22, type 18, family 10.
    expect(body.includes(Buffer.from([22, 0, 18, 0, 10, 0, 0xfe, 0x80]))).toBe(true);
    expect(decodeLearnedRoute(body)).toEqual({ ...r, protocol: 88 });
  });

  it('multipath: each rtnexthop carries its own RTA_VIA', () => {
    const r = { family: 4 as const, dst: '0.0.0.0/0', table: 254, metric: 20, nextHops: [{ gateway: 'fe80::1', ifindex: 7 }, { gateway: 'fe80::2', ifindex: 8 }] };
    expect(decodeLearnedRoute(encodeLearnedRoute(r, 88))).toEqual({ ...r, protocol: 88 });
  });

  it('IPv4 routes with an IPv4 next hop keep RTA_GATEWAY', () => {
    const r = { family: 4 as const, dst: '0.0.0.0/0', table: 254, metric: 20, nextHops: [{ gateway: '203.0.113.1', ifindex: 0 }] };
    const body = encodeLearnedRoute(r, 88);
    expect(body.includes(Buffer.from([8, 0, 5, 0, 203, 0, 113, 1]))).toBe(true);
    expect(decodeLearnedRoute(body)).toEqual({ ...r, protocol: 88 });
  });

  it('the installer takes a link-local IPv6 next hop of an IPv4 route through the session interface', () => {
    const { nextHops, skipped } = chooseNextHops({ prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: 'eth1', nextHops: ['fe80::1'], interface: 'eth1' }] });
    expect(nextHops).toEqual([{ gateway: 'fe80::1', interface: 'eth1' }]);
    expect(skipped).toEqual([]);
    const g = chooseNextHops({ prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: 'eth1', nextHops: ['2001:db8::1', 'fe80::1'], interface: 'eth1' }] });
    expect(g.nextHops).toEqual([{ gateway: '2001:db8::1', interface: null }]);
    const none = chooseNextHops({ prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: 'x', nextHops: ['fe80::1'], interface: null }] });
    expect(none.skipped[0]).toMatch(/link-local next hop fe80::1 without a known session interface/);
  });
});

describe('Unnumbered: the agent side', () => {
  it('advertises on the unnumbered interfaces, hands every neighbour found to the speaker, and stops watching with none left', async () => {
    const { Unnumbered } = await import('../../../src/unnumbered/index.js');
    const { createLogger } = await import('../../../src/log.js');
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const told: [string, string | null][] = [];
    const advertised: string[][] = [];
    let report: ((iface: string, address: string | null) => void) | null = null;
    const watched: string[][] = [];
    let closed = 0;
    const u = new Unnumbered({ setNeighbour: (i, a) => (told.push([i, a]), true) }, log, {
      advertiser: { set: (ifs: readonly string[]) => advertised.push([...ifs]), close: () => undefined, lastError: () => null } as never,
      watch: (ifs, onChange) => {
        watched.push([...ifs]);
        report = onChange;
        return { setInterfaces: (next) => watched.push([...next]), close: () => void closed++ };
      },
    });
    u.set(['eth1', 'eth1', 'eth2']);
    expect(advertised).toEqual([['eth1', 'eth2']]);
    expect(watched).toEqual([['eth1', 'eth2']]);
    report!('eth1', 'fe80::1');
    report!('eth2', null);
    expect(told).toEqual([['eth1', 'fe80::1'], ['eth2', null]]);
    expect(lines.some((l) => l.op === 'unnumbered.neighbour' && l.event === 'found' && l.peer === 'fe80::1' && l.interface === 'eth1')).toBe(true);
    u.set(['eth1']);
    expect(watched).toEqual([['eth1', 'eth2'], ['eth1']]);
    u.set([]);
    expect(closed).toBe(1);
    expect(advertised.at(-1)).toEqual([]);
  });
});
