/**
 * Shared by the speaker tests over real loopback TCP: a free port, a poll-until helper,
 * and next hops made from the session's local address (loopback addresses are not valid
 * next hops, RFC 4271 6.3, so 127.0.0.N advertises 203.0.113.N / 2001:db8:f::N).
 */
import net from 'node:net';
import type { SpeakerDeps } from '../../../bgp/speaker/index.js';

export const nextHops: SpeakerDeps['nextHops'] = (q) => {
  const n = q.localAddress.split('.').pop();
  return { nextHops: [q.family === 'ipv4-unicast' ? `203.0.113.${n}` : `2001:db8:f::${n}`] };
};

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function waitFor(what: string, cond: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
