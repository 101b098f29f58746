import { describe, expect, it } from 'vitest';
import { asPathLength, decide, multipathSet, type Candidate, type PathSource } from '../../../bgp/rib/best-path.js';
import type { PathAttributes } from '../../../bgp/wire/types.js';

const LOCAL = 65001;
function cand(address: string, asn: number, attrs: Partial<PathAttributes>, routerId = '10.0.0.9'): Candidate {
  const source: PathSource = { address, asn, localAsn: LOCAL, routerId };
  return {
    source,
    path: { attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [asn] }], ...attrs }, nextHops: [address] },
  };
}

function loserStep(cands: Candidate[], loser: string) {
  const d = decide(cands);
  return d.ranked.find((r) => r.candidate.source.address === loser && !r.best);
}

describe('decision process (RFC 4271 9.1)', () => {
  it('one candidate wins alone; none gives null', () => {
    expect(decide([]).best).toBeNull();
    const d = decide([cand('203.0.113.1', 65000, {})]);
    expect(d.best?.source.address).toBe('203.0.113.1');
    expect(d.ranked[0]?.why).toBe('only candidate');
  });

  it('highest LOCAL_PREF (iBGP) wins', () => {
    const a = cand('203.0.113.1', LOCAL, { localPref: 200, asPath: [] });
    const b = cand('203.0.113.2', LOCAL, { localPref: 100, asPath: [] });
    const r = loserStep([b, a], '203.0.113.2');
    expect(decide([b, a]).best).toBe(a);
    expect(r?.step).toBe('local-pref');
    expect(r?.why).toMatch(/LOCAL_PREF 100 is lower than 200/);
  });

  it('LOCAL_PREF sent by an eBGP peer is ignored (RFC 4271 5.1.5)', () => {
    const a = cand('203.0.113.1', 65000, { localPref: 500, asPath: [{ type: 'sequence', asns: [65000, 1, 2] }] });
    const b = cand('203.0.113.2', 65002, {});
    expect(decide([a, b]).best).toBe(b);
    expect(loserStep([a, b], '203.0.113.1')?.step).toBe('as-path-length');
  });

  it('shortest AS_PATH; an AS_SET counts as one', () => {
    expect(asPathLength([{ type: 'sequence', asns: [1, 2] }, { type: 'set', asns: [3, 4, 5] }])).toBe(3);
    expect(asPathLength([{ type: 'confed-sequence', asns: [1, 2] }])).toBe(0);
    const a = cand('203.0.113.1', 65000, { asPath: [{ type: 'sequence', asns: [65000] }, { type: 'set', asns: [7, 8, 9] }] });
    const b = cand('203.0.113.2', 65002, { asPath: [{ type: 'sequence', asns: [65002, 1, 2] }] });
    expect(decide([b, a]).best).toBe(a);
    const r = loserStep([b, a], '203.0.113.2');
    expect(r?.step).toBe('as-path-length');
    expect(r?.why).toMatch(/AS_PATH length 3 is longer than 2/);
  });

  it('lowest ORIGIN', () => {
    const a = cand('203.0.113.1', 65000, { origin: 1 });
    const b = cand('203.0.113.2', 65002, { origin: 0 });
    expect(decide([a, b]).best).toBe(b);
    const r = loserStep([a, b], '203.0.113.1');
    expect(r?.step).toBe('origin');
    expect(r?.why).toMatch(/ORIGIN EGP is worse than IGP/);
  });

  it('lowest MED only among the same neighbor AS; missing MED is 0', () => {
    const a = cand('203.0.113.1', 65000, { med: 50 });
    const b = cand('203.0.113.2', 65000, { med: 10 });
    expect(decide([a, b]).best).toBe(b);
    expect(loserStep([a, b], '203.0.113.1')?.why).toMatch(/MED 50 is higher than 10 .* neighbor AS 65000/);
    const c = cand('203.0.113.3', 65000, {});
    expect(decide([a, b, c]).best).toBe(c);
    // Different neighbor AS: MED is not compared, the router id decides.
    const x = cand('203.0.113.4', 65004, { med: 500 }, '10.0.0.1');
    const y = cand('203.0.113.5', 65005, { med: 1 }, '10.0.0.2');
    expect(decide([y, x]).best).toBe(x);
    expect(loserStep([y, x], '203.0.113.5')?.step).toBe('router-id');
  });

  it('MED elimination is order independent (non-transitive case)', () => {
    // Classic: A(AS1, MED 10), B(AS2), C(AS1, MED 5); pairwise order changes the winner.
    const A = cand('203.0.113.1', 65010, { med: 10 }, '10.0.0.1');
    const B = cand('203.0.113.2', 65020, { med: 0 }, '10.0.0.2');
    const C = cand('203.0.113.3', 65010, { med: 5 }, '10.0.0.3');
    const orders = [[A, B, C], [A, C, B], [B, A, C], [B, C, A], [C, A, B], [C, B, A]];
    const winners = new Set(orders.map((o) => decide(o).best?.source.address));
    expect(winners).toEqual(new Set(['203.0.113.2']));
  });

  it('eBGP over iBGP', () => {
    const a = cand('203.0.113.1', LOCAL, { asPath: [{ type: 'sequence', asns: [65000] }] }, '10.0.0.1');
    const b = cand('203.0.113.2', 65000, {}, '10.0.0.2');
    expect(decide([a, b]).best).toBe(b);
    const r = loserStep([a, b], '203.0.113.1');
    expect(r?.step).toBe('ebgp-over-ibgp');
    expect(r?.why).toMatch(/learned over iBGP/);
  });

  it('lowest router id (numeric, not text)', () => {
    const a = cand('203.0.113.1', 65000, {}, '10.0.0.10');
    const b = cand('203.0.113.2', 65002, {}, '9.0.0.200');
    expect(decide([a, b]).best).toBe(b);
    expect(loserStep([a, b], '203.0.113.1')?.why).toMatch(/BGP Identifier 10.0.0.10 is higher than 9.0.0.200/);
  });

  it('lowest peer address last', () => {
    const a = cand('203.0.113.10', 65000, {}, '10.0.0.1');
    const b = cand('203.0.113.9', 65002, {}, '10.0.0.1');
    expect(decide([a, b]).best).toBe(b);
    const r = loserStep([a, b], '203.0.113.10');
    expect(r?.step).toBe('peer-address');
    expect(r?.why).toMatch(/peer address 203.0.113.10 is higher than 203.0.113.9/);
  });

  it('every candidate appears in the explanation, best first', () => {
    const cs = [
      cand('203.0.113.1', 65000, { origin: 2 }),
      cand('203.0.113.2', 65002, {}),
      cand('203.0.113.3', 65003, { asPath: [{ type: 'sequence', asns: [65003, 65003] }] }),
    ];
    const d = decide(cs);
    expect(d.ranked).toHaveLength(3);
    expect(d.ranked[0]?.best).toBe(true);
    expect(d.ranked.map((r) => r.step)).toEqual([null, 'as-path-length', 'origin']);
  });
});

