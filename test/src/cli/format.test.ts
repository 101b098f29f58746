/** Pure pieces of the CLI's human output. */
import { describe, expect, it } from 'vitest';
import { duration, peerDetailText, peersTable, stateText, table, when } from '../../../src/cli/format.js';
import { unhealthyPeers } from '../api/fake-handlers.js';

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
  it('a peer held down after max-prefix says why and when it retries', () => {
    const held = unhealthyPeers.find((p) => p.held !== null);
    expect(held).toBeDefined();
    expect(stateText(held!)).toBe('Idle (max-prefix, retry in 4m12s)');
    expect(peerDetailText(held!)).toContain('  Held down:              max-prefix: started again at 2026-01-01 00:12:00Z (in 4m12s)\n');
    expect(stateText(unhealthyPeers[0]!)).toBe('Established');
  });
});
