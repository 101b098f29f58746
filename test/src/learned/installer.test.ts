import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LearnedRoutes } from '../../../src/learned/index.js';
import { LearnedRouteInstaller, type RouteTable } from '../../../src/learned/installer.js';
import { createLogger } from '../../../src/log.js';
import type { LearnedKernelRoute } from '../../../src/learned/route-codec.js';
import type { ForwardingEntry } from '../../../bgp/speaker/types.js';

/** The kernel's learned routes of one table, keyed by prefix (what NLM_F_REPLACE and RTM_DELROUTE do to them). */
class MemTable implements RouteTable {
  readonly routes = new Map<string, LearnedKernelRoute>();
  writes = 0;
  refuse: string | undefined;
  /** A next hop the kernel cannot reach: any route through it is refused, as Linux does. */
  unreachable: string | undefined;
  async replace(r: LearnedKernelRoute) {
    this.writes++;
    if (this.refuse) return this.refuse;
    if (r.nextHops.some((n) => n.gateway === this.unreachable)) return 'EHOSTUNREACH';
    this.routes.set(r.dst, r);
    return undefined;
  }
  async remove(r: { dst: string }) {
    return this.routes.delete(r.dst) ? undefined : 'ESRCH';
  }
  async list() {
    return [...this.routes.values()];
  }
  async ifindex(name: string) {
    return name === 'upA' ? 7 : undefined;
  }
}

const v4 = (prefix: string, ...hops: string[]): ForwardingEntry => ({
  prefix,
  family: 'ipv4-unicast',
  paths: hops.map((h) => ({ peer: h, nextHops: [h], interface: null })),
});
const gws = (t: MemTable, p: string) => t.routes.get(p)?.nextHops.map((n) => n.gateway) ?? [];

describe('learned route installer', () => {
  it('installs the multipath set, takes a next hop out when its path goes, removes the route when none is left', async () => {
    const t = new MemTable();
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
    const t = new MemTable();
    t.unreachable = '203.0.113.1';
    const inst = new LearnedRouteInstaller(t, { table: 254, retryMs: 60_000 });
    inst.set(v4('0.0.0.0/0', '203.0.113.1', '203.0.113.5'));
    await inst.flush();
    expect(gws(t, '0.0.0.0/0')).toEqual(['203.0.113.5']);
    expect(inst.problemList().get('0.0.0.0/0')).toBe('installed over 1 of 2 next hops: EHOSTUNREACH');
    inst.close();
  });

  it('a link-local next hop goes through the session interface', async () => {
    const t = new MemTable();
    const inst = new LearnedRouteInstaller(t, { table: 1000 });
    inst.set({ prefix: '::/0', family: 'ipv6-unicast', paths: [{ peer: 'fe80::1', nextHops: ['fe80::1'], interface: 'upA' }] });
    await inst.flush();
    expect(t.routes.get('::/0')?.nextHops).toEqual([{ gateway: 'fe80::1', ifindex: 7 }]);
  });

  it('reconcile removes our stale routes and repairs changed ones; a refusal is a problem until a write succeeds', async () => {
    const t = new MemTable();
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

describe('learned routes on stop', () => {
  it('after close() the routes stay in the kernel, also when the speaker then drops every path (its sessions ending)', async () => {
    const t = new MemTable();
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
