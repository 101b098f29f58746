/** Interval negotiation (RFC 5880 6.8.2-6.8.4, 6.8.7). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advertisedMinTx, detectionTime, jittered, txInterval } from '../../../bgp/bfd/timers.js';

describe('BFD timers', () => {
  it('transmits no faster than max(local DesiredMinTx, remote RequiredMinRx) (6.8.7)', () => {
    expect(txInterval(300_000, 300_000)).toBe(300_000);
    expect(txInterval(300_000, 1_000_000)).toBe(1_000_000);
    expect(txInterval(1_000_000, 50_000)).toBe(1_000_000);
    expect(txInterval(300_000, 1)).toBe(300_000);
  });

  it('sends no periodic packets when the peer asks for Required Min RX 0', () => {
    expect(txInterval(300_000, 0)).toBe(0);
  });

  it('advertises at least 1 s until Up (6.8.3), the configured interval once Up', () => {
    expect(advertisedMinTx(300_000, false)).toBe(1_000_000);
    expect(advertisedMinTx(300_000, true)).toBe(300_000);
    expect(advertisedMinTx(2_000_000, false)).toBe(2_000_000);
  });

  it('jitters to 75-100 % of the interval, 75-90 % with Detect Mult 1 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 255 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (us, mult, r) => {
        const j = jittered(us, mult, () => r);
        expect(j).toBeGreaterThanOrEqual(us * 0.75 - 1e-6);
        expect(j).toBeLessThanOrEqual(us * (mult === 1 ? 0.9 : 1) + 1e-6);
      }),
    );
    expect(jittered(1000, 3, () => 0)).toBe(750);
    expect(jittered(1000, 1, () => 0.999999)).toBeLessThan(900);
  });

  it('detection time = remote multiplier × max(local RequiredMinRx, remote DesiredMinTx) (6.8.4)', () => {
    expect(detectionTime(3, 300_000, 300_000)).toBe(900_000);
    expect(detectionTime(5, 300_000, 1_000_000)).toBe(5_000_000);
    expect(detectionTime(3, 500_000, 100_000)).toBe(1_500_000);
  });
});
