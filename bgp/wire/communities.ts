/**
 * Community values as text, the way routers print them: RFC 1997 "65000:100" (and the
 * well-known names of RFC 1997 / RFC 8326 / RFC 7999), RFC 8092 "65000:1:2", RFC 4360
 * extended communities by type ("rt:65000:1", "soo:192.0.2.1:7", else the 8 octets in
 * hex). Pure text functions over the decoded values; the codec keeps extended
 * communities raw (passed on unchanged), so they are split into 8-octet values here.
 */
import { formatIPv4 } from './prefix.js';
import type { LargeCommunity, RawAttribute } from './types.js';

/** RFC 8326 5: GRACEFUL_SHUTDOWN, 65535:0. */
export const GRACEFUL_SHUTDOWN = 0xffff0000;

/** RFC 9494 4.3: attached to a route kept past its peer's restart time, and NO_LLGR: never keep it so. */
export const LLGR_STALE = 0xffff0006;
export const NO_LLGR = 0xffff0007;

/** RFC 1997 2, RFC 8326 5, RFC 7999 5, RFC 8642, RFC 9494 */
const WELL_KNOWN: ReadonlyMap<number, string> = new Map([
  [0xffff0000, 'graceful-shutdown'],
  [LLGR_STALE, 'llgr-stale'],
  [NO_LLGR, 'no-llgr'],
  [0xffff029a, 'blackhole'],
  [0xffffff01, 'no-export'],
  [0xffffff02, 'no-advertise'],
  [0xffffff03, 'no-export-subconfed'],
  [0xffffff04, 'no-peer'],
]);

/** "65000:100" (high 16 bits the AS, RFC 1997), or the well-known name. */
export function communityText(c: number): string {
  const u = c >>> 0;
  return WELL_KNOWN.get(u) ?? `${u >>> 16}:${u & 0xffff}`;
}

export function largeCommunityText(c: LargeCommunity): string {
  return `${c[0]}:${c[1]}:${c[2]}`;
}

/**
 * One RFC 4360 extended community (8 octets). Route target (sub-type 2) and route origin
 * (sub-type 3) of the two-octet-AS (type 0x00), IPv4-address (0x01) and four-octet-AS
 * (0x02, RFC 5668) kinds get their usual names; anything else is its 16 hex digits.
 */
export function extendedCommunityText(v: Buffer): string {
  if (v.length !== 8) throw new RangeError(`an extended community is 8 octets, got ${v.length}`);
  const type = v[0]! & 0x3f; // the IANA authority and transitive bits say nothing of the layout
  const sub = v[1]!;
  const name = sub === 2 ? 'rt' : sub === 3 ? 'soo' : undefined;
  if (name && type === 0x00) return `${name}:${v.readUInt16BE(2)}:${v.readUInt32BE(4)}`;
  if (name && type === 0x01) return `${name}:${formatIPv4(v, 2)}:${v.readUInt16BE(6)}`;
  if (name && type === 0x02) return `${name}:${v.readUInt32BE(2)}:${v.readUInt16BE(6)}`;
  return `0x${v.toString('hex')}`;
}

/** RFC 4360 2: EXTENDED_COMMUNITIES (type 16) is a sequence of 8-octet values. */
export const EXTENDED_COMMUNITIES_CODE = 16;

/** The extended communities among an UPDATE's raw attributes, as text. */
export function extendedCommunitiesOf(raw: readonly RawAttribute[] | undefined): string[] {
  const out: string[] = [];
  for (const r of raw ?? []) {
    if (r.code !== EXTENDED_COMMUNITIES_CODE) continue;
    for (let i = 0; i + 8 <= r.value.length; i += 8) out.push(extendedCommunityText(r.value.subarray(i, i + 8)));
  }
  return out;
}
