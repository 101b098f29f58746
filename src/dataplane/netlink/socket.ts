/**
 * A thin rtnetlink transport over the `netlink` package's raw socket: sequence numbers,
 * acks, dumps, batches and notifications, with errno names on failures. The same framing
 * serves other netlink families that answer requests the same way (nfnetlink's ipset,
 * src/policy/ipset-netlink.ts), through the `protocol` option.
 *
 * Why not the package's request(): it waits for one ack per message, which caps route
 * programming at one kernel round trip per route, and it drops the NLM_F_DUMP_INTR flag
 * on the final NLMSG_DONE. Here:
 * - `batch()` packs many requests into one sendmsg(2). The kernel runs rtnetlink
 *   requests synchronously inside sendmsg, one after another (netlink_rcv_skb), so only
 *   the last message asks for an ack (NLM_F_ACK); a failing message is answered with an
 *   NLMSG_ERROR regardless of the flag (netlink(7)), so once the last ack is in, every
 *   earlier error has arrived before it. Batches go one at a time so the error replies of
 *   one batch always fit the socket's receive buffer.
 * - `dump()` retries when the kernel flags NLM_F_DUMP_INTR (the table changed while it
 *   was being dumped, so the result may be inconsistent) or answers EINTR/EBUSY.
 * - `offThread: true` sends from a worker thread (thread.ts), for requests that sleep in
 *   the kernel (a veth's deletion waits for RCU grace periods).
 */
import { RawNetlinkSocket, parseError, parseMessages, formatMessage, type NetlinkMessage } from 'netlink';
import { KernelError } from '../errors.js';
import { ThreadTransport, type Transport, type TransportError } from './thread.js';

const NETLINK_ROUTE = 0;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;

/** Largest datagram we build; the kernel's rtnetlink receive copies it whole. */
const MAX_BATCH_BYTES = 60 * 1024;
const MAX_BATCH_MSGS = 256;

export interface OutMessage {
  readonly type: number;
  readonly flags: number;
  readonly payload: Uint8Array;
}

interface Pending {
  readonly dump: boolean;
  readonly parts: NetlinkMessage[];
  intr: boolean;
  readonly resolve: (parts: NetlinkMessage[]) => void;
  readonly reject: (err: Error) => void;
}

function errnoName(errno: number): string {
  const names: Record<number, string> = {
    1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
    16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 28: 'ENOSPC', 34: 'ERANGE', 95: 'EOPNOTSUPP',
    97: 'EAFNOSUPPORT', 101: 'ENETUNREACH', 105: 'ENOBUFS',
  };
  return names[errno] ?? `errno ${errno}`;
}

const RECV_BUFFER = 4 << 20;
const SEND_BUFFER = 1 << 20;

/**
 * The `netlink` package's socket on this thread. Its send() runs sendmsg(2) at once only
 * when it holds no earlier send, neither waiting to be sent nor sent and waiting for its
 * completion callback, and is not running completion callbacks: those run from a timer
 * after the sendmsg, so a second send in the same event-loop turn is queued, and sent
 * when the socket is next polled, a turn later. `send` tells which it was from its own
 * count of sends whose callback has not run, kept until the event loop has moved past the
 * package's completion pass (whose callbacks' microtasks still run inside it).
 */
class LocalTransport implements Transport {
  private readonly raw: RawNetlinkSocket;
  /** Sends handed to the package whose completion is not yet behind us (see above). */
  private unfinished = 0;

  constructor(protocol: number) {
    this.raw = new RawNetlinkSocket(protocol, { recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER });
  }

  send(bufs: readonly Uint8Array[], done: (err?: TransportError) => void): boolean {
    const inline = this.unfinished === 0;
    this.unfinished++;
    this.raw.send(bufs as Uint8Array[], {}, (err) => {
      setImmediate(() => this.unfinished--);
      done(err ? { ...(err.code === undefined ? {} : { code: err.code }), message: err.message } : undefined);
    });
    return inline;
  }

  onMessage(fn: (buf: Buffer) => void): void {
    this.raw.on('message', (buf) => fn(buf));
  }

  onError(fn: (err: TransportError) => void): void {
    this.raw.on('error', (err) => fn(err));
  }

  addMembership(group: number): void {
    this.raw.addMembership(group);
  }

  ref(): void {
    this.raw.ref();
  }

  unref(): void {
    this.raw.unref();
  }

  close(): void {
    this.raw.close();
  }
}

export class RtnlSocket {
  private readonly raw: Transport;
  private readonly pending = new Map<number, Pending>();
  /** errors for batch messages that asked for no ack, by sequence number */
  private readonly batchErrors = new Map<number, (code: string) => void>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;
  private overruns = 0;
  private onNotify: ((msgs: NetlinkMessage[]) => void) | undefined;
  private onOverrun: (() => void) | undefined;

