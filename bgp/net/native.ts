/**
 * The only place in bgp/ that calls the C library: the TCP socket options Node does not
 * set, through koffi (FFI). Everything here works on plain file descriptors; the rest of
 * bgp/ keeps seeing net.Socket and net.Server, which adopt these descriptors (tcp.ts).
 *
 *   socket(2), bind(2), close(2), setsockopt(2), getsockopt(2)
 *   TCP_MD5SIG / TCP_MD5SIG_EXT   RFC 2385 TCP MD5 signatures (linux/tcp.h)
 *   IP_TTL / IPV6_UNICAST_HOPS    RFC 5082 GTSM: send with TTL 255 (linux/in.h, in6.h)
 *   IP_MINTTL / IPV6_MINHOPCOUNT  RFC 5082 GTSM: drop what arrives with less
 *   raw ICMPv6, sendto(2)         RFC 4861 router advertisements on a link (unnumbered peers)
 *   SO_ATTACH_FILTER              the BFD receive sockets' TTL 255 filter (RFC 5881 5)
 *   recvmmsg(2)                   BFD: many datagrams in one call (DatagramBatch)
 *
 * Linux only (the constants and struct layouts are Linux's, checked against the headers
 * of linux-libc-dev 6.1). A failing call throws NativeSocketError with the errno's name.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';
import { getSystemErrorMap } from 'node:util';
import { formatIPv4, formatIPv6, parseAddress } from '../wire/prefix.js';

// <bits/socket.h>, <bits/socket_type.h>, <asm-generic/socket.h>, <netinet/in.h>
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_RAW = 3;
const IPPROTO_ICMPV6 = 58;
const SO_BINDTODEVICE = 25;
// <linux/in6.h>, <netinet/icmp6.h>
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const ICMP6_FILTER = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_ATTACH_FILTER = 26;
const IPPROTO_IP = 0;
const IPPROTO_TCP = 6;
const IPPROTO_IPV6 = 41;
// <linux/in.h>
const IP_TTL = 2;
const IP_MINTTL = 21;
// <linux/in6.h>
const IPV6_UNICAST_HOPS = 16;
const IPV6_V6ONLY = 26;
const IPV6_MINHOPCOUNT = 73;
// <bits/socket.h>, <asm-generic/errno-base.h>
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
// <linux/tcp.h>
const TCP_MD5SIG = 14;
const TCP_MD5SIG_EXT = 32;
const TCP_MD5SIG_FLAG_PREFIX = 0x1;
export const TCP_MD5SIG_MAXKEYLEN = 80;
/**
 * struct tcp_md5sig: sockaddr_storage tcpm_addr (128 bytes), u8 tcpm_flags,
 * u8 tcpm_prefixlen, u16 tcpm_keylen, int tcpm_ifindex, u8 tcpm_key[80].
 */
const MD5SIG_SIZE = 128 + 1 + 1 + 2 + 4 + TCP_MD5SIG_MAXKEYLEN;

export type IpFamily = 4 | 6;

