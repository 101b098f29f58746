/**
 * BFD over UDP, single hop (RFC 5881): one receive socket per address family on port
 * 3784, and per session a transmit socket bound to its own source port in 49152-65535,
 * kept for the life of the session (RFC 5881 4: "the same UDP source port ... for all
 * BFD Control packets associated with a particular session"), sending with TTL / hop
 * limit 255. Receive sockets accept only TTL / hop limit 255 (native.ts).
 *
 * Demultiplexing (RFC 5880 6.8.6, RFC 5881 3): a packet with Your Discriminator set
 * selects the session with that local discriminator; one with 0 (the peer has not heard
 * from us yet) selects the session by its source address. A packet for no session, or
 * from an address that is not that session's peer, is discarded and counted.
 *
 * Timers: the sessions share one scheduler (scheduler.ts), so the process wakes for the
 * earliest transmit or detection deadline of all of them and sends every packet falling
 * due within a few ms in that one wake-up.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Clock } from '../session/types.js';
import { systemClock } from '../session/clock.js';
import { BfdPacketError, decodeControl, type BfdCheck, type ControlPacketSlot } from './codec.js';
import { BfdReceiver } from './rx.js';
import { BfdScheduler } from './scheduler.js';
import { attachTtl255Filter } from './ttl-filter.js';
import { BfdSession, type BfdTimers } from './session.js';
import { BFD_PORT, BFD_TTL, SOURCE_PORT_MAX, SOURCE_PORT_MIN } from './types.js';

export type UdpFamily = 'udp4' | 'udp6';

export interface BfdRunnerOptions {
  /** Where we listen (default 3784; tests and benches running two runners on one host use others). */
  readonly listenPort?: number;
  /** Where peers listen (default 3784). */
  readonly peerPort?: number;
  /** Address the receive sockets bind to, per family (default the wildcard). */
  readonly listenAddress?: Partial<Record<UdpFamily, string>>;
}

export interface BfdRunnerDeps {
  readonly clock: Clock;
  readonly random: () => number;
  /** Makes the receive socket accept TTL / hop limit 255 only (default: the native filter). */
  readonly ttlFilter: (sock: dgram.Socket, family: UdpFamily) => void;
}

export interface BfdPeerSpec {
  /** The peer's address (v4 or v6). */
  readonly peer: string;
  /** Our source address; default: the kernel's choice. */
  readonly localAddress?: string;
  readonly timers: BfdTimers;
}

export type DiscardReason = BfdCheck | 'unknown-discriminator' | 'unknown-peer' | 'wrong-source';

export class BfdRunnerError extends Error {
  override readonly name = 'BfdRunnerError';
}

interface Entry {
  readonly spec: BfdPeerSpec;
  /** spec.peer normalized: what the receive socket reports as the source. */
  readonly peer: string;
  readonly session: BfdSession;
  readonly tx: dgram.Socket;
  readonly sourcePort: number;
}

export class BfdRunner extends EventEmitter {
  private readonly deps: BfdRunnerDeps;
  private readonly rx = new Map<UdpFamily, Promise<{ sock: dgram.Socket; receiver: BfdReceiver }>>();
  private readonly byPeer = new Map<string, Entry>();
  private readonly byDiscr = new Map<number, Entry>();
  private readonly usedPorts = new Set<number>();
  private readonly receivers = new Set<BfdReceiver>();
  /** Every received packet is decoded into this one value; a session copies what it keeps. */
  private readonly rxPacket: ControlPacketSlot = {
    diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 1,
    myDiscr: 0, yourDiscr: 0, desiredMinTx: 0, requiredMinRx: 0, requiredMinEchoRx: 0,
  };
  /** One timer for all sessions' transmit and detection deadlines. */
  readonly scheduler: BfdScheduler;
  readonly discarded = new Map<DiscardReason, number>();
  private closed = false;

  constructor(
    private readonly opts: BfdRunnerOptions = {},
    deps: Partial<BfdRunnerDeps> = {},
  ) {
    super();
    this.deps = { clock: deps.clock ?? systemClock, random: deps.random ?? Math.random, ttlFilter: deps.ttlFilter ?? attachTtl255Filter };
    this.scheduler = new BfdScheduler(this.deps.clock);
  }

