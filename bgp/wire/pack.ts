/**
 * UPDATE packing for the Adj-RIB-Out: all prefixes that share attributes go out in as
 * few UPDATEs as fit the negotiated maximum (4096 octets, or 65535 with RFC 8654).
 * IPv4 with an IPv4 next hop uses the classic NLRI field and NEXT_HOP; IPv4 with an
 * IPv6 next hop (RFC 8950) and IPv6 use MP_REACH_NLRI. Withdrawals likewise, in the
 * withdrawn routes field or MP_UNREACH_NLRI. End-of-RIB per RFC 4724 2.
 *
 * Speed matters (100k prefixes at session start): attributes are encoded once, all
 * NLRI are written into one buffer in a single pass, then cut at message boundaries.
 */
import { AttrCode, AttrFlag, encodeAttributes, encodeMpNextHop } from './attributes.js';
import { frameMessage, writeHeader } from './header.js';
import { maxMessageLength } from './message.js';
import { familyAfi, isIPv4, writeNlri } from './prefix.js';
import { HEADER_LENGTH, MessageType, type CodecContext, type Family, type PathAttributes, type UpdateMessage } from './types.js';

/** Writes every prefix's NLRI into one buffer; `ends[i]` is where prefix i ends. */
function writeAll(prefixes: readonly string[], afi: number): { buf: Buffer; ends: Int32Array } {
  const buf = Buffer.allocUnsafe(prefixes.length * (afi === 1 ? 5 : 17));
  const ends = new Int32Array(prefixes.length);
  let off = 0;
  for (let i = 0; i < prefixes.length; i++) {
    off = writeNlri(prefixes[i]!, afi, buf, off);
    ends[i] = off;
  }
  return { buf, ends };
}

/** Cuts [0, total) into runs of at most `room` octets at prefix boundaries. */
function cut(ends: Int32Array, room: number, counts?: number[]): [number, number][] {
  if (room <= 17) throw new RangeError('path attributes leave no room for NLRI in one message');
  const runs: [number, number][] = [];
  let start = 0;
  let i = 0;
  while (i < ends.length) {
    // Greedy: the longest run that fits. Every item is at most 17 octets, far below
    // `room`, so this is minimal to within the rounding of the last message.
    let j = i;
    while (j < ends.length && ends[j]! - start <= room) j++;
    const end = ends[j - 1]!;
    runs.push([start, end]);
    counts?.push(j - i);
    start = end;
    i = j;
  }
  return runs;
}

/** An UPDATE whose first attribute is MP_REACH_NLRI (RFC 7606 5.1), then `rest`. */
function updateWithMp(mpHead: Buffer, nlri: Buffer, rest: Buffer): Buffer {
  const alen = mpHead.length + nlri.length + rest.length;
  const body = Buffer.allocUnsafe(4 + alen);
  body.writeUInt16BE(0, 0);
  body.writeUInt16BE(alen, 2);
  let off = 4;
  // MP attributes always use the two-octet length, so the header size is fixed.
  mpHead.writeUInt16BE(mpHead.length - 4 + nlri.length, 2);
  off += mpHead.copy(body, off);
  off += nlri.copy(body, off);
  rest.copy(body, off);
  return frameMessage(MessageType.UPDATE, body);
}

/**
 * What every UPDATE announcing routes with the same attributes and next hops shares,
 * encoded once (prepareAnnouncement) and reused for each batch of prefixes
 * (packPrepared): an Adj-RIB-Out keeps one per attribute set for the life of a session,
 * so that a new container's /32 costs its NLRI and one copy, not another encoding.
 */
export interface PreparedAnnouncement {
  readonly afi: number;
  /** The largest message the session takes (4096, or 65535 with RFC 8654). */
  readonly max: number;
  /** The path attributes: with NEXT_HOP for classic IPv4; without MP_REACH_NLRI otherwise. */
  readonly attrs: Buffer;
  /**
   * MP_REACH_NLRI up to its NLRI (flags, code, a length to fill in, AFI, SAFI, next hop,
   * reserved); null for IPv4 with an IPv4 next hop, which uses the classic NLRI field.
   */
  readonly mpHead: Buffer | null;
}

/**
 * Encodes the attributes and next hops of announcements in `family`. Throws Error for an
 * IPv6 next hop for IPv4 without RFC 8950 negotiated, or no next hop at all.
 */
export function prepareAnnouncement(family: Family, attrs: PathAttributes, nextHops: readonly string[], ctx: CodecContext): PreparedAnnouncement {
  const max = maxMessageLength(ctx);
  const afi = familyAfi(family);
  const nh = nextHops[0];
  if (nh === undefined) throw new Error('packAnnouncements: no next hop');
  if (afi === 1 && isIPv4(nh)) return { afi, max, attrs: encodeAttributes({ ...attrs, nextHop: nh }, ctx), mpHead: null };
  if (afi === 1 && !ctx.extendedNextHopV4) {
    throw new Error(`packAnnouncements: IPv6 next hop ${nh} for IPv4 needs the extended next hop capability (RFC 8950)`);
  }
  const { nextHop: _ignored, ...rest } = attrs;
  const nhBytes = encodeMpNextHop(afi, nextHops);
  const head = Buffer.alloc(4 + 5 + nhBytes.length);
  head[0] = AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH;
  head[1] = AttrCode.MP_REACH_NLRI;
  head.writeUInt16BE(afi, 4);
  head[6] = 1; // SAFI unicast
  head[7] = nhBytes.length;
  nhBytes.copy(head, 8);
  head[8 + nhBytes.length] = 0; // reserved (RFC 4760 3)
  return { afi, max, attrs: encodeAttributes(rest, ctx), mpHead: head };
}