/** A failed system call: the call, the errno name (ENOPROTOOPT) and what it means here. */
export class NativeSocketError extends Error {
  override readonly name = 'NativeSocketError';
  constructor(
    readonly op: string,
    readonly code: string,
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  close(fd: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrLen: number): number;
  ifNameToIndex(name: string): number;
  recvmmsg(fd: number, msgvec: Buffer, vlen: number, flags: number, timeout: null): number;
  errno(): number;
  /** The address of a Buffer's memory, for structs that point at other memory. */
  address(b: Buffer): bigint;
}

let libc: Libc | null = null;
let loadError: Error | null = null;

function load(): Libc {
  if (libc) return libc;
  if (loadError) throw loadError;
  try {
    if (process.platform !== 'linux') throw new Error(`${process.platform} is not Linux`);
    // Loaded on first use: a speaker with no MD5 or GTSM peer never needs it.
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(path: string): { func(decl: string): (...args: unknown[]) => number };
      errno(): number;
      address(b: Buffer): bigint;
    };
    const c = koffi.load('libc.so.6');
    const socket = c.func('int socket(int, int, int)');
    const bind = c.func('int bind(int, const void *, uint32_t)');
    const close = c.func('int close(int)');
    const setsockopt = c.func('int setsockopt(int, int, int, const void *, uint32_t)');
    const getsockopt = c.func('int getsockopt(int, int, int, void *, void *)');
    const sendto = c.func('intptr_t sendto(int, const void *, uintptr_t, int, const void *, uint32_t)');
    const ifNameToIndex = c.func('unsigned int if_nametoindex(const char *)');
    const recvmmsg = c.func('int recvmmsg(int, void *, unsigned int, int, void *)');
    libc = {
      socket: (d, t, p) => socket(d, t, p),
      bind: (fd, a, l) => bind(fd, a, l),
      close: (fd) => close(fd),
      setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l),
      getsockopt: (fd, lv, n, v, l) => getsockopt(fd, lv, n, v, l),
      sendto: (fd, b, l, f, a, al) => Number(sendto(fd, b, l, f, a, al)),
      ifNameToIndex: (name) => ifNameToIndex(name),
      recvmmsg: (fd, m, n, f, t) => recvmmsg(fd, m, n, f, t),
      errno: () => koffi.errno(),
      address: (b) => koffi.address(b),
    };
    return libc;
  } catch (err) {
    loadError = new Error(`the socket options Node lacks (TCP-MD5, GTSM, the BFD TTL filter) need the koffi FFI library on Linux: ${(err as Error).message}`, { cause: err });
    throw loadError;
  }
}

/** Whether the native calls are usable here (Linux with koffi). */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

const ERRNO_NAMES = getSystemErrorMap();

/** What an errno means for the option that failed, in the operator's words. */
function explain(op: string, code: string, text: string): string {
  if (code === 'ENOPROTOOPT' && op.includes('TCP_MD5SIG')) return `${op}: ENOPROTOOPT: this kernel has no TCP-MD5 (CONFIG_TCP_MD5SIG)`;
  if (code === 'ENOPROTOOPT' && /MINTTL|MINHOPCOUNT/.test(op)) return `${op}: ENOPROTOOPT: this kernel cannot filter by TTL (GTSM, RFC 5082)`;
  return `${op}: ${code}: ${text}`;
}

/** The error a failed call `op` with this errno throws (exported for tests: ENOPROTOOPT cannot be provoked here). */
export function errnoError(op: string, errno: number): NativeSocketError {
  const [code, text] = ERRNO_NAMES.get(-errno) ?? [`errno ${errno}`, 'unknown error'];
  return new NativeSocketError(op, code, errno, explain(op, code, text));
}

function check(op: string, r: number): number {
  if (r >= 0) return r;
  throw errnoError(op, load().errno());
}

const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};

function setInt(fd: number, level: number, name: number, value: number, op: string): void {
  const c = load();
  check(op, c.setsockopt(fd, level, name, int32(value), 4));
}

function getInt(fd: number, level: number, name: number, op: string): number {
  const c = load();
  const v = Buffer.alloc(4);
  const len = int32(4);
  check(op, c.getsockopt(fd, level, name, v, len));
  return v.readInt32LE();
}

/** Address bytes in network order; IPv4 on an IPv6 socket as ::ffff:a.b.c.d (RFC 4291 2.5.5.2). */
function addressBytes(address: string, sockFamily: IpFamily): Buffer {
  let a: Buffer;
  try {
    a = parseAddress(address.replace(/%.*$/, ''));
  } catch {
    throw new NativeSocketError('address', 'EINVAL', 22, `${JSON.stringify(address)} is not an IP address`);
  }
  if (a.length === 4) {
    if (sockFamily === 4) return a;
    return Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), a]);
  }
  if (sockFamily === 4) throw new NativeSocketError('address', 'EAFNOSUPPORT', 97, `IPv6 address ${address} on an IPv4 socket`);
  return a;
}

/** struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes), written at `at` in `buf`. */
function writeSockaddr(buf: Buffer, at: number, sockFamily: IpFamily, address: string, port: number): number {
  const bytes = addressBytes(address, sockFamily);
  if (sockFamily === 4) {
    buf.writeUInt16LE(AF_INET, at);
    buf.writeUInt16BE(port, at + 2);
    bytes.copy(buf, at + 4);
    return 16;
  }
  buf.writeUInt16LE(AF_INET6, at);
  buf.writeUInt16BE(port, at + 2);
  bytes.copy(buf, at + 8);
  return 28;
}

export const familyOfAddress = (address: string): IpFamily => (address.includes(':') && !/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? 6 : 4);

/** A TCP socket, non-blocking and close-on-exec (libuv expects both of an adopted fd). */
export function tcpSocket(family: IpFamily): number {
  const c = load();
  return check('socket', c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

export function closeFd(fd: number): void {
  const c = load();
  check('close', c.close(fd));
}

/** A listener's options before bind: address reuse as libuv sets it, and dual stack on "::". */
export function prepareListener(fd: number, family: IpFamily): void {
  setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'setsockopt SO_REUSEADDR');
  // IPv4 peers reach a "::" listener as IPv4-mapped addresses, whatever net.ipv6.bindv6only says.
  if (family === 6) setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, 'setsockopt IPV6_V6ONLY');
}

export function bindTo(fd: number, family: IpFamily, address: string, port: number): void {
  const c = load();
  const sa = Buffer.alloc(28);
  const len = writeSockaddr(sa, 0, family, address, port);
  check(`bind ${address.includes(':') ? `[${address}]` : address}:${port}`, c.bind(fd, sa, len));
}

export interface Md5Key {
  /** The peer's address (or the first address of a range). */
  readonly address: string;
  /** Default: the whole address (32 or 128), with TCP_MD5SIG; shorter uses TCP_MD5SIG_EXT. */
  readonly prefixLength?: number;
  /** null or empty: delete the key (RFC 2385 signing stops for this peer). */
  readonly key: Buffer | null;
}

/**
 * RFC 2385: sign and check every segment to and from `address` with `key`. On a listener
 * the key is copied to the connections it accepts from that address; on a socket about to
 * connect it must be set before connect(), since the SYN is signed too.
 */
export function setMd5Key(fd: number, sockFamily: IpFamily, k: Md5Key): void {
  const key = k.key ?? Buffer.alloc(0);
  if (key.length > TCP_MD5SIG_MAXKEYLEN) {
    const op = `setsockopt TCP_MD5SIG ${k.address}`;
    throw new NativeSocketError(op, 'EINVAL', 22, `${op}: EINVAL: TCP-MD5 key of ${key.length} bytes: at most ${TCP_MD5SIG_MAXKEYLEN}`);
  }
  const peerFamily = familyOfAddress(k.address);
  const full = peerFamily === 4 ? 32 : 128;
  const prefix = k.prefixLength ?? full;
  const b = Buffer.alloc(MD5SIG_SIZE);
  writeSockaddr(b, 0, sockFamily, k.address, 0);
  let name = TCP_MD5SIG;
  if (prefix !== full) {
    name = TCP_MD5SIG_EXT;
    b.writeUInt8(TCP_MD5SIG_FLAG_PREFIX, 128);
    // An IPv4 range on an IPv6 socket is a range of IPv4-mapped addresses.
    b.writeUInt8(peerFamily === 4 && sockFamily === 6 ? prefix + 96 : prefix, 129);
  }
  b.writeUInt16LE(key.length, 130);
  key.copy(b, 136);
  const c = load();
  const op = `setsockopt ${name === TCP_MD5SIG ? 'TCP_MD5SIG' : 'TCP_MD5SIG_EXT'} ${k.address}${prefix !== full ? `/${prefix}` : ''}`;
  const r = c.setsockopt(fd, IPPROTO_TCP, name, b, MD5SIG_SIZE);
  // Deleting a key that is not there: already gone, which is what was asked.
  if (r < 0 && key.length === 0 && load().errno() === 2) return;
  check(op, r);
}

/**
 * The TTL (hop limit) of what this socket sends; -1 restores the system default. On an
 * IPv6 socket both are set: IPv4-mapped peers are sent IPv4 packets.
 */