  /** Starts a session with `spec.peer` (one per peer address). Rejects with BfdRunnerError when a socket cannot be set up. */
  async add(spec: BfdPeerSpec): Promise<BfdSession> {
    if (this.closed) throw new BfdRunnerError('BFD runner closed');
    const key = normalize(spec.peer);
    if (this.byPeer.has(key)) throw new BfdRunnerError(`BFD session with ${spec.peer} exists already`);
    const family: UdpFamily = isIPv6(key) ? 'udp6' : 'udp4';
    await this.receiver(family);
    const { sock: tx, port } = await this.bindSource(family, spec.localAddress, key, this.opts.peerPort ?? BFD_PORT);
    const discr = this.newDiscriminator();
    const session = new BfdSession(discr, spec.timers, {
      clock: this.deps.clock,
      random: this.deps.random,
      scheduler: this.scheduler,
      // Connected (bindSource): no address lookup per packet; errors arrive as 'error'.
      // Node sends at once when it can; a send it had to queue (socket buffer full) still
      // points at the buffer, so the session must not rewrite it.
      send: (b) => {
        tx.send(b);
        return tx.getSendQueueCount() > 0;
      },
    });
    const entry: Entry = { spec, peer: key, session, tx, sourcePort: port };
    this.byPeer.set(key, entry);
    this.byDiscr.set(discr, entry);
    session.start();
    return session;
  }

  /** Ends a session: AdminDown to the peer (RFC 5880 6.8.16), then its socket closes. */
  async remove(peer: string): Promise<void> {
    const e = this.byPeer.get(normalize(peer));
    if (!e) return;
    this.byPeer.delete(normalize(peer));
    this.byDiscr.delete(e.session.localDiscr);
    e.session.stop();
    // A connected socket writes the AdminDown in send() itself; the turn of the event
    // loop is for a send that had to queue (socket buffer full).
    await new Promise<void>((r) => setImmediate(r));
    this.usedPorts.delete(e.sourcePort);
    await new Promise<void>((r) => e.tx.close(() => r()));
  }

  session(peer: string): BfdSession | undefined {
    return this.byPeer.get(normalize(peer))?.session;
  }

