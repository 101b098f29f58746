// The ToR examples in deploy/tor/ are checked by the routers themselves: FRR's vtysh and
// BIRD parse them (`vtysh --dryrun`, `bird -p`), and a corrupted copy must be refused, so
// the check is known to bite. No daemon is started and no namespace is touched.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'rtc-tor-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const checks = [
  { name: 'FRR', file: 'deploy/tor/frr.conf', argv: (f: string) => ['vtysh', '--dryrun', '-f', f], corrupt: ' neighbor WORKERS no-such-keyword\n', zone: /permit 65000:100\n[\s\S]*match community ZONE-DMZ/ },
  { name: 'BIRD', file: 'deploy/tor/bird.conf', argv: (f: string) => ['bird', '-p', '-c', f], corrupt: 'protocol bgp broken { no_such_option; }\n', zone: /ZONE_DMZ = \(65000, 100\)[\s\S]*zone_dmz\(\);/ },
] as const;

describe.each(checks)('deploy/tor example for $name', ({ file, argv, corrupt, zone }) => {
  it('is accepted by the router', () => {
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('203.0.113.0/26');
    // The dmz zone's tags are matched on the way to the uplink.
    expect(text).toMatch(zone);
    const [cmd, ...args] = argv(file);
    const r = spawnSync(cmd!, args, { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('a corrupted copy is refused (the check bites)', () => {
    const bad = join(dir, file.replace(/\//g, '_'));
    writeFileSync(bad, readFileSync(file, 'utf8') + corrupt);
    const [cmd, ...args] = argv(bad);
    const r = spawnSync(cmd!, args, { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});