export function setTtl(fd: number, sockFamily: IpFamily, ttl: number): void {
  if (sockFamily === 6) setInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl, 'setsockopt IPV6_UNICAST_HOPS');
  setInt(fd, IPPROTO_IP, IP_TTL, ttl, 'setsockopt IP_TTL');
}

/** The kernel drops every segment that arrives with a smaller TTL (hop limit); 0 turns it off. */
export function setMinTtl(fd: number, sockFamily: IpFamily, minTtl: number): void {
  if (sockFamily === 6) setInt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, minTtl, 'setsockopt IPV6_MINHOPCOUNT');
  setInt(fd, IPPROTO_IP, IP_MINTTL, minTtl, 'setsockopt IP_MINTTL');
}

/** For tests and status: the minimum TTL and the TTL a socket sends with. */
export function socketTtls(fd: number, sockFamily: IpFamily): { ttl: number; minTtl: number; hopLimit?: number; minHopCount?: number } {
  return {
    ttl: getInt(fd, IPPROTO_IP, IP_TTL, 'getsockopt IP_TTL'),
    minTtl: getInt(fd, IPPROTO_IP, IP_MINTTL, 'getsockopt IP_MINTTL'),
    ...(sockFamily === 6
      ? {
          hopLimit: getInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 'getsockopt IPV6_UNICAST_HOPS'),
          minHopCount: getInt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, 'getsockopt IPV6_MINHOPCOUNT'),
        }
      : {}),
  };
}

/**
 * The descriptor under a net.Socket or net.Server (libuv's, on Linux; -1 when it has none).
 * Node has no public accessor; `_handle.fd` is what its own tests and libraries use.
 */
export function fdOf(s: net.Socket | net.Server): number {
  const h = (s as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof h?.fd === 'number' ? h.fd : -1;
}

/**
 * SO_ATTACH_FILTER: a classic BPF program (struct sock_filter[], 8 octets an instruction)
 * on a socket; from then on the kernel queues only what the program accepts.
 */
export function attachSocketFilter(fd: number, program: Buffer): void {
  const c = load();
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on LP64: 16 octets.
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(program.length / 8, 0);
  fprog.writeBigUInt64LE(c.address(program), 8);
  check('setsockopt(SO_ATTACH_FILTER)', c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.length));
}

/** The interface's index; 0 when there is no such interface. */
export function interfaceIndex(name: string): number {
  return load().ifNameToIndex(name) >>> 0;
}

/**
 * A raw ICMPv6 socket that sends on one interface only (SO_BINDTODEVICE, needs
 * CAP_NET_RAW), with hop limit 255 on multicast (RFC 4861 6.1.2: a receiver drops a
 * router advertisement that arrives with any other hop limit), no multicast loopback (our
 * own kernel would take our advertisement for a router's and list us as our own
 * neighbour) and a filter that lets no ICMPv6 message in (it only sends). The kernel
 * fills in the ICMPv6 checksum (RFC 3542 3.1).
 */
export function icmp6Sender(iface: string): number {
  const c = load();
  const fd = check('socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)', c.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6));
  try {
    const name = Buffer.from(`${iface}\0`, 'latin1');
    check(`setsockopt SO_BINDTODEVICE ${iface}`, c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length));
    setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, 'setsockopt IPV6_MULTICAST_HOPS');
    setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, 'setsockopt IPV6_MULTICAST_LOOP');
    // struct icmp6_filter: 256 bits, a set bit blocks that type.
    check('setsockopt ICMP6_FILTER', c.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, Buffer.alloc(32, 0xff), 32));
  } catch (err) {
    c.close(fd);
    throw err;
  }
  return fd;
}

/** sendto(2) of one datagram to a link-scoped IPv6 address on interface `ifindex`. */
export function sendTo6(fd: number, data: Buffer, address: string, ifindex: number): void {
  const c = load();
  const sa = Buffer.alloc(28);
  writeSockaddr(sa, 0, 6, address, 0);
  sa.writeUInt32LE(ifindex >>> 0, 24); // sin6_scope_id
  check(`sendto ${address}%${ifindex}`, c.sendto(fd, data, data.length, 0, sa, 28));
}

