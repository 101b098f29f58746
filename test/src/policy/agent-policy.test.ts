// The agent's policy glue (src/policy) over a recording executor: what it runs for start,
// endpoint add/remove (ipset only), restart seeding, reload to no zones, the show view's
// counters, check's resolution of containers/addresses/zones, and the drop metrics.
// Real-kernel behaviour is covered by test/lab/policy-agent.test.ts.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { AgentPolicy, PolicyLookupError, findContainer, hostAddresses } from '../../../src/policy/index.js';
import { denyPair, registerPolicyMetrics } from '../../../src/metrics/policy.js';
import { buildModel } from '../../../policy/model.js';
import type { ExecResult, Executor } from '../../../policy/exec.js';
import { linkLocalFromMac } from '../../../policy/cidr.js';
import { containerMac } from '../../../src/endpoints/controller.js';

const MODEL = buildModel(
  [
    { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80'] }] },
    { name: 'app', cidrs: ['198.51.100.64/26', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] },
    { name: 'backend', cidrs: ['198.51.100.128/26', '2001:db8:c:3::/64'], ingress: [{ from: 'app', ports: ['tcp/5432'] }] },
  ],
  { defaultAction: 'drop' },
);
const HOST = { addresses: ['203.0.113.1'], protectedPorts: ['tcp/179', 'tcp/9273'], open: [] };

class RecordingExec implements Executor {
  readonly calls: { argv: readonly string[]; stdin: string }[] = [];
  outputs: Record<string, string> = {};
  run(argv: readonly string[], stdin?: string): Promise<ExecResult> {
    this.calls.push({ argv, stdin: stdin ?? '' });
    const key = argv.slice(0, 2).join(' ');
    return Promise.resolve({ code: 0, stdout: this.outputs[key] ?? this.outputs[argv[0] ?? ''] ?? '', stderr: '' });
  }
  take(): { argv: readonly string[]; stdin: string }[] {
    return this.calls.splice(0);
  }
}

const log = pino({ level: 'silent' });
const newPolicy = (exec: RecordingExec) => new AgentPolicy({ log, intervalMs: 0, executor: exec });
const writes = (calls: { argv: readonly string[]; stdin: string }[]) => calls.filter((c) => !/-save$/.test(c.argv[0] ?? '') && c.argv[1] !== 'save');

describe('AgentPolicy', () => {
  it('start applies rules and sets; an endpoint add/remove is one ipset batch and no iptables write', async () => {
    const exec = new RecordingExec();
    const p = newPolicy(exec);
    await p.configure(MODEL, HOST);
    const start = exec.take();
    expect(start.some((c) => c.argv[0] === 'iptables-restore' && c.stdin.includes('ROUTECTL-FROM-dmz'))).toBe(true);
    expect(start.some((c) => c.argv[0] === 'ip6tables-restore')).toBe(true);
    expect(start.some((c) => c.argv.join(' ') === 'ipset restore' && c.stdin.includes('rtc-a-z-backend-4'))).toBe(true);

    await p.addEndpoint({ id: 'c1', hostVeth: 'rtc0123456789a', ipv4: '198.51.100.5', ipv6: '2001:db8:c:1::5' });
    const add = exec.take();
    expect(add.map((c) => c.argv.join(' '))).toEqual(['ipset -exist restore', 'nft -f -']);
    // The container's link-local (from the MAC the controller gives it) is its second IPv6 member.
    const ll = linkLocalFromMac(containerMac('c1'));
    expect(ll).toMatch(/^fe80::/);
    expect(add[0]?.stdin).toBe(`add rtc-ep-4 198.51.100.5,rtc0123456789a\nadd rtc-ep-6 2001:db8:c:1::5,rtc0123456789a\nadd rtc-ep-6 ${ll},rtc0123456789a\n`);
    expect(add[1]?.stdin).toBe('add element arp routectl ep4 { "rtc0123456789a" . 198.51.100.5 }\n');

    await p.removeEndpoint({ id: 'c1', hostVeth: 'rtc0123456789a', ipv4: '198.51.100.5', ipv6: null });
    const del = exec.take();
    expect(del.map((c) => c.argv.join(' '))).toEqual(['ipset -exist restore', 'nft -f -']);
    expect(del[0]?.stdin).toBe('del rtc-ep-4 198.51.100.5,rtc0123456789a\n');
  });

  it('keeps the previous run\'s endpoints until the controller adopts, then exactly the adopted ones', async () => {
    const exec = new RecordingExec();
    exec.outputs['ipset save'] = [
      'create rtc-ep-4 hash:net,iface family inet hashsize 1024 maxelem 262144',
      'add rtc-ep-4 198.51.100.5,rtc0123456789a',
      'add rtc-ep-4 198.51.100.9,rtcdead0000000',
      'create rtc-ep-6 hash:net,iface family inet6 hashsize 1024 maxelem 262144',
      'add rtc-ep-6 2001:db8:c:1::5,rtc0123456789a',
      'create other-set hash:ip family inet',
      'add other-set 10.0.0.1',
    ].join('\n');
    const p = newPolicy(exec);
    await p.configure(MODEL, HOST);
    // The kernel (as the fake reports it) already holds both: the render keeps them.
    const restore = exec.take().find((c) => c.argv.join(' ') === 'ipset restore');
    expect(restore?.stdin).toContain('198.51.100.5,rtc0123456789a');
    expect(restore?.stdin).toContain('198.51.100.9,rtcdead0000000');
    expect(restore?.stdin).toContain('2001:db8:c:1::5,rtc0123456789a');
    expect(restore?.stdin).not.toContain('other-set');
    expect((await p.show()).endpoints).toBe(2);

    await p.replaceEndpoints([{ id: 'c1', hostVeth: 'rtc0123456789a', ipv4: '198.51.100.5', ipv6: '2001:db8:c:1::5' }]);
    expect((await p.show()).endpoints).toBe(1);
    const after = exec.take();
    // The fake kernel reports no rules, so the pass rewrites everything: the endpoint set is
    // refilled with the adopted container only (the dead one's member is gone).
    const refill = after.filter((c) => c.argv.join(' ') === 'ipset restore').at(-1);
    expect(refill?.stdin).toContain('198.51.100.5,rtc0123456789a');
    expect(refill?.stdin).not.toContain('rtcdead0000000');
  });

  it('with no zones touches nothing; a reload that drops every zone removes own objects only', async () => {
    const exec = new RecordingExec();
    const p = newPolicy(exec);
    expect(await p.configure(undefined, HOST)).toBeNull();
    expect(exec.take()).toEqual([]);
    await p.addEndpoint({ id: 'c', hostVeth: 'rtc0123456789a', ipv4: '198.51.100.5', ipv6: null });
    expect(exec.take()).toEqual([]);
    expect((await p.show()).enabled).toBe(false);

    await p.configure(MODEL, HOST);
    exec.take();
    exec.outputs['iptables-save'] = '*filter\n:ROUTECTL-FWD - [0:0]\n[0:0] -A FORWARD -m comment --comment "routectl:jump" -j ROUTECTL-FWD\nCOMMIT\n';
    exec.outputs['ipset save'] = 'create rtc-a-z-dmz-4 hash:net family inet maxelem 65536\ncreate foreign hash:net family inet\n';
    await p.configure(undefined, HOST);
    const rm = writes(exec.take());
    const text = rm.map((c) => `${c.argv.join(' ')}\n${c.stdin}`).join('\n');
    expect(text).toContain('-D FORWARD -m comment --comment "routectl:jump" -j ROUTECTL-FWD');
    expect(text).toContain('-X ROUTECTL-FWD');
    expect(text).toContain('ipset destroy rtc-a-z-dmz-4');
    expect(text).not.toContain('foreign');
    expect(p.enabled).toBe(false);
  });

  it('show sums counters per rule over both families and lists drops per zone pair', async () => {
    const exec = new RecordingExec();
    const p = newPolicy(exec);
    await p.configure(MODEL, HOST);
    exec.outputs['iptables-save'] = [
      '*filter',
      '[7:420] -A ROUTECTL-FROM-dmz -m set --match-set rtc-a-z-backend-4 dst -m comment --comment "routectl:deny dmz->backend" -j DROP',
      '[3:180] -A ROUTECTL-FROM-dmz -p tcp -m set --match-set rtc-a-z-app-4 dst -m tcp --dport 8080 -m comment --comment "routectl:allow dmz->app tcp/8080 zones[1].ingress[0]" -j ACCEPT',
      '[2:120] -A ROUTECTL-SPOOF -m comment --comment "routectl:spoof-drop" -j DROP',
      'COMMIT',
    ].join('\n');
    exec.outputs['ip6tables-save'] = '*filter\n[1:80] -A ROUTECTL-FROM-dmz -m set --match-set rtc-a-z-backend-6 dst -m comment --comment "routectl:deny dmz->backend" -j DROP\nCOMMIT\n';
    const s = await p.show();
    const deny = s.rules.find((r) => r.id === 'deny dmz->backend');
    expect(deny).toMatchObject({ from: 'dmz', to: 'backend', action: 'deny', packets: 8, bytes: 500, ipv4: { packets: 7, bytes: 420 }, ipv6: { packets: 1, bytes: 80 } });
    expect(s.rules.find((r) => r.id.startsWith('allow dmz->app'))).toMatchObject({ ports: 'tcp/8080', packets: 3 });
    expect(s.drops.find((d) => d.from === 'dmz' && d.to === 'backend')?.packets).toBe(8);
    expect(s.system).toContainEqual({ chain: 'ROUTECTL-SPOOF', id: 'spoof-drop', packets: 2, bytes: 120 });
    expect(s.zones.map((z) => z.name)).toEqual(['dmz', 'app', 'backend']);

    const registry = new Registry();
    registerPolicyMetrics(registry, () => p);
    const text = await registry.metrics();
    expect(text).toContain('routectl_policy_drops_total{from="dmz",to="backend"} 8');
    expect(text).toMatch(/routectl_policy_rule_packets_total\{family="ipv4",chain="ROUTECTL-SPOOF",rule="spoof-drop"\} 2/);
    // A rebuilt chain restarts its kernel counter: the exported counter never goes down.
    exec.outputs['iptables-save'] = '*filter\n[1:60] -A ROUTECTL-FROM-dmz -m set --match-set rtc-b-z-backend-4 dst -m comment --comment "routectl:deny dmz->backend" -j DROP\nCOMMIT\n';
    exec.outputs['ip6tables-save'] = '';
    expect(await registry.metrics()).toContain('routectl_policy_drops_total{from="dmz",to="backend"} 9');
  });

  it('check resolves containers, addresses and zones, and refuses unknown names', async () => {
    const p = newPolicy(new RecordingExec());
    expect(() => p.check('dmz', 'app', 'tcp/8080', [])).toThrow(PolicyLookupError);
    await p.configure(MODEL, HOST);
    const ctrs = [
      { id: 'aaaa1111', name: 'web', ipv4: '198.51.100.5', ipv6: '2001:db8:c:1::5' },
      { id: 'bbbb2222', name: 'db', ipv4: null, ipv6: '2001:db8:c:3::5' },
      { id: 'bbbb3333', name: 'api', ipv4: '198.51.100.70', ipv6: null },
    ];
    const a = p.check('web', 'api', 'tcp/8080', ctrs);
    expect(a).toMatchObject({ verdict: 'allow', from: 'dmz', to: 'app', src: { kind: 'container', address: '198.51.100.5', zone: 'dmz' }, dst: { address: '198.51.100.70' } });
    expect(a.rule).toMatch(/^allow dmz->app tcp\/8080/);
    // db has only IPv6: the family follows.
    expect(p.check('web', 'db', 'tcp/5432', ctrs)).toMatchObject({ verdict: 'deny', rule: 'deny dmz->backend', src: { address: '2001:db8:c:1::5' } });
    expect(p.check('203.0.113.50', 'dmz', 'tcp/80', ctrs)).toMatchObject({ verdict: 'allow', from: 'world', to: 'dmz' });
    expect(p.check('app', 'backend', 'tcp/5432', ctrs).verdict).toBe('allow');
    expect(p.check('aaaa', 'app', 'tcp/22', ctrs)).toMatchObject({ verdict: 'deny', rule: 'deny dmz->app' });
    expect(() => p.check('nope', 'app', 'tcp/22', ctrs)).toThrow(expect.objectContaining({ status: 404 }));
    expect(() => p.check('bbbb', 'app', 'tcp/22', ctrs)).toThrow(expect.objectContaining({ status: 409 }));
    expect(() => p.check('web', 'app', 'tcp/99999', ctrs)).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => p.check('db', '198.51.100.70', 'tcp/22', ctrs)).toThrow(/no IPv4 address/);
  });
});

