/** Pure pieces of the CLI's human output. */
import { describe, expect, it } from 'vitest';
import { duration, peersTable, table, when } from '../../../src/cli/format.js';

describe('cli format', () => {
  it('durations like routers print them', () => {
    expect([0, 59, 60, 3725, 86399, 90061].map(duration)).toEqual(['0s', '59s', '1m00s', '1h02m05s', '23h59m59s', '1d01h01m']);
  });
  it('times in UTC to the second', () => {
    expect(when('2026-01-01T10:20:30.456Z')).toBe('2026-01-01 10:20:30Z');
    expect(when(null)).toBe('-');
  });
  it('aligned columns, no trailing spaces', () => {
    expect(table(['A', 'Bee'], [['xx', ''], ['y', 'z']])).toBe('A   Bee\nxx\ny   z');
  });
  it('no peers says where to configure them', () => {
    expect(peersTable([])).toBe('No BGP peers configured (bgp.peers in agent.yaml).');
  });
});
