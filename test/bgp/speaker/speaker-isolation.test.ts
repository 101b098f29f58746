/**
 * One speaker, two peers: B (a Speaker) and C (a hand-driven raw BGP peer that sends a
 * malformed UPDATE). C's session is reset with the NOTIFICATION RFC 4271 6.3 prescribes;
 * B's session and routes are untouched. Also: bestChanged events, explain across two
 * peers, and setPeers removing a peer.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildOpen } from '../../../bgp/fsm/index.js';
import { Speaker } from '../../../bgp/speaker/index.js';
import { decodeMessage, encodeMessage, packAnnouncements } from '../../../bgp/wire/index.js';
import type { BgpMessage } from '../../../bgp/wire/types.js';
import { freePort, nextHops, waitFor } from './tcp-helpers.js';


/** A minimal BGP peer from 127.0.0.3: OPEN, KEEPALIVE, then whatever the test sends. */
function rawPeer(port: number) {
  const sock = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
  const got: BgpMessage[] = [];
  let buf = Buffer.alloc(0);
  sock.on('error', () => undefined);
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 19 && buf.length >= buf.readUInt16BE(16)) {
      const len = buf.readUInt16BE(16);
      got.push(decodeMessage(buf.subarray(0, len)));
      buf = buf.subarray(len);
    }
  });
  sock.on('connect', () => {
    sock.write(encodeMessage(buildOpen({ asn: 65003, routerId: '10.0.0.3', holdTime: 30, families: ['ipv4-unicast', 'ipv6-unicast'], extendedMessage: false })));
    sock.write(encodeMessage({ type: 'KEEPALIVE' }));
  });
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  return { sock, got, closed };
}

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

describe('Speaker: peers are isolated', () => {
  it('a malformed UPDATE resets only that peer; best path moves between peers with events', async () => {
    const port = await freePort();
    const a = new Speaker(
      {
        asn: 65001,
        routerId: '192.0.2.1',
        listen: { address: '127.0.0.1', port },
        holdTime: 30,
        connectRetryTime: 1,
        peers: [
          { address: '127.0.0.2', asn: 65002, passive: true },
          { address: '127.0.0.3', asn: 65003, passive: true },
        ],
        importFilter: ['0.0.0.0/0'],
      },
      { nextHops },
    );
    running.push(a);
    const best: [string, string | null][] = [];
    a.on('bestChanged', (p: string, b: { peer: string } | null) => best.push([p, b?.peer ?? null]));
    await a.start();
    const b = new Speaker(
      { asn: 65002, routerId: '192.0.2.2', listen: null, holdTime: 30, connectRetryTime: 1, peers: [{ address: '127.0.0.1', port, localAddress: '127.0.0.2', asn: 65001 }], importFilter: [] },
      { nextHops },
    );
    running.push(b);
    b.setAdvertisements([{ prefix: '0.0.0.0/0' }]);
    await b.start();
    await waitFor('default route from B', () => a.routes({ view: 'best' }).length === 1);

    // C announces the default with an equally long AS_PATH and a lower router id: it wins.
    const c = rawPeer(port);
    await waitFor('C established', () => a.peerStatus().find((p) => p.address === '127.0.0.3')?.state === 'Established');
    const ctx = { asn4: true, extendedMessage: false };
    for (const m of packAnnouncements('ipv4-unicast', { origin: 0, asPath: [{ type: 'sequence', asns: [65003] }] }, ['203.0.113.3'], ['0.0.0.0/0'], ctx)) c.sock.write(m);
    await waitFor('C best', () => a.routes({ view: 'best' })[0]?.peer === '127.0.0.3');
    const ex = a.explain('0.0.0.0/0');
    expect(ex.best).toBe('127.0.0.3');
    expect(ex.candidates[1]).toMatchObject({ peer: '127.0.0.2', status: 'lost', step: 'router-id' });

    // A malformed UPDATE from C: the withdrawn routes length overruns the message. RFC 7606
    // cannot relax that one (the NLRI cannot be found): session reset, 3/1 (RFC 4271 6.3).
    const body = Buffer.from([0, 100, 0, 0]);
    const hdr = Buffer.alloc(19, 0xff);
    hdr.writeUInt16BE(19 + body.length, 16);
    hdr[18] = 2;
    c.sock.write(Buffer.concat([hdr, body]));
    await c.closed;
    expect(c.got.find((m) => m.type === 'NOTIFICATION')).toMatchObject({ type: 'NOTIFICATION', code: 3 });
    await waitFor('fallback to B', () => a.routes({ view: 'best' })[0]?.peer === '127.0.0.2');
    expect(a.peerStatus().find((p) => p.address === '127.0.0.2')).toMatchObject({ state: 'Established', prefixesAccepted: 1, flaps: 0 });
    expect(best).toEqual([
      ['0.0.0.0/0', '127.0.0.2'],
      ['0.0.0.0/0', '127.0.0.3'],
      ['0.0.0.0/0', '127.0.0.2'],
    ]);

    // Config reload without B: its session ends with Cease, its route goes.
    await a.setPeers([{ address: '127.0.0.3', asn: 65003, passive: true }]);
    expect(a.peerStatus().map((p) => p.address)).toEqual(['127.0.0.3']);
    expect(a.routes({ view: 'best' })).toEqual([]);
    expect(best.at(-1)).toEqual(['0.0.0.0/0', null]);
    await waitFor('B notices', () => b.peerStatus()[0]?.lastNotificationReceived?.code === 6);
  });
});
