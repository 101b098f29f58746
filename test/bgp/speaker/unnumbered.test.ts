/**
 * Unnumbered peers in the speaker: known by the interface, connecting to the neighbour
 * setNeighbour() gives (with its zone), taking a link-local connection on that interface,
 * `asn: external`. Real sessions over loopback TCP: the link-local addresses are stood in
 * for (the outgoing connect is redirected to a loopback listener; the incoming socket
 * carries a link-local remoteAddress), which is all the speaker sees of them.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { noNeighbourText, Speaker, type SpeakerConfig } from '../../../bgp/speaker/index.js';
import { freePort, nextHops, waitFor } from './tcp-helpers.js';

const running: Speaker[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
  for (const s of servers.splice(0)) s.close();
});

function speaker(cfg: Omit<SpeakerConfig, 'holdTime' | 'connectRetryTime' | 'importFilter'>, deps: ConstructorParameters<typeof Speaker>[1] = {}): Speaker {
  const s = new Speaker({ ...cfg, holdTime: 30, connectRetryTime: 1, importFilter: [] }, { nextHops, ...deps });
  running.push(s);
  return s;
}

describe('Speaker: unnumbered peers', () => {
  it('waits for a neighbour, then connects to it with its zone; external takes the AS the OPEN gives', async () => {
    const port = await freePort();
    const b = speaker({ asn: 65000, routerId: '192.0.2.2', listen: { address: '127.0.0.1', port }, peers: [{ address: '127.0.0.1', asn: 65001, passive: true }] });
    await b.start();
    const hosts: string[] = [];
    const a = speaker(
      { asn: 65001, routerId: '192.0.2.1', listen: null, peers: [{ address: 'eth1', interface: 'eth1', asn: 'external' }] },
      {
        plainConnect: (o) => {
          hosts.push(o.host);
          return net.connect({ host: '127.0.0.1', port });
        },
      },
    );
    await a.start();
    const before = a.peerStatus()[0]!;
    expect(before).toMatchObject({ address: 'eth1', interface: 'eth1', asn: 0, configuredAsn: 'external', neighbour: { address: null, source: null } });
    expect(before.lastError).toBe(noNeighbourText('eth1'));
    expect(hosts).toEqual([]);

    expect(a.setNeighbour('eth1', 'fe80::1')).toBe(true);
    expect(a.setNeighbour('eth9', 'fe80::1')).toBe(false);
    await waitFor('Established', () => a.peerStatus()[0]?.state === 'Established');
    expect(hosts[0]).toBe('fe80::1%eth1');
    expect(a.peerStatus()[0]).toMatchObject({ asn: 65000, type: 'eBGP', neighbour: { address: 'fe80::1%eth1', source: 'neighbour-table' }, lastError: null });
  });

  it('takes a connection from a link-local address on its interface, and from no other interface', async () => {
    const port = await freePort();
    const a = speaker({ asn: 65001, routerId: '192.0.2.1', listen: null, peers: [{ address: 'eth1', interface: 'eth1', asn: 65000, passive: true }] });
    await a.start();
    // A stand-in listener: every connection reaches the speaker as if from fe80::2 on a link.
    let zone = 'eth2';
    const server = net.createServer((sock) => {
      Object.defineProperty(sock, 'remoteAddress', { value: `fe80::2%${zone}` });
      (a as unknown as { onConnection(s: net.Socket): void }).onConnection(sock);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const b = speaker({ asn: 65000, routerId: '192.0.2.2', listen: null, peers: [{ address: '127.0.0.1', port, asn: 65001 }] });
    await b.start();
    await waitFor('B refused', () => (b.peerStatus()[0]?.lastNotificationReceived?.subcode ?? 0) === 5);
    expect(a.rejectedConnections().ipv6).toBeGreaterThan(0);
    expect(a.peerStatus()[0]?.neighbour).toEqual({ address: null, source: null });
    zone = 'eth1';
    await waitFor('Established', () => a.peerStatus()[0]?.state === 'Established', 20000);
    expect(a.peerStatus()[0]?.neighbour).toEqual({ address: 'fe80::2%eth1', source: 'connection' });
  });
});
