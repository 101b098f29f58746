// The endpoint controller's policy hook: container start → addEndpoint (before the
// prefixes are advertised), stop → removeEndpoint, the first sync → replaceEndpoints with
// exactly the adopted endpoints; a failing policy call does not fail the endpoint.
import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/index.js';
import { EndpointController } from '../../../src/endpoints/controller.js';
import type { EndpointSpec, PolicyEndpointRef, PolicyPort } from '../../../src/endpoints/types.js';
import { Ipam } from '../../../src/ipam/index.js';
import { MemoryStore } from '../../../src/store/index.js';
import { FakeKernel } from '../dataplane/fake-kernel.js';

class RecordingPolicy implements PolicyPort {
  readonly calls: string[] = [];
  fail = false;
  constructor(private readonly order: string[]) {}
  addEndpoint(e: PolicyEndpointRef): Promise<void> {
    this.order.push(`policy add ${e.hostVeth}`);
    this.calls.push(`add ${e.hostVeth} ${e.ipv4} ${e.ipv6}`);
    return this.fail ? Promise.reject(new Error('ipset: boom')) : Promise.resolve();
  }
  removeEndpoint(e: PolicyEndpointRef): Promise<void> {
    this.calls.push(`remove ${e.hostVeth} ${e.ipv4} ${e.ipv6}`);
    return Promise.resolve();
  }
  replaceEndpoints(eps: readonly PolicyEndpointRef[]): Promise<void> {
    this.calls.push(`replace ${eps.map((e) => e.hostVeth).sort().join(' ')}`);
    return Promise.resolve();
  }
}

const idOf = (n: number): string => `${n.toString(16).padStart(2, '0')}c0ffee`.padEnd(64, 'a');
const spec = (n: number): EndpointSpec => ({ id: idOf(n), name: `c${n}`, pid: 1000 + n, zone: 'app' });

function world() {
  const k = new FakeKernel();
  for (const pid of [1001, 1002, 1003]) k.addContainer(`/proc/${pid}/ns/net`);
  const order: string[] = [];
  const policy = new RecordingPolicy(order);
  const ipam = new Ipam(new MemoryStore(), 'w1', [{ cidr: '198.51.100.0/28', zone: 'app' }, { cidr: '2001:db8:c:1::/120', zone: 'app' }]);
  const advertiser = { add: (p: readonly string[]) => p.length && order.push(`advertise ${p.join(' ')}`), remove: () => undefined };
  const ctl = new EndpointController({ ipam, dataplane: new Dataplane(k), advertiser, policy, reconcileIntervalMs: 0, watchDrift: false });
  return { ctl, policy, order };
}

describe('endpoint controller → policy hook', () => {
  it('adopt replaces, start adds before advertising, stop removes', async () => {
    const { ctl, policy, order } = world();
    await ctl.sync([spec(1)]);
    const veth1 = ctl.get(idOf(1))?.hostVeth;
    expect(veth1).toMatch(/^rtc[0-9a-f]{11}$/);
    expect(policy.calls).toEqual([`replace ${veth1}`]);

    await ctl.add(spec(2));
    await ctl.settled();
    const v = ctl.get(idOf(2));
    expect(v?.state).toBe('ready');
    expect(policy.calls[1]).toBe(`add ${v?.hostVeth} ${v?.ipv4} ${v?.ipv6}`);
    const i = order.indexOf(`policy add ${v?.hostVeth}`);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(order.slice(i + 1).some((o) => o.startsWith('advertise ') && o.includes(`${v?.ipv4}/32`))).toBe(true);

    await ctl.remove(idOf(2));
    await ctl.settled();
    expect(policy.calls[2]).toBe(`remove ${v?.hostVeth} ${v?.ipv4} ${v?.ipv6}`);
    await ctl.stop();
  });

  it('a failing policy call leaves the endpoint ready (the policy pass repairs)', async () => {
    const { ctl, policy } = world();
    await ctl.sync([]);
    policy.fail = true;
    await ctl.add(spec(3));
    await ctl.settled();
    expect(ctl.get(idOf(3))?.state).toBe('ready');
    expect(policy.calls.some((c) => c.startsWith('add '))).toBe(true);
    await ctl.stop();
  });
});