  sourcePort(peer: string): number | undefined {
    return this.byPeer.get(normalize(peer))?.sourcePort;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.byPeer.keys()].map((p) => this.remove(p)));
    const socks = await Promise.allSettled([...this.rx.values()]);
    this.rx.clear();
    await Promise.all(
      socks.map((s) => {
        if (s.status !== 'fulfilled') return Promise.resolve();
        s.value.receiver.close();
        this.receivers.delete(s.value.receiver);
        return new Promise<void>((r) => s.value.sock.close(() => r()));
      }),
    );
  }

  /** One datagram from the receive socket (public for tests that feed bytes directly). */
  handle(msg: Buffer, from: string): void {
    let p;
    try {
      p = decodeControl(msg, this.rxPacket);
    } catch (err) {
      if (err instanceof BfdPacketError) return this.discard(err.check, from, err.message);
      throw err;
    }
    let e: Entry | undefined;
    if (p.yourDiscr !== 0) {
      e = this.byDiscr.get(p.yourDiscr);
      if (!e) return this.discard('unknown-discriminator', from, `Your Discriminator ${p.yourDiscr} names no session`);
      // The socket reports the address as the session stored it, except a v4-mapped or upper-case form.
      if (e.peer !== from && e.peer !== normalize(from)) return this.discard('wrong-source', from, `discriminator ${p.yourDiscr} belongs to ${e.spec.peer}`);
    } else {
      e = this.byPeer.get(from) ?? this.byPeer.get(normalize(from));
      if (!e) return this.discard('unknown-peer', from, 'no BFD session is configured for this address');
    }
    e.session.receive(p);
  }

  private discard(reason: DiscardReason, from: string, text: string): void {
    this.discarded.set(reason, (this.discarded.get(reason) ?? 0) + 1);
    this.emit('discard', { reason, from, text });
  }

  /** Packets read from the receive sockets: one 'message' event each, or in batches (rx.ts). */
  rxCounts(): { messages: number; batched: number; batches: number } {
    const sum = { messages: 0, batched: 0, batches: 0 };
    for (const r of this.receivers) {
      sum.messages += r.counts.messages;
      sum.batched += r.counts.batched;
      sum.batches += r.counts.batches;
    }
    return sum;
  }

  private receiver(family: UdpFamily): Promise<{ sock: dgram.Socket; receiver: BfdReceiver }> {
    let p = this.rx.get(family);
    if (!p) {
      p = new Promise((resolve, reject) => {
        const sock = dgram.createSocket({ type: family, ipv6Only: family === 'udp6' });
        const port = this.opts.listenPort ?? BFD_PORT;
        const address = this.opts.listenAddress?.[family] ?? (family === 'udp4' ? '0.0.0.0' : '::');
        sock.once('error', (err) => reject(new BfdRunnerError(`BFD: cannot listen on ${address} port ${port}`, { cause: err })));
        sock.bind({ port, address, exclusive: true }, () => {
          try {
            this.deps.ttlFilter(sock, family);
          } catch (cause) {
            sock.close();
            reject(new BfdRunnerError('BFD: cannot restrict the receive socket to TTL 255 (RFC 5881 5)', { cause }));
            return;
          }
          sock.removeAllListeners('error');
          sock.on('error', (err) => this.emit('socketError', family, err));
          const receiver = new BfdReceiver(
            sock,
            this.deps.clock,
            this.scheduler,
            (msg, from) => this.handle(msg, from),
            (err) => this.emit('socketError', family, err),
          );
          this.receivers.add(receiver);
          resolve({ sock, receiver });
        });
      });
      this.rx.set(family, p);
      p.catch(() => this.rx.delete(family));
    }
    return p;
  }

  /** A socket bound to a free source port in 49152-65535 (RFC 5881 4), TTL 255, connected to the peer. */
  private async bindSource(family: UdpFamily, localAddress: string | undefined, peer: string, peerPort: number): Promise<{ sock: dgram.Socket; port: number }> {
    const span = SOURCE_PORT_MAX - SOURCE_PORT_MIN + 1;
    let lastErr: unknown = null;
    for (let attempt = 0; attempt < 64; attempt++) {
      const port = SOURCE_PORT_MIN + Math.floor(this.deps.random() * span);
      if (this.usedPorts.has(port)) continue;
      const sock = dgram.createSocket({ type: family, ipv6Only: family === 'udp6' });
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ port, address: localAddress ?? (family === 'udp4' ? '0.0.0.0' : '::'), exclusive: true }, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        lastErr = err;
        sock.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new BfdRunnerError(`BFD: cannot bind a source port on ${localAddress ?? 'any address'}`, { cause: err });
      }
      sock.setTTL(BFD_TTL);
      sock.on('error', (err) => this.emit('socketError', family, err));
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.connect(peerPort, peer, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        sock.close();
        throw new BfdRunnerError(`BFD: cannot address ${peer} from ${localAddress ?? 'any address'}`, { cause: err });
      }
      // Nothing is expected on the transmit socket; replies go to 3784.
      sock.on('message', () => undefined);
      this.usedPorts.add(port);
      return { sock, port };
    }
    throw new BfdRunnerError('BFD: no free source port in 49152-65535', { cause: lastErr });
  }

  /** RFC 5880 6.8.1: nonzero and unique per system; random, so a restart does not reuse one. */
  private newDiscriminator(): number {
    let d = 1 + Math.floor(this.deps.random() * 0xfffffffe);
    while (this.byDiscr.has(d)) d = d === 0xffffffff ? 1 : d + 1;
    return d;
  }
}

/** "::ffff:203.0.113.1" -> "203.0.113.1"; IPv6 in lower case. */
function normalize(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m ? m[1]! : a.toLowerCase();
}
