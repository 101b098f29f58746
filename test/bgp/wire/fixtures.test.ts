/**
 * Decodes every BGP message captured from FRR, BIRD and gobgpd in the lab
 * (test/fixtures/bgp/, see its README) and checks the decoded fields against the
 * configuration the capture ran with (manifest.json): ASNs, router ids, families,
 * prefixes, next hops, communities, shutdown text. Re-encoding must give an equal
 * message back, and the same bytes wherever the sender's encoding is the canonical one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  findCapability,
  peerAsn,
  type BgpMessage,
  type CodecContext,
  type OpenMessage,
  type UpdateMessage,
} from '../../../bgp/wire/index.js';

const DIR = join(import.meta.dirname, '../../fixtures/bgp');

interface Speaker {
  source: 'frr' | 'bird' | 'gobgp';
  asn: number;
  as4: boolean;
  routerId: string;
  v4: string;
  v6: string;
  linkLocal: string;
  families: string[];
  prefixes: string[];
  communities?: string[];
  largeCommunities?: string[];
  shutdownMessage?: string;
  prepend?: number[];
}
interface Manifest {
  scenarios: { name: string; speakers: Record<string, Speaker> }[];
  files: { file: string; scenario: string; from: string; to: string; type: string }[];
}

const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as Manifest;
const SOURCES = ['frr', 'bird', 'gobgp'] as const;
/** Fewest files per source the capture produces; fewer means the fixtures were not found or not regenerated fully. */
const MIN_FILES: Record<(typeof SOURCES)[number], number> = { frr: 30, bird: 15, gobgp: 7 };
/** Every config in the capture offers hold time 9 (the lab harness default). */
const HOLD_TIME = 9;
const TYPE_OF: Record<string, BgpMessage['type']> = {
  open: 'OPEN',
  update: 'UPDATE',
  notification: 'NOTIFICATION',
  keepalive: 'KEEPALIVE',
  'route-refresh': 'ROUTE_REFRESH',
};

interface Fixture {
  file: string;
  bytes: Buffer;
  scenario: string;
  sender: Speaker;
  /** Every speaker of that scenario, by ASN. */
  byAsn: Map<number, Speaker>;
  ctx: CodecContext;
  type: string;
}

function load(): Fixture[] {
  const out: Fixture[] = [];
  for (const src of SOURCES) {
    for (const name of readdirSync(join(DIR, src)).filter((f) => f.endsWith('.hex')).sort()) {
      const file = `${src}/${name}`;
      const entry = manifest.files.find((f) => f.file === file);
      if (!entry) throw new Error(`${file} is not in manifest.json`);
      const scen = manifest.scenarios.find((s) => s.name === entry.scenario);
      if (!scen) throw new Error(`${file}: unknown scenario ${entry.scenario}`);
      const sender = scen.speakers[entry.from.split(':')[0] ?? ''];
      if (!sender) throw new Error(`${file}: sender ${entry.from} not in scenario ${scen.name}`);
      const speakers = Object.values(scen.speakers);
      out.push({
        file,
        bytes: Buffer.from(readFileSync(join(DIR, file), 'utf8').trim(), 'hex'),
        scenario: scen.name,
        sender,
        byAsn: new Map(speakers.map((s) => [s.asn, s])),
        // RFC 6793: 4-octet AS_PATH only when both ends sent the capability.
        ctx: { asn4: speakers.every((s) => s.as4), extendedMessage: false },
        type: entry.type,
      });
    }
  }
  return out;
}

const fixtures = load();
const community = (c: number): string => `${c >>> 16}:${c & 0xffff}`;

/**
 * The sender's bytes are canonical when they are what one encoder must produce: for an
 * OPEN, all capabilities in one optional parameter; for an UPDATE, MP_(UN)REACH_NLRI
 * first (RFC 7606 5.1), the others in ascending type order, Extended Length only on
 * values over 255 octets. FRR and BIRD always use Extended Length for the MP attributes
 * and FRR splits capabilities into one parameter each: those are checked by value only.
 */
function canonical(b: Buffer): boolean {
  if (b[18] === 1) {
    const optLen = b[28] ?? 0;
    return optLen === 0 || (b[29] === 2 && (b[30] ?? 0) + 2 === optLen);
  }
  if (b[18] !== 2) return true;
  const wlen = b.readUInt16BE(19);
  const alen = b.readUInt16BE(21 + wlen);
  let p = 23 + wlen;
  let last = -1;
  while (p < 23 + wlen + alen) {
    const flags = b[p] ?? 0;
    const code = b[p + 1] ?? 0;
    const ext = (flags & 0x10) !== 0;
    const len = ext ? b.readUInt16BE(p + 2) : (b[p + 2] ?? 0);
    // RFC 7606 5.1: MP_REACH/MP_UNREACH first, then ascending type codes.
    const key = code === 14 || code === 15 ? 0 : code;
    if (key < last || (ext && len < 256)) return false;
    last = key;
    p += (ext ? 4 : 3) + len;
  }
  return true;
}

