/**
 * The BFD receiver over real UDP on the loopback: packets that come densely are read in
 * batches (recvmmsg through bgp/net/native.ts), each delivered once, in order, with its
 * source; after a quiet spell the socket is back to one event per packet.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { BfdReceiver } from '../../../bgp/bfd/rx.js';
import { BfdScheduler } from '../../../bgp/bfd/scheduler.js';
import { systemClock } from '../../../bgp/session/clock.js';

const sockets: dgram.Socket[] = [];
const receivers: BfdReceiver[] = [];

afterEach(() => {
  for (const r of receivers.splice(0)) r.close();
  for (const s of sockets.splice(0)) s.close();
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

describe('BfdReceiver', () => {
  it('reads a burst in batches, every datagram once and in order, then goes back to one event per packet', async () => {
    const rx = await bound();
    const tx = await bound();
    const got: { n: number; len: number; from: string }[] = [];
    const errors: Error[] = [];
    const scheduler = new BfdScheduler(systemClock);
    const r = new BfdReceiver(rx, systemClock, scheduler, (msg, from) => got.push({ n: msg.readUInt32BE(0), len: msg.length, from }), (e) => errors.push(e));
    receivers.push(r);
    const port = rx.address().port;
    // 24 octets (a Control packet without authentication) and some longer ones.
    const N = 100;
    for (let i = 0; i < N; i++) {
      const b = Buffer.alloc(i % 10 === 0 ? 40 : 24);
      b.writeUInt32BE(i, 0);
      tx.send(b, port, '127.0.0.1');
    }
    await waitFor(() => got.length >= N);
    expect(errors).toEqual([]);
    expect(got.map((g) => g.n)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(got.every((g) => g.from === '127.0.0.1')).toBe(true);
    expect(got.filter((g) => g.len === 40)).toHaveLength(N / 10);
    expect(r.counts.batched).toBeGreaterThan(0);
    expect(r.counts.messages + r.counts.batched).toBe(N);
    // Quiet: a read finds nothing HOLD_MS after the last packet, and the socket is libuv's again.
    await waitFor(() => r.wakeAt === Infinity);
    const messages = r.counts.messages;
    tx.send(Buffer.from([0, 0, 0, 7]), port, '127.0.0.1');
    await waitFor(() => got.length === N + 1);
    expect(got.at(-1)).toMatchObject({ n: 7, len: 4 });
    expect(r.counts.messages).toBe(messages + 1);
  });
});
