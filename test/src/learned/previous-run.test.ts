/**
 * LearnedRoutes at agent start (RFC 4724 4.1): the learned routes a previous run left in
 * the kernel keep forwarding; each next hop goes at its peer's End-of-RIB (the speaker's
 * 'endOfRib' event), and what is left when the restart time is over goes then. A fake
 * speaker (an EventEmitter) and an in-memory kernel table; fake timers for the restart time.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ForwardingEntry } from '../../../bgp/speaker/types.js';
import { LearnedRoutes, PREVIOUS_RUN_WAIT_MS, type ForwardingSource } from '../../../src/learned/index.js';
import type { LearnedKernelRoute } from '../../../src/learned/route-codec.js';
import { createLogger } from '../../../src/log.js';
import { gws, kernelRoute, MemTable } from './mem-table.js';

const TOR = '203.0.113.1';
const OTHER = '203.0.113.5';

class FakeSpeaker extends EventEmitter implements ForwardingSource {
  entries: ForwardingEntry[] = [];
  forwarding() {
    return this.entries;
  }
  linkDown() {
    return true;
  }
  linkUp() {
    return true;
  }
}

const route = kernelRoute;
const ifs = { fab0: [{ address: '203.0.113.2', netmask: '255.255.255.252', family: 'IPv4' as const, mac: '02:00:00:00:00:01', internal: false, cidr: '203.0.113.2/30' }] };

let open: LearnedRoutes | undefined;
afterEach(() => {
  open?.close();
  open = undefined;
  vi.useRealTimers();
});

async function start(t: MemTable, speaker: FakeSpeaker, peers: string[]) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  open = new LearnedRoutes({ speaker, log, table: t, tableId: 254, peers: () => peers, interfaces: () => ifs, watchLinks: null, reconcileMs: 3_600_000 });
  // Let the table be read.
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await open.installer!.flush();
  return lines;
}

describe("learned routes of a previous run wait for their peer's End-of-RIB", () => {
  it('the peer re-sends its table: what it left out leaves the kernel on its End-of-RIB, not at the reconcile', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    const t = new MemTable({ fab0: 3 });
    t.routes.set('0.0.0.0/0', route('0.0.0.0/0', [TOR, 3]));
    t.routes.set('198.51.100.128/26', route('198.51.100.128/26', [TOR, 3]));
    t.routes.set('2001:db8:100::/48', route('2001:db8:100::/48', ['2001:db8:ffff::1', 3]));
    const speaker = new FakeSpeaker();
    const lines = await start(t, speaker, [TOR]);
    expect(lines.find((l) => l.event === 'adopted')).toMatchObject({ op: 'learned.stale', nextHops: 3 });
    // The session is up again and the ToR sends only its default.
    speaker.emit('forwardingChanged', { prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: TOR, nextHops: [TOR], interface: 'fab0' }] });
    await open!.installer!.flush();
    expect([...t.routes.keys()].sort()).toEqual(['0.0.0.0/0', '198.51.100.128/26', '2001:db8:100::/48']);
    speaker.emit('endOfRib', TOR, 'ipv4-unicast');
    await open!.installer!.flush();
    expect([...t.routes.keys()].sort()).toEqual(['0.0.0.0/0', '2001:db8:100::/48']);
    expect(lines.find((l) => l.event === 'swept')).toMatchObject({ op: 'learned.stale', peer: TOR, family: 'ipv4-unicast', nextHops: 1, reason: 'end-of-rib' });
    // The IPv6 next hop (the ToR's, over fab0) goes on the IPv6 End-of-RIB.
    speaker.emit('endOfRib', TOR, 'ipv6-unicast');
    await open!.installer!.flush();
    expect([...t.routes.keys()]).toEqual(['0.0.0.0/0']);
    expect(gws(t, '0.0.0.0/0')).toEqual([TOR]);
  });

  it('a peer that does not come back: its next hops go when the restart time is over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    const t = new MemTable({ fab0: 3 });
    t.routes.set('0.0.0.0/0', route('0.0.0.0/0', [TOR, 3], [OTHER, 4]));
    const speaker = new FakeSpeaker();
    const lines = await start(t, speaker, [TOR, OTHER]);
    speaker.emit('forwardingChanged', { prefix: '0.0.0.0/0', family: 'ipv4-unicast', paths: [{ peer: TOR, nextHops: [TOR], interface: 'fab0' }] });
    speaker.emit('endOfRib', TOR, 'ipv4-unicast');
    await open!.installer!.flush();
    // OTHER has not sent its table again: its next hop keeps forwarding.
    expect(gws(t, '0.0.0.0/0')).toEqual([TOR, OTHER]);
    vi.advanceTimersByTime(PREVIOUS_RUN_WAIT_MS - 1);
    await open!.installer!.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual([TOR, OTHER]);
    vi.advanceTimersByTime(1);
    await open!.installer!.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual([TOR]);
    expect(lines.filter((l) => l.event === 'swept').at(-1)).toMatchObject({ nextHops: 1, reason: 'restart-time' });
  });
});
