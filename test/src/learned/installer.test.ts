import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LearnedRoutes } from '../../../src/learned/index.js';
import { LearnedRouteInstaller } from '../../../src/learned/installer.js';
import { createLogger } from '../../../src/log.js';
import type { LearnedKernelRoute } from '../../../src/learned/route-codec.js';
import type { ForwardingEntry } from '../../../bgp/speaker/types.js';
import { gws, kernelRoute, MemTable } from './mem-table.js';

/** The worker's one uplink as the kernel numbers it. */
const UP_A = { upA: 7 };

const v4 = (prefix: string, ...hops: string[]): ForwardingEntry => ({
  prefix,
  family: 'ipv4-unicast',
  paths: hops.map((h) => ({ peer: h, nextHops: [h], interface: null })),
});

describe('learned route installer', () => {
  it('installs the multipath set, takes a next hop out when its path goes, removes the route when none is left', async () => {
    const t = new MemTable(UP_A);
    const inst = new LearnedRouteInstaller(t, { table: 254 });
    inst.set(v4('0.0.0.0/0', '203.0.113.1', '203.0.113.5'));
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.1', '203.0.113.5']);
    expect(t.routes.get('0.0.0.0/0')).toMatchObject({ table: 254, metric: 20 });
    inst.set(v4('0.0.0.0/0', '203.0.113.5'));
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.5']);
    inst.set(v4('0.0.0.0/0'));
    await inst.flush();
    expect(t.routes.has('0.0.0.0/0')).toBe(false);
    expect(inst.installedCount()).toBe(0);
  });

  it('one unreachable next hop: the route keeps the others, and the problem is reported', async () => {
    const t = new MemTable(UP_A);
    t.unreachable = '203.0.113.1';
    const inst = new LearnedRouteInstaller(t, { table: 254, retryMs: 60_000 });
    inst.set(v4('0.0.0.0/0', '203.0.113.1', '203.0.113.5'));
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.5']);
    expect(inst.problemList().get('0.0.0.0/0')).toBe('installed over 1 of 2 next hops: EHOSTUNREACH');
    inst.close();
  });

  it('a link-local next hop goes through the session interface', async () => {
    const t = new MemTable(UP_A);
    const inst = new LearnedRouteInstaller(t, { table: 1000 });
    inst.set({ prefix: '::/0', family: 'ipv6-unicast', paths: [{ peer: 'fe80::1', nextHops: ['fe80::1'], interface: 'upA' }] });
    await inst.flush();
    expect(t.routes.get('::/0')?.nextHops).toEqual([{ gateway: 'fe80::1', ifindex: 7 }]);
  });

  it('reconcile removes our stale routes and repairs changed ones; a refusal is a problem until a write succeeds', async () => {
    const t = new MemTable(UP_A);
    t.routes.set('198.18.0.0/24', { family: 4, dst: '198.18.0.0/24', table: 254, metric: 20, nextHops: [{ gateway: '203.0.113.9', ifindex: 0 }] });
    const problems: string[] = [];
    const inst = new LearnedRouteInstaller(t, { table: 254, onProblem: (p, w) => problems.push(`${p} ${w}`) });
    t.refuse = 'ENETUNREACH';
    inst.set(v4('0.0.0.0/0', '203.0.113.1'));
    await inst.flush();
    expect([...inst.problemList().keys()]).toEqual(['0.0.0.0/0']);
    expect(problems).toEqual(['0.0.0.0/0 cannot install: ENETUNREACH']);
    t.refuse = undefined;
    expect(await inst.reconcile()).toEqual({ removed: 1, repaired: 1 });
    expect([...t.routes.keys()]).toEqual(['0.0.0.0/0']);
    expect(inst.problemList().size).toBe(0);
    const writes = t.writes;
    expect(await inst.reconcile()).toEqual({ removed: 0, repaired: 0 });
    expect(t.writes).toBe(writes);
  });
});