  constructor(
    opts: {
      groups?: readonly number[];
      onNotify?: (msgs: NetlinkMessage[]) => void;
      onOverrun?: () => void;
      /** netlink family; default NETLINK_ROUTE (src/policy/ipset-netlink.ts uses NETLINK_NETFILTER) */
      protocol?: number;
      /** send from a worker thread (thread.ts); not with `groups` */
      offThread?: boolean;
    } = {},
  ) {
    const protocol = opts.protocol ?? NETLINK_ROUTE;
    this.raw = opts.offThread ? new ThreadTransport({ protocol, recvBufferSize: RECV_BUFFER, sendBufferSize: SEND_BUFFER }) : new LocalTransport(protocol);
    this.onNotify = opts.onNotify;
    this.onOverrun = opts.onOverrun;
    this.raw.onMessage((buf) => this.receive(buf));
    // ENOBUFS here means notifications were dropped (the receive buffer overflowed):
    // whoever listens must resynchronise with a full dump.
    this.raw.onError((err) => {
      if (err.code === 'ENOBUFS') {
        this.overruns++;
        this.onOverrun?.();
      } else this.failAll(new KernelError('netlink socket', err.code ?? 'EIO', err.message));
    });
    for (const g of opts.groups ?? []) this.raw.addMembership(g);
    if (opts.groups?.length) this.raw.ref();
    else this.raw.unref();
  }

