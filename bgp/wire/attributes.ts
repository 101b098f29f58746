/**
 * Path attributes (RFC 4271 4.3 and 5) as ONE descriptor table: code, name, the
 * Optional/Transitive flags it must carry, decode, encode, and the RFC 7606 action when
 * it is malformed. decodeAttributes() walks the attribute list of an UPDATE applying
 * RFC 7606 3, 4 and 7; only a session-reset case throws (BgpNotification with the
 * code/subcode/data of RFC 4271 6.3), every weaker one is reported as data.
 *
 * 2-octet peers (RFC 6793 4.2): AS_PATH/AGGREGATOR carry AS_TRANS and the real numbers
 * travel in AS4_PATH/AS4_AGGREGATOR; decode merges them (4.2.3), encode splits them.
 */
import { BgpNotification } from './errors.js';
import { afiFamily, decodeNlri, formatIPv4, formatIPv6, isIPv4, parseAddress, writeNlri, nlriSize } from './prefix.js';
import {
  AS_TRANS,
  HANDLING_ORDER,
  type AfiSafi,
  type Aggregator,
  type AsPathSegment,
  type AsPathSegmentType,
  type AttributeError,
  type CodecContext,
  type ErrorHandling,
  type LargeCommunity,
  type MpReach,
  type MpUnreach,
  type Origin,
  type PathAttributes,
  type RawAttribute,
} from './types.js';

export const AttrCode = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  IPV6_EXT_COMMUNITIES: 25,
  LARGE_COMMUNITIES: 32,
  OTC: 35,
} as const;

export const AttrFlag = { OPTIONAL: 0x80, TRANSITIVE: 0x40, PARTIAL: 0x20, EXTENDED_LENGTH: 0x10 } as const;

const WELL_KNOWN = AttrFlag.TRANSITIVE;
const OPTIONAL_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;
const OPTIONAL = AttrFlag.OPTIONAL;

const SEGMENT_CODE: Readonly<Record<AsPathSegmentType, number>> = {
  set: 1,
  sequence: 2,
  'confed-sequence': 3,
  'confed-set': 4,
};
const SEGMENT_TYPE: readonly (AsPathSegmentType | undefined)[] = [undefined, 'set', 'sequence', 'confed-sequence', 'confed-set'];

/** A malformed attribute: what RFC 4271 6.3 would have said, and why. */
export class Malformed {
  constructor(
    readonly reason: string,
    /** RFC 4271 6.3 UPDATE Message Error subcode. */
    readonly subcode: number,
    /** Overrides the descriptor's RFC 7606 action (e.g. RFC 7607 AS 0 cases). */
    readonly handling?: Exclude<ErrorHandling, 'none'>,
    /** For MP_REACH/MP_UNREACH: the family, so AFI/SAFI-disable can name it. */
    readonly family?: AfiSafi,
  ) {}
}

/** Mutable state while decoding one attribute list. */
export interface DecodeState {
  readonly ctx: CodecContext;
  origin?: Origin;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: Aggregator;
  communities?: number[];
  largeCommunities?: LargeCommunity[];
  as4Path?: AsPathSegment[];
  as4Aggregator?: Aggregator;
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  unknown: RawAttribute[];
  unsupported: AfiSafi[];
  /** Flags and raw value of the attribute being decoded (for pass-through ones). */
  flags: number;
}

export interface AttributeDescriptor {
  readonly code: number;
  readonly name: string;
  /** The Optional and Transitive bits it must carry (RFC 4271 5). */
  readonly flags: number;
  /** RFC 7606 action when malformed (the section that says so is in `rfc`). */
  readonly malformed: Exclude<ErrorHandling, 'none'>;
  /** When the action depends on the peer (RFC 7606 7.9, 7.10: internal or external). */
  malformedFor?(ctx: CodecContext): Exclude<ErrorHandling, 'none'>;
  readonly rfc: string;
  /** Throws Malformed. */
  decode(v: Buffer, st: DecodeState): void;
  /** The attribute value to send, or undefined when absent. MP_* are encoded separately. */
  encode?(a: PathAttributes, ctx: CodecContext): Buffer | undefined;
  /** RFC 6793 4.1: AS4_* from a 4-octet peer are ignored, not even checked. */
  ignore?(ctx: CodecContext): boolean;
}

// ---------------------------------------------------------------------------
// Value helpers
// ---------------------------------------------------------------------------

