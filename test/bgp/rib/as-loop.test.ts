/**
 * RFC 4271 9.1.2: a route whose AS_PATH already holds our own AS is a loop. It is kept
 * visible in the Adj-RIB-In as not accepted, with the reason, whatever the import filter
 * says (a ToR such as FRR sends our own prefixes back to us with its AS prepended).
 */
import { describe, expect, it } from 'vitest';
import { AdjRibIn } from '../../../bgp/rib/adj-rib-in.js';
import { v4Update, v6Update } from './helpers.js';

const ALL = ['0.0.0.0/0 le 32', '::/0 le 128'];
const LOCAL = 4200000001;

describe('Adj-RIB-In: AS path loops', () => {
  it('a path through our own AS is filtered with the loop as the reason, even when the import list accepts it', () => {
    const rin = new AdjRibIn('203.0.113.1', 4200000000, LOCAL, { filter: ALL });
    rin.apply(v4Update(['198.51.100.1/32'], { asPath: [{ type: 'sequence', asns: [4200000000, LOCAL] }] }));
    rin.apply(v6Update(['2001:db8:c::1/128'], { asPath: [{ type: 'sequence', asns: [4200000000] }, { type: 'set', asns: [65010, LOCAL] }] }));
    rin.apply(v4Update(['0.0.0.0/0'], { asPath: [{ type: 'sequence', asns: [4200000000] }] }));
    expect(rin.counts('ipv4-unicast')).toEqual({ received: 2, accepted: 1, filtered: 1 });
    expect(rin.counts('ipv6-unicast')).toEqual({ received: 1, accepted: 0, filtered: 1 });
    expect(rin.lookup('ipv4-unicast', '198.51.100.1/32')).toMatchObject({ accepted: false, reason: 'AS path contains our AS 4200000001 (loop, RFC 4271 9.1.2)' });
    expect(rin.lookup('ipv6-unicast', '2001:db8:c::1/128')?.reason).toMatch(/loop/);
    expect(rin.lookup('ipv4-unicast', '0.0.0.0/0')?.accepted).toBe(true);
    expect([...rin.routes()].filter((r) => !r.accepted).map((r) => r.reason)).toEqual([
      'AS path contains our AS 4200000001 (loop, RFC 4271 9.1.2)',
      'AS path contains our AS 4200000001 (loop, RFC 4271 9.1.2)',
    ]);
  });

  it('a changed import filter does not let a loop in', () => {
    const rin = new AdjRibIn('203.0.113.1', 4200000000, LOCAL, { filter: ['0.0.0.0/0'] });
    rin.apply(v4Update(['198.51.100.1/32'], { asPath: [{ type: 'sequence', asns: [4200000000, LOCAL] }] }));
    expect(rin.lookup('ipv4-unicast', '198.51.100.1/32')?.reason).toMatch(/loop/);
    rin.setFilter(ALL);
    expect(rin.lookup('ipv4-unicast', '198.51.100.1/32')).toMatchObject({ accepted: false, reason: expect.stringMatching(/loop/) });
    expect(rin.counts('ipv4-unicast').accepted).toBe(0);
  });
});
