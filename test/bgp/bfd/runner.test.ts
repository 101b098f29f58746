/**
 * The BFD runner over real UDP on loopback (no privileges needed): two runners reach Up,
 * each session keeps one source port in 49152-65535 and sends with TTL 255, and the
 * receive socket's kernel filter drops anything that arrives with a lower TTL.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeControl } from '../../../bgp/bfd/codec.js';
import { BfdRunner, BfdRunnerError } from '../../../bgp/bfd/runner.js';
import { ttl255Program } from '../../../bgp/bfd/ttl-filter.js';
import type { ControlPacket } from '../../../bgp/bfd/types.js';

const timers = { minTx: 20, minRx: 20, multiplier: 3 };
const runners: BfdRunner[] = [];
const sockets: dgram.Socket[] = [];

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
  for (const s of sockets.splice(0)) s.close();
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const port = (): number => 20_000 + Math.floor(Math.random() * 20_000);

function runner(listenPort: number, peerPort: number): BfdRunner {
  const r = new BfdRunner({ listenPort, peerPort, listenAddress: { udp4: '127.0.0.1' } });
  runners.push(r);
  return r;
}

const down: ControlPacket = {
  diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 3,
  myDiscr: 42, yourDiscr: 0, desiredMinTx: 1_000_000, requiredMinRx: 300_000, requiredMinEchoRx: 0,
};

describe('BfdRunner', () => {
  it('brings two sessions Up over UDP, each from one fixed source port in 49152-65535', async () => {
    const pa = port();
    const pb = pa + 1;
    const a = runner(pa, pb);
    const b = runner(pb, pa);
    // Record the source ports the packets really come from.
    const seen = new Set<number>();
    const sa = await a.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    const sb = await b.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    const spy = dgram.createSocket('udp4');
    sockets.push(spy);
    await waitFor(() => sa.current === 'Up' && sb.current === 'Up');
    expect(a.sourcePort('127.0.0.1')).toBeGreaterThanOrEqual(49152);
    expect(a.sourcePort('127.0.0.1')).toBeLessThanOrEqual(65535);
    expect(a.sourcePort('127.0.0.1')).not.toBe(b.sourcePort('127.0.0.1'));
    seen.add(a.sourcePort('127.0.0.1')!);
    expect(seen.size).toBe(1);
    await waitFor(() => sa.info().txIntervalUs === 20_000 && sb.info().detectTimeUs === 60_000);
    // Traffic flows at the fast rate now.
    const before = sb.info().packets.in;
    await waitFor(() => sb.info().packets.in > before + 10);
    expect(sa.info().remoteDiscr).toBe(sb.localDiscr);
  });

  it('detects a peer that stops, and the session comes Up again when it is back', async () => {
    const pa = port();
    const pb = pa + 1;
    const a = runner(pa, pb);
    const b = runner(pb, pa);
    const sa = await a.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    await b.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    await waitFor(() => sa.current === 'Up');
    const changes: [string, string, number][] = [];
    sa.on('state', (f: string, t: string, d: number) => changes.push([f, t, d]));
    await b.remove('127.0.0.1'); // sends AdminDown
    await waitFor(() => sa.current === 'Down');
    expect(changes[0]).toEqual(['Up', 'Down', 3]);
    await b.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    await waitFor(() => sa.current === 'Up');
  });

  it('accepts only TTL 255: the kernel filter drops TTL 254 before the session sees it', async () => {
    const pa = port();
    const a = runner(pa, pa + 1);
    const s = await a.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers: { minTx: 1000, minRx: 1000, multiplier: 3 } });
    const tx = dgram.createSocket('udp4');
    sockets.push(tx);
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
    tx.setTTL(254);
    tx.send(encodeControl(down), pa, '127.0.0.1');
    // A TTL 255 packet sent afterwards does arrive: once it has, the TTL 254 one (sent
    // first, same path) has been dropped, not delayed.
    const ok = dgram.createSocket('udp4');
    sockets.push(ok);
    await new Promise<void>((r) => ok.bind(0, '127.0.0.1', r));
    ok.setTTL(255);
    ok.send(encodeControl({ ...down, myDiscr: 43 }), pa, '127.0.0.1');
    await waitFor(() => s.info().packets.in >= 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.info().packets.in).toBe(1);
    expect(s.info().remoteDiscr).toBe(43);
  });

  it('runs over IPv6 too (hop limit 255 sent and required)', async () => {
    const pa = port();
    const pb = pa + 1;
    const a = new BfdRunner({ listenPort: pa, peerPort: pb, listenAddress: { udp6: '::1' } });
    const b = new BfdRunner({ listenPort: pb, peerPort: pa, listenAddress: { udp6: '::1' } });
    runners.push(a, b);
    const sa = await a.add({ peer: '::1', localAddress: '::1', timers });
    const sb = await b.add({ peer: '::1', localAddress: '::1', timers });
    await waitFor(() => sa.current === 'Up' && sb.current === 'Up');
    const tx = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    sockets.push(tx);
    await new Promise<void>((r) => tx.bind(0, '::1', r));
    tx.setTTL(254);
    const before = a.discarded.size;
    const inBefore = sa.info().packets.in;
    tx.send(encodeControl({ ...down, state: 'AdminDown', yourDiscr: sa.localDiscr }), pa, '::1');
    await new Promise((r) => setTimeout(r, 100));
    // Dropped by the kernel filter: the session never saw an AdminDown.
    expect(sa.current).toBe('Up');
    expect(a.discarded.size).toBe(before);
    expect(sa.info().packets.in).toBeGreaterThan(inBefore);
  });

  it('discards packets for no session and counts why', async () => {
    const a = runner(port(), 1);
    await a.add({ peer: '127.0.0.1', localAddress: '127.0.0.1', timers });
    const seen: string[] = [];
    a.on('discard', (d: { reason: string }) => seen.push(d.reason));
    a.handle(encodeControl({ ...down, state: 'Up', yourDiscr: 12345 }), '127.0.0.1');
    a.handle(encodeControl(down), '127.0.0.9');
    a.handle(Buffer.from('nonsense'), '127.0.0.1');
    const s = a.session('127.0.0.1')!;
    a.handle(encodeControl({ ...down, state: 'Up', yourDiscr: s.localDiscr }), '127.0.0.2');
    expect(seen).toEqual(['unknown-discriminator', 'unknown-peer', 'version', 'wrong-source']);
    expect(s.info().packets.in).toBe(0);
    expect(a.discarded.get('version')).toBe(1);
  });

  it('refuses to run when the TTL filter cannot be set (fails closed)', async () => {
    const r = new BfdRunner({ listenPort: port(), listenAddress: { udp4: '127.0.0.1' } }, {
      ttlFilter: () => {
        throw new Error('no filter here');
      },
    });
    runners.push(r);
    await expect(r.add({ peer: '127.0.0.1', timers })).rejects.toBeInstanceOf(BfdRunnerError);
    await expect(r.add({ peer: '127.0.0.1', timers })).rejects.toThrow(/TTL 255/);
  });

  it('builds the filter program for each family', () => {
    expect(ttl255Program('udp4').toString('hex')).toBe('300000000800f0ff' + '15000001ff000000' + '06000000ffffffff' + '0600000000000000');
    expect(ttl255Program('udp6').readUInt32LE(4)).toBe(0xfff00007);
  });
});
