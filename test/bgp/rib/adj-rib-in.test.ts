import { describe, expect, it } from 'vitest';
import { AdjRibIn, maxPrefixData } from '../../../bgp/rib/adj-rib-in.js';
import { LocRib, type BestRoute } from '../../../bgp/rib/loc-rib.js';
import { v4Update, v6Update, withdrawV4, withdrawV6 } from './helpers.js';

const ALL = ['0.0.0.0/0 le 32', '::/0 le 128'];

describe('Adj-RIB-In', () => {
  it('stores v4 and v6 routes sharing one path object per UPDATE', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ALL });
    rin.apply(v4Update(['198.51.100.0/24', '198.51.100.128/25']));
    rin.apply(v6Update(['2001:db8:1::/48']));
    const a = rin.get('ipv4-unicast', '198.51.100.0/24');
    expect(a?.nextHops).toEqual(['203.0.113.1']);
    expect(a).toBe(rin.get('ipv4-unicast', '198.51.100.128/25'));
    expect(Object.isFrozen(a)).toBe(true);
    expect(rin.get('ipv6-unicast', '2001:db8:1::/48')?.nextHops).toEqual(['2001:db8:ff::1', 'fe80::1']);
    expect(rin.counts('ipv4-unicast')).toEqual({ received: 2, accepted: 2, filtered: 0 });
    expect(rin.counts('ipv6-unicast')).toEqual({ received: 1, accepted: 1, filtered: 0 });
    rin.apply(withdrawV4(['198.51.100.0/24']));
    rin.apply(withdrawV6(['2001:db8:1::/48']));
    expect(rin.counts('ipv4-unicast').accepted).toBe(1);
    expect(rin.counts('ipv6-unicast').accepted).toBe(0);
  });

  it('import filter: filtered routes are kept visible with the reason, not accepted', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ['0.0.0.0/0', '::/0'] });
    rin.apply(v4Update(['0.0.0.0/0', '198.51.100.0/24']));
    expect(rin.counts('ipv4-unicast')).toEqual({ received: 2, accepted: 1, filtered: 1 });
    const f = rin.lookup('ipv4-unicast', '198.51.100.0/24');
    expect(f?.accepted).toBe(false);
    expect(f?.reason).toMatch(/no import entry matches 198.51.100.0\/24/);
    expect(rin.lookup('ipv4-unicast', '0.0.0.0/0')?.accepted).toBe(true);
    expect([...rin.routes()].map((r) => [r.prefix, r.accepted])).toEqual([
      ['0.0.0.0/0', true],
      ['198.51.100.0/24', false],
    ]);
    // Changing the filter re-evaluates stored routes without the peer resending them.
    rin.setFilter(ALL);
    expect(rin.counts('ipv4-unicast')).toEqual({ received: 2, accepted: 2, filtered: 0 });
  });

  it('default filter accepts nothing', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001);
    rin.apply(v4Update(['0.0.0.0/0']));
    expect(rin.counts('ipv4-unicast')).toEqual({ received: 1, accepted: 0, filtered: 1 });
    expect(rin.lookup('ipv4-unicast', '0.0.0.0/0')?.reason).toMatch(/empty/);
  });

  it('RFC 7606 treat-as-withdraw withdraws every NLRI of that UPDATE', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ALL });
    rin.apply(v4Update(['198.51.100.0/24', '198.51.100.128/25', '203.0.113.128/25']));
    rin.apply(v6Update(['2001:db8:1::/48']));
    rin.apply(
      v4Update(['198.51.100.0/24', '198.51.100.128/25'], {}, {
        handling: 'treat-as-withdraw',
        mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8:1::/48'] },
        errors: [{ handling: 'treat-as-withdraw', code: 2, subcode: 11, reason: 'malformed AS_PATH' }],
      }),
    );
    expect(rin.get('ipv4-unicast', '198.51.100.0/24')).toBeUndefined();
    expect(rin.get('ipv4-unicast', '198.51.100.128/25')).toBeUndefined();
    expect(rin.get('ipv6-unicast', '2001:db8:1::/48')).toBeUndefined();
    expect(rin.get('ipv4-unicast', '203.0.113.128/25')).toBeDefined();
    expect(rin.getStats().treatAsWithdraw).toBe(1);
  });

  it('RFC 7606 afisafi-disable drops the family and ignores it afterwards', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ALL });
    rin.apply(v6Update(['2001:db8:1::/48']));
    rin.apply(v4Update(['198.51.100.0/24'], {}, { handling: 'afisafi-disable', disabledFamily: { afi: 2, safi: 1 } }));
    expect(rin.counts('ipv6-unicast').received).toBe(0);
    expect(rin.get('ipv4-unicast', '198.51.100.0/24')).toBeDefined();
    rin.apply(v6Update(['2001:db8:2::/48']));
    expect(rin.counts('ipv6-unicast').received).toBe(0);
    expect(rin.getStats().disabledFamilies).toEqual(['ipv6-unicast']);
    rin.clear(); // session reset re-enables it
    rin.apply(v6Update(['2001:db8:2::/48']));
    expect(rin.counts('ipv6-unicast').received).toBe(1);
  });

  it('max-prefix: reports once when received routes exceed the limit, with RFC 4486 data', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: [], maxPrefixes: 3 });
    expect(rin.apply(v4Update(['198.51.100.0/24', '198.51.100.1/32']))).toBeNull();
    expect(rin.apply(v6Update(['2001:db8:1::/48']))).toBeNull(); // 3 = limit: fine
    const over = rin.apply(v6Update(['2001:db8:2::/48']));
    expect(over).toEqual({ family: 'ipv6-unicast', limit: 3, received: 4 });
    expect(rin.apply(v6Update(['2001:db8:3::/48']))).toBeNull(); // reported once
    expect(maxPrefixData(over!).toString('hex')).toBe('0002' + '01' + '00000003');
  });
});

