// What a peer's lastError says across a run of failures: a NOTIFICATION the peer sent
// (an administrative shutdown, or a refusal of our OPEN) stays in front of the closed or
// refused reconnects that follow, until the session is Established again.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { SessionConfig, SessionInfo, SessionLike } from '../../../bgp/speaker/session-port.js';

class FakeSession extends EventEmitter implements SessionLike {
  state = 'Idle';
  constructor(readonly cfg: SessionConfig) {
    super();
  }
  start(): void {}
  async stop(): Promise<void> {}
  cease(): void {}
  acceptIncoming(): void {}
  sendUpdates(): boolean {
    return false;
  }
  sendRouteRefresh(): void {}
  info(): SessionInfo {
    const zero = { open: 0, update: 0, notification: 0, keepalive: 0, routeRefresh: 0 };
    return {
      state: this.state as SessionInfo['state'], since: new Date(0), negotiated: null, localAddress: null, remoteAddress: null,
      counters: { in: zero, out: zero }, flaps: 0, lastError: null, lastNotificationSent: null, lastNotificationReceived: null,
      holdTime: 90, keepalive: 30, connectRetry: 30,
    };
  }
  down(kind: string, text: string): void {
    this.state = 'Idle';
    this.emit('down', { kind, text });
  }
}

async function speakerWithFake(): Promise<{ speaker: Speaker; session: () => FakeSession }> {
  let made: FakeSession | undefined;
  const speaker = new Speaker(
    { asn: 4200000001, routerId: '203.0.113.2', listen: null, holdTime: 90, connectRetryTime: 30, peers: [{ address: '203.0.113.1', asn: 65000 }], importFilter: [] },
    { createSession: (c) => (made = new FakeSession(c)) },
  );
  await speaker.start();
  return { speaker, session: () => made! };
}

describe('peer lastError after a NOTIFICATION', () => {
  it('an OPEN refused with Bad Peer AS stays in front of the closed reconnects that follow', async () => {
    const { speaker, session } = await speakerWithFake();
    const refused = 'NOTIFICATION received: OPEN Message Error / Bad Peer AS';
    session().down('notification-received', refused);
    expect(speaker.peerStatus()[0]?.lastError).toBe(refused);
    session().down('connection-closed', 'connection closed by peer');
    expect(speaker.peerStatus()[0]?.lastError).toBe(`${refused}; since then: connection closed by peer`);
    session().down('connect-failed', 'connect: ECONNREFUSED, retry in 4 s');
    expect(speaker.peerStatus()[0]?.lastError).toBe(`${refused}; since then: connect: ECONNREFUSED, retry in 4 s`);
    await speaker.stop();
  });

  it('without a NOTIFICATION the latest reason stands alone', async () => {
    const { speaker, session } = await speakerWithFake();
    session().down('connection-closed', 'connection closed by peer');
    session().down('connect-failed', 'connect: ECONNREFUSED, retry in 2 s');
    expect(speaker.peerStatus()[0]?.lastError).toBe('connect: ECONNREFUSED, retry in 2 s');
    await speaker.stop();
  });
});
