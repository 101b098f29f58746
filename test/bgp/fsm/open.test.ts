/** OPEN building and negotiation (RFC 4271 6.2, RFC 6793, RFC 4760, RFC 5492 capabilities). */
import { describe, expect, it } from 'vitest';
import { buildOpen, negotiate } from '../../../bgp/fsm/index.js';
import type { LocalOpenParams } from '../../../bgp/fsm/index.js';
import { BgpNotification } from '../../../bgp/wire/errors.js';
import { AS_TRANS } from '../../../bgp/wire/types.js';
import type { Capability, OpenMessage } from '../../../bgp/wire/types.js';

const local: LocalOpenParams = {
  asn: 65001,
  routerId: '192.0.2.2',
  holdTime: 90,
  families: ['ipv4-unicast', 'ipv6-unicast'],
  gracefulRestartTime: 120,
  hostname: 'w1',
};

function peerOpen(over: Partial<OpenMessage> = {}, caps?: Capability[]): OpenMessage {
  return {
    type: 'OPEN',
    version: 4,
    myAs: 65000,
    holdTime: 180,
    bgpId: '192.0.2.1',
    capabilities: caps ?? [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'route-refresh' },
      { kind: 'four-octet-as', asn: 65000 },
      { kind: 'extended-message' },
      { kind: 'extended-nexthop', entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] },
      { kind: 'graceful-restart', restartState: true, notification: false, restartTime: 90, families: [{ afi: 1, safi: 1, forwardingState: true }] },
    ],
    ...over,
  };
}

function notif(fn: () => unknown): BgpNotification {
  try {
    fn();
  } catch (e) {
    if (e instanceof BgpNotification) return e;
    throw e;
  }
  throw new Error('expected a BgpNotification');
}

describe('buildOpen', () => {
  it('announces our capabilities', () => {
    const o = buildOpen(local);
    expect(o).toMatchObject({ type: 'OPEN', version: 4, myAs: 65001, holdTime: 90, bgpId: '192.0.2.2' });
    const kinds = o.capabilities.map((c) => c.kind);
    expect(kinds).toEqual(['multiprotocol', 'multiprotocol', 'route-refresh', 'four-octet-as', 'extended-message', 'extended-nexthop', 'graceful-restart', 'fqdn']);
    expect(o.capabilities).toContainEqual({ kind: 'four-octet-as', asn: 65001 });
    expect(o.capabilities).toContainEqual({
      kind: 'graceful-restart',
      restartState: false,
      notification: false,
      restartTime: 120,
      families: [
        { afi: 1, safi: 1, forwardingState: true },
        { afi: 2, safi: 1, forwardingState: true },
      ],
    });
    expect(o.capabilities).toContainEqual({ kind: 'fqdn', hostname: 'w1', domain: '' });
  });

  it('sets the RFC 8538 N bit only when asked', () => {
    const gr = (o: OpenMessage) => o.capabilities.find((c) => c.kind === 'graceful-restart');
    expect(gr(buildOpen(local))).toMatchObject({ notification: false });
    expect(gr(buildOpen({ ...local, notification: true }))).toMatchObject({ notification: true });
  });

  it('negotiates the N bit only when both sides set it (RFC 8538 2)', () => {
    const peerGr = (notification: boolean): Capability[] => [
      { kind: 'four-octet-as', asn: 65000 },
      { kind: 'graceful-restart', restartState: false, notification, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingState: true }] },
    ];
    const nBit = (ours: boolean, theirs: boolean): boolean | undefined =>
      negotiate({ ...local, notification: ours }, peerOpen({}, peerGr(theirs)), { peerAsn: 65000 }).gracefulRestart?.notification;
    expect([nBit(true, true), nBit(true, false), nBit(false, true), nBit(false, false)]).toEqual([true, false, false, false]);
  });

  it('puts AS_TRANS in My AS for a 4-octet ASN (RFC 6793 4.1)', () => {
    const o = buildOpen({ ...local, asn: 4200000001, hostname: undefined });
    expect(o.myAs).toBe(AS_TRANS);
    expect(o.capabilities).toContainEqual({ kind: 'four-octet-as', asn: 4200000001 });
    expect(o.capabilities.some((c) => c.kind === 'fqdn')).toBe(false);
  });

  it('omits extended next hop without IPv4 and graceful restart without a restart time', () => {
    const o = buildOpen({ asn: 65001, routerId: '192.0.2.2', holdTime: 90, families: ['ipv6-unicast'] });
    expect(o.capabilities.map((c) => c.kind)).toEqual(['multiprotocol', 'route-refresh', 'four-octet-as', 'extended-message']);
  });
});