describe('captured BGP fixtures', () => {
  it('are all there, each listed in the manifest, per source', () => {
    for (const src of SOURCES) {
      const n = fixtures.filter((f) => f.sender.source === src).length;
      expect(n, `${src} fixtures`).toBeGreaterThanOrEqual(MIN_FILES[src]);
    }
    for (const f of manifest.files) expect(fixtures.some((x) => x.file === f.file), f.file).toBe(true);
    // Every source's directory holds only its own messages.
    for (const f of fixtures) expect(f.file.startsWith(`${f.sender.source}/`), f.file).toBe(true);
  });

  it('cover every message type from FRR and BIRD, and OPEN/UPDATE/KEEPALIVE/NOTIFICATION from gobgpd', () => {
    const types = (src: string) => new Set(fixtures.filter((f) => f.sender.source === src).map((f) => f.type));
    for (const src of ['frr', 'bird']) expect([...types(src)].sort()).toEqual(['keepalive', 'notification', 'open', 'route-refresh', 'update']);
    expect([...types('gobgp')].sort()).toEqual(['keepalive', 'notification', 'open', 'update']);
  });

  describe.each(fixtures.map((f) => [f.file, f] as const))('%s', (_name, f) => {
    const m = decodeMessage(f.bytes, f.ctx);
    const s = f.sender;

    it('decodes to the type it was captured as', () => {
      expect(m.type).toBe(TYPE_OF[f.type]);
    });

    it("matches the sender's configuration", () => {
      switch (m.type) {
        case 'OPEN':
          return checkOpen(m, f);
        case 'UPDATE':
          return checkUpdate(m, f);
        case 'NOTIFICATION':
          // RFC 9003: Cease / Administrative Shutdown with the configured text.
          expect([m.code, m.subcode]).toEqual([6, 2]);
          expect(m.shutdownMessage).toBe(s.shutdownMessage);
          return;
        case 'ROUTE_REFRESH': {
          expect(m.safi).toBe(1);
          expect(m.afi).toBe(f.file.includes('-ipv6') ? 2 : 1);
          // RFC 7313 3: 1 = BoRR, 2 = EoRR, 0 = a plain refresh request.
          expect(m.subtype).toBe(f.file.includes('-borr') ? 1 : f.file.includes('-eorr') ? 2 : 0);
          return;
        }
        case 'KEEPALIVE':
          expect(f.bytes.length).toBe(19);
          return;
      }
    });

    it('re-encodes to an equal message (and to the same bytes where the capture is canonical)', () => {
      const again = encodeMessage(m, f.ctx);
      expect(decodeMessage(again, f.ctx)).toEqual(m);
      if (canonical(f.bytes)) expect(again.toString('hex')).toBe(f.bytes.toString('hex'));
    });
  });

  it('compare bytes for a good share of each source (the canonical check is not vacuous)', () => {
    for (const src of SOURCES) {
      const mine = fixtures.filter((f) => f.sender.source === src);
      const canon = mine.filter((f) => canonical(f.bytes));
      expect(canon.length, `${src}: ${canon.length}/${mine.length} canonical`).toBeGreaterThanOrEqual(Math.ceil(mine.length / 4));
    }
    // ...and non-canonical ones exist too, so the exemption is really exercised.
    expect(fixtures.some((f) => !canonical(f.bytes))).toBe(true);
  });
});

