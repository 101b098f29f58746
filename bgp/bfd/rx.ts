/**
 * The BFD receive path of one address family (RFC 5881: UDP 3784), read in batches when
 * packets come densely.
 *
 * Node's dgram wakes the event loop and calls into JavaScript once per datagram. With a
 * hundred sessions at 300 ms that is some 350 wake-ups a second, and they cost more than
 * the BFD work they carry (bench/results/bfd.md). So the receiver works like a network card with interrupt
 * moderation (Linux NAPI):
 *
 * - Sparse packets (the usual case: a few sessions) arrive as 'message' events, each
 *   handled at once.
 * - A packet that comes within HOLD_MS of the previous one switches to batches: libuv
 *   stops watching the socket, and at every wake-up of the runner's scheduler, and at
 *   least every HOLD_MS, one recvmmsg(2) reads everything queued meanwhile (bgp/net/
 *   native.ts). A read that finds nothing after HOLD_MS of quiet hands the socket back.
 *
 * A packet waits at most HOLD_MS; the receiver is ticked before the sessions in each
 * wake-up, so a detection time runs out only after what was queued has been read. The
 * TTL filter is on the socket, so it applies to both ways of reading. Without the native
 * module, or on a Node whose UDP handle cannot pause, every packet is a 'message' event.
 */
import type dgram from 'node:dgram';
import type { Clock } from '../session/types.js';
import { DatagramBatch } from '../net/native.js';
import type { BfdScheduler, Scheduled } from './scheduler.js';
import { socketFd } from './ttl-filter.js';

/**
 * How long a packet may wait to be read in a batch, and how close two packets must come
 * to start batching. 30 ms is as much as a packet we send may go early (timers.ts: 10 %
 * of 300 ms), and leaves a wake-up about every 30 ms for a hundred sessions, reads and
 * sends together. Detection is not delayed by it: the queue is read before any
 * detection time is checked.
 */
export const HOLD_MS = 30;

interface UdpHandle {
  recvStart(): number;
  recvStop(): number;
}

/** libuv's UDP handle under a dgram socket: Node has no public way to pause reading. */
function udpHandle(sock: dgram.Socket): UdpHandle | null {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const h = sym ? (sock as unknown as Record<symbol, { handle?: Partial<UdpHandle> } | undefined>)[sym]?.handle : undefined;
  return h && typeof h.recvStart === 'function' && typeof h.recvStop === 'function' ? (h as UdpHandle) : null;
}

export class BfdReceiver implements Scheduled {
  wakeAt = Infinity;
  private batching = false;
  private lastMessageAt = -Infinity;
  private lastPacketAt = -Infinity;
  private readonly handle: UdpHandle | null;
  private readonly fd: number;
  private readonly batch: DatagramBatch | null;
  /** Packets read each way (tests and the bench look). */
  readonly counts = { messages: 0, batched: 0, batches: 0 };

  constructor(
    private readonly sock: dgram.Socket,
    private readonly clock: Clock,
    private readonly scheduler: BfdScheduler,
    private readonly deliver: (msg: Buffer, from: string) => void,
    private readonly onError: (err: Error) => void,
  ) {
    let batch: DatagramBatch | null = null;
    let fd = -1;
    try {
      fd = socketFd(sock);
      batch = new DatagramBatch();
    } catch {
      // No koffi or no descriptor: every packet a 'message' event.
    }
    this.fd = fd;
    this.batch = batch;
    this.handle = batch ? udpHandle(sock) : null;
    sock.on('message', (msg, rinfo) => this.message(msg, rinfo.address));
    scheduler.add(this);
  }

  /** Stops reading; the socket itself is the runner's to close. */
  close(): void {
    this.scheduler.remove(this);
    this.batching = false;
  }

  private message(msg: Buffer, from: string): void {
    this.counts.messages++;
    this.deliver(msg, from);
    const now = this.clock.now();
    if (this.handle && now - this.lastMessageAt < HOLD_MS) {
      this.handle.recvStop();
      this.batching = true;
      this.lastPacketAt = now;
      this.wakeAt = now + HOLD_MS;
      this.scheduler.wake(this.wakeAt);
    }
    this.lastMessageAt = now;
  }

  /** Scheduled: while batching, read what is queued at every wake-up of the scheduler. */
  tick(now: number): void {
    if (!this.batching) return;
    let n: number;
    try {
      n = this.drain();
    } catch (err) {
      this.onError(err as Error);
      n = 0;
      this.lastPacketAt = -Infinity;
    }
    if (n > 0) this.lastPacketAt = now;
    if (n === 0 && now - this.lastPacketAt >= HOLD_MS) {
      // Quiet again: back to an event per packet.
      this.batching = false;
      this.wakeAt = Infinity;
      this.lastMessageAt = -Infinity;
      this.handle!.recvStart();
      return;
    }
    this.wakeAt = now + HOLD_MS;
  }

  private drain(): number {
    const b = this.batch!;
    let total = 0;
    for (;;) {
      const n = b.receive(this.fd);
      if (n > 0) {
        this.counts.batches++;
        this.counts.batched += n;
      }
      // A slot holds 256 octets: more than any Length field can claim (RFC 5880 4.1, 8 bits).
      for (let i = 0; i < n; i++) this.deliver(b.datagram(i), b.source(i));
      total += n;
      if (n < b.capacity) return total;
    }
  }
}