describe('helpers', () => {
  it('findContainer: name, /name, id, unique prefix', () => {
    const all = [{ id: 'abc123', name: 'x', ipv4: null, ipv6: null }, { id: 'abd456', name: 'y', ipv4: null, ipv6: null }];
    expect(findContainer(all, '/x')?.id).toBe('abc123');
    expect(findContainer(all, 'abd')?.name).toBe('y');
    expect(findContainer(all, 'zzz')).toBeUndefined();
    expect(() => findContainer(all, 'ab')).toThrow(PolicyLookupError);
  });
  it('hostAddresses leaves out loopback and link-local', () => {
    const got = hostAddresses({
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
      eth0: [
        { address: '203.0.113.1', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '203.0.113.1/24' },
        { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
        { address: '2001:db8:f::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: '2001:db8:f::1/64', scopeid: 0 },
      ],
    });
    expect(got).toEqual(['2001:db8:f::1', '203.0.113.1']);
  });
  it('denyPair', () => {
    expect(denyPair('deny dmz->backend')).toEqual({ from: 'dmz', to: 'backend' });
    expect(denyPair('deny a-->b')).toEqual({ from: 'a-', to: 'b' });
    expect(denyPair('allow dmz->app tcp/8080 zones[1].ingress[0]')).toBeUndefined();
  });
});