/**
 * Whole UPDATE messages announcing `prefixes` (all of the prepared family) with the
 * prepared attributes, as few as fit; each message is written into one buffer. Throws
 * Error on a prefix of the wrong family.
 */
export function packPrepared(p: PreparedAnnouncement, prefixes: readonly string[], counts?: number[]): Buffer[] {
  if (prefixes.length === 0) return [];
  const { buf, ends } = writeAll(prefixes, p.afi);
  const a = p.attrs;
  const head = p.mpHead;
  const fixed = HEADER_LENGTH + 4 + a.length + (head?.length ?? 0);
  const out: Buffer[] = [];
  for (const [s, e] of cut(ends, p.max - fixed, counts)) {
    const m = Buffer.allocUnsafe(fixed + (e - s));
    writeHeader(m, MessageType.UPDATE, m.length);
    m.writeUInt16BE(0, HEADER_LENGTH); // no withdrawn routes
    let off = HEADER_LENGTH + 4;
    if (head === null) {
      // The NLRI follow the path attributes, outside their length.
      m.writeUInt16BE(a.length, HEADER_LENGTH + 2);
      off += a.copy(m, off);
      buf.copy(m, off, s, e);
    } else {
      // RFC 7606 5.1: MP_REACH_NLRI first, then the rest; all of it path attributes.
      m.writeUInt16BE(m.length - HEADER_LENGTH - 4, HEADER_LENGTH + 2);
      off += head.copy(m, off);
      m.writeUInt16BE(head.length - 4 + (e - s), off - head.length + 2);
      off += buf.copy(m, off, s, e);
      a.copy(m, off);
    }
    out.push(m);
  }
  return out;
}

/**
 * Whole UPDATE messages announcing `prefixes` (all of `family`) with `attrs` and
 * `nextHops` (IPv6: global, optionally link-local). Throws Error on a prefix of the
 * wrong family or an IPv6 next hop for IPv4 without RFC 8950 negotiated.
 */
export function packAnnouncements(
  family: Family,
  attrs: PathAttributes,
  nextHops: readonly string[],
  prefixes: readonly string[],
  ctx: CodecContext,
  /** Filled with the number of prefixes in each message returned, in order. */
  counts?: number[],
): Buffer[] {
  if (prefixes.length === 0) return [];
  return packPrepared(prepareAnnouncement(family, attrs, nextHops, ctx), prefixes, counts);
}

/** Whole UPDATE messages withdrawing `prefixes` (all of `family`). */
export function packWithdrawals(
  family: Family,
  prefixes: readonly string[],
  ctx: CodecContext,
  /** Filled with the number of prefixes in each message returned, in order. */
  counts?: number[],
): Buffer[] {
  if (prefixes.length === 0) return [];
  const max = maxMessageLength(ctx);
  const afi = familyAfi(family);
  const { buf, ends } = writeAll(prefixes, afi);
  const out: Buffer[] = [];
  if (afi === 1) {
    for (const [s, e] of cut(ends, max - HEADER_LENGTH - 4, counts)) {
      const body = Buffer.allocUnsafe(4 + (e - s));
      body.writeUInt16BE(e - s, 0);
      buf.copy(body, 2, s, e);
      body.writeUInt16BE(0, 2 + (e - s));
      out.push(frameMessage(MessageType.UPDATE, body));
    }
    return out;
  }
  const empty = Buffer.alloc(0);
  for (const [s, e] of cut(ends, max - HEADER_LENGTH - 4 - 7, counts)) {
    const head = Buffer.allocUnsafe(7);
    head[0] = AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH;
    head[1] = AttrCode.MP_UNREACH_NLRI;
    head.writeUInt16BE(afi, 4);
    head[6] = 1;
    out.push(updateWithMp(head, buf.subarray(s, e), empty));
  }
  return out;
}

/** RFC 4724 2: End-of-RIB marker for a family. */
export function encodeEndOfRib(family: Family): Buffer {
  if (family === 'ipv4-unicast') return frameMessage(MessageType.UPDATE, Buffer.alloc(4));
  return frameMessage(MessageType.UPDATE, Buffer.from([0, 0, 0, 6, AttrFlag.OPTIONAL, AttrCode.MP_UNREACH_NLRI, 3, 0, familyAfi(family), 1]));
}

/**
 * RFC 4724 2: End-of-RIB is an UPDATE with nothing in it (IPv4 unicast) or with only an
 * empty MP_UNREACH_NLRI (other families).
 */
export function isEndOfRib(u: UpdateMessage): Family | null {
  if (u.withdrawn.length > 0 || u.nlri.length > 0 || u.mpReach || u.handling !== 'none' || u.unsupportedFamilies) return null;
  if (Object.keys(u.attributes).length !== 0) return null;
  if (!u.mpUnreach) return 'ipv4-unicast';
  if (u.mpUnreach.withdrawn.length > 0 || u.mpUnreach.safi !== 1) return null;
  return u.mpUnreach.afi === 1 ? 'ipv4-unicast' : u.mpUnreach.afi === 2 ? 'ipv6-unicast' : null;
}
