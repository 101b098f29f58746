// The Calico-style worker BIRD's configuration (bench/convergence): BIRD itself parses it
// (`bird -p`), with and without the IPv6 channel, and it says what the benchmark relies on.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calicoBirdConfig, type CalicoBirdOptions } from '../../bench/convergence/calico-bird.js';

const dir = mkdtempSync(join(tmpdir(), 'rtc-cbird-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: CalicoBirdOptions = { routerId: '203.0.113.2', asn: 65001, tor: '203.0.113.1', torAsn: 65000, pools: ['198.51.100.0/24'], ifPattern: 'cal*' };

/** `bird -p -c FILE`: parse only; throws with BIRD's message on a bad configuration. */
function birdParses(text: string, name: string): void {
  const file = join(dir, name);
  writeFileSync(file, text);
  execFileSync('bird', ['-p', '-c', file], { stdio: 'pipe' });
}

describe('calicoBirdConfig', () => {
  it('IPv4 only: learns kernel routes, exports the pool with next hop self, and BIRD accepts it', () => {
    const conf = calicoBirdConfig(base, join(dir, 'b.log'));
    expect(conf).toMatch(/protocol kernel \{[^}]*ipv4 \{ import all;[\s\S]*?learn;[\s\S]*?scan time 2;/);
    expect(conf).toContain('if ( net ~ [ 198.51.100.0/24{24,32} ] ) then accept;');
    expect(conf).toContain('ipv4 { import all; export filter calico_export_to_bgp_peers; next hop self; };');
    expect(conf).not.toContain('ipv6');
    birdParses(conf, 'v4.conf');
  });

  it('with IPv6: a second kernel protocol and an IPv6 channel on the same session, and BIRD accepts it', () => {
    const conf = calicoBirdConfig({ ...base, ipv6: { pools: ['2001:db8:18::/64'], nextHop: '2001:db8:ffff::2' } }, join(dir, 'b.log'));
    expect(conf).toMatch(/protocol kernel kernel6 \{\s*ipv6 \{ import all;[\s\S]*?learn;/);
    expect(conf).toContain('if ( net ~ [ 2001:db8:18::/64{64,128} ] ) then accept;');
    expect(conf).toContain('ipv6 { import all; export filter calico_export_to_bgp_peers_v6; next hop address 2001:db8:ffff::2; };');
    expect(conf.match(/^protocol bgp /gm)).toHaveLength(1);
    birdParses(conf, 'v46.conf');
  });

  it('a broken configuration is refused by the same check (the check can fail)', () => {
    expect(() => birdParses(calicoBirdConfig(base, join(dir, 'b.log')).replace('reject;', 'rejekt;'), 'bad.conf')).toThrow();
  });
});
