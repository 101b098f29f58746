// The benchmarks' flag reader: defaults, values, and a clear refusal of bad input.
import { afterEach, describe, expect, it } from 'vitest';
import { argsProblem, flag, numberFlag, numberListFlag, requiredFlag } from '../../bench/lib/args.js';

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

describe('bench command lines', () => {
  const values = ['n', 'tors', 'out'];
  it('accept what the bench takes', () => {
    expect(argsProblem([], values, ['cpu-prof'])).toBeNull();
    expect(argsProblem(['--n', '10', '--cpu-prof', '--tors', 'bird'], values, ['cpu-prof'])).toBeNull();
  });

  it('--help asks for the usage, wherever it is', () => {
    expect(argsProblem(['--help'], values, [])).toBe('help');
    expect(argsProblem(['--n', '10', '-h'], values, [])).toBe('help');
  });

  it('refuse an unknown option, a missing value and a stray argument, naming it', () => {
    expect(argsProblem(['--tor', 'bird'], values, [])).toBe('unknown option --tor');
    expect(argsProblem(['--cpu-prof'], values, [])).toBe('unknown option --cpu-prof');
    expect(argsProblem(['--n'], values, [])).toBe('--n needs a value');
    expect(argsProblem(['--n', '--out', 'x'], values, [])).toBe('--n needs a value');
    expect(argsProblem(['bird'], values, [])).toBe('unexpected argument "bird"');
  });
});
