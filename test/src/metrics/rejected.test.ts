/**
 * Connections from addresses that are no configured peer: refused by the real speaker's
 * listener (real TCP on the loopback), counted in routectl_bgp_rejected_connections_total
 * by family (read from a real metrics listener), and logged at most once per source per
 * interval with the count of lines held back. The rate limit itself on a fake clock.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Speaker } from '../../../bgp/speaker/index.js';
import { createLogger } from '../../../src/log.js';
import { startObservability, type Observability } from '../../../src/metrics/observability.js';
import { PerKeyRateLimit, rejectedConnectionLogger } from '../../../src/metrics/rejected-log.js';
import { freePort, nextHops, waitFor } from '../../bgp/speaker/tcp-helpers.js';

type Line = Record<string, unknown> & { msg: string };

function capture(): { log: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) } });
  return { log, lines };
}

describe('PerKeyRateLimit', () => {
  it('one per key per interval, then the count held back; bounded keys share the overflow key', () => {
    let t = 0;
    const l = new PerKeyRateLimit(60_000, 2, () => t);
    expect(l.admit('a', '*')).toEqual({ key: 'a', suppressed: 0 });
    expect(l.admit('a', '*')).toBeNull();
    expect(l.admit('a', '*')).toBeNull();
    expect(l.admit('b', '*')).toEqual({ key: 'b', suppressed: 0 });
    // Two keys tracked, none expired: a third source goes to the overflow key.
    expect(l.admit('c', '*')).toEqual({ key: '*', suppressed: 0 });
    expect(l.admit('d', '*')).toBeNull();
    t = 59_999;
    expect(l.admit('a', '*')).toBeNull();
    t = 60_000;
    expect(l.admit('a', '*')).toEqual({ key: 'a', suppressed: 3 });
    // Expired entries make room for new sources.
    t = 200_000;
    expect(l.admit('e', '*')).toEqual({ key: 'e', suppressed: 0 });
    expect(l.size).toBeLessThanOrEqual(3);
  });

  it('the log line names the source, the family and what was held back', () => {
    let t = 0;
    const { log, lines } = capture();
    const note = rejectedConnectionLogger(log, { intervalMs: 10_000, now: () => t });
    for (let i = 0; i < 5; i++) note('192.0.2.77', 'ipv4');
    note('2001:db8::77', 'ipv6');
    t = 10_000;
    note('192.0.2.77', 'ipv4');
    expect(lines.map((l) => [l.remote, l.family, l.suppressed])).toEqual([
      ['192.0.2.77', 'ipv4', 0],
      ['2001:db8::77', 'ipv6', 0],
      ['192.0.2.77', 'ipv4', 4],
    ]);
    expect(lines[0]).toMatchObject({ level: 'warn', op: 'bgp.listen', event: 'connection-rejected' });
    expect(lines[0]!.msg).toBe('refused a BGP connection from 192.0.2.77: not a configured peer (Cease / Connection Rejected sent); at most one line per address per 10 s');
    expect(lines[2]!.msg).toMatch(/; 4 more from it not logged since the last line$/);
  });
});

describe('refused BGP connections, end to end over TCP', () => {
  let obs: Observability | undefined;
  let speaker: Speaker | undefined;
  afterEach(async () => {
    await obs?.close();
    await speaker?.stop('test done');
    obs = undefined;
    speaker = undefined;
  });

  it('are counted by family in /metrics and logged once per source per interval', async () => {
    const port = await freePort();
    speaker = new Speaker(
      { asn: 65001, routerId: '192.0.2.1', listen: { address: '::', port }, holdTime: 30, connectRetryTime: 1, peers: [{ address: '127.0.0.2', asn: 65002, passive: true }], importFilter: [] },
      { nextHops },
    );
    await speaker.start();
    let t = 0;
    const { log, lines } = capture();
    obs = await startObservability({
      speaker,
      log,
      listen: '127.0.0.1:0',
      uptimeSeconds: () => 1,
      advertise: () => [],
      zones: () => [],
      speakerOnlyKernel: { listOwn: async () => ({ links: [], routes: [] }) },
      rejectedLog: { intervalMs: 60_000, now: () => t },
    });
    const knock = (host: string, localAddress: string): Promise<void> =>
      new Promise((r) => {
        const sock = net.connect({ host, port, localAddress });
        sock.on('error', () => r());
        sock.on('close', () => r());
        sock.resume();
      });
    const rejectedLines = (): Line[] => lines.filter((l) => l.event === 'connection-rejected');
    for (let i = 0; i < 4; i++) await knock('127.0.0.1', '127.0.0.3');
    await knock('127.0.0.1', '127.0.0.4');
    await knock('::1', '::1');
    await waitFor('six refusals counted', () => speaker!.rejectedConnections().ipv4 + speaker!.rejectedConnections().ipv6 === 6);
    const text = await (await fetch(`${obs.server!.url}/metrics`)).text();
    expect(text).toContain('routectl_bgp_rejected_connections_total{family="ipv4"} 5');
    expect(text).toContain('routectl_bgp_rejected_connections_total{family="ipv6"} 1');
    expect(text).not.toMatch(/rejected_connections_total\{[^}]*127\.0\.0/);
    expect(rejectedLines().map((l) => [l.remote, l.suppressed])).toEqual([
      ['127.0.0.3', 0],
      ['127.0.0.4', 0],
      ['::1', 0],
    ]);
    t = 60_000;
    await knock('127.0.0.1', '127.0.0.3');
    await waitFor('the next line for 127.0.0.3', () => rejectedLines().length === 4);
    expect(rejectedLines()[3]).toMatchObject({ remote: '127.0.0.3', family: 'ipv4', suppressed: 3 });
    // The configured peer is no stranger: its connection goes to its session, uncounted.
    const known = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    known.on('error', () => undefined);
    await waitFor('the peer session to take it', () => speaker!.peerStatus()[0]?.state === 'OpenSent');
    known.destroy();
    expect(speaker.rejectedConnections()).toEqual({ ipv4: 6, ipv6: 1 });
  });
});
