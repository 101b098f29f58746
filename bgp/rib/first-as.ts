/**
 * RFC 4271 6.3: a route from an external peer whose AS_PATH does not begin with that
 * peer's AS is in error (FRR `bgp enforce-first-as`, on by default since 7.x). RFC 7606
 * 7.2 makes the malformed AS_PATH treat-as-withdraw rather than a session reset: the
 * routes of that UPDATE are withdrawn and the session stays up. Confederation segments
 * are skipped (RFC 5065 5: they precede the external AS), and an UPDATE with nothing to
 * announce (only withdrawals, End-of-RIB) is never in error. Pure: the speaker applies it.
 */
import { AttrCode } from '../wire/attributes.js';
import { HANDLING_ORDER, type AttributeError, type UpdateMessage } from '../wire/types.js';

/** The first AS of the path outside confederation segments, or undefined for an empty path. */
export function firstAs(u: UpdateMessage): number | undefined {
  for (const seg of u.attributes.asPath ?? []) {
    if (seg.type === 'confed-sequence' || seg.type === 'confed-set') continue;
    // An AS_SET first has no "first AS": only a sequence names the neighbour.
    return seg.type === 'sequence' ? seg.asns[0] : undefined;
  }
  return undefined;
}

/** The UPDATE as the speaker must apply it: unchanged, or treat-as-withdraw with the finding added. */
export function checkFirstAs(u: UpdateMessage, peerAsn: number): UpdateMessage {
  const announces = u.nlri.length > 0 || (u.mpReach?.nlri.length ?? 0) > 0;
  if (!announces) return u;
  const first = firstAs(u);
  if (first === peerAsn) return u;
  const finding: AttributeError = {
    handling: 'treat-as-withdraw',
    code: AttrCode.AS_PATH,
    subcode: 11, // RFC 4271 6.3: Malformed AS_PATH
    reason: first === undefined ? `AS_PATH does not begin with the peer's AS ${peerAsn} (it is empty or starts with a set)` : `AS_PATH begins with AS ${first}, not the peer's AS ${peerAsn} (first-AS check, RFC 4271 6.3)`,
  };
  const handling = HANDLING_ORDER.indexOf(u.handling) >= HANDLING_ORDER.indexOf('treat-as-withdraw') ? u.handling : 'treat-as-withdraw';
  return { ...u, handling, errors: [...u.errors, finding] };
}
