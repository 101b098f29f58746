/**
 * BFD in the speaker (RFC 9384), over real loopback TCP and UDP: A (127.0.0.1) and B
 * (127.0.0.2) run BGP and BFD with each other. When B takes its BFD session down, A ends
 * the BGP session at once with Cease / BFD Down, drops B's routes and keeps the session
 * stopped; when BFD is Up again the session comes back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BfdPeers } from '../../../bgp/bfd/peers.js';
import { BfdRunner } from '../../../bgp/bfd/runner.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { PeerConfig, SpeakerConfig } from '../../../bgp/speaker/index.js';
import { freePort, nextHops, waitFor } from '../speaker/tcp-helpers.js';

const IMPORT_ALL = ['0.0.0.0/0 le 32', '::/0 le 128'];
const timers = { minTx: 20, minRx: 20, multiplier: 3 };
const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

function bfdOn(address: string, listenPort: number, peerPort: number): BfdPeers {
  return new BfdPeers(() => new BfdRunner({ listenPort, peerPort, listenAddress: { udp4: address } }));
}

async function pair() {
  const port = await freePort();
  const bfdPortA = 30_000 + Math.floor(Math.random() * 9000) * 2;
  const bfdPortB = bfdPortA + 1;
  const peerA: PeerConfig = { address: '127.0.0.2', asn: 65002, passive: true, bfd: timers };
  const cfgA: SpeakerConfig = {
    asn: 65001, routerId: '192.0.2.1', listen: { address: '127.0.0.1', port }, holdTime: 30, connectRetryTime: 1,
    peers: [peerA], importFilter: IMPORT_ALL,
  };
  const peerB: PeerConfig = { address: '127.0.0.1', port, localAddress: '127.0.0.2', asn: 65001, bfd: timers };
  const cfgB: SpeakerConfig = {
    asn: 65002, routerId: '192.0.2.2', listen: null, holdTime: 30, connectRetryTime: 1, peers: [peerB], importFilter: IMPORT_ALL,
  };
  const a = new Speaker(cfgA, { nextHops, bfd: bfdOn('127.0.0.1', bfdPortA, bfdPortB) });
  const b = new Speaker(cfgB, { nextHops, bfd: bfdOn('127.0.0.2', bfdPortB, bfdPortA) });
  running.push(a, b);
  await a.start();
  await b.start();
  return { a, b, peerB };
}

describe('Speaker with BFD', () => {
  it('shows BFD Up with its intervals next to the Established session', async () => {
    const { a } = await pair();
    await waitFor('Established and BFD Up', () => a.peerStatus()[0]?.state === 'Established' && a.peerStatus()[0]?.bfd?.state === 'Up');
    await waitFor('fast timers', () => a.peerStatus()[0]?.bfd?.txInterval === 20);
    const bfd = a.peerStatus()[0]!.bfd!;
    expect(bfd).toMatchObject({ minTx: 20, minRx: 20, multiplier: 3, detectTime: 60, remote: { minTx: 20, minRx: 20, multiplier: 3 }, lastDiagnostic: null, error: null });
    expect(bfd.sourcePort).toBeGreaterThanOrEqual(49152);
  });

  it('BFD Down ends the BGP session with Cease / BFD Down, holds it down, and BFD Up brings it back', async () => {
    const { a, b, peerB } = await pair();
    b.setAdvertisements([{ prefix: '198.51.100.7/32' }]);
    await waitFor('route at A', () => a.routes({ view: 'received' }).some((r) => r.prefix === '198.51.100.7/32'));
    await waitFor('BFD Up', () => a.peerStatus()[0]?.bfd?.state === 'Up');
    const bfdStates: string[] = [];
    a.on('bfdState', (_p: string, _f: string, to: string) => bfdStates.push(to));

    // B stops BFD (AdminDown on the wire): A's BFD goes Down, and A ends the BGP session.
    await b.setPeers([{ ...peerB, bfd: undefined }]);
    await waitFor('A down', () => a.peerStatus()[0]?.state !== 'Established');
    const pa = a.peerStatus()[0]!;
    expect(pa.bfd?.state).toBe('Down');
    expect(pa.bfd?.lastDiagnostic).toBe('Neighbor Signaled Session Down');
    expect(pa.lastNotificationSent).toMatchObject({ code: 6, subcode: 10, name: 'Cease / BFD Down' });
    expect(pa.lastError).toMatch(/BFD down: Neighbor Signaled Session Down.*Cease \/ BFD Down.*held down until BFD is Up/);
    expect(a.routes({ view: 'received' })).toEqual([]);
    await waitFor('B heard it', () => b.peerStatus()[0]?.lastNotificationReceived?.subcode === 10);
    expect(bfdStates).toContain('Down');

    // B keeps reconnecting (connect retry 1 s); A, held down, refuses with Cease /
    // Connection Rejected (RFC 4486 6/5) and stays Idle.
    await waitFor('B refused', () => b.peerStatus()[0]?.lastNotificationReceived?.subcode === 5);
    expect(a.peerStatus()[0]?.state).toBe('Idle');

    // BFD back: the session comes back, and with it the route.
    await b.setPeers([peerB]);
    await waitFor('BFD Up again', () => a.peerStatus()[0]?.bfd?.state === 'Up');
    await waitFor('Established again', () => a.peerStatus()[0]?.state === 'Established', 20_000);
    await waitFor('route back', () => a.routes({ view: 'received' }).some((r) => r.prefix === '198.51.100.7/32'));
    expect(a.peerStatus()[0]?.bfd?.transitions).toBeGreaterThanOrEqual(4);
  });

  it('a peer without bfd has no BFD status and opens no BFD socket', async () => {
    const port = await freePort();
    let made = 0;
    const s = new Speaker(
      { asn: 65001, routerId: '192.0.2.1', listen: { address: '127.0.0.1', port }, holdTime: 30, connectRetryTime: 1, peers: [{ address: '127.0.0.2', asn: 65002, passive: true }], importFilter: [] },
      { nextHops, bfd: new BfdPeers(() => (made++, new BfdRunner())) },
    );
    running.push(s);
    await s.start();
    expect(s.peerStatus()[0]?.bfd).toBeNull();
    expect(made).toBe(0);
  });
});
