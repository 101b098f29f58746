/** Pure pieces of the CLI's human output. */
import { describe, expect, it } from 'vitest';
import { bfdRows, duration, peerDetailText, peersTable, stateText, storeLine, table, when } from '../../../src/cli/format.js';
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

describe('cli format: BFD', () => {
  const bfd = {
    state: 'Up' as const,
    since: '2026-01-01T10:00:00.000Z',
    minTx: 300,
    minRx: 300,
    multiplier: 3,
    txInterval: 300,
    detectTime: 900,
    remote: { minTx: 300, minRx: 300, multiplier: 3 },
    lastDiagnostic: 'Control Detection Time Expired',
    remoteDiagnostic: 'No Diagnostic',
    transitions: 4,
    localDiscriminator: 7,
    remoteDiscriminator: 9,
    sourcePort: 49200,
    error: null,
  };
  const peer = {
    address: '203.0.113.1', asn: 65000, description: null, type: 'eBGP' as const, state: 'Established', since: '2026-01-01T10:00:00.000Z',
    families: ['ipv4-unicast'], prefixesSent: 1, prefixesReceived: 2, prefixesAccepted: 2, lastError: null, held: null,
  };
  it('adds a BFD column only when a peer has BFD', () => {
    expect(peersTable([peer])).not.toMatch(/BFD/);
    const t = peersTable([{ ...peer, bfd }, { ...peer, address: '203.0.113.2', bfd: null }]).split('\n');
    expect(t[0]).toMatch(/^Peer\s+ASN\s+Type\s+State\s+BFD\s+Since/);
    expect(t[1]).toMatch(/Established\s+Up\s+2026/);
    expect(t[2]).toMatch(/Established\s+-\s+2026/);
  });
  it('detail rows: state and negotiated intervals, timers both sides, last diagnostic', () => {
    expect(bfdRows(bfd)).toEqual([
      ['BFD', 'Up since 2026-01-01 10:00:00Z, tx every 300 ms, detect 900 ms'],
      ['BFD timers', 'tx 300 ms, rx 300 ms, multiplier 3; peer 300/300 ms x3'],
      ['BFD last diagnostic', 'Control Detection Time Expired'],
    ]);
    expect(bfdRows({ ...bfd, state: 'Down', txInterval: 1000, detectTime: null, remote: null, error: 'BFD: cannot listen' }).slice(1)).toEqual([
      ['BFD timers', 'tx 300 ms, rx 300 ms, multiplier 3; nothing heard from the peer'],
      ['BFD last diagnostic', 'Control Detection Time Expired'],
      ['BFD error', 'BFD: cannot listen'],
    ]);
  });
});

describe('cli format: the store line (cluster mode)', () => {
  const base = { kind: 'etcd' as const, answering: true, downSince: null, lastError: null, waiting: 0, unchecked: 0, releasesOwed: false, joined: true };
  it('answering, nothing owed: one short line', () => {
    expect(storeLine(base)).toBe('Store: etcd answering');
  });
  it('not answering: since when, why, and what waits for it', () => {
    const text = storeLine({ ...base, answering: false, downSince: '2026-01-01T10:20:30Z', lastError: 'store: etcd get ipam/hosts/w1 failed (…): 14 UNAVAILABLE', waiting: 2, unchecked: 1, releasesOwed: true, joined: false });
    expect(text).toBe(
      'Store: etcd NOT answering since 2026-01-01 10:20:30Z: store: etcd get ipam/hosts/w1 failed (…): 14 UNAVAILABLE; 2 containers waiting for store, 1 adopted from the kernel, not yet checked against it, releases owed, no lease held (running containers stay wired; new ones are wired when it answers)',
    );
  });
});