function checkOpen(m: OpenMessage, f: Fixture): void {
  const s = f.sender;
  expect(m.version).toBe(4);
  expect(m.bgpId).toBe(s.routerId);
  expect(m.holdTime).toBe(HOLD_TIME);
  // RFC 6793 4.1: a 4-octet ASN goes in the capability; My AS carries AS_TRANS.
  expect(m.myAs).toBe(s.asn > 0xffff ? 23456 : s.asn);
  expect(peerAsn(m)).toBe(s.asn);
  expect(findCapability(m.capabilities, 'four-octet-as')?.asn).toBe(s.as4 ? s.asn : undefined);
  const mp = m.capabilities.filter((c) => c.kind === 'multiprotocol').map((c) => `${c.afi}/${c.safi}`);
  const want = s.families.map((fam) => (fam === 'ipv6-unicast' ? '2/1' : '1/1'));
  expect(mp.sort()).toEqual(want.sort());
  expect(findCapability(m.capabilities, 'route-refresh')).toBeDefined();
  if (s.source === 'frr') {
    // FRR 8.4 defaults: extended messages, enhanced refresh, its hostname, and graceful
    // restart as helper only: restart time 120 s and no family entries (RFC 4724 3).
    expect(findCapability(m.capabilities, 'extended-message')).toBeDefined();
    expect(findCapability(m.capabilities, 'enhanced-route-refresh')).toBeDefined();
    const gr = findCapability(m.capabilities, 'graceful-restart');
    expect(gr?.restartTime).toBe(120);
    expect(gr?.families).toEqual([]);
    expect(findCapability(m.capabilities, 'fqdn')?.hostname).toBe(`rtr-${s.routerId}`);
  }
  if (s.source === 'bird' && f.scenario === 'frr-bird') {
    // `enable extended messages on; graceful restart on;`
    expect(findCapability(m.capabilities, 'extended-message')).toBeDefined();
    expect(findCapability(m.capabilities, 'graceful-restart')?.families.map((x) => x.afi).sort()).toEqual([1, 2]);
  }
  if (s.source === 'bird' && f.scenario === 'frr-bird-as2') {
    // `enable as4 off; graceful restart off;`
    expect(findCapability(m.capabilities, 'graceful-restart')).toBeUndefined();
  }
}

function checkUpdate(m: UpdateMessage, f: Fixture): void {
  const s = f.sender;
  expect(m.handling).toBe('none');
  expect(m.errors).toEqual([]);
  const announced = [...m.nlri, ...(m.mpReach?.nlri ?? [])];
  const withdrawn = [...m.withdrawn, ...(m.mpUnreach?.withdrawn ?? [])];
  const isEor = f.file.includes('-eor-');
  if (isEor) {
    // RFC 4724 2: End-of-RIB is an UPDATE with nothing in it (IPv4) or an empty MP_UNREACH_NLRI.
    expect(announced).toEqual([]);
    expect(withdrawn).toEqual([]);
    expect(m.attributes).toEqual({});
    expect(m.mpUnreach?.afi).toBe(f.file.endsWith('eor-ipv6.hex') ? 2 : undefined);
    return;
  }
  expect(announced.length + withdrawn.length).toBeGreaterThan(0);
  const everyPrefix = new Set([...f.byAsn.values()].flatMap((x) => x.prefixes));
  for (const p of withdrawn) expect(everyPrefix, `withdrawn ${p}`).toContain(p);
  if (announced.length === 0) return;

  // eBGP: the path starts with the sender's AS (then what it prepends); a route it passes
  // on ends with the AS that originated it, and the prefix is one that AS originates.
  const path = (m.attributes.asPath ?? []).flatMap((seg) => {
    expect(seg.type).toBe('sequence');
    return [...seg.asns];
  });
  // FRR's default-originate route bypasses the outbound route-map (no prepend on it).
  const isDefault = announced.every((p) => p === '0.0.0.0/0' || p === '::/0');
  const own = [s.asn, ...(isDefault ? [] : (s.prepend ?? []))];
  expect(path.slice(0, own.length)).toEqual(own);
  const rest = path.slice(own.length);
  expect(rest.length).toBeLessThanOrEqual(1);
  const origin = rest.length === 0 ? s : f.byAsn.get(rest[0]!);
  expect(origin, `origin AS ${rest[0]}`).toBeDefined();
  for (const p of announced) expect(origin!.prefixes, `announced ${p}`).toContain(p);

  if (m.nlri.length > 0) expect(m.attributes.nextHop).toBe(s.v4);
  if (m.mpReach) {
    expect([m.mpReach.afi, m.mpReach.safi]).toEqual([2, 1]);
    // FRR and BIRD send their global address and their link-local (RFC 2545 3);
    // gobgpd 3.10 sends its IPv4 session address, IPv4-mapped, on an IPv4 session.
    const want = s.source === 'gobgp' ? [`::ffff:${s.v4}`] : [s.v6, s.linkLocal];
    expect(m.mpReach.nextHops).toEqual(want);
  }
  const allowedC = new Set([...(s.communities ?? []), ...(origin!.communities ?? [])]);
  for (const c of m.attributes.communities ?? []) expect(allowedC).toContain(community(c));
  const allowedL = new Set([...(s.largeCommunities ?? []), ...(origin!.largeCommunities ?? [])]);
  for (const l of m.attributes.largeCommunities ?? []) expect(allowedL).toContain(l.join(':'));
  if (/(?<!large)-communities/.test(f.file)) expect(m.attributes.communities?.length).toBeGreaterThan(0);
  if (f.file.includes('-large-communities')) expect(m.attributes.largeCommunities?.length).toBeGreaterThan(0);
}
