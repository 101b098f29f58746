/**
 * Adj-RIB-Out over the real codec: what it emits decodes back to the desired state,
 * messages are full (no further prefix would fit) except the last of each group, and
 * End-of-RIB / BoRR / EoRR are what RFC 4724 and RFC 7313 say.
 */
import { describe, expect, it } from 'vitest';
import { AdjRibOut, type ExportContext, type Packer } from '../../../bgp/rib/adj-rib-out.js';
import { DesiredRoutes } from '../../../bgp/rib/desired.js';
import { wirePacker } from '../../../bgp/rib/wire-packer.js';
import { decodeMessage, isEndOfRib, packAnnouncements } from '../../../bgp/wire/index.js';
import type { BgpMessage, CodecContext, Family, UpdateMessage } from '../../../bgp/wire/types.js';

const v4 = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}/32`;
const v6 = (i: number): string => `2001:db8::${i.toString(16)}/128`;

function ctx(codec: CodecContext = { asn4: true, extendedMessage: false }): ExportContext {
  return {
    localAsn: 65001,
    peerAsn: 65000,
    families: ['ipv4-unicast', 'ipv6-unicast'],
    codec,
    nextHops: { 'ipv4-unicast': ['203.0.113.2'], 'ipv6-unicast': ['2001:db8:f::2', 'fe80::2'] },
  };
}

/** Drain, decode, and replay into a peer-side table. */
function run(out: AdjRibOut, codec: CodecContext, peer: Map<string, string>) {
  const msgs: { buf: Buffer; m: BgpMessage }[] = [];
  for (let b = out.next(); b; b = out.next()) for (const buf of b) msgs.push({ buf, m: decodeMessage(buf, codec) });
  const eor: Family[] = [];
  for (const { m } of msgs) {
    if (m.type !== 'UPDATE') continue;
    const e = isEndOfRib(m);
    if (e) eor.push(e);
    for (const p of m.withdrawn) peer.delete(p);
    for (const p of m.mpUnreach?.withdrawn ?? []) peer.delete(p);
    for (const p of m.nlri) peer.set(p, m.attributes.nextHop!);
    for (const p of m.mpReach?.nlri ?? []) peer.set(p, m.mpReach!.nextHops.join(','));
  }
  return { msgs, eor };
}

describe('Adj-RIB-Out with the wire codec', () => {
  for (const extendedMessage of [false, true]) {
    it(`packs full messages (max ${extendedMessage ? 65535 : 4096}) and withdraws packed too`, () => {
      const codec = { asn4: true, extendedMessage };
      const max = extendedMessage ? 65535 : 4096;
      const d = new DesiredRoutes();
      d.replace([...Array.from({ length: 3000 }, (_, i) => ({ prefix: v4(i) })), ...Array.from({ length: 3000 }, (_, i) => ({ prefix: v6(i) }))]);
      const out = new AdjRibOut(d, wirePacker);
      out.start(ctx(codec));
      const peer = new Map<string, string>();
      const { msgs, eor } = run(out, codec, peer);
      expect(peer.size).toBe(6000);
      expect(peer.get(v4(7))).toBe('203.0.113.2');
      expect(peer.get(v6(7))).toBe('2001:db8:f::2,fe80::2');
      expect(eor).toEqual(['ipv4-unicast', 'ipv6-unicast']);
      const updates = msgs.filter((x) => x.m.type === 'UPDATE' && !isEndOfRib(x.m));
      for (const u of updates) expect(u.buf.length).toBeLessThanOrEqual(max);
      const v4msgs = updates.filter((u) => u.m.type === 'UPDATE' && u.m.nlri.length > 0);
      const v6msgs = updates.filter((u) => u.m.type === 'UPDATE' && (u.m.mpReach?.nlri.length ?? 0) > 0);
      // Every message but the last of its group is full: one more prefix would not fit.
      for (const m of v4msgs.slice(0, -1)) expect(m.buf.length + 5).toBeGreaterThan(max);
      for (const m of v6msgs.slice(0, -1)) expect(m.buf.length + 17).toBeGreaterThan(max);
      // Optimal count: ceil(total NLRI octets / room per message).
      const roomV4 = max - (v4msgs[0]!.buf.length - (v4msgs[0]!.m as UpdateMessage).nlri.length * 5);
      expect(v4msgs.length).toBe(Math.ceil((3000 * 5) / roomV4));

      out.changed(d.replace(Array.from({ length: 1000 }, (_, i) => ({ prefix: v4(i) }))));
      const w = run(out, codec, peer);
      expect(peer.size).toBe(1000);
      expect(w.eor).toEqual([]); // End-of-RIB only after the initial table
      const wd4 = w.msgs.filter((x) => x.m.type === 'UPDATE' && x.m.withdrawn.length > 0);
      const wd6 = w.msgs.filter((x) => x.m.type === 'UPDATE' && (x.m.mpUnreach?.withdrawn.length ?? 0) > 0);
      expect(wd4.length + wd6.length).toBe(w.msgs.length);
      for (const u of wd4.slice(0, -1)) expect(u.buf.length + 5).toBeGreaterThan(max);
      for (const u of wd6.slice(0, -1)) expect(u.buf.length + 17).toBeGreaterThan(max);
      expect(wd4.length).toBe(Math.ceil((2000 * 5) / (max - 23)));
    });
  }

  it('empty table still sends End-of-RIB for each family', () => {
    const out = new AdjRibOut(new DesiredRoutes(), wirePacker);
    out.start(ctx());
    const { eor, msgs } = run(out, { asn4: true, extendedMessage: false }, new Map());
    expect(eor).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    expect(msgs).toHaveLength(2);
  });

  it('enhanced route refresh: BoRR, the family, EoRR on the wire', () => {
    const d = new DesiredRoutes();
    d.replace([{ prefix: v4(1) }, { prefix: v6(1) }]);
    const out = new AdjRibOut(d, wirePacker);
    out.start(ctx());
    run(out, { asn4: true, extendedMessage: false }, new Map());
    out.routeRefresh('ipv4-unicast', true);
    const { msgs } = run(out, { asn4: true, extendedMessage: false }, new Map());
    expect(msgs.map((x) => x.m.type)).toEqual(['ROUTE_REFRESH', 'UPDATE', 'ROUTE_REFRESH']);
    expect(msgs[0]!.m).toMatchObject({ afi: 1, safi: 1, subtype: 1 });
    expect(msgs[2]!.m).toMatchObject({ afi: 1, safi: 1, subtype: 2 });
  });
});

describe('Adj-RIB-Out batches (flow control) do not cost extra messages', () => {
  it('20k /32s through batches of 1000 pack into the minimal number of UPDATEs, all full but the last', () => {
    const codec: CodecContext = { asn4: true, extendedMessage: false };
    const d = new DesiredRoutes();
    const n = 20_000;
    d.replace(Array.from({ length: n }, (_, i) => ({ prefix: v4(i) })));
    const batched = new AdjRibOut(d, wirePacker, 1000);
    batched.start(ctx(codec));
    const peer = new Map<string, string>();
    const { msgs } = run(batched, codec, peer);
    expect(peer.size).toBe(n);
    const updates = msgs.filter((x) => x.m.type === 'UPDATE' && !isEndOfRib(x.m)).map((x) => x.m as UpdateMessage);
    // The same set in one unbounded batch is the reference minimum.
    const whole = new AdjRibOut(d, wirePacker, n);
    whole.start(ctx(codec));
    const ref = run(whole, codec, new Map()).msgs.filter((x) => x.m.type === 'UPDATE' && !isEndOfRib(x.m));
    expect(updates.length).toBe(ref.length);
    const perMessage = updates[0]!.nlri.length;
    expect(updates.slice(0, -1).every((u) => u.nlri.length === perMessage)).toBe(true);
    expect(batched.count('ipv4-unicast')).toBe(n);
  });

  it('withdrawals through small batches are packed minimally too, and the peer ends empty', () => {
    const codec: CodecContext = { asn4: true, extendedMessage: false };
    const d = new DesiredRoutes();
    d.replace(Array.from({ length: 5000 }, (_, i) => ({ prefix: v6(i) })));
    const out = new AdjRibOut(d, wirePacker, 700);
    out.start(ctx(codec));
    const peer = new Map<string, string>();
    run(out, codec, peer);
    expect(peer.size).toBe(5000);
    out.changed(d.replace([]));
    const { msgs } = run(out, codec, peer);
    expect(peer.size).toBe(0);
    expect(out.count('ipv6-unicast')).toBe(0);
    const withdrawals = msgs.filter((x) => x.m.type === 'UPDATE' && (x.m.mpUnreach?.withdrawn.length ?? 0) > 0);
    const per = (withdrawals[0]!.m as UpdateMessage).mpUnreach!.withdrawn.length;
    expect(withdrawals.length).toBe(Math.ceil(5000 / per));
  });

  it('encodes each attribute set once per session and packs every batch from it, byte for byte as packAnnouncements does', () => {
    const codec: CodecContext = { asn4: true, extendedMessage: false };
    const prepared: string[] = [];
    const counting: Packer = {
      ...wirePacker,
      prepare: (f, attrs, nh, c) => {
        prepared.push(`${f} ${JSON.stringify(attrs)}`);
        return wirePacker.prepare!(f, attrs, nh, c);
      },
    };
    const d = new DesiredRoutes();
    const out = new AdjRibOut(d, counting);
    out.start(ctx(codec));
    run(out, codec, new Map()); // End-of-RIB only
    const peer = new Map<string, string>();
    const sent: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      out.changed(d.add([{ prefix: v4(i) }, { prefix: v6(i) }, ...(i % 2 ? [{ prefix: v4(1000 + i), communities: ['65001:7'] }] : [])]));
      sent.push(...run(out, codec, peer).msgs.map((x) => x.buf));
    }
    expect(peer.size).toBe(50);
    // Three attribute sets (v4, v6, v4 with a community), each encoded once.
    expect(prepared).toHaveLength(3);
    expect(new Set(prepared).size).toBe(3);
    // What went out is what the one-shot packer makes for the same prefixes.
    const x = ctx(codec);
    expect(sent[0]).toEqual(packAnnouncements('ipv4-unicast', { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }] }, x.nextHops['ipv4-unicast'] as string[], [v4(0)], codec)[0]);
    expect(sent[1]).toEqual(packAnnouncements('ipv6-unicast', { origin: 0, asPath: [{ type: 'sequence', asns: [65001] }] }, x.nextHops['ipv6-unicast'] as string[], [v6(0)], codec)[0]);
    // A new session (other next hops) encodes again: nothing prepared outlives its session.
    out.stop();
    out.start({ ...ctx(codec), nextHops: { 'ipv4-unicast': ['203.0.113.9'], 'ipv6-unicast': ['2001:db8:f::9'] } });
    const again = new Map<string, string>();
    run(out, codec, again);
    expect(prepared).toHaveLength(6);
    expect(again.get(v4(3))).toBe('203.0.113.9');
    expect(again.get(v6(3))).toBe('2001:db8:f::9');
  });
});
