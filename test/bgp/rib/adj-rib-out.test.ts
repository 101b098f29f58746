/**
 * Adj-RIB-Out diff logic, with a recording packer that encodes each call as JSON so the
 * test can read back exactly what would go on the wire and in which order. Byte-level
 * packing against the real codec is in adj-rib-out-wire.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AdjRibOut, type ExportContext, type Packer } from '../../../bgp/rib/adj-rib-out.js';
import { DesiredRoutes } from '../../../bgp/rib/desired.js';
import type { Family } from '../../../bgp/wire/types.js';

type Rec =
  | { op: 'announce'; family: Family; prefixes: string[]; attrs: Record<string, unknown>; nextHops: string[] }
  | { op: 'withdraw'; family: Family; prefixes: string[] }
  | { op: 'eor'; family: Family }
  | { op: 'rr'; family: Family; subtype: number };

const recorder: Packer = {
  announce: (family, attrs, nextHops, prefixes) => [Buffer.from(JSON.stringify({ op: 'announce', family, prefixes, attrs, nextHops }))],
  withdraw: (family, prefixes) => [Buffer.from(JSON.stringify({ op: 'withdraw', family, prefixes }))],
  endOfRib: (family) => Buffer.from(JSON.stringify({ op: 'eor', family })),
  routeRefresh: (family, subtype) => Buffer.from(JSON.stringify({ op: 'rr', family, subtype })),
};

const ctx = (over: Partial<ExportContext> = {}): ExportContext => ({
  localAsn: 65001,
  peerAsn: 65000,
  families: ['ipv4-unicast', 'ipv6-unicast'],
  codec: { asn4: true, extendedMessage: false },
  nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': ['2001:db8:ff::2'] },
  ...over,
});

function drain(out: AdjRibOut): Rec[] {
  const recs: Rec[] = [];
  for (let m = out.next(); m; m = out.next()) for (const b of m) recs.push(JSON.parse(b.toString()) as Rec);
  return recs;
}

describe('Adj-RIB-Out', () => {
  it('initial table: grouped by attributes, then End-of-RIB per family', () => {
    const d = new DesiredRoutes();
    d.replace([
      { prefix: '198.51.100.1/32' },
      { prefix: '198.51.100.2/32' },
      { prefix: '198.51.100.3/32', communities: ['65001:100'] },
      { prefix: '2001:db8::1/128' },
    ]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx());
    const recs = drain(out);
    expect(recs).toEqual([
      {
        op: 'announce',
        family: 'ipv4-unicast',
        prefixes: ['198.51.100.1/32', '198.51.100.2/32'],
        attrs: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }] },
        nextHops: ['203.0.113.2'],
      },
      {
        op: 'announce',
        family: 'ipv4-unicast',
        prefixes: ['198.51.100.3/32'],
        attrs: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], communities: [((65001 << 16) | 100) >>> 0] },
        nextHops: ['203.0.113.2'],
      },
      { op: 'announce', family: 'ipv6-unicast', prefixes: ['2001:db8::1/128'], attrs: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }] }, nextHops: ['2001:db8:ff::2'] },
      { op: 'eor', family: 'ipv4-unicast' },
      { op: 'eor', family: 'ipv6-unicast' },
    ]);
    expect(out.count('ipv4-unicast')).toBe(3);
    expect(out.pending).toBe(false);
  });

  it('iBGP: empty AS_PATH and LOCAL_PREF 100', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: '198.51.100.1/32', med: 5 }]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx({ peerAsn: 65001 }));
    const [a] = drain(out);
    expect(a).toMatchObject({ op: 'announce', attrs: { origin: 0, asPath: [], localPref: 100, med: 5 } });
  });

  it('sends only the difference: changed attributes re-announce, removed withdraw, nothing twice', () => {
    const d = new DesiredRoutes();
    const out = new AdjRibOut(d, recorder);
    out.start(ctx());
    out.changed(d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32' }, { prefix: '2001:db8::1/128' }]));
    drain(out);
    out.changed(d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32', med: 7 }, { prefix: '2001:db8::2/128' }]));
    expect(drain(out)).toEqual([
      { op: 'withdraw', family: 'ipv6-unicast', prefixes: ['2001:db8::1/128'] },
      { op: 'announce', family: 'ipv4-unicast', prefixes: ['198.51.100.2/32'], attrs: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }], med: 7 }, nextHops: ['203.0.113.2'] },
      { op: 'announce', family: 'ipv6-unicast', prefixes: ['2001:db8::2/128'], attrs: { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }] }, nextHops: ['2001:db8:ff::2'] },
    ]);
    out.changed(d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32', med: 7 }, { prefix: '2001:db8::2/128' }]));
    expect(drain(out)).toEqual([]);
  });

  it('changes that cancel out before they are sent send nothing', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: '198.51.100.1/32' }]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx());
    drain(out);
    out.changed(d.remove(['198.51.100.1/32']));
    out.changed(d.add([{ prefix: '198.51.100.1/32' }]));
    expect(drain(out)).toEqual([]);
  });

  it('bounded batches: each next() covers at most batchPrefixes prefixes', () => {
    const d = new DesiredRoutes();
    d.replace(Array.from({ length: 10 }, (_, i) => ({ prefix: `198.51.100.${i}/32` })));
    const out = new AdjRibOut(d, recorder, 4);
    out.start(ctx());
    const sizes: number[] = [];
    for (let m = out.next(); m; m = out.next()) {
      for (const b of m) {
        const r = JSON.parse(b.toString()) as Rec;
        if (r.op === 'announce') sizes.push(r.prefixes.length);
      }
    }
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('families not negotiated, or with no next hop, are not sent and no EoR for them', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '2001:db8::1/128' }]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx({ nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': 'no IPv6 address' } , families: ['ipv4-unicast'] }));
    expect(drain(out).map((r) => r.op + ':' + r.family)).toEqual(['announce:ipv4-unicast', 'eor:ipv4-unicast']);
    const out2 = new AdjRibOut(d, recorder);
    out2.start(ctx({ nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': 'no IPv6 address' } }));
    expect(drain(out2).map((r) => r.op + ':' + r.family)).toEqual(['announce:ipv4-unicast', 'eor:ipv4-unicast', 'eor:ipv6-unicast']);
    expect(out2.problems.get('ipv6-unicast')).toBe('no IPv6 address');
  });

  it('reconnect: start() again sends the whole desired end state, withdrawn routes are not mentioned', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32' }]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx());
    drain(out);
    out.stop();
    d.replace([{ prefix: '198.51.100.2/32' }, { prefix: '198.51.100.3/32' }]); // while down
    out.changed(['198.51.100.1/32']); // ignored while down
    out.start(ctx());
    const recs = drain(out);
    expect(recs[0]).toMatchObject({ op: 'announce', prefixes: ['198.51.100.2/32', '198.51.100.3/32'] });
    expect(recs.filter((r) => r.op === 'withdraw')).toEqual([]);
  });

  it('route refresh resends the family; enhanced brackets it with BoRR/EoRR (RFC 7313)', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: '198.51.100.1/32' }, { prefix: '2001:db8::1/128' }]);
    const out = new AdjRibOut(d, recorder);
    out.start(ctx());
    drain(out);
    out.routeRefresh('ipv4-unicast', false);
    expect(drain(out).map((r) => r.op)).toEqual(['announce']);
    out.routeRefresh('ipv6-unicast', true);
    expect(drain(out)).toMatchObject([
      { op: 'rr', family: 'ipv6-unicast', subtype: 1 },
      { op: 'announce', family: 'ipv6-unicast', prefixes: ['2001:db8::1/128'] },
      { op: 'rr', family: 'ipv6-unicast', subtype: 2 },
    ]);
    expect(out.count('ipv6-unicast')).toBe(1);
  });
});

describe('state sequences: the same desired sets in any order end in the same Adj-RIB-Out', () => {
  const sets = [
    [{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32', med: 10 }],
    [{ prefix: '198.51.100.2/32' }, { prefix: '2001:db8::1/128', communities: ['65001:1'] }],
    [{ prefix: '198.51.100.3/32', largeCommunities: ['65001:1:2'] }],
    [],
    [{ prefix: '2001:db8::1/128' }, { prefix: '2001:db8::2/128' }, { prefix: '198.51.100.1/32' }],
  ];
  function permutations<T>(xs: T[]): T[][] {
    if (xs.length <= 1) return [xs];
    return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
  }
  const final = [{ prefix: '198.51.100.9/32', med: 1 }, { prefix: '2001:db8::1/128' }, { prefix: '198.51.100.2/32' }];

  it('every permutation, drained after each step or only at the end, gives the same state and peer view', () => {
    const results = new Set<string>();
    const peerViews = new Set<string>();
    for (const order of permutations(sets)) {
      for (const drainEach of [true, false]) {
        const d = new DesiredRoutes();
        const out = new AdjRibOut(d, recorder, 2);
        out.start(ctx());
        // Replay what the peer would hold from the messages it receives.
        const peer = new Map<string, string>();
        const apply = (recs: Rec[]): void => {
          for (const r of recs) {
            if (r.op === 'announce') for (const p of r.prefixes) peer.set(p, JSON.stringify(r.attrs));
            if (r.op === 'withdraw') for (const p of r.prefixes) peer.delete(p);
          }
        };
        for (const s of [...order, final]) {
          out.changed(d.replace(s));
          if (drainEach) apply(drain(out));
        }
        apply(drain(out));
        results.add(JSON.stringify([...out.snapshot()].sort()));
        peerViews.add(JSON.stringify([...peer].sort()));
      }
    }
    expect(results.size).toBe(1);
    expect(peerViews.size).toBe(1);
    const [only] = [...peerViews];
    expect(JSON.parse(only!).map((e: [string, string]) => e[0])).toEqual(['198.51.100.2/32', '198.51.100.9/32', '2001:db8::1/128']);
  });
});