describe('GRACEFUL_SHUTDOWN received (RFC 8326 4.2)', () => {
  const GSHUT = 0xffff0000;
  it('a path carrying it counts as LOCAL_PREF 0: any other path wins, and explain says why', () => {
    // eBGP, otherwise better (shorter AS path), but in graceful shutdown.
    const a = cand('203.0.113.1', 65000, { communities: [GSHUT] });
    const b = cand('203.0.113.2', 65002, { asPath: [{ type: 'sequence', asns: [65002, 1, 2] }] });
    expect(decide([a, b]).best).toBe(b);
    const r = loserStep([a, b], '203.0.113.1');
    expect(r?.step).toBe('local-pref');
    expect(r?.why).toMatch(/LOCAL_PREF 0 \(graceful-shutdown, RFC 8326\) is lower than 100/);
    // iBGP with a low LOCAL_PREF still beats it.
    const c = cand('203.0.113.3', LOCAL, { localPref: 1, asPath: [] });
    expect(decide([a, c]).best).toBe(c);
    // Alone it is still used: graceful shutdown moves traffic, it does not drop it.
    expect(decide([a]).best).toBe(a);
  });

  it('leaves the multipath set: traffic moves to the other next hops', () => {
    const a = cand('203.0.113.1', 65000, { communities: [GSHUT] }, '10.0.0.1');
    const b = cand('203.0.113.2', 65002, {}, '10.0.0.2');
    expect(multipathSet([a, b], { relaxAsPath: true }).map((c) => c.source.address)).toEqual(['203.0.113.2']);
    const a2 = cand('203.0.113.1', 65000, {}, '10.0.0.1');
    expect(multipathSet([a2, b], { relaxAsPath: true })).toHaveLength(2);
  });
});

describe('LLGR_STALE (RFC 9494 4.3)', () => {
  it('a long-lived stale path loses to any other before LOCAL_PREF, and leaves the multipath set', () => {
    const stale = cand('203.0.113.1', LOCAL, { localPref: 500, asPath: [], communities: [0xffff0006] });
    const fresh = cand('203.0.113.2', 65002, { asPath: [{ type: 'sequence', asns: [65002, 1, 2, 3] }] });
    expect(decide([stale, fresh]).best).toBe(fresh);
    const r = loserStep([stale, fresh], '203.0.113.1');
    expect(r?.step).toBe('llgr-stale');
    expect(r?.why).toMatch(/RFC 9494 4\.3/);
    const a = cand('203.0.113.1', 65000, { communities: [0xffff0006] });
    const b = cand('203.0.113.2', 65002, {});
    expect(multipathSet([a, b], { relaxAsPath: true }).map((c) => c.source.address)).toEqual(['203.0.113.2']);
  });
});
