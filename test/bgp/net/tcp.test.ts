/**
 * bgp/net over real sockets on the loopback: TCP-MD5 (RFC 2385) keys on a natively made
 * listener and on outgoing sockets that Node adopts, and GTSM (RFC 5082) minimum TTLs.
 * A refused connection is proven by the kernel's own counters (/proc/net/netstat TcpExt:
 * TCPMD5Failure wrong key, TCPMD5NotFound unsigned to a keyed socket, TCPMD5Unexpected
 * signed to an unkeyed one, TCPMinTTLDrop under GTSM) going up while nothing is accepted.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { errnoError, fdOf, socketTtls } from '../../../bgp/net/native.js';
import { REDACTED, Secret, SecureListener, secureConnect, type ListenerPeer } from '../../../bgp/net/index.js';
import { waitFor } from '../speaker/tcp-helpers.js';

function tcpExt(): Record<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

interface Listening {
  readonly l: SecureListener;
  readonly port: number;
  readonly accepted: net.Socket[];
}

async function listen(address: string, peers: readonly ListenerPeer[]): Promise<Listening> {
  const l = SecureListener.open(address, 0, peers);
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    const peer = peers.find((p) => s.remoteAddress?.endsWith(p.address));
    if (peer) l.accepted(s, peer);
    accepted.push(s);
    s.on('data', (d) => s.write(d)); // echo
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen({ fd: l.fd }, r));
  closers.push(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  return { l, port: (server.address() as net.AddressInfo).port, accepted };
}

function client(o: Parameters<typeof secureConnect>[0]): { sock: net.Socket; connected: () => boolean } {
  const sock = secureConnect(o);
  let up = false;
  sock.on('connect', () => (up = true));
  sock.on('error', () => undefined);
  closers.push(() => sock.destroy());
  return { sock, connected: () => up };
}

async function echo(sock: net.Socket, text: string): Promise<string> {
  const got = new Promise<string>((r) => sock.once('data', (d) => r(String(d))));
  sock.write(text);
  return got;
}

/** Wait until the kernel counter `name` has gone up from `before`. */
async function counted(name: string, before: Record<string, number>): Promise<void> {
  await waitFor(`${name} to go up`, () => (tcpExt()[name] ?? 0) > (before[name] ?? 0));
}

const key = new Secret('s3cret-md5');

describe('TCP-MD5 (RFC 2385) on the loopback', () => {
  it('a signed connection with the same key on both sides carries data', async () => {
    const { port, accepted } = await listen('127.0.0.1', [{ address: '127.0.0.1', password: key }]);
    const c = client({ host: '127.0.0.1', port, password: new Secret('s3cret-md5') });
    await waitFor('connect', c.connected);
    expect(await echo(c.sock, 'hello')).toBe('hello');
    expect(accepted).toHaveLength(1);
    expect(c.sock.localAddress).toBe('127.0.0.1');
  });

  it('a wrong key is dropped by the kernel, silently: nothing accepted, no answer', async () => {
    const { port, accepted } = await listen('127.0.0.1', [{ address: '127.0.0.1', password: key }]);
    const before = tcpExt();
    const c = client({ host: '127.0.0.1', port, password: new Secret('not-the-key') });
    await counted('TCPMD5Failure', before);
    expect(c.connected()).toBe(false);
    expect(accepted).toHaveLength(0);
  });

  it('an unsigned SYN to a keyed listener is dropped (TCPMD5NotFound)', async () => {
    const { port, accepted } = await listen('127.0.0.1', [{ address: '127.0.0.1', password: key }]);
    const before = tcpExt();
    const plain = net.connect({ host: '127.0.0.1', port });
    let up = false;
    plain.on('connect', () => (up = true)).on('error', () => undefined);
    closers.push(() => plain.destroy());
    await counted('TCPMD5NotFound', before);
    expect(up).toBe(false);
    expect(accepted).toHaveLength(0);
  });

  it('keys change on the listener without touching connections it already accepted', async () => {
    const peers: ListenerPeer[] = [{ address: '127.0.0.1', password: key }];
    const { l, port, accepted } = await listen('127.0.0.1', peers);
    const first = client({ host: '127.0.0.1', port, password: key });
    await waitFor('first connect', first.connected);

    // Key removed (keylen 0): signed SYNs are now unexpected, unsigned ones welcome.
    l.setPeers([{ address: '127.0.0.1' }]);
    expect(l.holdsKey(peers[0]!)).toBe(false);
    const before = tcpExt();
    const signed = client({ host: '127.0.0.1', port, password: key });
    await counted('TCPMD5Unexpected', before);
    expect(signed.connected()).toBe(false);
    const plain = client({ host: '127.0.0.1', port });
    await waitFor('unsigned connect', plain.connected);
    // The first connection keeps its own copy of the key.
    expect(await echo(first.sock, 'still here')).toBe('still here');

    // A new key: the old one no longer opens the door, the new one does.
    const rotated = new Secret('rotated');
    l.setPeers([{ address: '127.0.0.1', password: rotated }]);
    expect(l.holdsKey({ address: '127.0.0.1', password: rotated })).toBe(true);
    expect(l.holdsKey({ address: '127.0.0.1', password: key })).toBe(false);
    const b2 = tcpExt();
    const old = client({ host: '127.0.0.1', port, password: key });
    await counted('TCPMD5Failure', b2);
    expect(old.connected()).toBe(false);
    const fresh = client({ host: '127.0.0.1', port, password: rotated });
    await waitFor('connect with the new key', fresh.connected);
    expect(await echo(fresh.sock, 'new')).toBe('new');
    expect(accepted).toHaveLength(3); // first, plain, fresh
  });

  it('a dual-stack "::" listener holds keys for IPv4 (mapped) and IPv6 peers', async () => {
    const k6 = new Secret('six');
    const { port } = await listen('::', [
      { address: '127.0.0.1', password: key },
      { address: '::1', password: k6 },
    ]);
    const c4 = client({ host: '127.0.0.1', port, password: key });
    const c6 = client({ host: '::1', port, password: k6 });
    await waitFor('both connect', () => c4.connected() && c6.connected());
    expect(await echo(c6.sock, 'v6')).toBe('v6');
    const before = tcpExt();
    const wrong6 = client({ host: '::1', port, password: key });
    await counted('TCPMD5Failure', before);
    expect(wrong6.connected()).toBe(false);
  });

  it('a range of peers shares one key (TCP_MD5SIG_EXT with a prefix length)', async () => {
    const { port } = await listen('127.0.0.1', [{ address: '127.0.0.0', prefixLength: 8, password: key }]);
    const c = client({ host: '127.0.0.1', port, localAddress: '127.0.0.7', password: key });
    await waitFor('connect from inside the range', c.connected);
    expect(c.sock.localAddress).toBe('127.0.0.7');
    expect(await echo(c.sock, 'range')).toBe('range');
  });
});

