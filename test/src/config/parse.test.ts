/** Valid configs: defaults, normalisation (asdot, addresses, families), round trip. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatConfig, parseConfig } from '../../../src/config/index.js';

const base = 'routerId: 192.0.2.2\nasn: 65001\n';

describe('parseConfig', () => {
  it('fills in the defaults', () => {
    const cfg = parseConfig(base, 't', { hostname: 'host-a' });
    expect(cfg).toEqual({
      node: 'host-a',
      routerId: '192.0.2.2',
      asn: 65001,
      bgp: { listen: { address: '::', port: 179 }, holdTime: 90, connectRetryTime: 120, peers: [], advertise: [], allowDefault: false, import: [] },
      pools: [],
      runtime: {},
      store: { local: { path: '/var/lib/routectl' } },
      api: { socket: '/run/routectl/routectl.sock' },
      metrics: { listen: '127.0.0.1:9273' },
      zones: [],
    });
  });

  it('normalises asdot, quoted and unquoted, to asplain', () => {
    expect(parseConfig('routerId: 192.0.2.2\nasn: "1.10"\n', 't').asn).toBe(65546);
    // Unquoted 65000.10 would be the float 65000.1 to a YAML reader; it means 65000.10.
    expect(parseConfig('routerId: 192.0.2.2\nasn: 65000.10\n', 't').asn).toBe(65000 * 65536 + 10);
    expect(parseConfig('routerId: 192.0.2.2\nasn: 65000.1\n', 't').asn).toBe(65000 * 65536 + 1);
    expect(parseConfig('routerId: 192.0.2.2\nasn: "4200000000"\n', 't').asn).toBe(4200000000);
  });

  it('gives peers their defaults and families in canonical order without duplicates', () => {
    const cfg = parseConfig(`${base}bgp: { peers: [{ address: "2001:DB8::1", asn: 1, families: [ipv6-unicast, ipv4-unicast, ipv6-unicast] }, { address: 192.0.2.1, asn: 2 }] }\n`, 't');
    expect(cfg.bgp.peers).toEqual([
      { address: '2001:db8::1', asn: 1, port: 179, passive: false, families: ['ipv4-unicast', 'ipv6-unicast'] },
      { address: '192.0.2.1', asn: 2, port: 179, passive: false, families: ['ipv4-unicast', 'ipv6-unicast'] },
    ]);
  });

  it('canonical import entries', () => {
    const cfg = parseConfig(`${base}bgp: { import: ["10.0.0.0/8 ge 8 le 32", "10.0.0.0/8  ge 9", "0.0.0.0/0 le 0", "::/0 ge 0 le 0"] }\n`, 't');
    expect(cfg.bgp.import).toEqual(['10.0.0.0/8 le 32', '10.0.0.0/8 ge 9', '0.0.0.0/0', '::/0']);
  });

  it('format is a fixed point and parse(format(x)) equals x for generated configs', () => {
    const v4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map((o) => o.join('.'));
    const v6 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 7, maxLength: 7 }).map((g) => `2001:${g.map((x) => x.toString(16)).join(':')}`);
    const peer = fc.record(
      {
        address: fc.oneof(v4, v6),
        asn: fc.oneof(fc.integer({ min: 1, max: 23455 }), fc.integer({ min: 23457, max: 4294967295 })),
        passive: fc.boolean(),
        holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 65535 })),
        description: fc.string({ maxLength: 20 }).filter((s) => !/[\n\r]/.test(s)),
        families: fc.subarray(['ipv4-unicast', 'ipv6-unicast'], { minLength: 1 }),
      },
      { requiredKeys: ['address', 'asn'] },
    );
    fc.assert(
      fc.property(fc.uniqueArray(peer, { selector: (p) => p.address, maxLength: 4 }), fc.integer({ min: 1, max: 4294967295 }), (peers, asn) => {
        const text = JSON.stringify({ node: 'n', routerId: '192.0.2.2', asn, bgp: { peers } }); // JSON is YAML
        const cfg = parseConfig(text, 'gen');
        const out = formatConfig(cfg);
        const again = parseConfig(out, 'canonical');
        expect(again).toEqual(cfg);
        expect(formatConfig(again)).toBe(out);
      }),
      { numRuns: 200 },
    );
  });
});