describe('learned routes of a previous run (RFC 4724 4.1)', () => {
  const A = '203.0.113.1';
  const B = '203.0.113.5';
  const route = kernelRoute;
  /** The kernel as a previous run left it: a default via A and B, a prefix via A, an IPv6 default via A's link (ifindex 7). */
  function previous(): MemTable {
    const t = new MemTable(UP_A);
    t.routes.set('0.0.0.0/0', route('0.0.0.0/0', [A, 3], [B, 4]));
    t.routes.set('198.51.100.128/26', route('198.51.100.128/26', [A, 3]));
    t.routes.set('::/0', route('::/0', ['2001:db8:ffff::1', 7]));
    return t;
  }
  // A is reached over ifindex 3 (and its IPv6 next hop over 7), B over 4.
  const owners = (h: { gateway: string; ifindex: number }): string[] =>
    h.gateway === A || h.gateway === B ? [h.gateway] : h.ifindex === 7 ? [A] : [];

  it("keeps every next hop until its peer's End-of-RIB; what the peer sent is added, what it did not send then goes", async () => {
    const t = previous();
    const inst = new LearnedRouteInstaller(t, { table: 254 });
    expect(await inst.adoptPrevious(owners)).toBe(4);
    // A is back first and sends only the default: B's next hop stays, so does A's /26.
    inst.set(v4('0.0.0.0/0', A));
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual([A, B]);
    expect(gws(t, '198.51.100.128/26')).toEqual([A]);
    // A's IPv4 End-of-RIB: its /26 (not sent again) goes at once; B's next hop and A's IPv6 wait.
    expect(inst.endOfRib(A, 4)).toBe(1);
    await inst.flush();
    expect(t.routes.has('198.51.100.128/26')).toBe(false);
    expect(gws(t, '0.0.0.0/0')).toEqual([A, B]);
    expect(gws(t, '::/0')).toEqual(['2001:db8:ffff::1']);
    expect(inst.staleCount).toBe(2);
    // A's IPv6 End-of-RIB (it sent no IPv6 default this time), then B's, which sent nothing.
    inst.endOfRib(A, 6);
    await inst.flush();
    expect(t.routes.has('::/0')).toBe(false);
    inst.endOfRib(B, 4);
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual([A]);
    expect(inst.staleCount).toBe(0);
  });

  it('the reconcile pass leaves the next hops that still wait alone', async () => {
    const t = previous();
    const inst = new LearnedRouteInstaller(t, { table: 254 });
    await inst.adoptPrevious(owners);
    expect(await inst.reconcile()).toEqual({ removed: 0, repaired: 0 });
    expect([...t.routes.keys()].sort()).toEqual(['0.0.0.0/0', '198.51.100.128/26', '::/0']);
    expect(gws(t, '0.0.0.0/0')).toEqual([A, B]);
  });

  it("sweepStale (the restart time is over) removes what no peer sent again, a next hop no peer can be told from too", async () => {
    const t = previous();
    t.routes.set('198.51.100.192/26', route('198.51.100.192/26', ['203.0.113.99', 9]));
    const inst = new LearnedRouteInstaller(t, { table: 254 });
    await inst.adoptPrevious(owners);
    inst.set(v4('0.0.0.0/0', A));
    inst.endOfRib(A, 4);
    inst.endOfRib(B, 4);
    await inst.flush();
    // No owner: no End-of-RIB ends its wait.
    expect(gws(t, '198.51.100.192/26')).toEqual(['203.0.113.99']);
    expect(inst.sweepStale()).toBe(2);
    await inst.flush();
    expect([...t.routes.keys()]).toEqual(['0.0.0.0/0']);
    expect(gws(t, '0.0.0.0/0')).toEqual([A]);
  });

  it('an End-of-RIB that comes before the table was read counts as well', async () => {
    const t = previous();
    const inst = new LearnedRouteInstaller(t, { table: 254 });
    inst.endOfRib(B, 4);
    await inst.adoptPrevious(owners);
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual([A]);
    expect(gws(t, '198.51.100.128/26')).toEqual([A]);
  });
});

describe('learned routes on stop', () => {
  it('after close() the routes stay in the kernel, also when the speaker then drops every path (its sessions ending)', async () => {
    const t = new MemTable(UP_A);
    const speaker = Object.assign(new EventEmitter(), {
      forwarding: (): ForwardingEntry[] => [],
      linkDown: () => true,
      linkUp: () => true,
    });
    const learned = new LearnedRoutes({ speaker, log: createLogger({ level: 'silent' }), table: t, tableId: 254, peers: () => [], watchLinks: null, reconcileMs: 3_600_000 });
    speaker.emit('forwardingChanged', v4('0.0.0.0/0', '203.0.113.1', '203.0.113.5'));
    await learned.installer!.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.1', '203.0.113.5']);
    learned.close();
    speaker.emit('forwardingChanged', v4('0.0.0.0/0'));
    await learned.installer!.flush();
    await new Promise((r) => setImmediate(r));
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.1', '203.0.113.5']);
  });
});
