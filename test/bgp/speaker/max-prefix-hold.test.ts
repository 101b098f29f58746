/**
 * After a max-prefix shutdown (RFC 4486 Cease 6/1) the speaker keeps the peer down for
 * its restart time (FRR's `maximum-prefix N restart M`): no connection is accepted
 * before then, status says why and when, and after it the session comes back. Two
 * Speakers with real Sessions on a fake clock over the in-memory network of the session
 * tests: A (passive, limit 2) and B (connects, advertises 3, then 2).
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { BfdPeers } from '../../../bgp/bfd/index.js';
import { Session } from '../../../bgp/session/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { PeerConfig } from '../../../bgp/speaker/index.js';
import { FakeClock, FakeNet } from '../session/harness.js';
import { nextHops } from './tcp-helpers.js';

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

function pair(peerA: Partial<PeerConfig>, bfdA?: BfdPeers) {
  const clock = new FakeClock();
  const net = new FakeNet();
  const timers = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
  };
  const make = (self: string, peer: PeerConfig, asn: number): Speaker => {
    const s = new Speaker(
      { asn, routerId: self, listen: null, holdTime: 90, connectRetryTime: 5, peers: [peer], importFilter: ['0.0.0.0/0 le 32'] },
      {
        ...timers,
        nextHops,
        ...(bfdA && self === '10.0.0.1' ? { bfd: bfdA } : {}),
        createSession: (c) => {
          const session = new Session(c, { clock, connect: net.connector(self), random: () => 0.5 });
          net.listeners.set(self, session);
          return session;
        },
      },
    );
    running.push(s);
    return s;
  };
  const a = make('10.0.0.1', { address: '10.0.0.2', asn: 65002, passive: true, ...peerA }, 65001);
  const b = make('10.0.0.2', { address: '10.0.0.1', asn: 65001 }, 65002);
  // A's state changes, with the clock's time: nothing may leave Idle during the hold.
  const changes: { at: number; to: string }[] = [];
  a.on('peerState', (_p: string, _from: string, to: string) => changes.push({ at: clock.now(), to }));
  return { clock, a, b, changes };
}

const prefixes = (n: number) => Array.from({ length: n }, (_, i) => ({ prefix: `198.51.100.${i + 1}/32` }));

/** Advances the fake clock a second at a time until `cond` holds (at most `maxSeconds`). */
async function advanceUntil(clock: FakeClock, what: string, cond: () => boolean, maxSeconds = 600): Promise<void> {
  for (let i = 0; i < maxSeconds && !cond(); i++) await clock.advance(1000);
  if (!cond()) throw new Error(`not within ${maxSeconds} s of fake time: ${what}`);
}

