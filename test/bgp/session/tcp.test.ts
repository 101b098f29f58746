/** Two Sessions over real TCP on 127.0.0.1 (random port), real clock. */
import { once as eventOnce } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../../bgp/session/index.js';
import type { SessionConfig, SessionEvents } from '../../../bgp/session/index.js';
import { encodeMessage } from '../../../bgp/wire/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listen(onConn: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn);
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

/** The first argument of the session's next `ev` event. */
async function once<E extends 'established' | 'update' | 'down'>(s: Session, ev: E, ms = 5000): Promise<SessionEvents[E][0]> {
  const [v] = (await eventOnce(s, ev, { signal: AbortSignal.timeout(ms) })) as SessionEvents[E];
  return v;
}

// Both set the RFC 8538 N bit, so a hard stop goes as Cease / Hard Reset over real TCP.
const base = { families: ['ipv4-unicast', 'ipv6-unicast'], gracefulRestartNotification: true } as const;

describe('Session over TCP on 127.0.0.1', () => {
  it('two Sessions reach Established, exchange an UPDATE, and stop with a shutdown message', async () => {
    let B: Session | undefined;
    const { port } = await listen((sock) => B!.acceptIncoming(sock));
    const cfgA: SessionConfig = { ...base, localAsn: 4200000001, routerId: '192.0.2.1', peerAddress: '127.0.0.1', peerAsn: 65002, port };
    const cfgB: SessionConfig = { ...base, localAsn: 65002, routerId: '192.0.2.2', peerAddress: '127.0.0.1', peerAsn: 4200000001, passive: true };
    const A = new Session(cfgA);
    B = new Session(cfgB);
    cleanups.push(async () => {
      await Promise.all([A.stop(), B!.stop()]);
    });
    const up = Promise.all([once(A, 'established'), once(B, 'established')]);
    B.start();
    A.start();
    await up;
    expect([A.state, B.state]).toEqual(['Established', 'Established']);
    expect(A.info().negotiated).toMatchObject({ peerAsn: 65002, asn4: true, families: ['ipv4-unicast', 'ipv6-unicast'] });
    expect(B.info().negotiated).toMatchObject({ peerAsn: 4200000001 });
    expect(A.info().remoteAddress).toBe('127.0.0.1');

    const got = once(B, 'update');
    const upd = encodeMessage(
      {
        type: 'UPDATE',
        withdrawn: [],
        attributes: { origin: 0, asPath: [{ type: 'sequence', asns: [4200000001] }] },
        nlri: [],
        mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8:c:1::7/128'] },
        handling: 'none',
        errors: [],
      },
      { asn4: true, extendedMessage: true },
    );
    A.sendUpdates([upd]);
    const u = await got;
    expect(u.mpReach?.nlri).toEqual(['2001:db8:c:1::7/128']);
    expect(u.attributes.asPath).toEqual([{ type: 'sequence', asns: [4200000001] }]);

    const downB = once(B, 'down');
    await A.stop('rtcb test over');
    expect(await downB).toMatchObject({
      kind: 'notification-received',
      text: 'NOTIFICATION received: Cease / Hard Reset (Administrative Shutdown): "rtcb test over"',
    });
    expect(A.state).toBe('Idle');
  });

  it('a refused connect names the errno and the retry delay', async () => {
    // A port that was just free: nothing listens there any more.
    const { server, port } = await listen(() => undefined);
    await new Promise<void>((r) => server.close(() => r()));
    cleanups.pop();
    const A = new Session({ ...base, localAsn: 65001, routerId: '192.0.2.1', peerAddress: '127.0.0.1', peerAsn: 65002, port }, { random: () => 1 });
    cleanups.push(() => A.stop());
    const down = once(A, 'down');
    A.start();
    expect(await down).toEqual({ kind: 'connect-failed', text: 'connect: ECONNREFUSED, retry in 1 s' });
  });
});
