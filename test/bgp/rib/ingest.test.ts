/**
 * Ingest measurement: encoded UPDATEs -> decodeMessage -> Adj-RIB-In -> Loc-RIB, the
 * path a peer's full table takes. Prints prefixes/s and retained heap bytes per path.
 * INGEST_PREFIXES=1000000 for the full-size run (default 200k to stay quick in CI).
 * IPv4 /32s from 198.18.0.0/15 (131072 of them), the rest IPv6 /64s in 2001:db8::/32.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { AdjRibIn } from '../../../bgp/rib/adj-rib-in.js';
import { LocRib } from '../../../bgp/rib/loc-rib.js';
import { decodeMessage, packAnnouncements } from '../../../bgp/wire/index.js';
import type { CodecContext, PathAttributes, UpdateMessage } from '../../../bgp/wire/types.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = Number(process.env.INGEST_PREFIXES ?? 200_000);
const ctx: CodecContext = { asn4: true, extendedMessage: false };

function encodeTable(n: number): Buffer[] {
  const v4 = Math.min(n, 131072);
  const msgs: Buffer[] = [];
  // Real tables have many distinct attribute sets: one per 64 prefixes here.
  const chunk = 64;
  for (let i = 0; i < n; i += chunk) {
    const attrs: PathAttributes = {
      origin: 0,
      asPath: [{ type: 'sequence', asns: [65000, 64512 + (i % 1000), 4200000000 + (i % 77)] }],
      med: i % 10,
      communities: [(65000 << 16) >>> 0 | (i % 100)],
    };
    const ps: string[] = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) {
      ps.push(j < v4 ? `198.${18 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}/32` : `2001:db8:${((j >> 16) & 0xffff).toString(16)}:${(j & 0xffff).toString(16)}::/64`);
    }
    const v4ps = ps.filter((p) => !p.includes(':'));
    const v6ps = ps.filter((p) => p.includes(':'));
    msgs.push(...packAnnouncements('ipv4-unicast', attrs, ['203.0.113.1'], v4ps, ctx));
    msgs.push(...packAnnouncements('ipv6-unicast', attrs, ['2001:db8:ff::1', 'fe80::1'], v6ps, ctx));
  }
  return msgs;
}

const FILTERS: readonly (readonly string[])[] = [
  ['0.0.0.0/0 le 32', '::/0 le 128'], // whole families: no per-prefix parsing
  ['198.18.0.0/15 le 32', '2001:db8::/32 le 128'], // every prefix parsed and matched
];

describe('Adj-RIB-In ingest', () => {
  const msgs = encodeTable(N);
  it.each(FILTERS)(`takes ${N} prefixes with import [%s, %s]: throughput and bytes per path`, (...filter) => {
    const loc = new LocRib();
    const rin = new AdjRibIn('203.0.113.1', 65000, 65001, { filter });
    loc.addPeer(rin);
    gc();
    const before = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    for (const m of msgs) rin.apply(decodeMessage(m, ctx) as UpdateMessage);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    gc();
    const after = process.memoryUsage().heapUsed;
    const received = rin.counts('ipv4-unicast').accepted + rin.counts('ipv6-unicast').accepted;
    expect(received).toBe(N);
    expect(loc.size('ipv4-unicast') + loc.size('ipv6-unicast')).toBe(N);
    const rate = N / secs;
    const bytesPerPath = (after - before) / N;
    console.log(`ingest [${filter.join(', ')}]: ${N} prefixes in ${msgs.length} UPDATEs, ${secs.toFixed(2)} s, ${Math.round(rate)} prefixes/s, ${bytesPerPath.toFixed(0)} B/path retained (Adj-RIB-In + Loc-RIB)`);
    expect(bytesPerPath).toBeLessThanOrEqual(250);
    // Loose floor: the machine is shared; the report states the measured rate.
    expect(rate).toBeGreaterThan(50_000);
  });
});
