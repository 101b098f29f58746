/**
 * Per-peer export attributes and the eBGP first-AS check, over the real codec: what the
 * Adj-RIB-Out sends decodes to the route's own communities plus the peer's, the AS
 * prepended, the peer's MED; a changed export policy re-sends every route; an UPDATE
 * whose AS_PATH does not begin with the peer's AS becomes treat-as-withdraw.
 */
import { describe, expect, it } from 'vitest';
import { AdjRibOut, exportAttributes, type ExportContext } from '../../../bgp/rib/adj-rib-out.js';
import { DesiredRoutes } from '../../../bgp/rib/desired.js';
import { checkFirstAs, firstAs } from '../../../bgp/rib/first-as.js';
import { wirePacker } from '../../../bgp/rib/wire-packer.js';
import { decodeMessage, type UpdateMessage } from '../../../bgp/wire/index.js';
import { v4Update, withdrawV4 } from './helpers.js';

const codec = { asn4: true, extendedMessage: false };
const C = (asn: number, v: number): number => asn * 65536 + v;
const ctx = (peerAsn = 65000): ExportContext => ({
  localAsn: 65001,
  peerAsn,
  families: ['ipv4-unicast'],
  codec,
  nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': 'no IPv6 address' },
});

function sent(out: AdjRibOut): UpdateMessage[] {
  const msgs: UpdateMessage[] = [];
  for (let b = out.next(); b; b = out.next()) {
    for (const buf of b) {
      const m = decodeMessage(buf, codec);
      if (m.type === 'UPDATE' && m.nlri.length > 0) msgs.push(m);
    }
  }
  return msgs;
}

describe('per-peer export attributes', () => {
  it('adds communities, large communities, prepends and sets the MED on the wire', () => {
    const d = new DesiredRoutes();
    d.add([{ prefix: '198.51.100.1/32', communities: ['65000:100'], largeCommunities: ['65000:0:100'] }, { prefix: '198.51.100.2/32' }]);
    const out = new AdjRibOut(d, wirePacker, undefined, { communities: [C(65000, 7), C(65000, 100)], largeCommunities: [[65001, 1, 2]], prepend: 2, med: 50 });
    out.start(ctx());
    const msgs = sent(out);
    const byPrefix = new Map(msgs.flatMap((m) => m.nlri.map((p) => [p, m.attributes] as const)));
    const a1 = byPrefix.get('198.51.100.1/32')!;
    expect(a1.asPath).toEqual([{ type: 'sequence', asns: [65001, 65001, 65001] }]);
    expect(a1.med).toBe(50);
    // The zone's 65000:100 and the peer's 65000:7 and 65000:100, once each, sorted.
    expect(a1.communities).toEqual([C(65000, 7), C(65000, 100)]);
    expect(a1.largeCommunities).toEqual([[65000, 0, 100], [65001, 1, 2]]);
    const a2 = byPrefix.get('198.51.100.2/32')!;
    expect(a2.communities).toEqual([C(65000, 7), C(65000, 100)]);
    expect(a2.largeCommunities).toEqual([[65001, 1, 2]]);
    // What `routes --advertised` shows is what went out.
    expect([...out.advertised()].find((r) => r.prefix === '198.51.100.1/32')?.attributes).toEqual(exportAttributes(65001, 65000, d.get('198.51.100.1/32')!, { communities: [C(65000, 7), C(65000, 100)], largeCommunities: [[65001, 1, 2]], prepend: 2, med: 50 }));
  });

  it('without an export policy sends the route as it is (no MED, one AS)', () => {
    const d = new DesiredRoutes();
    d.add([{ prefix: '198.51.100.1/32' }]);
    const out = new AdjRibOut(d, wirePacker);
    out.start(ctx());
    const [m] = sent(out);
    expect(m!.attributes.asPath).toEqual([{ type: 'sequence', asns: [65001] }]);
    expect(m!.attributes.med).toBeUndefined();
    expect(m!.attributes.communities).toBeUndefined();
  });

  it('a new export policy re-sends every route with it, the session staying up', () => {
    const d = new DesiredRoutes();
    d.add([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32' }]);
    const out = new AdjRibOut(d, wirePacker);
    out.start(ctx());
    expect(sent(out).flatMap((m) => m.nlri)).toHaveLength(2);
    out.setExport({ med: 10 });
    const again = sent(out);
    expect(again.flatMap((m) => m.nlri).sort()).toEqual(['198.51.100.1/32', '198.51.100.2/32']);
    expect(again.every((m) => m.attributes.med === 10)).toBe(true);
    expect(out.count('ipv4-unicast')).toBe(2);
  });
});

describe('eBGP first-AS check (RFC 4271 6.3, RFC 7606 7.2)', () => {
  it('passes a path that begins with the peer AS, after confederation segments', () => {
    const u = v4Update(['198.51.100.0/24'], { asPath: [{ type: 'confed-sequence', asns: [64512] }, { type: 'sequence', asns: [65000, 65010] }] });
    expect(firstAs(u)).toBe(65000);
    expect(checkFirstAs(u, 65000)).toBe(u);
  });

  it('treats as withdrawn a path that begins with another AS, an empty path, or a set', () => {
    for (const asPath of [[{ type: 'sequence' as const, asns: [65099, 65000] }], [], [{ type: 'set' as const, asns: [65000] }]]) {
      const u = checkFirstAs(v4Update(['198.51.100.0/24'], { asPath }), 65000);
      expect(u.handling).toBe('treat-as-withdraw');
      expect(u.errors.at(-1)).toMatchObject({ handling: 'treat-as-withdraw', code: 2, subcode: 11 });
    }
  });

  it('leaves withdrawals alone and never weakens a stronger action', () => {
    const w = withdrawV4(['198.51.100.0/24']);
    expect(checkFirstAs(w, 65000)).toBe(w);
    const u = checkFirstAs(v4Update(['198.51.100.0/24'], { asPath: [] }, { handling: 'afisafi-disable' }), 65000);
    expect(u.handling).toBe('afisafi-disable');
  });
});