describe('max-prefix restart hold', () => {
  it('keeps the peer Idle for the restart time, refusing its connections, says so, then comes back', async () => {
    const { clock, a, b, changes } = pair({ maxPrefixes: 2, maxPrefixRestart: 120 });
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the Cease', () => b.peerStatus()[0]?.lastNotificationReceived?.code === 6);
    const shutAt = clock.now();
    expect(b.peerStatus()[0]?.lastNotificationReceived).toMatchObject({ code: 6, subcode: 1 });
    const held = a.peerStatus()[0]!;
    expect(held.state).toBe('Idle');
    expect(held.held).toEqual({ reason: 'max-prefix', until: new Date(shutAt + 120_000).toISOString(), retryInSeconds: 120 });
    expect(held.lastError).toMatch(/^maximum number of prefixes reached: 3 > 2; NOTIFICATION sent: Cease \/ Maximum Number of Prefixes Reached/);

    // B keeps trying during the hold; A refuses each with Cease / Connection Rejected.
    b.setAdvertisements(prefixes(2));
    await clock.advance(90_000);
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Idle', held: { retryInSeconds: 30 } });
    expect(b.peerStatus()[0]?.lastNotificationReceived).toMatchObject({ code: 6, subcode: 5 });

    await advanceUntil(clock, 'Established again', () => a.peerStatus()[0]?.state === 'Established');
    // The first change after the shutdown's Idle is the restart, 120 s later.
    const down = changes.findIndex((c) => c.to === 'Idle');
    expect(down).toBeGreaterThan(0);
    expect(changes[down]!.at).toBe(shutAt);
    expect(changes[down + 1]).toMatchObject({ at: shutAt + 120_000, to: 'Active' });
    expect(a.peerStatus()[0]).toMatchObject({ held: null, prefixesReceived: 2, lastError: null });
  });

  it('without a restart time configured it holds for the default, 300 s', async () => {
    const { clock, a, b } = pair({ maxPrefixes: 2 });
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the hold', () => a.peerStatus()[0]?.held !== null);
    expect(a.peerStatus()[0]?.held?.retryInSeconds).toBe(300);
  });

  it('releaseHold starts the session at once; a peer not held is left alone', async () => {
    const { clock, a, b, changes } = pair({ maxPrefixes: 2, maxPrefixRestart: 3600 });
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the hold', () => a.peerStatus()[0]?.held !== null);
    b.setAdvertisements(prefixes(1));
    const releasedAt = clock.now();
    expect(a.releaseHold('10.0.0.2')).toBe(true);
    expect(a.peerStatus()[0]?.held).toBeNull();
    await advanceUntil(clock, 'Established again', () => a.peerStatus()[0]?.state === 'Established', 300);
    expect(changes.some((c) => c.at === releasedAt && c.to === 'Active')).toBe(true);
    expect(a.releaseHold('10.0.0.2')).toBe(false);
    expect(a.releaseHold('10.0.0.9')).toBe(false);
  });

  it('stop clears the hold timer', async () => {
    const { clock, a, b } = pair({ maxPrefixes: 2, maxPrefixRestart: 3600 });
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the hold', () => a.peerStatus()[0]?.held !== null);
    expect(clock.pendingDelays()).toContain(3600_000 - 0);
    await a.stop('done');
    await b.stop('done');
    expect(clock.pendingDelays().filter((d) => d > 1000_000)).toEqual([]);
  });

  it('a hold that ends while BFD is Down keeps the peer down; BFD Up then starts it (RFC 9384)', async () => {
    // BFD's events, driven by the test: only the speaker's reaction is under test here.
    const bfd = Object.assign(new EventEmitter(), {
      set: async () => undefined,
      status: () => null,
      close: async () => undefined,
    }) as unknown as BfdPeers;
    const { clock, a, b } = pair({ maxPrefixes: 2, maxPrefixRestart: 60, bfd: { minRx: 300, minTx: 300, multiplier: 3 } }, bfd);
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the hold', () => a.peerStatus()[0]?.held !== null);
    b.setAdvertisements(prefixes(2));
    bfd.emit('down', '10.0.0.2', 1);
    await clock.advance(120_000);
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Idle', held: null });
    expect(a.peerStatus()[0]?.lastError).toMatch(/held down until BFD is Up$/);
    bfd.emit('up', '10.0.0.2');
    await advanceUntil(clock, 'Established after BFD Up', () => a.peerStatus()[0]?.state === 'Established', 300);
  });

  it('BFD Up during a max-prefix hold does not end the hold', async () => {
    const bfd = Object.assign(new EventEmitter(), {
      set: async () => undefined,
      status: () => null,
      close: async () => undefined,
    }) as unknown as BfdPeers;
    const { clock, a, b } = pair({ maxPrefixes: 2, maxPrefixRestart: 600, bfd: { minRx: 300, minTx: 300, multiplier: 3 } }, bfd);
    b.setAdvertisements(prefixes(3));
    await a.start();
    await b.start();
    await advanceUntil(clock, 'the hold', () => a.peerStatus()[0]?.held !== null);
    bfd.emit('down', '10.0.0.2', 1);
    bfd.emit('up', '10.0.0.2');
    await clock.advance(60_000);
    expect(a.peerStatus()[0]).toMatchObject({ state: 'Idle', held: { reason: 'max-prefix' } });
  });
});
