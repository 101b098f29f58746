/**
 * Two Speakers over real TCP on the loopback with TCP-MD5 and GTSM: A listens on
 * 127.0.0.1 and peers passively with 127.0.0.2, B connects from 127.0.0.2. Same password
 * → Established; a wrong one → never Established, and after a few unanswered connects B's
 * status says to check the password; a reload that fixes the password brings the session
 * up and leaves A's other peer alone. GTSM on both sides → Established.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../../bgp/net/index.js';
import { MD5_HINT, Speaker, UNANSWERED_HINT } from '../../../bgp/speaker/index.js';
import type { PeerConfig, SpeakerConfig } from '../../../bgp/speaker/index.js';
import { freePort, nextHops, waitFor } from './tcp-helpers.js';

const running: Speaker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('test done')));
});

function speakerA(port: number, peer: Partial<PeerConfig>, more: PeerConfig[] = []): Speaker {
  const cfg: SpeakerConfig = {
    asn: 65001,
    routerId: '192.0.2.1',
    listen: { address: '127.0.0.1', port },
    holdTime: 30,
    connectRetryTime: 1,
    peers: [{ address: '127.0.0.2', asn: 65002, passive: true, ...peer }, ...more],
    importFilter: [],
  };
  const s = new Speaker(cfg, { nextHops });
  running.push(s);
  return s;
}

function bPeer(portA: number, peer: Partial<PeerConfig>): PeerConfig {
  return { address: '127.0.0.1', port: portA, localAddress: '127.0.0.2', asn: 65001, ...peer };
}

function speakerB(portA: number, peer: Partial<PeerConfig>): Speaker {
  const cfg: SpeakerConfig = {
    asn: 65002,
    routerId: '192.0.2.2',
    listen: null,
    holdTime: 30,
    connectRetryTime: 1,
    peers: [bPeer(portA, peer)],
    importFilter: [],
  };
  const s = new Speaker(cfg, { nextHops });
  running.push(s);
  return s;
}

const peer = (s: Speaker, address: string) => s.peerStatus().find((p) => p.address === address);
/** A's view of B (127.0.0.2) or B's of A: each speaker's first configured peer, by address. */
const state = (s: Speaker): string | undefined => peer(s, s === running[0] ? '127.0.0.2' : '127.0.0.1')?.state;

describe('Speaker with TCP-MD5 and GTSM', () => {
  it('the same password on both sides: Established, and status shows md5 without the password', async () => {
    const port = await freePort();
    const a = speakerA(port, { password: new Secret('same') });
    await a.start();
    const b = speakerB(port, { password: new Secret('same') });
    await b.start();
    await waitFor('Established', () => state(a) === 'Established' && state(b) === 'Established');
    const st = b.peerStatus()[0]!;
    expect(st.md5).toBe(true);
    expect(st.ttlSecurityHops).toBeNull();
    expect(JSON.stringify(b.peerStatus())).not.toContain('same');
  });

  it('a wrong password never reaches Established; status says why; a reload with the right one fixes it', async () => {
    const port = await freePort();
    // A's second peer (a passive, unsecured one) must not notice B's reload.
    const other: PeerConfig = { address: '127.0.0.3', asn: 65003, passive: true };
    const a = speakerA(port, { password: new Secret('right') }, [other]);
    await a.start();
    const b = speakerB(port, { password: new Secret('wrong') });
    await b.start();
    await waitFor(
      'the MD5 hint',
      () => (b.peerStatus()[0]?.lastError ?? '').startsWith(MD5_HINT),
      30_000,
    );
    expect(b.peerStatus()[0]!.lastError).toBe(`${MD5_HINT} (${UNANSWERED_HINT} connection attempts unanswered)`);
    expect(state(a)).not.toBe('Established');
    expect(a.peerStatus()[0]!.messages.in.open).toBe(0);
    const otherSince = peer(a, '127.0.0.3')!.since;

    await b.setPeers([bPeer(port, { password: new Secret('right') })]);
    await waitFor('Established after the reload', () => state(a) === 'Established' && state(b) === 'Established');
    expect(b.peerStatus()[0]!.lastError).toBeNull();

    // A's listener keys change on reload: the password of 127.0.0.2 rotated there too.
    await a.setPeers([{ address: '127.0.0.2', asn: 65002, passive: true, password: new Secret('rotated') }, other]);
    await waitFor('A dropped the old session', () => state(a) !== 'Established');
    await b.setPeers([bPeer(port, { password: new Secret('rotated') })]);
    await waitFor('Established with the rotated password', () => state(a) === 'Established' && state(b) === 'Established');
    expect(peer(a, '127.0.0.3')!.since).toBe(otherSince);
  });

  it('fails closed: a peer whose key the listener could not take is refused, and status says why', async () => {
    const port = await freePort();
    // 81 bytes: more than the kernel takes (the config refuses it; the speaker API does not).
    const a = speakerA(port, { password: new Secret('k'.repeat(81)) });
    await a.start();
    expect(peer(a, '127.0.0.2')!.lastError).toMatch(/^listener: setsockopt TCP_MD5SIG 127\.0\.0\.2: EINVAL: TCP-MD5 key of 81 bytes: at most 80/);
    // B connects unsigned: the kernel would let it in (no key for it), the speaker must not.
    const b = speakerB(port, {});
    await b.start();
    await waitFor('A refused the connection', () => (peer(a, '127.0.0.2')!.lastError ?? '').startsWith('incoming connection refused: the listener holds no TCP-MD5 key for 127.0.0.2'));
    await waitFor('B was told', () => (peer(b, '127.0.0.1')!.lastError ?? '').includes('Connection Rejected'));
    expect(state(a)).not.toBe('Established');
    expect(peer(a, '127.0.0.2')!.messages.in.open).toBe(0);
  });

  it('GTSM on both sides (hops 1): Established over TTL 255', async () => {
    const port = await freePort();
    const a = speakerA(port, { ttlSecurity: { hops: 1 } });
    await a.start();
    const b = speakerB(port, { ttlSecurity: { hops: 1 }, password: new Secret('both') });
    // A has no password for B: B's signed SYNs are dropped. Give A the key by reload.
    await b.start();
    await a.setPeers([{ address: '127.0.0.2', asn: 65002, passive: true, ttlSecurity: { hops: 1 }, password: new Secret('both') }]);
    await waitFor('Established', () => state(a) === 'Established' && state(b) === 'Established');
    expect(peer(a, '127.0.0.2')!.ttlSecurityHops).toBe(1);
  });
});
