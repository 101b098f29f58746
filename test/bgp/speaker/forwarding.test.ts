// The speaker's forwarding side: multipath sets emitted per prefix as paths come and go,
// the import guard and per-peer import lists, and a peer taken down by its link.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { ForwardingEntry } from '../../../bgp/speaker/types.js';
import type { SessionConfig, SessionInfo, SessionLike } from '../../../bgp/speaker/session-port.js';
import type { UpdateMessage } from '../../../bgp/wire/types.js';

class FakeSession extends EventEmitter implements SessionLike {
  state = 'Idle';
  starts = 0;
  stops: (string | undefined)[] = [];
  constructor(readonly cfg: SessionConfig) {
    super();
  }
  start(): void {
    this.starts++;
  }
  async stop(text?: string): Promise<void> {
    this.stops.push(text);
    this.state = 'Idle';
    this.emit('down', { kind: 'manual-stop', text: text ?? 'stopped' });
  }
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
}

const update = (nextHop: string, nlri: string[], asPath = [65000]): UpdateMessage =>
  ({ withdrawn: [], attributes: { origin: 0, asPath: [{ type: 'sequence', asns: asPath }], nextHop }, nlri, handling: 'none', errors: [] }) as unknown as UpdateMessage;
const withdraw = (prefixes: string[]): UpdateMessage => ({ withdrawn: prefixes, attributes: {}, nlri: [], handling: 'none', errors: [] }) as unknown as UpdateMessage;

async function twoPeers() {
  const sessions = new Map<string, FakeSession>();
  const speaker = new Speaker(
    {
      asn: 65001, routerId: '203.0.113.2', listen: null, holdTime: 90, connectRetryTime: 30,
      peers: [{ address: '203.0.113.1', asn: 65000 }, { address: '203.0.113.5', asn: 65000, importFilter: ['0.0.0.0/0'] }],
      importFilter: ['0.0.0.0/0', '198.18.0.0/15 le 32', '198.51.100.0/24 le 32'],
      importGuard: { accepts: (p) => !p.startsWith('198.51.100.'), reason: (p) => `guard refuses ${p}` },
    },
    { createSession: (c) => { const s = new FakeSession(c); sessions.set(c.peerAddress, s); return s; } },
  );
  await speaker.start();
  const seen: ForwardingEntry[] = [];
  speaker.on('forwardingChanged', (e: ForwardingEntry) => seen.push(e));
  const send = (peer: string, u: UpdateMessage) => sessions.get(peer)!.emit('update', u);
  return { speaker, sessions, seen, send };
}

const hops = (e: ForwardingEntry | undefined) => e?.paths.map((p) => p.nextHops[0]) ?? [];

describe('speaker forwarding entries', () => {
  it('one prefix from two equal peers is one set; a withdraw takes one next hop out', async () => {
    const { speaker, seen, send } = await twoPeers();
    send('203.0.113.1', update('203.0.113.1', ['0.0.0.0/0']));
    send('203.0.113.5', update('203.0.113.5', ['0.0.0.0/0']));
    expect(hops(seen.at(-1))).toEqual(['203.0.113.1', '203.0.113.5']);
    send('203.0.113.1', withdraw(['0.0.0.0/0']));
    expect(hops(seen.at(-1))).toEqual(['203.0.113.5']);
    // A longer AS path is not equal: the set keeps the best only.
    send('203.0.113.1', update('203.0.113.1', ['0.0.0.0/0'], [65000, 65010]));
    expect(hops(seen.at(-1))).toEqual(['203.0.113.5']);
    await speaker.stop();
  });

  it('per-peer import lists replace the global one; the guard applies to every peer, with its reason', async () => {
    const { speaker, send } = await twoPeers();
    send('203.0.113.1', update('203.0.113.1', ['198.18.0.0/24', '198.51.100.0/28']));
    send('203.0.113.5', update('203.0.113.5', ['198.18.0.0/24', '198.51.100.0/28']));
    const r = speaker.routes({ view: 'received' });
    const of = (peer: string, p: string) => r.find((x) => x.peer === peer && x.prefix === p);
    expect(of('203.0.113.1', '198.18.0.0/24')?.accepted).toBe(true);
    expect(of('203.0.113.5', '198.18.0.0/24')?.accepted).toBe(false);
    expect(of('203.0.113.1', '198.51.100.0/28')).toMatchObject({ accepted: false, reason: 'guard refuses 198.51.100.0/28' });
    expect(speaker.forwarding().map((e) => e.prefix)).toEqual(['198.18.0.0/24']);
    await speaker.stop();
  });

  it('linkDown stops the session at once (its routes go) and keeps it down until linkUp starts it', async () => {
    const { speaker, sessions, seen, send } = await twoPeers();
    send('203.0.113.1', update('203.0.113.1', ['0.0.0.0/0']));
    send('203.0.113.5', update('203.0.113.5', ['0.0.0.0/0']));
    const a = sessions.get('203.0.113.1')!;
    const startsBefore = a.starts;
    expect(speaker.linkDown('203.0.113.1', 'interface upA down (fast external failover)')).toBe(true);
    expect(a.stops).toEqual(['interface upA down (fast external failover)']);
    expect(hops(seen.at(-1))).toEqual(['203.0.113.5']);
    expect(speaker.peerStatus().find((p) => p.address === '203.0.113.1')).toMatchObject({ linkDown: 'interface upA down (fast external failover)', lastError: 'interface upA down (fast external failover)' });
    expect(speaker.releaseHold('203.0.113.1')).toBe(false);
    expect(a.starts).toBe(startsBefore);
    expect(speaker.linkUp('203.0.113.1')).toBe(true);
    expect(a.starts).toBe(startsBefore + 1);
    expect(speaker.peerStatus().find((p) => p.address === '203.0.113.1')?.linkDown).toBeNull();
    await speaker.stop();
  });
});
