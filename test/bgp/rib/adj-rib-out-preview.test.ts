/**
 * Adj-RIB-Out previews: new prefixes encoded ahead of their announcement, written when
 * they are announced if nothing that matters changed in between, else left to `next()`.
 */
import { describe, expect, it } from 'vitest';
import { AdjRibOut, type ExportContext } from '../../../bgp/rib/adj-rib-out.js';
import { DesiredRoutes } from '../../../bgp/rib/desired.js';
import { wirePacker } from '../../../bgp/rib/wire-packer.js';
import { decodeMessage } from '../../../bgp/wire/index.js';
import type { Family } from '../../../bgp/wire/types.js';

const codec = { asn4: true, extendedMessage: false };

function ctx(families: Family[] = ['ipv4-unicast', 'ipv6-unicast']): ExportContext {
  return {
    localAsn: 65001,
    peerAsn: 65000,
    families,
    codec,
    nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': ['2001:db8:f::2', 'fe80::2'] },
  };
}

/** An Adj-RIB-Out past its initial table (static routes sent, End-of-RIB out). */
function settled(d: DesiredRoutes, c: ExportContext = ctx()): AdjRibOut {
  const out = new AdjRibOut(d, wirePacker);
  out.start(c);
  while (out.next());
  return out;
}

function drain(out: AdjRibOut): Buffer[] {
  const all: Buffer[] = [];
  for (let b = out.next(); b; b = out.next()) all.push(...b);
  return all;
}

const ROUTES = [{ prefix: '198.51.100.7/32' }, { prefix: '2001:db8:c::7/128' }];

describe('Adj-RIB-Out previews', () => {
  it('encodes the same UPDATEs next() would send, and after the commit next() sends nothing more', () => {
    const d1 = new DesiredRoutes();
    d1.replace([{ prefix: '203.0.113.0/24' }]);
    const d2 = new DesiredRoutes();
    d2.replace([{ prefix: '203.0.113.0/24' }]);
    const normal = settled(d1);
    const ahead = settled(d2);

    normal.changed(d1.add(ROUTES));
    const expected = drain(normal);
    expect(expected).toHaveLength(2); // one UPDATE per family

    const entries = d2.resolve(ROUTES);
    const pv = ahead.preview(entries);
    expect(pv).not.toBeNull();
    expect(ahead.snapshot().has('198.51.100.7/32')).toBe(false); // a preview changes nothing
    expect(ahead.commitPreview(pv!)).toBe(true);
    expect(pv!.messages.map((b) => b.toString('hex'))).toEqual(expected.map((b) => b.toString('hex')));
    expect(pv!.joined).toEqual(Buffer.concat(expected));
    expect(ahead.count('ipv4-unicast')).toBe(2);
    expect(ahead.count('ipv6-unicast')).toBe(1);

    ahead.changed(d2.addResolved(entries));
    expect(drain(ahead)).toEqual([]);
    expect(ahead.snapshot()).toEqual(normal.snapshot());
  });

  it('leaves out families the peer does not take', () => {
    const d = new DesiredRoutes();
    const out = settled(d, ctx(['ipv4-unicast']));
    const pv = out.preview(d.resolve(ROUTES))!;
    expect(pv.entries.map(([p]) => p)).toEqual(['198.51.100.7/32']);
    expect(out.commitPreview(pv)).toBe(true);
    const u = decodeMessage(pv.messages[0]!, codec);
    expect(u.type === 'UPDATE' && u.nlri).toEqual(['198.51.100.7/32']);
    expect(out.count('ipv6-unicast')).toBe(0);
  });

  it('has no preview without a session, or for a prefix already sent or queued', () => {
    const d = new DesiredRoutes();
    const idle = new AdjRibOut(d, wirePacker);
    expect(idle.preview(d.resolve(ROUTES))).toBeNull();

    const out = settled(d);
    out.changed(d.add([ROUTES[0]!]));
    expect(out.preview(d.resolve(ROUTES))).toBeNull(); // queued
    drain(out);
    expect(out.preview(d.resolve(ROUTES))).toBeNull(); // sent
  });

  it('refuses a commit once the session changed or a prefix went out meanwhile', () => {
    const d = new DesiredRoutes();
    const out = settled(d);
    const pv = out.preview(d.resolve(ROUTES))!;
    out.stop();
    out.start(ctx());
    while (out.next());
    expect(out.commitPreview(pv)).toBe(false);
    expect(out.count('ipv4-unicast')).toBe(0);

    const pv2 = out.preview(d.resolve(ROUTES))!;
    out.changed(d.add([ROUTES[1]!]));
    expect(out.commitPreview(pv2)).toBe(false); // the /128 is queued the normal way now
    const sent = drain(out);
    expect(sent).toHaveLength(1);
    expect(out.count('ipv4-unicast')).toBe(0);
    expect(out.count('ipv6-unicast')).toBe(1);
  });
});