function expectLength(v: Buffer, ok: boolean, name: string): void {
  if (!ok) throw new Malformed(`${name} length ${v.length}`, 5);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** RFC 4271 4.3 / RFC 6793 3: segments of (type, count, ASNs of `size` octets). */
export function decodeAsPath(v: Buffer, size: 2 | 4, attr = 'AS_PATH'): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 2 > v.length) throw new Malformed(`${attr} segment header truncated`, 11);
    const type = SEGMENT_TYPE[v[i]!];
    const n = v[i + 1]!;
    // RFC 7606 7.2: unrecognised segment type, zero-length segment, or overrun.
    if (type === undefined) throw new Malformed(`${attr} segment type ${v[i]}`, 11);
    if (n === 0) throw new Malformed(`${attr} segment of length 0`, 11);
    if (i + 2 + n * size > v.length) throw new Malformed(`${attr} segment overruns the attribute`, 11);
    const asns = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      const asn = size === 4 ? v.readUInt32BE(i + 2 + 4 * k) : v.readUInt16BE(i + 2 + 2 * k);
      // RFC 7607 2: AS 0 in AS_PATH is malformed, treat-as-withdraw.
      if (asn === 0) throw new Malformed(`${attr} contains AS 0`, 11);
      asns[k] = asn;
    }
    out.push({ type, asns });
    i += 2 + n * size;
  }
  return out;
}