describe('GTSM (RFC 5082) on the loopback', () => {
  it('the listener drops a SYN sent with the default TTL; one sent with TTL 255 gets in', async () => {
    const { l, port, accepted } = await listen('127.0.0.1', [{ address: '127.0.0.1', ttlSecurityHops: 1 }]);
    expect(socketTtls(l.fd, 4)).toMatchObject({ ttl: 255, minTtl: 255 });
    const before = tcpExt();
    const plain = net.connect({ host: '127.0.0.1', port });
    let up = false;
    plain.on('connect', () => (up = true)).on('error', () => undefined);
    closers.push(() => plain.destroy());
    await counted('TCPMinTTLDrop', before);
    expect(up).toBe(false);
    expect(accepted).toHaveLength(0);

    const c = client({ host: '127.0.0.1', port, ttlSecurityHops: 1 });
    await waitFor('GTSM connect', c.connected);
    expect(socketTtls(fdOf(c.sock), 4)).toMatchObject({ ttl: 255, minTtl: 255 });
    await waitFor('accepted', () => accepted.length === 1);
    expect(socketTtls(fdOf(accepted[0]!), 4)).toMatchObject({ ttl: 255, minTtl: 255 });
    expect(await echo(c.sock, 'gtsm')).toBe('gtsm');
  });

  it('hops: n accepts TTL 255 - (n - 1); the listener keeps the lowest minimum of its peers', async () => {
    const { l } = await listen('::', [
      { address: '127.0.0.1', ttlSecurityHops: 3 },
      { address: '::1', ttlSecurityHops: 1 },
    ]);
    expect(socketTtls(l.fd, 6)).toMatchObject({ ttl: 255, minTtl: 253, hopLimit: 255, minHopCount: 253 });
    // A peer without GTSM: the listener cannot filter by TTL any more (each accepted connection still is).
    l.setPeers([{ address: '127.0.0.1', ttlSecurityHops: 3 }, { address: '::1' }]);
    expect(socketTtls(l.fd, 6)).toMatchObject({ ttl: 255, minTtl: 0, minHopCount: 0 });
    // No GTSM at all: the system's default TTL again.
    l.setPeers([{ address: '::1' }]);
    expect(socketTtls(l.fd, 6).ttl).toBeLessThan(255);
  });
});

describe('errors and secrets', () => {
  it('a kernel without TCP-MD5 is named in the error', () => {
    const e = errnoError('setsockopt TCP_MD5SIG 203.0.113.1', 92);
    expect(e.code).toBe('ENOPROTOOPT');
    expect(e.message).toBe('setsockopt TCP_MD5SIG 203.0.113.1: ENOPROTOOPT: this kernel has no TCP-MD5 (CONFIG_TCP_MD5SIG)');
  });

  it('a failing call throws the errno by name (bind to an address this host does not have)', () => {
    expect(() => SecureListener.open('198.51.100.77', 0, [])).toThrow(/^bind 198\.51\.100\.77:0: EADDRNOTAVAIL: /);
  });

  it('a key longer than 80 bytes is refused before the kernel sees it', async () => {
    const { port } = await listen('127.0.0.1', []);
    expect(() => secureConnect({ host: '127.0.0.1', port, password: new Secret('x'.repeat(81)) })).toThrow(/at most 80/);
  });

  it('a Secret prints as <redacted> everywhere but bytes()', () => {
    const s = new Secret('hunter2');
    const holder = { peer: { address: '203.0.113.1', password: s } };
    expect(JSON.stringify(holder)).not.toContain('hunter2');
    expect(JSON.stringify(holder)).toContain(REDACTED);
    expect(inspect(holder, { depth: 5 })).not.toContain('hunter2');
    expect(`${s}`).toBe(REDACTED);
    expect(s.bytes().toString()).toBe('hunter2');
    expect(s.equals(new Secret('hunter2'))).toBe(true);
    expect(s.equals(new Secret('hunter3'))).toBe(false);
    expect(s.fingerprint()).not.toBe(new Secret('hunter3').fingerprint());
  });
});
