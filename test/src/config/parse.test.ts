/** Valid configs: defaults, normalisation (asdot, addresses, families), round trip. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../../bgp/net/index.js';
import { formatConfig, parseConfig } from '../../../src/config/index.js';

const base = 'routerId: 192.0.2.2\nasn: 65001\n';

describe('parseConfig', () => {
  it('fills in the defaults', () => {
    const cfg = parseConfig(base, 't', { hostname: 'host-a' });
    expect(cfg).toEqual({
      node: 'host-a',
      routerId: '192.0.2.2',
      asn: 65001,
      bgp: { listen: { address: '::', port: 179 }, holdTime: 90, connectRetryTime: 120, peers: [], advertise: [], allowDefault: false, import: [], install: { enabled: true, table: 254, multipathRelax: false } },
      pools: [],
      runtime: {},
      store: { local: { path: '/var/lib/routectl' } },
      api: { socket: '/run/routectl/routectl.sock' },
      metrics: { listen: '127.0.0.1:9273' },
      zones: [],
    });
  });

  it('pools aggregate by default in cluster mode (store.etcd) only; an explicit setting wins', () => {
    const pools = 'zones: [{ name: app, cidrs: [198.51.100.0/22] }]\npools: [{ cidr: 198.51.100.0/24, zone: app }, { cidr: 198.51.101.0/24, zone: app, aggregate: false }, { cidr: 198.51.102.0/24, zone: app, aggregate: true }]\n';
    const local = parseConfig(base + pools, 't');
    expect(local.pools.map((p) => p.aggregate)).toEqual([false, false, true]);
    const etcd = parseConfig(`${base}${pools}store: { etcd: { endpoints: [http://203.0.113.5:2379] } }\n`, 't');
    expect(etcd.pools.map((p) => p.aggregate)).toEqual([true, false, true]);
    // The canonical form writes the resolved value out, and re-parses to the same.
    expect(parseConfig(formatConfig(etcd), 't')).toEqual(etcd);
    expect(formatConfig(etcd)).toContain('aggregate: true');
  });

  it('bgp.gracefulShutdown: the drain wait in seconds, printed back canonically', () => {
    const cfg = parseConfig(`${base}bgp: { gracefulShutdown: { wait: 10 } }\n`, 't', { hostname: 'h' });
    expect(cfg.bgp.gracefulShutdown).toEqual({ wait: 10 });
    expect(parseConfig(formatConfig(cfg), 't', { hostname: 'h' })).toEqual(cfg);
    expect(parseConfig(base, 't').bgp.gracefulShutdown).toBeUndefined();
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
      { address: '2001:db8::1', asn: 1, port: 179, passive: false, families: ['ipv4-unicast', 'ipv6-unicast'], enforceFirstAs: true },
      { address: '192.0.2.1', asn: 2, port: 179, passive: false, families: ['ipv4-unicast', 'ipv6-unicast'], enforceFirstAs: true },
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

describe('TCP-MD5 passwords and GTSM', () => {
  const peer = (extra: string): string => `${base}bgp: { peers: [{ address: 192.0.2.1, asn: 65000${extra} }] }\n`;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rtc-pw-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string, mode: number): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    chmodSync(p, mode);
    return p;
  };

  it('an inline password becomes a Secret; validate prints <redacted>, never the password', () => {
    const cfg = parseConfig(peer(', password: "s3cr3t pw", ttlSecurity: { hops: 1 }'), 't');
    const p = cfg.bgp.peers[0]!;
    expect(p.password).toBeInstanceOf(Secret);
    expect(p.password!.bytes().toString()).toBe('s3cr3t pw');
    expect(p.ttlSecurity).toEqual({ hops: 1 });
    const text = formatConfig(cfg);
    expect(text).not.toContain('s3cr3t');
    expect(text).toContain('password: <redacted>');
    expect(text).toContain('ttlSecurity: { hops: 1 }');
    expect(JSON.stringify(cfg)).not.toContain('s3cr3t');
  });

  it('passwordFile: read at load, final newline dropped, the path (not the secret) printed', () => {
    const f = file('tor-a.pw', 'from-a-file\n', 0o600);
    const cfg = parseConfig(peer(`, passwordFile: ${f}`), 't');
    const p = cfg.bgp.peers[0]!;
    expect(p.password!.bytes().toString()).toBe('from-a-file');
    expect(p.passwordFile).toBe(f);
    const text = formatConfig(cfg);
    expect(text).toContain(`passwordFile: ${f}`);
    expect(text).not.toContain('from-a-file');
    // The canonical form re-parses to the same password.
    expect(parseConfig(text, 'again').bgp.peers[0]!.password!.equals(p.password!)).toBe(true);
  });

  it('refuses a password file readable by group or others, naming the mode and the fix', () => {
    for (const mode of [0o640, 0o604, 0o644]) {
      const f = file(`m${mode.toString(8)}.pw`, 'x', mode);
      expect(() => parseConfig(peer(`, passwordFile: ${f}`), 't')).toThrow(
        `bgp.peers[0].passwordFile: ${f} is readable by group or others (mode 0${mode.toString(8)}); fix: chmod 600 ${f}`,
      );
    }
    expect(parseConfig(peer(`, passwordFile: ${file('ok.pw', 'x', 0o400)}`), 't').bgp.peers[0]!.password).toBeInstanceOf(Secret);
  });

  it('refuses password and passwordFile together, and an empty or overlong file', () => {
    const f = file('both.pw', 'x', 0o600);
    expect(() => parseConfig(peer(`, password: y, passwordFile: ${f}`), 't')).toThrow('bgp.peers[0].passwordFile: password and passwordFile both given; fix: keep one of them');
    const empty = file('empty.pw', '\n', 0o600);
    expect(() => parseConfig(peer(`, passwordFile: ${empty}`), 't')).toThrow(`empty password in ${empty}`);
    const long = file('long.pw', 'y'.repeat(81), 0o600);
    expect(() => parseConfig(peer(`, passwordFile: ${long}`), 't')).toThrow(`password in ${long} is 81 bytes, longer than the 80 TCP-MD5 allows`);
  });

  it('ttlSecurity hops 1..254 (RFC 5082: accept TTL >= 256 - hops)', () => {
    expect(parseConfig(peer(', ttlSecurity: { hops: 254 }'), 't').bgp.peers[0]!.ttlSecurity).toEqual({ hops: 254 });
    expect(() => parseConfig(peer(', ttlSecurity: { hops: 255 }'), 't')).toThrow('bgp.peers[0].ttlSecurity.hops: 255 is out of range');
  });
});