/** Segments are split at 255 ASNs (the count is one octet). */
export function encodeAsPath(path: readonly AsPathSegment[], size: 2 | 4): Buffer {
  const parts: Buffer[] = [];
  for (const seg of path) {
    for (let start = 0; start < seg.asns.length || start === 0; start += 255) {
      const chunk = seg.asns.slice(start, start + 255);
      if (chunk.length === 0) break;
      const b = Buffer.allocUnsafe(2 + chunk.length * size);
      b[0] = SEGMENT_CODE[seg.type];
      b[1] = chunk.length;
      chunk.forEach((asn, k) => {
        if (size === 4) b.writeUInt32BE(asn >>> 0, 2 + 4 * k);
        else b.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, 2 + 2 * k);
      });
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/** RFC 4271 9.1.2.2 a: AS_SET counts as one, confederation segments count zero. */
export function asPathLength(path: readonly AsPathSegment[] | undefined): number {
  let n = 0;
  for (const s of path ?? []) n += s.type === 'sequence' ? s.asns.length : s.type === 'set' ? 1 : 0;
  return n;
}

function hasFourOctetAsn(path: readonly AsPathSegment[] | undefined): boolean {
  return (path ?? []).some((s) => s.asns.some((a) => a > 0xffff));
}

/**
 * RFC 6793 4.2.3: rebuild the 4-octet path from a 2-octet peer's AS_PATH and AS4_PATH.
 * When AS_PATH is shorter than AS4_PATH, AS4_PATH is ignored. Otherwise the leading
 * ASNs of AS_PATH that AS4_PATH does not cover (and any confederation segments) are
 * kept, followed by AS4_PATH.
 */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  const n2 = asPathLength(asPath);
  const n4 = asPathLength(as4Path);
  if (n2 < n4) return [...asPath];
  let need = n2 - n4;
  const out: AsPathSegment[] = [];
  for (const seg of asPath) {
    if (seg.type === 'confed-sequence' || seg.type === 'confed-set') {
      out.push(seg);
      continue;
    }
    if (need === 0) break;
    if (seg.type === 'set') {
      out.push(seg);
      need -= 1;
    } else {
      const k = Math.min(need, seg.asns.length);
      out.push({ type: 'sequence', asns: seg.asns.slice(0, k) });
      need -= k;
    }
  }
  for (const seg of as4Path) {
    const last = out[out.length - 1];
    if (last && last.type === 'sequence' && seg.type === 'sequence') {
      out[out.length - 1] = { type: 'sequence', asns: [...last.asns, ...seg.asns] };
    } else {
      out.push(seg);
    }
  }
  return out;
}

function decodeAggregator(v: Buffer, size: 2 | 4, name: string): Aggregator {
  expectLength(v, v.length === size + 4, name);
  const asn = size === 4 ? v.readUInt32BE(0) : v.readUInt16BE(0);
  // RFC 7607 2: AS 0 in AGGREGATOR / AS4_AGGREGATOR: attribute discard.
  if (asn === 0) throw new Malformed(`${name} AS 0`, 5);
  return { asn, address: formatIPv4(v, size) };
}

/** To a 2-octet peer, AS4_PATH is sent when the path holds a 4-octet AS (RFC 6793 4.2.2). */
function sendsAs4Path(a: PathAttributes): boolean {
  return a.asPath !== undefined && hasFourOctetAsn(a.asPath);
}

function encodeAggregator(agg: Aggregator, size: 2 | 4): Buffer {
  const b = Buffer.allocUnsafe(size + 4);
  if (size === 4) b.writeUInt32BE(agg.asn >>> 0, 0);
  else b.writeUInt16BE(agg.asn > 0xffff ? AS_TRANS : agg.asn, 0);
  parseAddress(agg.address).copy(b, size);
  return b;
}

/** RFC 4271 6.3 semantic NEXT_HOP check: 0/8, loopback, multicast and class E are never a next hop. */
function isMartianNextHop(v: Buffer): boolean {
  const a = v[0]!;
  return a === 0 || a === 127 || a >= 224;
}

/** Known attributes we validate but do not interpret: kept raw and passed on unchanged. */
function passThrough(v: Buffer, st: DecodeState, code: number): void {
  // RFC 4271 4.3: the low four flag bits are unused, ignored on receipt, zero when sent;
  // Extended Length is re-decided by the encoder from the value's size.
  st.unknown.push({ flags: st.flags & 0xe0, code, value: Buffer.from(v) });
}

// ---------------------------------------------------------------------------
// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 3, 4; RFC 2545 3; RFC 8950 3)
// ---------------------------------------------------------------------------

function decodeMpReach(v: Buffer, st: DecodeState): void {
  if (v.length < 5) throw new Malformed(`MP_REACH_NLRI length ${v.length}`, 5);
  const afi = v.readUInt16BE(0);
  const safi = v[2]!;
  const family = { afi, safi };
  // RFC 4760 7: a family we do not handle is ignored (we never negotiated it).
  if (afiFamily(afi, safi) === undefined) {
    st.unsupported.push(family);
    return;
  }
  const nhLen = v[3]!;
  // RFC 7606 7.11: a next-hop length we cannot interpret means the NLRI cannot be located.
  const okLen = afi === 1 ? nhLen === 4 || nhLen === 16 || nhLen === 32 : nhLen === 16 || nhLen === 32;
  if (!okLen) throw new Malformed(`MP_REACH_NLRI next hop length ${nhLen} for AFI ${afi}`, 1, undefined, family);
  if (5 + nhLen > v.length) {
    throw new Malformed(`MP_REACH_NLRI next hop of ${nhLen} octets overruns the attribute`, 1, undefined, family);
  }
  const nextHops: string[] = [];
  if (nhLen === 4) {
    nextHops.push(formatIPv4(v, 4));
  } else {
    nextHops.push(formatIPv6(v, 4));
    // RFC 2545 3: global then link-local; an all-zero second address carries nothing.
    if (nhLen === 32 && v.subarray(20, 36).some((x) => x !== 0)) nextHops.push(formatIPv6(v, 20));
  }
  // The octet after the next hop is reserved (formerly the SNPA count) and ignored (RFC 4760 3).
  let nlri: string[];
  try {
    nlri = decodeNlri(v, afi, 5 + nhLen, v.length, 9);
  } catch (e) {
    throw new Malformed(`MP_REACH_NLRI: ${(e as Error).message}`, 9, undefined, family);
  }
  st.mpReach = { afi, safi, nextHops, nlri };
}

function decodeMpUnreach(v: Buffer, st: DecodeState): void {
  if (v.length < 3) throw new Malformed(`MP_UNREACH_NLRI length ${v.length}`, 5);
  const afi = v.readUInt16BE(0);
  const safi = v[2]!;
  if (afiFamily(afi, safi) === undefined) {
    st.unsupported.push({ afi, safi });
    return;
  }
  let withdrawn: string[];
  try {
    withdrawn = decodeNlri(v, afi, 3, v.length, 9);
  } catch (e) {
    throw new Malformed(`MP_UNREACH_NLRI: ${(e as Error).message}`, 9, undefined, { afi, safi });
  }
  st.mpUnreach = { afi, safi, withdrawn };
}

function ipv6NextHopBytes(addr: string): Buffer {
  const b = parseAddress(addr);
  if (b.length === 16) return b;
  // An IPv4 session address as an IPv6 next hop: IPv4-mapped (RFC 4291 2.5.5.2), as FRR does.
  const m = Buffer.alloc(16);
  m[10] = 0xff;
  m[11] = 0xff;
  b.copy(m, 12);
  return m;
}

/** The MP_REACH_NLRI next-hop field for `afi` from one or two addresses. */
export function encodeMpNextHop(afi: number, nextHops: readonly string[]): Buffer {
  const first = nextHops[0];
  if (first === undefined) throw new RangeError('MP_REACH_NLRI needs a next hop');
  if (afi === 1 && isIPv4(first)) return parseAddress(first);
  const parts = nextHops.slice(0, 2).map(ipv6NextHopBytes);
  return Buffer.concat(parts);
}

export function encodeMpReachValue(m: MpReach): Buffer {
  const nh = encodeMpNextHop(m.afi, m.nextHops);
  const nlriLen = m.nlri.reduce((n, p) => n + nlriSize(Number(p.slice(p.indexOf('/') + 1))), 0);
  const b = Buffer.allocUnsafe(5 + nh.length + nlriLen);
  b.writeUInt16BE(m.afi, 0);
  b[2] = m.safi;
  b[3] = nh.length;
  nh.copy(b, 4);
  b[4 + nh.length] = 0;
  let off = 5 + nh.length;
  for (const p of m.nlri) off = writeNlri(p, m.afi, b, off);
  return b.subarray(0, off);
}

export function encodeMpUnreachValue(m: MpUnreach): Buffer {
  const nlriLen = m.withdrawn.reduce((n, p) => n + nlriSize(Number(p.slice(p.indexOf('/') + 1))), 0);
  const b = Buffer.allocUnsafe(3 + nlriLen);
  b.writeUInt16BE(m.afi, 0);
  b[2] = m.safi;
  let off = 3;
  for (const p of m.withdrawn) off = writeNlri(p, m.afi, b, off);
  return b.subarray(0, off);
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

export const ATTRIBUTES: readonly AttributeDescriptor[] = [
  {
    code: AttrCode.ORIGIN,
    name: 'ORIGIN',
    flags: WELL_KNOWN,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.1',
    decode(v, st) {
      expectLength(v, v.length === 1, 'ORIGIN');
      if (v[0]! > 2) throw new Malformed(`undefined ORIGIN value ${v[0]}`, 6);
      st.origin = v[0] as Origin;
    },
    encode: (a) => (a.origin === undefined ? undefined : Buffer.from([a.origin])),
  },
  {
    code: AttrCode.AS_PATH,
    name: 'AS_PATH',
    flags: WELL_KNOWN,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.2, RFC 7607 2',
    decode(v, st) {
      st.asPath = decodeAsPath(v, st.ctx.asn4 ? 4 : 2);
    },
    encode: (a, ctx) => (a.asPath === undefined ? undefined : encodeAsPath(a.asPath, ctx.asn4 ? 4 : 2)),
  },
  {
    code: AttrCode.NEXT_HOP,
    name: 'NEXT_HOP',
    flags: WELL_KNOWN,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.3',
    decode(v, st) {
      expectLength(v, v.length === 4, 'NEXT_HOP');
      if (isMartianNextHop(v)) throw new Malformed(`NEXT_HOP ${formatIPv4(v)} is not a unicast address`, 8);
      st.nextHop = formatIPv4(v);
    },
    encode: (a) => (a.nextHop === undefined || !isIPv4(a.nextHop) ? undefined : parseAddress(a.nextHop)),
  },
  {
    code: AttrCode.MULTI_EXIT_DISC,
    name: 'MULTI_EXIT_DISC',
    flags: OPTIONAL,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.4',
    decode(v, st) {
      expectLength(v, v.length === 4, 'MULTI_EXIT_DISC');
      st.med = v.readUInt32BE(0);
    },
    encode: (a) => (a.med === undefined ? undefined : u32(a.med)),
  },
  {
    code: AttrCode.LOCAL_PREF,
    name: 'LOCAL_PREF',
    flags: WELL_KNOWN,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.5',
    decode(v, st) {
      expectLength(v, v.length === 4, 'LOCAL_PREF');
      // RFC 7606 7.5: from an external peer LOCAL_PREF is discarded (not an error).
      if (st.ctx.internal === false) return;
      st.localPref = v.readUInt32BE(0);
    },
    encode: (a, ctx) => (a.localPref === undefined || ctx.internal === false ? undefined : u32(a.localPref)),
  },
  {
    code: AttrCode.ATOMIC_AGGREGATE,
    name: 'ATOMIC_AGGREGATE',
    flags: WELL_KNOWN,
    malformed: 'attribute-discard',
    rfc: 'RFC 7606 7.6',
    decode(v, st) {
      expectLength(v, v.length === 0, 'ATOMIC_AGGREGATE');
      st.atomicAggregate = true;
    },
    encode: (a) => (a.atomicAggregate ? Buffer.alloc(0) : undefined),
  },
  {
    code: AttrCode.AGGREGATOR,
    name: 'AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'attribute-discard',
    rfc: 'RFC 7606 7.7, RFC 7607 2',
    decode(v, st) {
      st.aggregator = decodeAggregator(v, st.ctx.asn4 ? 4 : 2, 'AGGREGATOR');
    },
    encode(a, ctx) {
      if (a.aggregator === undefined) return undefined;
      if (ctx.asn4) return encodeAggregator(a.aggregator, 4);
      // RFC 6793 4.2.3: a receiver ignores AS4_PATH when AGGREGATOR carries a real 2-octet
      // AS. So whenever AS4_PATH goes out, AGGREGATOR says AS_TRANS and the number travels
      // in AS4_AGGREGATOR, or the 4-octet path would be lost downstream.
      return encodeAggregator(sendsAs4Path(a) ? { ...a.aggregator, asn: AS_TRANS } : a.aggregator, 2);
    },
  },
  {
    code: AttrCode.COMMUNITIES,
    name: 'COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.8',
    decode(v, st) {
      expectLength(v, v.length > 0 && v.length % 4 === 0, 'COMMUNITIES');
      const c = new Array<number>(v.length / 4);
      for (let i = 0; i < c.length; i++) c[i] = v.readUInt32BE(4 * i);
      st.communities = c;
    },
    encode(a) {
      if (!a.communities || a.communities.length === 0) return undefined;
      const b = Buffer.allocUnsafe(4 * a.communities.length);
      a.communities.forEach((c, i) => b.writeUInt32BE(c >>> 0, 4 * i));
      return b;
    },
  },
  {
    code: AttrCode.ORIGINATOR_ID,
    name: 'ORIGINATOR_ID',
    flags: OPTIONAL,
    malformed: 'attribute-discard',
    malformedFor: (ctx) => (ctx.internal ? 'treat-as-withdraw' : 'attribute-discard'),
    rfc: 'RFC 7606 7.9',
    decode(v, st) {
      // Validated, then dropped: this speaker is no route reflector and the attribute is non-transitive.
      if (v.length !== 4) throw new Malformed(`ORIGINATOR_ID length ${v.length}`, 5);
    },
  },
  {
    code: AttrCode.CLUSTER_LIST,
    name: 'CLUSTER_LIST',
    flags: OPTIONAL,
    malformed: 'attribute-discard',
    malformedFor: (ctx) => (ctx.internal ? 'treat-as-withdraw' : 'attribute-discard'),
    rfc: 'RFC 7606 7.10',
    decode(v, st) {
      if (v.length === 0 || v.length % 4 !== 0) {
        throw new Malformed(`CLUSTER_LIST length ${v.length}`, 5);
      }
    },
  },
  {
    code: AttrCode.MP_REACH_NLRI,
    name: 'MP_REACH_NLRI',
    flags: OPTIONAL,
    malformed: 'session-reset',
    rfc: 'RFC 7606 7.11 (AFI/SAFI disable when configured)',
    decode: decodeMpReach,
  },
  {
    code: AttrCode.MP_UNREACH_NLRI,
    name: 'MP_UNREACH_NLRI',
    flags: OPTIONAL,
    malformed: 'session-reset',
    rfc: 'RFC 7606 7.12 (AFI/SAFI disable when configured)',
    decode: decodeMpUnreach,
  },
  {
    code: AttrCode.EXTENDED_COMMUNITIES,
    name: 'EXTENDED_COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.14',
    decode(v, st) {
      expectLength(v, v.length > 0 && v.length % 8 === 0, 'EXTENDED_COMMUNITIES');
      passThrough(v, st, AttrCode.EXTENDED_COMMUNITIES);
    },
  },
  {
    code: AttrCode.AS4_PATH,
    name: 'AS4_PATH',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'attribute-discard',
    rfc: 'RFC 6793 6, RFC 7607 2',
    ignore: (ctx) => ctx.asn4,
    decode(v, st) {
      const path = decodeAsPath(v, 4, 'AS4_PATH');
      // RFC 6793 3: confederation segments must not appear in AS4_PATH.
      if (path.some((s) => s.type === 'confed-sequence' || s.type === 'confed-set')) {
        throw new Malformed('AS4_PATH carries a confederation segment', 11);
      }
      st.as4Path = path;
    },
    encode(a, ctx) {
      // RFC 6793 4.2.2: towards a 2-octet peer, when the path holds a 4-octet ASN.
      if (ctx.asn4 || !a.asPath || !hasFourOctetAsn(a.asPath)) return undefined;
      return encodeAsPath(
        a.asPath.filter((s) => s.type === 'sequence' || s.type === 'set'),
        4,
      );
    },
  },
  {
    code: AttrCode.AS4_AGGREGATOR,
    name: 'AS4_AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'attribute-discard',
    rfc: 'RFC 6793 6, RFC 7607 2',
    ignore: (ctx) => ctx.asn4,
    decode(v, st) {
      st.as4Aggregator = decodeAggregator(v, 4, 'AS4_AGGREGATOR');
    },
    encode(a, ctx) {
      if (ctx.asn4 || !a.aggregator) return undefined;
      if (a.aggregator.asn <= 0xffff && !sendsAs4Path(a)) return undefined;
      return encodeAggregator(a.aggregator, 4);
    },
  },
  {
    code: AttrCode.IPV6_EXT_COMMUNITIES,
    name: 'IPV6_EXTENDED_COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 7606 7.15',
    decode(v, st) {
      expectLength(v, v.length > 0 && v.length % 20 === 0, 'IPV6_EXTENDED_COMMUNITIES');
      passThrough(v, st, AttrCode.IPV6_EXT_COMMUNITIES);
    },
  },
  {
    code: AttrCode.LARGE_COMMUNITIES,
    name: 'LARGE_COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 8092 6',
    decode(v, st) {
      expectLength(v, v.length > 0 && v.length % 12 === 0, 'LARGE_COMMUNITIES');
      const c: LargeCommunity[] = [];
      for (let i = 0; i < v.length; i += 12) c.push([v.readUInt32BE(i), v.readUInt32BE(i + 4), v.readUInt32BE(i + 8)]);
      st.largeCommunities = c;
    },
    encode(a) {
      if (!a.largeCommunities || a.largeCommunities.length === 0) return undefined;
      const b = Buffer.allocUnsafe(12 * a.largeCommunities.length);
      a.largeCommunities.forEach((c, i) => {
        b.writeUInt32BE(c[0] >>> 0, 12 * i);
        b.writeUInt32BE(c[1] >>> 0, 12 * i + 4);
        b.writeUInt32BE(c[2] >>> 0, 12 * i + 8);
      });
      return b;
    },
  },
  {
    code: AttrCode.OTC,
    name: 'ONLY_TO_CUSTOMER',
    flags: OPTIONAL_TRANSITIVE,
    malformed: 'treat-as-withdraw',
    rfc: 'RFC 9234 5',
    decode(v, st) {
      expectLength(v, v.length === 4, 'ONLY_TO_CUSTOMER');
      // RFC 7607 2: AS 0 is reserved and never names a real AS.
      if (v.readUInt32BE(0) === 0) throw new Malformed('ONLY_TO_CUSTOMER AS 0', 5);
      passThrough(v, st, AttrCode.OTC);
    },
  },
];

const BY_CODE: readonly (AttributeDescriptor | undefined)[] = (() => {
  const t = new Array<AttributeDescriptor | undefined>(256);
  for (const d of ATTRIBUTES) t[d.code] = d;
  return t;
})();

export function attributeDescriptor(code: number): AttributeDescriptor | undefined {
  return BY_CODE[code];
}

export function attributeName(code: number): string {
  return BY_CODE[code]?.name ?? `attribute ${code}`;
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/** Flags, type, length (one octet, or two with Extended Length), value. */
export function encodeAttribute(flags: number, code: number, value: Buffer): Buffer {
  const ext = value.length > 255;
  const b = Buffer.allocUnsafe((ext ? 4 : 3) + value.length);
  b[0] = (flags & 0xe0) | (ext ? AttrFlag.EXTENDED_LENGTH : 0);
  b[1] = code;
  if (ext) b.writeUInt16BE(value.length, 2);
  else b[2] = value.length;
  value.copy(b, ext ? 4 : 3);
  return b;
}

/**
 * All path attributes of an UPDATE, in ascending type order (RFC 4271 5). Unknown
 * optional transitive attributes go out with the Partial bit set (RFC 4271 5); known
 * pass-through ones (extended communities, OTC) keep their flags.
 */
function orderKey(code: number): number {
  return code === AttrCode.MP_REACH_NLRI || code === AttrCode.MP_UNREACH_NLRI ? -1 : code;
}

export function encodeAttributes(a: PathAttributes, ctx: CodecContext, mpReach?: MpReach, mpUnreach?: MpUnreach): Buffer {
  const parts: [number, Buffer][] = [];
  for (const d of ATTRIBUTES) {
    const v = d.encode?.(a, ctx);
    if (v !== undefined) parts.push([d.code, encodeAttribute(d.flags, d.code, v)]);
  }
  if (mpReach) parts.push([AttrCode.MP_REACH_NLRI, encodeAttribute(OPTIONAL, AttrCode.MP_REACH_NLRI, encodeMpReachValue(mpReach))]);
  if (mpUnreach) {
    parts.push([AttrCode.MP_UNREACH_NLRI, encodeAttribute(OPTIONAL, AttrCode.MP_UNREACH_NLRI, encodeMpUnreachValue(mpUnreach))]);
  }
  for (const u of a.unknown ?? []) {
    // Only optional transitive attributes are ever passed on (RFC 4271 5).
    if ((u.flags & OPTIONAL_TRANSITIVE) !== OPTIONAL_TRANSITIVE) continue;
    if (parts.some(([c]) => c === u.code)) continue;
    const flags = BY_CODE[u.code] ? u.flags : u.flags | AttrFlag.PARTIAL;
    parts.push([u.code, encodeAttribute(flags, u.code, u.value)]);
  }
  // RFC 7606 5.1: MP_REACH_NLRI / MP_UNREACH_NLRI SHALL be the very first attribute (so a
  // receiver can find the NLRI even when later attributes are malformed); the rest in
  // type-code order.
  parts.sort((x, y) => orderKey(x[0]) - orderKey(y[0]));
  return Buffer.concat(parts.map((p) => p[1]));
}

// ---------------------------------------------------------------------------
// Decoding (RFC 7606)
// ---------------------------------------------------------------------------

export interface DecodedAttributes {
  readonly attributes: PathAttributes;
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  readonly handling: ErrorHandling;
  readonly errors: AttributeError[];
  readonly disabledFamily?: AfiSafi;
  readonly unsupportedFamilies?: AfiSafi[];
  /** Type codes that appeared in the message (well-formed or not). */
  readonly present: ReadonlySet<number>;
}

function stronger(a: ErrorHandling, b: ErrorHandling): ErrorHandling {
  return HANDLING_ORDER.indexOf(a) >= HANDLING_ORDER.indexOf(b) ? a : b;
}

/** RFC 4271 6.3: which subcodes carry the offending attribute as data. */
const SUBCODES_WITH_ATTRIBUTE_DATA = new Set([2, 4, 5, 6, 8, 9]);

function resetFor(subcode: number, raw: Buffer, reason: string): BgpNotification {
  const data = SUBCODES_WITH_ATTRIBUTE_DATA.has(subcode) ? Buffer.from(raw) : Buffer.alloc(0);
  return new BgpNotification(3, subcode, data, reason);
}

/**
 * Walks the path attributes in buf[start, end). Throws BgpNotification for
 * session-reset cases; everything weaker comes back in `handling` and `errors`.
 */
export function decodeAttributes(buf: Buffer, start: number, end: number, ctx: CodecContext): DecodedAttributes {
  const st: DecodeState = { ctx, unknown: [], unsupported: [], flags: 0 };
  const errors: AttributeError[] = [];
  const present = new Set<number>();
  let handling: ErrorHandling = 'none';
  let disabledFamily: AfiSafi | undefined;
  const record = (h: Exclude<ErrorHandling, 'none' | 'session-reset'>, code: number, subcode: number, reason: string): void => {
    errors.push({ handling: h, code, subcode, reason });
    handling = stronger(handling, h);
  };

  let i = start;
  while (i < end) {
    // RFC 7606 4: fewer octets left than an attribute header: treat-as-withdraw, and
    // Total Attribute Length still locates the NLRI.
    const ext = (buf[i]! & AttrFlag.EXTENDED_LENGTH) !== 0;
    const hdr = ext ? 4 : 3;
    if (end - i < hdr) {
      record('treat-as-withdraw', buf[i + 1] ?? 0, 1, `${end - i} trailing octets in the attribute list`);
      break;
    }
    const flags = buf[i]!;
    const code = buf[i + 1]!;
    const len = ext ? buf.readUInt16BE(i + 2) : buf[i + 2]!;
    const vstart = i + hdr;
    if (vstart + len > end) {
      // RFC 7606 4: the attribute overruns Total Attribute Length: treat-as-withdraw,
      // unless it is MP_REACH/MP_UNREACH, whose NLRI could then not be located.
      if (code === AttrCode.MP_REACH_NLRI || code === AttrCode.MP_UNREACH_NLRI) {
        throw new BgpNotification(3, 1, Buffer.alloc(0), `${attributeName(code)} overruns the attribute list`);
      }
      record('treat-as-withdraw', code, 1, `${attributeName(code)} length ${len} overruns the attribute list`);
      break;
    }
    const value = buf.subarray(vstart, vstart + len);
    const raw = buf.subarray(i, vstart + len);
    i = vstart + len;

    // RFC 7606 3(g): MP_REACH/MP_UNREACH twice is Malformed Attribute List; any other
    // repeated attribute: keep the first, discard the rest.
    if (present.has(code)) {
      if (code === AttrCode.MP_REACH_NLRI || code === AttrCode.MP_UNREACH_NLRI) {
        throw new BgpNotification(3, 1, Buffer.alloc(0), `${attributeName(code)} appears more than once`);
      }
      record('attribute-discard', code, 1, `duplicate ${attributeName(code)} discarded`);
      continue;
    }
    present.add(code);

    const d = BY_CODE[code];
    if (d === undefined) {
      if ((flags & AttrFlag.OPTIONAL) === 0) {
        // RFC 4271 6.3: an unrecognised well-known attribute: 3/2, data = the attribute.
        throw resetFor(2, raw, `unrecognized well-known attribute ${code}`);
      }
      // RFC 4271 5: unknown optional transitive ones are kept (and passed on with
      // Partial set); unknown optional non-transitive ones are quietly ignored.
      if ((flags & AttrFlag.TRANSITIVE) !== 0) st.unknown.push({ flags: flags & 0xe0, code, value: Buffer.from(value) });
      continue;
    }
    if (d.ignore?.(ctx)) continue;

    try {
      // RFC 7606 3(c): Optional/Transitive bits in conflict with the type make the
      // attribute malformed. RFC 4271 4.3: Partial is 0 for well-known and optional
      // non-transitive attributes.
      const partialAllowed = d.flags === OPTIONAL_TRANSITIVE;
      if ((flags & 0xc0) !== d.flags || (!partialAllowed && (flags & AttrFlag.PARTIAL) !== 0)) {
        const family =
          (code === AttrCode.MP_REACH_NLRI || code === AttrCode.MP_UNREACH_NLRI) && len >= 3
            ? { afi: value.readUInt16BE(0), safi: value[2]! }
            : undefined;
        throw new Malformed(`${d.name} flags 0x${flags.toString(16)}`, 4, undefined, family);
      }
      st.flags = flags;
      d.decode(value, st);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      let action = e.handling ?? d.malformedFor?.(ctx) ?? d.malformed;
      // RFC 7606 7.11/7.12: MP errors may disable the family instead of the session.
      if (action === 'session-reset' && e.family && ctx.mpErrorHandling === 'afisafi-disable') {
        action = 'afisafi-disable';
        disabledFamily ??= e.family;
      }
      if (action === 'session-reset') throw resetFor(e.subcode, raw, e.reason);
      record(action, code, e.subcode, e.reason);
    }
  }

  // RFC 6793 4.2.3: reconstruct 4-octet numbers from a 2-octet peer.
  if (!ctx.asn4) {
    if (st.aggregator && st.aggregator.asn !== AS_TRANS) {
      // AGGREGATOR carries a real 2-octet ASN: AS4_AGGREGATOR and AS4_PATH are ignored.
      st.as4Path = undefined;
    } else if (st.as4Aggregator) {
      st.aggregator = st.as4Aggregator;
    }
    if (st.as4Path && st.asPath) st.asPath = mergeAs4Path(st.asPath, st.as4Path);
  }

  const attributes: {
    -readonly [K in keyof PathAttributes]: PathAttributes[K];
  } = {};
  if (st.origin !== undefined) attributes.origin = st.origin;
  if (st.asPath !== undefined) attributes.asPath = st.asPath;
  if (st.nextHop !== undefined) attributes.nextHop = st.nextHop;
  if (st.med !== undefined) attributes.med = st.med;
  if (st.localPref !== undefined) attributes.localPref = st.localPref;
  if (st.atomicAggregate) attributes.atomicAggregate = true;
  if (st.aggregator !== undefined) attributes.aggregator = st.aggregator;
  if (st.communities !== undefined) attributes.communities = st.communities;
  if (st.largeCommunities !== undefined) attributes.largeCommunities = st.largeCommunities;
  if (st.unknown.length > 0) attributes.unknown = st.unknown;

  const out: {
    -readonly [K in keyof DecodedAttributes]: DecodedAttributes[K];
  } = { attributes: Object.freeze(attributes), handling, errors, present };
  if (st.mpReach) out.mpReach = st.mpReach;
  if (st.mpUnreach) out.mpUnreach = st.mpUnreach;
  if (disabledFamily) out.disabledFamily = disabledFamily;
  if (st.unsupported.length > 0) out.unsupportedFamilies = st.unsupported;
  return out;
}
