/**
 * Two Speakers over real TCP on the loopback: A listens on 127.0.0.1 (random port) and
 * peers passively with 127.0.0.2; B connects from 127.0.0.2. Both families on one
 * session, withdraw, reconnect after B goes away (A re-advertises everything), route
 * refresh, max-prefix shutdown, and a connection from an unknown address refused with
 * Cease / Connection Rejected.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Speaker } from '../../../bgp/speaker/index.js';
import type { PeerConfig, SpeakerConfig } from '../../../bgp/speaker/index.js';
import { decodeMessage } from '../../../bgp/wire/index.js';
import { freePort, nextHops, waitFor } from './tcp-helpers.js';

const IMPORT_ALL = ['0.0.0.0/0 le 32', '::/0 le 128'];

/**
 * Loopback addresses are not valid next hops (the codec treats them as withdraw, RFC
 * 4271 6.3), so the sessions run on 127.0.0.x but advertise the fabric addresses the
 * worker would have: 127.0.0.N -> 203.0.113.N and 2001:db8:f::N. The real interface
 * lookup is covered in test/bgp/rib/next-hop.test.ts.
 */

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

function speakerA(port: number, peer: Partial<PeerConfig> = {}): Speaker {
  const cfg: SpeakerConfig = {
    asn: 65001,
    routerId: '192.0.2.1',
    listen: { address: '127.0.0.1', port },
    holdTime: 30,
    connectRetryTime: 1,
    peers: [{ address: '127.0.0.2', asn: 65002, passive: true, ...peer }],
    importFilter: IMPORT_ALL,
  };
  const s = new Speaker(cfg, { nextHops });
  running.push(s);
  return s;
}

function speakerB(portA: number, importFilter = IMPORT_ALL): Speaker {
  const cfg: SpeakerConfig = {
    asn: 65002,
    routerId: '192.0.2.2',
    listen: null,
    holdTime: 30,
    connectRetryTime: 1,
    peers: [{ address: '127.0.0.1', port: portA, localAddress: '127.0.0.2', asn: 65001 }],
    importFilter,
  };
  const s = new Speaker(cfg, { nextHops });
  running.push(s);
  return s;
}

/**
 * A and B started and Established, with nothing advertised yet; End-of-RIB and the like
 * are out of the way. `updatesOut`: the UPDATEs A has sent so far.
 */
async function establishedPair(): Promise<{ port: number; a: Speaker; b: Speaker; updatesOut: () => number }> {
  const port = await freePort();
  const a = speakerA(port);
  await a.start();
  const b = speakerB(port);
  await b.start();
  await waitFor('Established', () => a.peerStatus()[0]?.state === 'Established' && received(b).size === 0);
  await new Promise((r) => setTimeout(r, 50));
  return { port, a, b, updatesOut: () => a.peerStatus()[0]!.messages.out.update };
}

const received = (s: Speaker): Map<string, string> =>
  new Map(s.routes({ view: 'received' }).map((r) => [r.prefix, r.nextHops.join(',')]));

