// bench/bfd's parsing: percentiles and FRR bfdd's state-change lines.
import { describe, expect, it } from 'vitest';
import { frrBfdDowns, percentile } from '../../bench/bfd/parse.js';

describe('bench/bfd parsing', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it("reads bfdd's up -> down lines for one peer, with ms", () => {
    const log = [
      '2026/12/06 03:51:14.201 BFD: [J1C6V-VMRW5] state-change: [mhop:no peer:203.0.113.2 local:203.0.113.1 vrf:default ifname:v0-wk] down -> up',
      '2026/12/06 03:51:38.787 BFD: [SEY1D-NT8EQ] state-change: [mhop:no peer:203.0.113.2 local:203.0.113.1 vrf:default ifname:v0-wk] up -> down reason:control-expired',
      '2026/12/06 03:51:39.001 BFD: [SEY1D-NT8EQ] state-change: [mhop:no peer:203.0.113.20 local:203.0.113.1 vrf:default] up -> down reason:control-expired',
      'garbage',
    ].join('\n');
    const downs = frrBfdDowns(log, '203.0.113.2');
    expect(downs).toEqual([new Date(2026, 11, 6, 3, 51, 38, 787).getTime()]);
  });
});
