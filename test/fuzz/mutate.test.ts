// Mutation fuzzer for the wire codec. Valid messages are mutated (bit flips, byte
// replacements, truncations, length-field edits, insertions, splices) and decoded
// under several session contexts. Decoding must return a typed message or throw
// BgpNotification: never another exception, never hang. Any input that breaks this is
// written to test/fuzz/corpus/ (check it in); the corpus is replayed on every run.
//
//   FUZZ_ITERATIONS=1000000 FUZZ_SEED=1234 npx vitest run test/fuzz/mutate.test.ts
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import {
  BgpNotification,
  KEEPALIVE,
  MessageFramer,
  decodeMessage,
  encodeEndOfRib,
  encodeMessage,
  packAnnouncements,
  packWithdrawals,
  shutdownNotification,
  type BgpMessage,
  type CodecContext,
} from '../../bgp/wire/index.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), 'corpus');
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 0x7fffffff));

const CONTEXTS: readonly CodecContext[] = [
  { asn4: true, extendedMessage: false },
  { asn4: false, extendedMessage: true, internal: false },
  { asn4: true, extendedMessage: true, internal: true, mpErrorHandling: 'afisafi-disable' },
];
const TYPES = new Set(['OPEN', 'UPDATE', 'NOTIFICATION', 'KEEPALIVE', 'ROUTE_REFRESH']);

function seeds(): Buffer[] {
  const ctx4 = CONTEXTS[0]!;
  const ctx2 = CONTEXTS[1]!;
  const attrs = {
    origin: 0 as const,
    asPath: [
      { type: 'sequence' as const, asns: [65001, 4200000001] },
      { type: 'set' as const, asns: [65010, 65011] },
    ],
    med: 10,
    localPref: 100,
    atomicAggregate: true,
    aggregator: { asn: 4200000009, address: '192.0.2.9' },
    communities: [0xfde90001],
    largeCommunities: [[4200000001, 1, 2]] as const,
    unknown: [{ flags: 0xc0, code: 99, value: Buffer.from('deadbeef', 'hex') }],
  };
  const msgs: BgpMessage[] = [
    {
      type: 'OPEN',
      version: 4,
      myAs: 23456,
      holdTime: 90,
      bgpId: '192.0.2.2',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'enhanced-route-refresh' },
        { kind: 'extended-nexthop', entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] },
        { kind: 'extended-message' },
        { kind: 'graceful-restart', restartState: true, notification: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingState: true }] },
        { kind: 'four-octet-as', asn: 4200000001 },
        { kind: 'add-path', entries: [{ afi: 2, safi: 1, sendReceive: 1 }] },
        { kind: 'fqdn', hostname: 'w1', domain: 'example' },
      ],
    },
    KEEPALIVE,
    shutdownNotification(2, 'maintenance window'),
    { type: 'NOTIFICATION', code: 3, subcode: 5, data: Buffer.from('c00704fde9', 'hex') },
    { type: 'ROUTE_REFRESH', afi: 2, safi: 1, subtype: 1 },
  ];
  const out = msgs.map((m) => encodeMessage(m));
  out.push(
    ...packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], ['198.51.100.0/24', '198.51.100.7/32', '10.0.0.0/8', '0.0.0.0/0'], ctx4),
    ...packAnnouncements('ipv6-unicast', attrs, ['2001:db8::2', 'fe80::2'], ['2001:db8:c::/48', '2001:db8::7/128', '::/0'], ctx4),
    ...packAnnouncements('ipv4-unicast', attrs, ['2001:db8::2'], ['198.51.100.7/32'], { ...ctx4, extendedNextHopV4: true }),
    ...packAnnouncements('ipv4-unicast', attrs, ['203.0.113.2'], ['198.51.100.0/24'], ctx2),
    ...packWithdrawals('ipv4-unicast', ['198.51.100.0/24', '198.51.100.7/32'], ctx4),
    ...packWithdrawals('ipv6-unicast', ['2001:db8:c::/48'], ctx4),
    encodeEndOfRib('ipv4-unicast'),
    encodeEndOfRib('ipv6-unicast'),
  );
  return out;
}