describe('Loc-RIB', () => {
  it('selects across peers, emits bestChanged only on change, explains with filtered candidates', () => {
    const loc = new LocRib();
    const events: [string, string | null][] = [];
    loc.onBestChanged = (p, _f, b: BestRoute | null) => events.push([p, b?.peer ?? null]);
    const r1 = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ALL });
    const r2 = new AdjRibIn('203.0.113.2', 65002, 65001, { filter: ALL });
    const r3 = new AdjRibIn('203.0.113.3', 65003, 65001, { filter: [] });
    r1.routerId = '10.0.0.1';
    r2.routerId = '10.0.0.2';
    [r1, r2, r3].forEach((r) => loc.addPeer(r));
    r2.apply(v4Update(['0.0.0.0/0']));
    r1.apply(v4Update(['0.0.0.0/0'], { asPath: [{ type: 'sequence', asns: [65000, 65000] }] }));
    r3.apply(v4Update(['0.0.0.0/0']));
    expect(loc.get('0.0.0.0/0')?.peer).toBe('203.0.113.2');
    expect(events).toEqual([['0.0.0.0/0', '203.0.113.2']]); // r1 lost, r3 filtered: no event
    const ex = loc.explain('0.0.0.0/0');
    expect(ex.candidates.map((c) => [c.peer, c.status, c.step])).toEqual([
      ['203.0.113.2', 'best', null],
      ['203.0.113.1', 'lost', 'as-path-length'],
      ['203.0.113.3', 'filtered', 'import-filter'],
    ]);
    // r1 improves: it wins now.
    r1.apply(v4Update(['0.0.0.0/0'], { asPath: [{ type: 'sequence', asns: [65000] }] }));
    expect(loc.get('0.0.0.0/0')?.peer).toBe('203.0.113.1');
    // Best peer's session goes down: falls back to r2.
    r1.clear();
    expect(loc.get('0.0.0.0/0')?.peer).toBe('203.0.113.2');
    r2.apply(withdrawV4(['0.0.0.0/0']));
    expect(loc.get('0.0.0.0/0')).toBeNull();
    expect(events).toEqual([
      ['0.0.0.0/0', '203.0.113.2'],
      ['0.0.0.0/0', '203.0.113.1'],
      ['0.0.0.0/0', '203.0.113.2'],
      ['0.0.0.0/0', null],
    ]);
  });

  it('a changed path from the best peer is reported', () => {
    const loc = new LocRib();
    const seen: (number | undefined)[] = [];
    loc.onBestChanged = (_p, _f, b) => seen.push(b?.path.attributes.med);
    const r1 = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ALL });
    loc.addPeer(r1);
    r1.apply(v4Update(['198.51.100.0/24'], { med: 1 }));
    r1.apply(v4Update(['198.51.100.0/24'], { med: 2 }));
    expect(seen).toEqual([1, 2]);
  });
});

describe('enhanced route refresh from the peer (RFC 7313)', () => {
  it('BoRR marks stale, re-advertised routes survive, EoRR purges the rest', () => {
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter: ['0.0.0.0/0 le 32'] });
    rin.apply(v4Update(['198.51.100.1/32', '198.51.100.2/32', '198.51.100.3/32']));
    rin.markStale('ipv4-unicast');
    rin.apply(v4Update(['198.51.100.2/32']));
    expect(rin.purgeStale('ipv4-unicast')).toBe(2);
    expect([...rin.accepted('ipv4-unicast').keys()]).toEqual(['198.51.100.2/32']);
    expect(rin.purgeStale('ipv4-unicast')).toBe(0);
  });
});