describe('negotiate', () => {
  it('negotiates hold time, families and capabilities', () => {
    const n = negotiate(local, peerOpen(), { peerAsn: 65000 });
    expect(n).toMatchObject({
      peerAsn: 65000,
      peerRouterId: '192.0.2.1',
      ibgp: false,
      holdTime: 90,
      keepalive: 30,
      asn4: true,
      families: ['ipv4-unicast', 'ipv6-unicast'],
      routeRefresh: true,
      enhancedRouteRefresh: false,
      extendedMessage: true,
      extendedNextHop: ['ipv4-unicast'],
      gracefulRestart: { restartTime: 90, restartState: true, notification: false, families: [{ family: 'ipv4-unicast', forwardingState: true }] },
    });
    expect(n.peerCapabilities).toHaveLength(7);
  });

  it('takes the smaller hold time; 0 on either side means no keepalives', () => {
    expect(negotiate(local, peerOpen({ holdTime: 9 }), { peerAsn: 65000 })).toMatchObject({ holdTime: 9, keepalive: 3 });
    expect(negotiate(local, peerOpen({ holdTime: 0 }), { peerAsn: 65000 })).toMatchObject({ holdTime: 0, keepalive: 0 });
    expect(negotiate({ ...local, holdTime: 0 }, peerOpen(), { peerAsn: 65000 })).toMatchObject({ holdTime: 0, keepalive: 0 });
    expect(negotiate(local, peerOpen({ holdTime: 3 }), { peerAsn: 65000 })).toMatchObject({ holdTime: 3, keepalive: 1 });
  });

  it('rejects hold time 1 and 2 with 2/6', () => {
    for (const h of [1, 2]) {
      const e = notif(() => negotiate(local, peerOpen({ holdTime: h }), { peerAsn: 65000 }));
      expect([e.code, e.subcode]).toEqual([2, 6]);
    }
  });

  it('a peer without multiprotocol capabilities is IPv4 unicast only (RFC 4760)', () => {
    const n = negotiate(local, peerOpen({}, [{ kind: 'four-octet-as', asn: 65000 }]), { peerAsn: 65000 });
    expect(n.families).toEqual(['ipv4-unicast']);
    expect(n.routeRefresh).toBe(false);
    expect(n.extendedMessage).toBe(false);
    expect(n.extendedNextHop).toEqual([]);
    expect(n.gracefulRestart).toBeNull();
  });

  it('intersects families', () => {
    const n = negotiate(local, peerOpen({}, [{ kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'four-octet-as', asn: 65000 }]), { peerAsn: 65000 });
    expect(n.families).toEqual(['ipv6-unicast']);
    const v4only = negotiate({ ...local, families: ['ipv4-unicast'] }, peerOpen(), { peerAsn: 65000 });
    expect(v4only.families).toEqual(['ipv4-unicast']);
  });

  it('accepts the cisco route refresh code too', () => {
    const n = negotiate(local, peerOpen({}, [{ kind: 'route-refresh-cisco' }]), { peerAsn: 65000 });
    expect(n.routeRefresh).toBe(true);
  });

  it('bad peer AS -> 2/2 with My AS as data', () => {
    const e = notif(() => negotiate(local, peerOpen(), { peerAsn: 65099 }));
    expect([e.code, e.subcode]).toEqual([2, 2]);
    expect(e.data).toEqual(Buffer.from([0xfd, 0xe8]));
  });

  it('compares the 4-octet AS from the capability (RFC 6793)', () => {
    const o = peerOpen({ myAs: AS_TRANS }, [{ kind: 'four-octet-as', asn: 4200000000 }]);
    expect(negotiate(local, o, { peerAsn: 4200000000 })).toMatchObject({ peerAsn: 4200000000, asn4: true });
    expect([notif(() => negotiate(local, o, { peerAsn: AS_TRANS })).subcode]).toEqual([2]);
    // AS_TRANS in the capability itself is an error.
    const bad = peerOpen({ myAs: AS_TRANS }, [{ kind: 'four-octet-as', asn: AS_TRANS }]);
    expect(notif(() => negotiate(local, bad, { peerAsn: AS_TRANS })).subcode).toBe(2);
    // A 4-octet AS with a 2-octet My AS that is not AS_TRANS disagrees.
    const mismatch = peerOpen({ myAs: 65000 }, [{ kind: 'four-octet-as', asn: 4200000000 }]);
    expect(notif(() => negotiate(local, mismatch, { peerAsn: 4200000000 })).subcode).toBe(2);
  });

  it('a 2-octet peer (no capability) is compared by My AS', () => {
    const o = peerOpen({ myAs: 65000 }, [{ kind: 'multiprotocol', afi: 1, safi: 1 }]);
    expect(negotiate(local, o, { peerAsn: 65000 })).toMatchObject({ peerAsn: 65000, asn4: false });
    const trans = peerOpen({ myAs: AS_TRANS }, []);
    expect(notif(() => negotiate(local, trans, { peerAsn: 4200000000 })).subcode).toBe(2);
  });

  it('bad BGP identifier -> 2/3; our own identifier only for iBGP', () => {
    expect(notif(() => negotiate(local, peerOpen({ bgpId: '0.0.0.0' }), { peerAsn: 65000 })).subcode).toBe(3);
    const ibgp = peerOpen({ myAs: 65001, bgpId: '192.0.2.2' }, [{ kind: 'four-octet-as', asn: 65001 }]);
    const e = notif(() => negotiate(local, ibgp, { peerAsn: 65001 }));
    expect([e.code, e.subcode]).toEqual([2, 3]);
    // eBGP with the same identifier is allowed (RFC 6286 2.2).
    expect(negotiate(local, peerOpen({ bgpId: '192.0.2.2' }), { peerAsn: 65000 }).peerRouterId).toBe('192.0.2.2');
  });

  it('unsupported version -> 2/1 with the version we support', () => {
    const e = notif(() => negotiate(local, peerOpen({ version: 3 }), { peerAsn: 65000 }));
    expect([e.code, e.subcode, [...e.data]]).toEqual([2, 1, [0, 4]]);
  });

  it('a buildOpen result negotiates against itself (iBGP with distinct ids)', () => {
    const a = buildOpen(local);
    const n = negotiate({ ...local, routerId: '192.0.2.3' }, a, { peerAsn: 65001 });
    expect(n).toMatchObject({ ibgp: true, holdTime: 90, families: ['ipv4-unicast', 'ipv6-unicast'], extendedNextHop: ['ipv4-unicast'] });
    expect(n.gracefulRestart?.families.map((f) => f.family)).toEqual(['ipv4-unicast', 'ipv6-unicast']);
  });
});
