import { describe, expect, it } from 'vitest';
import { multipathEqual, multipathSet, type Candidate } from '../../../bgp/rib/best-path.js';
import type { PathAttributes } from '../../../bgp/wire/types.js';

const src = (address: string, asn: number, routerId = address) => ({ address, asn, localAsn: 65001, routerId });
const cand = (address: string, asn: number, attrs: Partial<PathAttributes> = {}, path: number[] = [asn]): Candidate => ({
  source: src(address, asn),
  path: { attributes: { origin: 0, asPath: [{ type: 'sequence', asns: path }], ...attrs } as PathAttributes, nextHops: [address] },
});

describe('multipath (FRR eBGP rule)', () => {
  it('two ToRs of one AS with equal paths form one set, best first', () => {
    const a = cand('203.0.113.5', 65000);
    const b = cand('203.0.113.1', 65000);
    const set = multipathSet([a, b]);
    expect(set.map((c) => c.source.address)).toEqual(['203.0.113.1', '203.0.113.5']);
  });
  it('differs on AS path length, origin or MED: not multipath', () => {
    const a = cand('203.0.113.1', 65000);
    expect(multipathEqual(a, cand('203.0.113.5', 65000, {}, [65000, 65010]))).toBe(false);
    expect(multipathEqual(a, cand('203.0.113.5', 65000, { origin: 2 }))).toBe(false);
    expect(multipathEqual(a, cand('203.0.113.5', 65000, { med: 10 }))).toBe(false);
    expect(multipathSet([a, cand('203.0.113.5', 65000, { med: 10 })])).toHaveLength(1);
  });
  it('a different neighbouring AS only with relaxAsPath', () => {
    const a = cand('203.0.113.1', 65000);
    const b = cand('203.0.113.5', 65002);
    expect(multipathSet([a, b])).toHaveLength(1);
    expect(multipathSet([a, b], { relaxAsPath: true })).toHaveLength(2);
  });
  it('no candidates: empty', () => {
    expect(multipathSet([])).toEqual([]);
  });
});
