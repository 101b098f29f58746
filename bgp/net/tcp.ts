/**
 * BGP's TCP connections with RFC 2385 TCP-MD5 and RFC 5082 GTSM, as ordinary Node
 * sockets: the descriptor is made and configured natively (native.ts), then Node adopts
 * it, so the session code above sees a net.Socket (outgoing) or a net.Server (incoming)
 * like any other.
 *
 * GTSM (RFC 5082 3): we send with TTL (hop limit) 255, and the kernel drops what arrives
 * from the peer with a TTL below 255 - (hops - 1). Outgoing connections get both before
 * connect(). Incoming: Linux has one minimum TTL per socket, not per peer, so the
 * listener carries the lowest minimum any configured peer allows (0 when some peer has no
 * GTSM) and its TTL 255 (the SYN-ACK must pass the peer's own check); each accepted
 * connection from a GTSM peer then gets that peer's own minimum at once, before its OPEN
 * is read. This is what FRR (bgp_accept → bgp_set_socket_ttl) and BIRD (the accepted
 * socket's min_ttl) do. Where every peer has GTSM the listener's minimum drops far SYNs
 * before any connection exists; with a mix of peers, segments queued between the
 * handshake and accept are not re-checked, so MD5 is the stronger guard there.
 */
import net from 'node:net';
import type { ConnectOptions } from '../session/types.js';
import { bindTo, closeFd, familyOfAddress, fdOf, prepareListener, setMd5Key, setMinTtl, setTtl, tcpSocket, type IpFamily } from './native.js';
import type { Secret } from './secret.js';

/** RFC 5082 3: GTSM senders always use the maximum TTL. */
export const GTSM_TTL = 255;

/** RFC 5082 3: accept only TTL >= 255 - (hops - 1); one hop (directly connected) is 255. */
export const gtsmMinTtl = (hops: number): number => GTSM_TTL - (hops - 1);

export interface TcpSecurity {
  /** RFC 2385 key for this peer. */
  readonly password?: Secret;
  /** RFC 5082: the peer is at most this many hops away (1: directly connected). */
  readonly ttlSecurityHops?: number;
}

export const hasSecurity = (s: TcpSecurity): boolean => s.password !== undefined || s.ttlSecurityHops !== undefined;

/** The options GTSM and MD5 need on a socket that will talk to `peer`. */
function secureFd(fd: number, family: IpFamily, peer: string, s: TcpSecurity): void {
  if (s.password) setMd5Key(fd, family, { address: peer, key: s.password.bytes() });
  if (s.ttlSecurityHops !== undefined) {
    setTtl(fd, family, GTSM_TTL);
    setMinTtl(fd, family, gtsmMinTtl(s.ttlSecurityHops));
  }
}

/**
 * connect() with the MD5 key and GTSM in place before the SYN (RFC 2385 signs the SYN
 * too). Throws NativeSocketError when an option cannot be set (ENOPROTOOPT: no TCP-MD5 in
 * this kernel).
 *
 * Why this gives a working net.Socket: `new net.Socket({ fd })` wraps the descriptor in a
 * libuv TCP handle (uv_tcp_open), and Socket.prototype.connect keeps a handle it already
 * has (it creates one only `if (!this._handle)`); uv_tcp_connect then connects that very
 * descriptor, since it makes a socket only when the handle has none. The localAddress bind
 * is Node's own, on the same descriptor. test/bgp/net/tcp.test.ts connects with matching
 * and mismatching keys to show the key really is on the wire.
 */
