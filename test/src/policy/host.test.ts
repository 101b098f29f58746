// The host policy the agent derives from agent.yaml (src/policy/host.ts): protected ports on
// the worker itself and the fabric's control plane (docs/security.md). The kernel side is
// in test/lab/policy-security.test.ts.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { fabricPeers, hostPolicy, modelOf } from '../../../src/policy/index.js';
import { FABRIC_PORTS } from '../../../policy/compiler.js';

const base = [
  'routerId: 192.0.2.2',
  'asn: 65001',
  'bgp:',
  '  peers:',
  '    - { address: 203.0.113.1, asn: 65000 }',
  '    - { address: "2001:db8:ffff::1", asn: 65000 }',
  'pools: [{ cidr: 198.51.100.0/28, zone: app }]',
  'zones: [{ name: app, cidrs: [198.51.100.0/24] }]',
].join('\n');

describe('hostPolicy', () => {
  it('blocks the configured peers on BGP and BFD ports by default', () => {
    const cfg = parseConfig(`${base}\n`, 't');
    expect(cfg.policy).toBeUndefined();
    const h = hostPolicy(cfg, ['203.0.113.2']);
    expect(h.fabricPeers).toEqual(['203.0.113.1', '2001:db8:ffff::1']);
    expect(h.fabricPorts).toEqual(['tcp/179', 'udp/3784', 'udp/3785', 'udp/4784']);
    expect(h.fabricPorts).toEqual(FABRIC_PORTS);
  });

  it('protects the worker\'s own BGP listener, BFD and metrics ports whatever openControlPlane says', () => {
    for (const open of [false, true]) {
      const cfg = parseConfig(`${base}\npolicy: { openControlPlane: ${open} }\n`, 't');
      expect(hostPolicy(cfg, []).protectedPorts).toEqual(['tcp/179', 'udp/3784', 'udp/3785', 'udp/4784', 'tcp/9273']);
    }
  });

  it('policy.openControlPlane: true opens the peers; the zone model does not carry the key', () => {
    const cfg = parseConfig(`${base}\npolicy: { defaultAction: reject, openControlPlane: true }\n`, 't');
    expect(fabricPeers(cfg)).toEqual([]);
    expect(hostPolicy(cfg, []).fabricPeers).toEqual([]);
    expect(modelOf(cfg)?.policy).toEqual({ defaultAction: 'reject', logDrops: false });
  });
});