/**
 * recvmmsg(2) into memory set up once: up to `capacity` datagrams of up to `slot` octets
 * (a longer one is cut there), each with its source address, in one call that does not
 * wait. Node's dgram reads one
 * datagram per event-loop callback; the BFD receiver reads what queued up between two
 * wake-ups with one of these (bgp/bfd/rx.ts).
 *
 * Layout (LP64): struct mmsghdr is a struct msghdr (name, namelen, iov, iovlen, control,
 * controllen, flags: 56 octets) and the received length (u32), 64 octets in all; one
 * struct iovec (base, len: 16 octets) and one sockaddr_in6 (28 octets) per datagram.
 */
export class DatagramBatch {
  private readonly msgs: Buffer;
  private readonly names: Buffer;
  private readonly iovs: Buffer;
  private readonly data: Buffer;
  /** Per slot, a view of its first 24 octets: a BFD Control packet without authentication, the usual datagram. */
  private readonly views24: Buffer[] = [];
  /** IPv4 sources as text, by address: the same few peers send again and again. */
  private readonly v4Names = new Map<number, string>();
  /** Datagrams the last receive() returned. */
  count = 0;

  constructor(
    readonly capacity = 64,
    readonly slot = 256,
  ) {
    const c = load();
    this.msgs = Buffer.alloc(capacity * 64);
    this.names = Buffer.alloc(capacity * 28);
    this.iovs = Buffer.alloc(capacity * 16);
    this.data = Buffer.alloc(capacity * slot);
    // Node never moves a Buffer's memory, so the pointers written here stay valid.
    const names = c.address(this.names);
    const iovs = c.address(this.iovs);
    const data = c.address(this.data);
    for (let i = 0; i < capacity; i++) {
      this.iovs.writeBigUInt64LE(data + BigInt(i * slot), i * 16);
      this.iovs.writeBigUInt64LE(BigInt(slot), i * 16 + 8);
      const m = i * 64;
      this.msgs.writeBigUInt64LE(names + BigInt(i * 28), m);
      this.msgs.writeUInt32LE(28, m + 8);
      this.msgs.writeBigUInt64LE(iovs + BigInt(i * 16), m + 16);
      this.msgs.writeBigUInt64LE(1n, m + 24);
      this.views24.push(this.data.subarray(i * slot, i * slot + 24));
    }
  }

  /** Reads what is queued on `fd` without waiting: how many datagrams (0 when none). Throws NativeSocketError. */
  receive(fd: number): number {
    const c = load();
    // msg_namelen is value-result: the kernel shortened it for the last call's datagrams.
    for (let i = 0; i < this.count; i++) this.msgs.writeUInt32LE(28, i * 64 + 8);
    this.count = 0;
    const r = c.recvmmsg(fd, this.msgs, this.capacity, MSG_DONTWAIT, null);
    if (r < 0) {
      const errno = c.errno();
      if (errno === EAGAIN) return 0;
      throw errnoError('recvmmsg', errno);
    }
    this.count = r;
    return r;
  }

  /** Datagram i's octets: a view into the batch, rewritten by the next receive(). */
  datagram(i: number): Buffer {
    const len = this.msgs.readUInt32LE(i * 64 + 56);
    if (len === 24) return this.views24[i]!;
    return this.data.subarray(i * this.slot, i * this.slot + Math.min(len, this.slot));
  }

  /** Datagram i's source address, as text (RFC 5952 for IPv6). */
  source(i: number): string {
    const at = i * 28;
    if (this.names.readUInt16LE(at) !== AF_INET) return formatIPv6(this.names, at + 8);
    const key = this.names.readUInt32BE(at + 4);
    let name = this.v4Names.get(key);
    if (name === undefined) {
      // Bounded: a flood from many sources costs a format each, not memory.
      if (this.v4Names.size >= 4096) this.v4Names.clear();
      name = formatIPv4(this.names, at + 4);
      this.v4Names.set(key, name);
    }
    return name;
  }
}