export function secureConnect(o: ConnectOptions & TcpSecurity): net.Socket {
  const family = familyOfAddress(o.host);
  const fd = tcpSocket(family);
  let sock: net.Socket;
  try {
    secureFd(fd, family, o.host, o);
    sock = new net.Socket({ fd, readable: true, writable: true });
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return sock.connect({ host: o.host, port: o.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
}

/** A configured peer as the listener sees it. */
export interface ListenerPeer extends TcpSecurity {
  readonly address: string;
  /** A range of peers sharing one key (TCP_MD5SIG_EXT); default: the one address. */
  readonly prefixLength?: number;
}

interface InstalledKey {
  readonly address: string;
  readonly prefixLength: number | undefined;
  readonly fingerprint: string;
}

const keyId = (p: { address: string; prefixLength?: number | undefined }): string => `${p.address}/${p.prefixLength ?? 'host'}`;

/**
 * The listening socket: made natively so that the MD5 keys of every configured peer are in
 * place before the first SYN can arrive, then handed to `server.listen({ fd })` (Node
 * calls listen(2) on it and owns it from then on: server.close() closes it).
 */
export class SecureListener {
  readonly fd: number;
  readonly family: IpFamily;
  private readonly keys = new Map<string, InstalledKey>();
  private readonly failed = new Map<string, string>();

  private constructor(fd: number, family: IpFamily) {
    this.fd = fd;
    this.family = family;
  }

  /** socket, options, keys, bind: ready for server.listen({ fd }). Throws NativeSocketError. */
  static open(address: string, port: number, peers: readonly ListenerPeer[]): SecureListener {
    const family = familyOfAddress(address);
    const fd = tcpSocket(family);
    const l = new SecureListener(fd, family);
    try {
      prepareListener(fd, family);
      l.setPeers(peers);
      bindTo(fd, family, address, port);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
    return l;
  }

  /**
   * Make the keys and GTSM options match `peers`: keys of peers gone or without a
   * password are deleted (keylen 0), new or changed ones set; other peers' keys, and the
   * connections already accepted (each has its own copy), are not touched. A key that
   * cannot be set is reported by `problem(address)`, and `holdsKey` says false for it.
   */
  setPeers(peers: readonly ListenerPeer[]): void {
    // An IPv4-only listener never sees IPv6 peers (and cannot hold their keys).
    const reachable = peers.filter((p) => this.family === 6 || familyOfAddress(p.address) === 4);
    const want = new Map<string, ListenerPeer>();
    for (const p of reachable) if (p.password) want.set(keyId(p), p);
    this.failed.clear();
    for (const [id, k] of [...this.keys]) {
      if (want.has(id)) continue;
      setMd5Key(this.fd, this.family, { address: k.address, ...(k.prefixLength !== undefined ? { prefixLength: k.prefixLength } : {}), key: null });
      this.keys.delete(id);
    }
    for (const [id, p] of want) {
      const fingerprint = p.password!.fingerprint();
      if (this.keys.get(id)?.fingerprint === fingerprint) continue;
      try {
        setMd5Key(this.fd, this.family, { address: p.address, ...(p.prefixLength !== undefined ? { prefixLength: p.prefixLength } : {}), key: p.password!.bytes() });
        this.keys.set(id, { address: p.address, prefixLength: p.prefixLength, fingerprint });
      } catch (err) {
        // The old key (if any) may still be there: forget it, so this peer is refused
        // (holdsKey) rather than accepted with a key nobody configured.
        this.keys.delete(id);
        this.failed.set(id, (err as Error).message);
      }
    }
    const gtsm = reachable.some((p) => p.ttlSecurityHops !== undefined);
    // -1: the system's default TTL again, once no peer asks for GTSM.
    setTtl(this.fd, this.family, gtsm ? GTSM_TTL : -1);
    const mins = reachable.map((p) => (p.ttlSecurityHops === undefined ? 0 : gtsmMinTtl(p.ttlSecurityHops)));
    setMinTtl(this.fd, this.family, mins.length === 0 ? 0 : Math.min(...mins));
  }

  /** Whether the listener signs and checks segments of `peer` with its configured key. */
  holdsKey(peer: ListenerPeer): boolean {
    return this.keys.get(keyId(peer))?.fingerprint === peer.password?.fingerprint();
  }

  /** Why the key of `peer` could not be set, if it could not. */
  problem(peer: ListenerPeer): string | undefined {
    return this.failed.get(keyId(peer));
  }

  /** GTSM on a connection accepted from `peer`, before anything is read from it (see the header). */
  accepted(sock: net.Socket, peer: ListenerPeer): void {
    if (peer.ttlSecurityHops === undefined) return;
    const fd = fdOf(sock);
    if (fd < 0) throw new Error('accepted connection has no descriptor');
    setTtl(fd, this.family, GTSM_TTL);
    setMinTtl(fd, this.family, gtsmMinTtl(peer.ttlSecurityHops));
  }
}
