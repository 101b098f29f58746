// The benchmarks' flag reader: defaults, values, and a clear refusal of bad input.
import { afterEach, describe, expect, it } from 'vitest';
import { flag, numberFlag, numberListFlag, requiredFlag } from '../../bench/lib/args.js';

const saved = process.argv;
afterEach(() => {
  process.argv = saved;
});
const argv = (...a: string[]): void => {
  process.argv = ['node', 'run.js', ...a];
};

describe('bench flags', () => {
  it('defaults when absent, values when given', () => {
    argv('--runs', '3', '--tors', 'frr', '--routes', '10,20');
    expect(numberFlag('runs', 1)).toBe(3);
    expect(numberFlag('n', 100)).toBe(100);
    expect(flag('tors', 'frr,bird')).toBe('frr');
    expect(flag('out', 'x.md')).toBe('x.md');
    expect(numberListFlag('routes', [1])).toEqual([10, 20]);
    expect(requiredFlag('tors')).toBe('frr');
  });

  it('refuses malformed and missing values, naming the flag', () => {
    argv('--runs', 'three', '--routes', '10,,20', '--out');
    expect(() => numberFlag('runs', 1)).toThrow('--runs must be a non-negative number, not "three"');
    expect(() => numberListFlag('routes', [1])).toThrow('--routes takes non-negative numbers');
    expect(() => flag('out', 'x.md')).toThrow('--out needs a value');
    expect(() => requiredFlag('peer')).toThrow('missing --peer');
    argv('--runs', '--v4', '5');
    expect(() => numberFlag('runs', 1)).toThrow('--runs needs a value');
  });
});
