/** Unnumbered peers in agent.yaml: `interface:` instead of `address:`, `asn: external | internal`, and what is refused. */
import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfig, parseConfig } from '../../../src/config/index.js';
import { speakerConfig } from '../../../src/agent.js';

const base = 'routerId: 192.0.2.2\nasn: 65001\n';
const peers = (yaml: string): string => `${base}bgp:\n  peers:\n${yaml}`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 't');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected the config to be refused');
}

describe('unnumbered peers', () => {
  it('parse, print canonically and re-parse to the same config', () => {
    const cfg = parseConfig(peers('    - { interface: eth1, asn: external }\n    - { interface: eth2, asn: 65000, passive: true }\n    - { interface: eth3, asn: internal }\n'), 't');
    expect(cfg.bgp.peers.map((p) => [p.interface, p.address, p.asn, p.passive])).toEqual([
      ['eth1', undefined, 'external', false],
      ['eth2', undefined, 65000, true],
      ['eth3', undefined, 'internal', false],
    ]);
    const text = formatConfig(cfg);
    expect(text).toContain('interface: eth1');
    expect(text).toContain('asn: external');
    expect(parseConfig(text, 't')).toEqual(cfg);
  });

  it('go to the speaker known by the interface name', () => {
    const cfg = parseConfig(peers('    - { interface: eth1, asn: external }\n    - { address: 192.0.2.1, asn: 65000 }\n'), 't');
    const sp = speakerConfig(cfg).peers;
    expect(sp[0]).toMatchObject({ address: 'eth1', interface: 'eth1', asn: 'external' });
    expect(sp[1]).toMatchObject({ address: '192.0.2.1', asn: 65000 });
    expect(sp[1]).not.toHaveProperty('interface');
  });

  it.each([
    ['an address and an interface', '    - { address: 192.0.2.1, interface: eth1, asn: 65000 }\n', /bgp\.peers\[0\]\.address: a peer has either an address or an interface \(unnumbered\), not both/],
    ['neither', '    - { asn: 65000 }\n', /bgp\.peers\[0\]: a peer needs an address, or an interface \(unnumbered\)/],
    ['a bare link-local address', '    - { address: "fe80::1", asn: 65000 }\n', /bgp\.peers\[0\]\.address: fe80::1 is an IPv6 link-local address: it names no router without its link/],
    ['a bad interface name', '    - { interface: "eth1/2", asn: 65000 }\n', /bgp\.peers\[0\]\.interface: "eth1\/2" is not an interface name/],
    ['a name longer than IFNAMSIZ', '    - { interface: abcdefghijklmnop, asn: 65000 }\n', /is not an interface name \(1\.\.15 characters/],
    ['the same interface twice', '    - { interface: eth1, asn: 65000 }\n    - { interface: eth1, asn: 65002 }\n', /bgp\.peers\[1\]\.interface: duplicate peer on interface eth1 \(also bgp\.peers\[0\]\)/],
    ['a password', '    - { interface: eth1, asn: 65000, password: secret }\n', /bgp\.peers\[0\]\.password: TCP-MD5 is not supported for unnumbered peers/],
    ['a local address', '    - { interface: eth1, asn: 65000, localAddress: "2001:db8::1" }\n', /bgp\.peers\[0\]\.localAddress: an unnumbered peer on eth1 talks from this worker's link-local address/],
    ['BFD', '    - { interface: eth1, asn: 65000, bfd: {} }\n', /bgp\.peers\[0\]\.bfd: BFD is not supported for unnumbered peers yet/],
    ['an AS that is neither a number nor external/internal', '    - { interface: eth1, asn: outside }\n', /bgp\.peers\[0\]\.asn: expected an AS number, got "outside"/],
  ])('refuses %s, naming what is wrong', (_what, yaml, message) => {
    expect(problems(peers(yaml)).join('\n')).toMatch(message);
  });

  it('a passive unnumbered peer needs a listener that takes IPv6', () => {
    const text = `${base}bgp:\n  listen: { address: 0.0.0.0 }\n  peers:\n    - { interface: eth1, asn: 65000, passive: true }\n`;
    expect(problems(text).join('\n')).toMatch(/passive unnumbered peer \(IPv6 link-local\), but bgp\.listen\.address 0\.0\.0\.0 only accepts IPv4/);
  });
});
