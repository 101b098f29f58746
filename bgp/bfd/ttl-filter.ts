/**
 * The TTL check of bgp/bfd: a classic BPF socket filter (SO_ATTACH_FILTER) on the
 * BFD receive sockets that passes only packets whose IP TTL / IPv6 hop limit is 255
 * (RFC 5881 5, GTSM as in RFC 5082). Node's dgram cannot ask for IP_RECVTTL, and a
 * filter on the socket itself needs no firewall rule and cannot drift from it: a packet
 * that crossed a router (TTL 254 or less) is dropped by the kernel before it is queued.
 *
 * The filter reads the network header through SKF_NET_OFF, so it works on a UDP socket
 * whose filter otherwise starts at the transport header:
 *   ldb [SKF_NET_OFF + off]   off: 8 = IPv4 TTL, 7 = IPv6 Hop Limit
 *   jeq #255, accept, drop
 *   accept: ret #0xffffffff
 *   drop:   ret #0
 *
 * The program is built here; the setsockopt(2) itself is bgp/net/native.ts's, the one
 * module that makes native calls. The socket's descriptor comes from Node's handle.
 */
import type dgram from 'node:dgram';
import { attachSocketFilter } from '../net/native.js';

const SKF_NET_OFF = -0x100000;
const BPF_LD_B_ABS = 0x30;
const BPF_JMP_JEQ_K = 0x15;
const BPF_RET_K = 0x06;

export class BfdNativeError extends Error {
  override readonly name = 'BfdNativeError';
}

/** The four instructions above, as struct sock_filter[] (code u16, jt u8, jf u8, k u32). */
export function ttl255Program(family: 'udp4' | 'udp6'): Buffer {
  const off = family === 'udp4' ? 8 : 7;
  const ins: [number, number, number, number][] = [
    [BPF_LD_B_ABS, 0, 0, (SKF_NET_OFF + off) >>> 0],
    [BPF_JMP_JEQ_K, 0, 1, 255],
    [BPF_RET_K, 0, 0, 0xffffffff],
    [BPF_RET_K, 0, 0, 0],
  ];
  const b = Buffer.alloc(8 * ins.length);
  ins.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k, i * 8 + 4);
  });
  return b;
}

/** The descriptor of a bound dgram socket (Node keeps it in the socket's internal state). */
export function socketFd(sock: dgram.Socket): number {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym ? (sock as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>)[sym] : undefined;
  const fd = state?.handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new BfdNativeError('cannot find the descriptor of the BFD socket (is it bound?)');
  return fd;
}

/** Only TTL / hop limit 255 reaches this socket from now on. Throws BfdNativeError when the kernel refuses. */
export function attachTtl255Filter(sock: dgram.Socket, family: 'udp4' | 'udp6'): void {
  try {
    attachSocketFilter(socketFd(sock), ttl255Program(family));
  } catch (cause) {
    if (cause instanceof BfdNativeError) throw cause;
    throw new BfdNativeError(`cannot attach the BFD TTL filter: ${(cause as Error).message}`, { cause });
  }
}