/** xorshift32: small, fast, reproducible from the printed seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const INTERESTING = [0, 1, 2, 3, 4, 5, 0x0f, 0x10, 0x1f, 0x20, 0x21, 0x40, 0x7f, 0x80, 0x81, 0x90, 0xc0, 0xe0, 0xfe, 0xff];

function mutate(input: Buffer, pool: readonly Buffer[], r: () => number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + (r() % 4);
  for (let k = 0; k < rounds; k++) {
    const pos = b.length > 0 ? r() % b.length : 0;
    switch (r() % 8) {
      case 0: // bit flip
        if (b.length) b[pos] = b[pos]! ^ (1 << (r() % 8));
        break;
      case 1: // byte replacement
        if (b.length) b[pos] = r() % 2 ? INTERESTING[r() % INTERESTING.length]! : r() & 0xff;
        break;
      case 2: // truncation
        b = b.subarray(0, r() % (b.length + 1));
        break;
      case 3: // length-field edit: a 1- or 2-octet field somewhere after the header
        if (b.length > 20) {
          const p = 19 + (r() % (b.length - 20));
          if (r() % 2) b[p] = INTERESTING[r() % INTERESTING.length]!;
          else b.writeUInt16BE(r() % 2 ? r() & 0xffff : (b.readUInt16BE(p) + (r() % 9) - 4) & 0xffff, p);
        }
        break;
      case 4: // insert random octets
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(Array.from({ length: 1 + (r() % 8) }, () => r() & 0xff)), b.subarray(pos)]);
        break;
      case 5: // delete octets
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + (r() % 8))]);
        break;
      case 6: {
        // splice: a piece of another message's body
        const other = pool[r() % pool.length]!;
        const from = 19 + (r() % Math.max(1, other.length - 19));
        const piece = other.subarray(from, from + 1 + (r() % 40));
        b = Buffer.concat([b.subarray(0, Math.max(19, pos)), piece, b.subarray(Math.max(19, pos) + (r() % 8))]);
        break;
      }
      default: // duplicate a range (repeated attributes, repeated capabilities)
        if (b.length > 20) {
          const s = 19 + (r() % (b.length - 19));
          const piece = b.subarray(s, s + 1 + (r() % 24));
          b = Buffer.concat([b.subarray(0, s), piece, b.subarray(s)]);
        }
    }
  }
  // Usually fix the header length so the body parsers, not the header check, see the damage.
  if (b.length >= 19 && r() % 4 !== 0) b.writeUInt16BE(Math.min(b.length, 0xffff), 16);
  return b;
}

/** Decodes under every context; returns a description of the first contract violation. */
function check(input: Buffer): string | undefined {
  for (const ctx of CONTEXTS) {
    try {
      const m = decodeMessage(input, ctx);
      if (!m || !TYPES.has(m.type)) return `returned ${JSON.stringify(m)}`;
      if (m.type === 'UPDATE' && m.handling === 'none') {
        // A clean decode must encode again and decode to the same thing (attributes of
        // families we ignore are not carried, by design).
        const { unsupportedFamilies: _u, ...clean } = m;
        const again = decodeMessage(encodeMessage(clean, { ...ctx, extendedMessage: true, extendedNextHopV4: true }), { ...ctx, extendedMessage: true });
        // Unknown optional transitive attributes come back with Partial set (RFC 4271 5)
        // and in ascending type order (RFC 4271 5: the order we send in).
        const noPartial = (u: BgpMessage): unknown =>
          u.type === 'UPDATE' && u.attributes.unknown
            ? {
                ...u,
                attributes: {
                  ...u.attributes,
                  unknown: u.attributes.unknown.map((a) => ({ ...a, flags: a.flags & ~0x20 })).sort((x, y) => x.code - y.code),
                },
              }
            : u;
        expect(noPartial(again)).toEqual(noPartial(clean));
      }
    } catch (e) {
      if (e instanceof BgpNotification) {
        if (!(e.code >= 1 && e.code <= 7) || !Buffer.isBuffer(e.data)) return `bad notification ${e.code}/${e.subcode}`;
        continue;
      }
      return `threw ${(e as Error)?.stack ?? String(e)}`;
    }
  }
  return undefined;
}

function save(input: Buffer): string {
  mkdirSync(CORPUS, { recursive: true });
  const name = `crash-${createHash('sha1').update(input).digest('hex').slice(0, 16)}.bin`;
  writeFileSync(join(CORPUS, name), input);
  return name;
}

test('corpus of past crashes replays cleanly', () => {
  const files = readdirSync(CORPUS).filter((f) => f.endsWith('.bin'));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const input = readFileSync(join(CORPUS, f));
    expect(check(input), f).toBeUndefined();
    // The stream framer must hold to the same contract over the same octets.
    try {
      for (const msg of new MessageFramer(65535).push(input)) check(msg);
    } catch (e) {
      expect(e, f).toBeInstanceOf(BgpNotification);
    }
  }
});

test(`mutation fuzzer: ${ITERATIONS} iterations`, () => {
  const pool = seeds();
  for (const s of pool) expect(check(s)).toBeUndefined();
  const r = rng(SEED);
  let slowest = 0;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(pool[r() % pool.length]!, pool, r);
    const t = performance.now();
    let failure: string | undefined;
    try {
      failure = check(input);
    } catch (e) {
      failure = `re-encode mismatch: ${(e as Error).message}`;
    }
    slowest = Math.max(slowest, performance.now() - t);
    if (failure !== undefined) {
      const name = save(input);
      throw new Error(`FUZZ_SEED=${SEED} iteration ${i}: ${failure}\ninput ${input.toString('hex')} saved as test/fuzz/corpus/${name}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`fuzz: seed ${SEED}, ${ITERATIONS} iterations in ${seconds.toFixed(1)} s, slowest decode ${slowest.toFixed(1)} ms`);
  // "Never hangs": no single input may take anywhere near a message's worth of time.
  expect(slowest, `FUZZ_SEED=${SEED}`).toBeLessThan(1000);
}, Math.max(120_000, ITERATIONS * 0.5));