  private nextSeq(): number {
    this.seq = (this.seq % 0x7fffffff) + 1;
    return this.seq;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private receive(buf: Buffer): void {
    let msgs: NetlinkMessage[];
    try {
      msgs = parseMessages(buf);
    } catch {
      return;
    }
    const notes: NetlinkMessage[] = [];
    for (const m of msgs) {
      const p = this.pending.get(m.seq);
      if (m.type === NLMSG_ERROR) {
        const { errno } = parseError(m.data, m.flags);
        if (p) {
          this.pending.delete(m.seq);
          this.refresh();
          if (errno === 0) p.resolve(p.parts);
          else p.reject(new KernelError('netlink', errnoName(-errno)));
        } else {
          const cb = this.batchErrors.get(m.seq);
          if (cb && errno !== 0) cb(errnoName(-errno));
        }
        continue;
      }
      if (p === undefined) {
        // Multicast notifications (they carry the seq/port of whoever caused them).
        notes.push(m);
        continue;
      }
      if (m.flags & NLM_F_DUMP_INTR) p.intr = true;
      if (m.type === NLMSG_DONE || m.type === NLMSG_OVERRUN) {
        this.pending.delete(m.seq);
        this.refresh();
        if (p.intr || m.type === NLMSG_OVERRUN) p.reject(new KernelError('netlink dump', 'EINTR', 'dump interrupted'));
        else p.resolve(p.parts);
        continue;
      }
      p.parts.push(m);
      // A non-dump reply (e.g. NEWLINK echo) completes with the ack that follows.
    }
    if (notes.length) this.onNotify?.(notes);
  }

  /** Keep the event loop alive only while requests are in flight (or when subscribed). */
  private refresh(): void {
    if (this.closed || this.onNotify) return;
    if (this.pending.size) this.raw.ref();
    else this.raw.unref();
  }

  /** `sent` settles once sendmsg(2) has run; `inline`: it had already run when this returned. */
  private send(bufs: Uint8Array[]): { readonly inline: boolean; readonly sent: Promise<void> } {
    let inline = false;
    const sent = new Promise<void>((resolve, reject) => {
      inline = this.raw.send(bufs, (err) => (err ? reject(new KernelError('netlink send', err.code ?? 'EIO', err.message)) : resolve()));
    });
    return { inline, sent };
  }

  private frame(m: OutMessage, seq: number, extraFlags: number): Uint8Array[] {
    const pad = (4 - (m.payload.length % 4)) % 4;
    const data = pad ? [m.payload, new Uint8Array(pad)] : [m.payload];
    return formatMessage({ type: m.type, flags: m.flags | NLM_F_REQUEST | extraFlags, seq, port: 0, data });
  }

  /** One request, answered by an ack (and possibly a reply before it). */
  async request(m: OutMessage, op: string): Promise<NetlinkMessage[]> {
    if (this.closed) throw new KernelError(op, 'EBADF', 'socket closed');
    const seq = this.nextSeq();
    const done = new Promise<NetlinkMessage[]>((resolve, reject) => {
      this.pending.set(seq, { dump: false, parts: [], intr: false, resolve, reject });
    });
    done.catch(() => undefined); // the reply may come before send() resolves; awaited below
    this.refresh();
    try {
      await this.send(this.frame(m, seq, NLM_F_ACK)).sent;
      return await done;
    } catch (err) {
      this.pending.delete(seq);
      this.refresh();
      if (err instanceof KernelError) throw new KernelError(op, err.code);
      throw err;
    }
  }

  /** A dump, retried while the kernel reports it inconsistent. */
  async dump(type: number, payload: Uint8Array, op: string, attempts = 8): Promise<NetlinkMessage[]> {
    for (let i = 1; ; i++) {
      if (this.closed) throw new KernelError(op, 'EBADF', 'socket closed');
      const seq = this.nextSeq();
      const done = new Promise<NetlinkMessage[]>((resolve, reject) => {
        this.pending.set(seq, { dump: true, parts: [], intr: false, resolve, reject });
      });
      done.catch(() => undefined);
      this.refresh();
      try {
        await this.send(this.frame({ type, flags: NLM_F_DUMP, payload }, seq, 0)).sent;
        return await done;
      } catch (err) {
        this.pending.delete(seq);
        this.refresh();
        const code = err instanceof KernelError ? err.code : 'EIO';
        if ((code === 'EINTR' || code === 'EBUSY' || code === 'EAGAIN') && i < attempts) continue;
        throw new KernelError(op, code);
      }
    }
  }

  /**
   * Many requests; resolves with one result per message (undefined = success, else the
   * errno name), in order. See the header for why only the last of each datagram acks.
   * `onSent` is called once the last datagram's sendmsg(2) has run, before its ack is read:
   * synchronously when it ran inside the send, otherwise as soon as it has run.
   */
  async batch(msgs: readonly OutMessage[], opts: { readonly onSent?: () => void } = {}): Promise<(string | undefined)[]> {
    const results: (string | undefined)[] = new Array<string | undefined>(msgs.length).fill(undefined);
    let i = 0;
    while (i < msgs.length) {
      const start = i;
      let bytes = 0;
      const bufs: Uint8Array[] = [];
      const seqs: number[] = [];
      while (i < msgs.length && i - start < MAX_BATCH_MSGS) {
        const m = msgs[i]!;
        const len = 16 + m.payload.length + 4;
        if (bytes + len > MAX_BATCH_BYTES && i > start) break;
        bytes += len;
        i++;
      }
      // One buffer per datagram: nlmsghdr (len, type, flags, seq, pid) + body, each 4-aligned.
      let size = 0;
      for (let k = start; k < i; k++) size += 16 + ((msgs[k]!.payload.length + 3) & ~3);
      const dgram = Buffer.alloc(size);
      let off = 0;
      for (let k = start; k < i; k++) {
        const m = msgs[k]!;
        const seq = this.nextSeq();
        seqs.push(seq);
        const idx = k;
        if (k < i - 1) this.batchErrors.set(seq, (code) => (results[idx] = code));
        const len = 16 + m.payload.length;
        dgram.writeUInt32LE(len, off);
        dgram.writeUInt16LE(m.type, off + 4);
        dgram.writeUInt16LE(m.flags | NLM_F_REQUEST | (k === i - 1 ? NLM_F_ACK : 0), off + 6);
        dgram.writeUInt32LE(seq, off + 8);
        dgram.set(m.payload, off + 16);
        off += (len + 3) & ~3;
      }
      bufs.push(dgram);
      const overrunsBefore = this.overruns;
      const lastSeq = seqs[seqs.length - 1]!;
      const done = new Promise<NetlinkMessage[]>((resolve, reject) => {
        this.pending.set(lastSeq, { dump: false, parts: [], intr: false, resolve, reject });
      });
      done.catch(() => undefined);
      this.refresh();
      try {
        const { inline, sent } = this.send(bufs);
        sent.catch(() => undefined); // awaited below; not unhandled should onSent throw first
        // The kernel applies rtnetlink requests inside sendmsg(2): when that ran inline, the
        // changes are in by now, while the ack only reports the outcome an event-loop turn
        // later. A queued send (or one from a thread): once it has run, not before.
        if (i === msgs.length && inline) opts.onSent?.();
        await sent;
        if (i === msgs.length && !inline) opts.onSent?.();
        await done;
        // Error replies were dropped (receive buffer overflow): which messages failed is
        // unknown, so the batch cannot be reported as done. The caller re-reads the kernel.
        if (this.overruns !== overrunsBefore) throw new KernelError('netlink batch', 'ENOBUFS', 'replies lost; re-read the table');
      } catch (err) {
        this.pending.delete(lastSeq);
        this.refresh();
        if (!(err instanceof KernelError)) throw err;
        if (err.op === 'netlink send' || err.op === 'netlink socket' || err.op === 'netlink batch') throw err;
        results[i - 1] = err.code;
      } finally {
        for (const s of seqs) this.batchErrors.delete(s);
      }
    }
    return results;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new KernelError('netlink', 'EBADF', 'socket closed'));
    this.raw.close();
  }
}
