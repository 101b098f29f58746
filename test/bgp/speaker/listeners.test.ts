/**
 * The speaker's listeners on a session: one of each per peer however often the session
 * reconnects, and none left on a session the speaker let go (the peer reconfigured, or
 * the speaker stopped), the 'error' listener included. Real sessions over loopback TCP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../../bgp/session/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { SpeakerConfig } from '../../../bgp/speaker/index.js';
import { freePort, nextHops, waitFor } from './tcp-helpers.js';

const EVENTS = ['state', 'established', 'down', 'update', 'routeRefresh', 'drain', 'error'] as const;
const counts = (s: Session): number[] => EVENTS.map((e) => s.listenerCount(e));
const each = (n: number): number[] => EVENTS.map(() => n);

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

function speaker(cfg: Omit<SpeakerConfig, 'holdTime' | 'connectRetryTime' | 'importFilter'>, made?: Session[]): Speaker {
  const s = new Speaker(
    { ...cfg, holdTime: 30, connectRetryTime: 1, importFilter: [] },
    {
      nextHops,
      ...(made
        ? {
            createSession: (c) => {
              const s = new Session(c);
              made.push(s);
              return s;
            },
          }
        : {}),
    },
  );
  running.push(s);
  return s;
}

describe('Speaker: session listeners', () => {
  it('one of each per peer across reconnects; none left on a session replaced or stopped', async () => {
    const port = await freePort();
    const made: Session[] = [];
    const a = speaker(
      { asn: 65001, routerId: '192.0.2.1', listen: { address: '127.0.0.1', port }, peers: [{ address: '127.0.0.2', asn: 65002, passive: true }] },
      made,
    );
    await a.start();
    for (let i = 0; i < 3; i++) {
      const b = speaker({ asn: 65002, routerId: '192.0.2.2', listen: null, peers: [{ address: '127.0.0.1', port, localAddress: '127.0.0.2', asn: 65001 }] });
      await b.start();
      await waitFor('Established', () => a.peerStatus()[0]?.state === 'Established');
      await b.stop('again');
      running.splice(running.indexOf(b), 1);
      await waitFor('A to notice', () => a.peerStatus()[0]?.state !== 'Established');
    }
    expect(a.peerStatus()[0]?.flaps).toBe(3);
    expect(made).toHaveLength(1);
    expect(counts(made[0]!)).toEqual(each(1));

    // A different session (hold time) replaces it: the old one keeps no listener.
    await a.setPeers([{ address: '127.0.0.2', asn: 65002, passive: true, holdTime: 60 }]);
    expect(made).toHaveLength(2);
    expect(counts(made[0]!)).toEqual(each(0));
    expect(counts(made[1]!)).toEqual(each(1));

    await a.stop('done');
    expect(counts(made[1]!)).toEqual(each(0));
  });
});
