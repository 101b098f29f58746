/**
 * The endpoint controller fed by two runtimes (Docker and CNI), as the agent runs it with
 * runtime.docker and pools: the first adopt waits for both first lists (adopting Docker's
 * alone would delete the CNI veths as orphans), a later Docker sync replaces only Docker's
 * endpoints, and a CNI endpoint is plumbed into its netns path under its own ifname.
 */
import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/index.js';
import { Advertisements } from '../../../src/endpoints/advertisements.js';
import { EndpointController } from '../../../src/endpoints/controller.js';
import type { EndpointSpec } from '../../../src/endpoints/types.js';
import { Ipam } from '../../../src/ipam/index.js';
import { MemoryStore } from '../../../src/store/index.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';

const speaker = () => ({ set: new Set<string>(), advertise(r: readonly { prefix: string }[]) { for (const x of r) this.set.add(x.prefix); }, withdraw(p: readonly string[]) { for (const x of p) this.set.delete(x); }, setAdvertisements() {} });

function world(k = new FakeKernel(), store = new MemoryStore()) {
  for (const p of ['/proc/1001/ns/net', '/proc/1002/ns/net', '/run/netns/a', '/run/netns/b']) if (!k.containers.has(p)) k.addContainer(p);
  const s = speaker();
  const ipam = new Ipam(store, 'w1', [{ cidr: '198.51.100.0/28', zone: 'app' }]);
  const ctl = new EndpointController({ ipam, dataplane: new Dataplane(k, { driftDebounceMs: 1 }), advertiser: new Advertisements(s), reconcileIntervalMs: 0, watchDrift: false, sources: ['docker', 'cni'] });
  return { k, store, s, ctl };
}
const docker = (n: number): EndpointSpec => ({ id: `d${n}`.padEnd(64, 'a'), name: `d${n}`, pid: 1000 + n, zone: 'app' });
const cni = (x: string, ifName = 'eth0'): EndpointSpec => ({ id: `c${x}`.padEnd(64, 'b'), name: `cni-${x}`, pid: 0, netnsPath: `/run/netns/${x}`, ifName, zone: 'app', source: 'cni' });
const links = (k: FakeKernel) => k.snapshot().links.filter((l) => l.startsWith('rtc')).sort();

describe('EndpointController with Docker and CNI sources', () => {
  it('waits for both first lists, then adopts their union; the CNI endpoint lives in its netns path under its ifname', async () => {
    const w = world();
    let adopted = false;
    void w.ctl.sync([docker(1)]).then(() => (adopted = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(adopted).toBe(false);
    expect(w.ctl.isSynced).toBe(false);
    expect(links(w.k)).toEqual([]);
    await w.ctl.sync([cni('a', 'net1')], 'cni');
    await w.ctl.settled();
    expect(w.ctl.isSynced).toBe(true);
    expect(w.ctl.list().map((v) => [v.name, v.state])).toEqual([
      ['cni-a', 'ready'],
      ['d1', 'ready'],
    ]);
    expect(w.k.containers.get('/run/netns/a')?.config).toMatchObject({ ifName: 'net1' });
    expect(links(w.k)).toHaveLength(2);
  });

  it("a later Docker sync replaces Docker's endpoints only; CNI's stay", async () => {
    const w = world();
    void w.ctl.sync([docker(1)]);
    await w.ctl.sync([cni('a')], 'cni');
    await w.ctl.add(cni('b'));
    await w.ctl.settled();
    await w.ctl.sync([docker(2)]);
    await w.ctl.settled();
    expect(w.ctl.list().map((v) => v.name).sort()).toEqual(['cni-a', 'cni-b', 'd2']);
    expect(links(w.k)).toHaveLength(3);
    // And a CNI sync replaces CNI's only.
    await w.ctl.sync([cni('b')], 'cni');
    await w.ctl.settled();
    expect(w.ctl.list().map((v) => v.name).sort()).toEqual(['cni-b', 'd2']);
    expect([...w.s.set].filter((p) => p.endsWith('/32'))).toHaveLength(2);
  });

  it('a new netns path for the same CNI endpoint re-plumbs it, keeping its address', async () => {
    const w = world();
    void w.ctl.sync([]);
    await w.ctl.sync([cni('a')], 'cni');
    await w.ctl.settled();
    const before = w.ctl.list()[0]!;
    await w.ctl.add({ ...cni('a'), netnsPath: '/run/netns/b' });
    await w.ctl.settled();
    const after = w.ctl.list()[0]!;
    expect(after.ipv4).toBe(before.ipv4);
    expect(w.k.containers.get('/run/netns/b')?.config).toMatchObject({ ipv4: before.ipv4 });
  });
});