describe('Speaker over TCP', () => {
  it('exchanges both families on one session, withdraws, re-advertises after a reconnect', async () => {
    const port = await freePort();
    const a = speakerA(port);
    const states: string[] = [];
    a.on('peerState', (_addr: string, _from: string, to: string) => states.push(to));
    a.setAdvertisements([
      { prefix: '198.51.100.1/32' },
      { prefix: '198.51.100.2/32', communities: ['65001:7'] },
      { prefix: '2001:db8::1/128' },
    ]);
    await a.start();
    let b = speakerB(port);
    b.setAdvertisements([{ prefix: '198.51.100.99/32' }, { prefix: '2001:db8::99/128' }]);
    await b.start();

    await waitFor('B to receive A', () => received(b).size === 3);
    expect(received(b).get('198.51.100.1/32')).toBe('203.0.113.1');
    expect(received(b).get('2001:db8::1/128')).toBe('2001:db8:f::1');
    const withCommunity = b.routes({ view: 'received' }).find((r) => r.prefix === '198.51.100.2/32');
    expect(withCommunity?.attributes.communities).toEqual([((65001 << 16) | 7) >>> 0]);
    expect(withCommunity?.attributes.asPath).toEqual([{ type: 'sequence', asns: [65001] }]);
    await waitFor('A to receive B', () => received(a).size === 2);
    expect(a.routes({ view: 'best' }).map((r) => r.prefix).sort()).toEqual(['198.51.100.99/32', '2001:db8::99/128']);

    const [pa] = a.peerStatus();
    expect(pa).toMatchObject({ address: '127.0.0.2', state: 'Established', type: 'eBGP', prefixesSent: 3, prefixesReceived: 2, prefixesAccepted: 2 });
    expect(pa?.families).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    expect(pa?.capabilities).toContain('four-octet-as');
    expect(a.routes({ view: 'advertised' }).map((r) => r.prefix).sort()).toEqual(['198.51.100.1/32', '198.51.100.2/32', '2001:db8::1/128']);

    // Incremental changes in one tick: one withdraw, one new route.
    a.withdraw(['198.51.100.1/32']);
    a.advertise([{ prefix: '2001:db8::2/128' }]);
    await waitFor('withdraw + add at B', () => !received(b).has('198.51.100.1/32') && received(b).has('2001:db8::2/128'));
    expect([...received(b).keys()].sort()).toEqual(['198.51.100.2/32', '2001:db8::1/128', '2001:db8::2/128']);

    // B goes away: A drops B's routes and its peer leaves Established.
    await b.stop('maintenance');
    running.splice(running.indexOf(b), 1);
    await waitFor('A to notice', () => a.peerStatus()[0]?.state !== 'Established');
    expect(received(a).size).toBe(0);
    // No RFC 8538 N bit: a hard stop is Cease / Administrative Shutdown as it is, no Hard Reset around it.
    expect(a.peerStatus()[0]?.lastNotificationReceived).toMatchObject({ code: 6, subcode: 2, text: 'maintenance' });
    expect(states).toContain('Established');

    // Change A's desired state while B is away; a new B gets the end state straight away.
    a.setAdvertisements([{ prefix: '198.51.100.2/32' }, { prefix: '198.51.100.3/32' }, { prefix: '2001:db8::1/128' }]);
    b = speakerB(port);
    await b.start();
    await waitFor('B to get the end state', () => received(b).size === 3 && received(b).has('198.51.100.3/32'));
    expect([...received(b).keys()].sort()).toEqual(['198.51.100.2/32', '198.51.100.3/32', '2001:db8::1/128']);
    expect(a.peerStatus()[0]?.flaps).toBeGreaterThanOrEqual(1);
  });

  it('advertise: the UPDATE goes out once the code of this tick has run, with every other change of that tick', async () => {
    const { a, b, updatesOut } = await establishedPair();

    const before = updatesOut();
    a.advertise([{ prefix: '198.51.100.7/32' }, { prefix: '2001:db8::7/128' }]);
    a.advertise([{ prefix: '198.51.100.8/32' }]);
    expect(updatesOut()).toBe(before);
    await Promise.resolve();
    expect(updatesOut()).toBeGreaterThan(before);

    await waitFor('B to receive all three', () => received(b).size === 3);
    expect([...received(b).keys()].sort()).toEqual(['198.51.100.7/32', '198.51.100.8/32', '2001:db8::7/128']);
  });

  it('answers route refresh by resending the Adj-RIB-Out; filtered routes stay visible', async () => {
    const port = await freePort();
    const a = speakerA(port);
    a.setAdvertisements([{ prefix: '198.51.100.1/32' }, { prefix: '2001:db8::1/128' }]);
    await a.start();
    const b = speakerB(port, ['::/0 le 128']); // B accepts only IPv6
    await b.start();
    await waitFor('B to receive', () => received(b).size === 2);
    const rv = b.routes({ view: 'received' });
    expect(rv.find((r) => r.prefix === '198.51.100.1/32')).toMatchObject({ accepted: false });
    expect(rv.find((r) => r.prefix === '198.51.100.1/32')?.reason).toMatch(/no import entry/);
    expect(b.routes({ view: 'best' }).map((r) => r.prefix)).toEqual(['2001:db8::1/128']);
    const before = a.peerStatus()[0]!.messages.out.update;
    expect(b.routeRefresh('127.0.0.1', 'ipv4-unicast')).toBe(true);
    await waitFor('A to resend', () => a.peerStatus()[0]!.messages.out.update > before);
    expect(a.peerStatus()[0]!.messages.in.routeRefresh).toBe(1);
    expect(b.explain('198.51.100.1/32').candidates).toMatchObject([{ peer: '127.0.0.1', status: 'filtered', step: 'import-filter' }]);
  });

  it('streams 100k prefixes under flow control', async () => {
    const port = await freePort();
    const a = speakerA(port);
    const advs = [];
    for (let i = 0; i < 50_000; i++) advs.push({ prefix: `198.18.${i >> 8}.${i & 255}/32` }, { prefix: `2001:db8::${i.toString(16)}/128` });
    a.setAdvertisements(advs);
    await a.start();
    const b = speakerB(port);
    await b.start();
    await waitFor('100k at B', () => b.peerStatus()[0]!.prefixesAccepted === 100_000, 60_000);
    expect(a.peerStatus()[0]?.prefixesSent).toBe(100_000);
  });

  it('max-prefix: over the limit the session is shut down with Cease 6/1 and RFC 4486 data', async () => {
    const port = await freePort();
    const a = speakerA(port, { maxPrefixes: 2 });
    await a.start();
    const b = speakerB(port);
    b.setAdvertisements([{ prefix: '198.51.100.1/32' }, { prefix: '198.51.100.2/32' }, { prefix: '198.51.100.3/32' }]);
    await b.start();
    await waitFor('B to see the Cease', () => b.peerStatus()[0]?.lastNotificationReceived?.code === 6);
    expect(b.peerStatus()[0]?.lastNotificationReceived).toMatchObject({ code: 6, subcode: 1 });
    expect(a.peerStatus()[0]?.lastError).toMatch(/maximum number of prefixes/);
    expect(received(a).size).toBe(0);
  });

  it('refuses a connection from an unknown address with Cease / Connection Rejected', async () => {
    const port = await freePort();
    const a = speakerA(port);
    await a.start();
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((r) => sock.on('close', () => r()));
    const msg = decodeMessage(Buffer.concat(chunks));
    expect(msg).toMatchObject({ type: 'NOTIFICATION', code: 6, subcode: 5 });
    expect(a.peerStatus()[0]?.state).not.toBe('Established');
  });

  it('counts refused strangers per family and reports each with its address', async () => {
    const port = await freePort();
    const cfg: SpeakerConfig = {
      asn: 65001, routerId: '192.0.2.1', listen: { address: '::', port }, holdTime: 30, connectRetryTime: 1,
      peers: [{ address: '127.0.0.2', asn: 65002, passive: true }], importFilter: IMPORT_ALL,
    };
    const a = new Speaker(cfg, { nextHops });
    running.push(a);
    const seen: [string, string][] = [];
    a.on('connectionRejected', (address: string, family: string) => seen.push([address, family]));
    await a.start();
    const knock = (host: string, localAddress: string): Promise<void> =>
      new Promise((r) => {
        const sock = net.connect({ host, port, localAddress });
        sock.on('error', () => r());
        sock.on('close', () => r());
        sock.resume();
      });
    await knock('127.0.0.1', '127.0.0.3');
    await knock('127.0.0.1', '127.0.0.4');
    await knock('::1', '::1');
    await waitFor('three refusals', () => seen.length === 3);
    // IPv4 over the dual-stack listener arrives as ::ffff:127.0.0.3 and counts as IPv4.
    expect(seen).toEqual([['127.0.0.3', 'ipv4'], ['127.0.0.4', 'ipv4'], ['::1', 'ipv6']]);
    expect(a.rejectedConnections()).toEqual({ ipv4: 2, ipv6: 1 });
  });
});
