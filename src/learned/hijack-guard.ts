/**
 * The hijack guard: a received route that would take traffic away from the worker's own
 * addresses is never installed (nor used for anything), whatever the import filter
 * says. Refused are routes that equal, cover or lie inside
 * - a container pool or a zone range (a more specific route would steal containers'
 *   traffic; a covering one would send the pool's unused addresses back to the fabric,
 *   which routes them here: a loop),
 * - 169.254.0.0/16 (the containers' gateway 169.254.1.1 lives there),
 * - the worker's own addresses and link subnets (the sessions themselves run over them).
 * The default routes 0.0.0.0/0 and ::/0 cover everything and are exempt: forwarding
 * needs them, and the longer routes above win over them in the kernel anyway. IPv6
 * link-local space (fe80::/10) is refused as a link subnet.
 *
 * Used as the speaker's import guard (bgp/speaker SpeakerConfig.importGuard), so a
 * refused route shows in `routes --received` as filtered with the reason below.
 */
import type { ImportFilter } from '../../bgp/rib/prefix-list.js';
import { formatPrefix, networkOf, parsePrefix, prefixContains, type ParsedPrefix } from '../net.js';

export interface GuardRange {
  readonly prefix: string;
  /** What it is, for the reason: "container pool", "zone app", "link eth1", … */
  readonly what: string;
}

interface Parsed {
  readonly p: ParsedPrefix;
  readonly text: string;
  readonly what: string;
}

const ALWAYS: readonly GuardRange[] = [
  { prefix: '169.254.0.0/16', what: 'the link-local range of the containers\' gateway' },
  { prefix: 'fe80::/10', what: 'the IPv6 link-local range' },
];

const isDefault = (p: ParsedPrefix): boolean => p.length === 0;

export class HijackGuard implements ImportFilter {
  private readonly ranges: readonly Parsed[];

  constructor(ranges: readonly GuardRange[]) {
    const out: Parsed[] = [];
    for (const r of [...ALWAYS, ...ranges]) {
      const p = parsePrefix(r.prefix);
      if (p === null) continue; // validated config and kernel addresses: cannot happen; never a reason to refuse everything
      const n = networkOf(p);
      out.push({ p: n, text: formatPrefix(n), what: r.what });
    }
    this.ranges = out;
  }

  /** The reason `prefix` is refused, or null. */
  check(prefix: string): string | null {
    const p = parsePrefix(prefix);
    if (p === null) return `not a prefix: ${prefix}`;
    if (isDefault(p)) return null;
    // The most telling reason first: equal to a range, then inside one (the smallest), then covering one.
    const same = this.ranges.filter((r) => r.p.family === p.family);
    const eq = same.find((r) => r.p.length === p.length && prefixContains(r.p, p));
    if (eq) return `hijack guard: equals ${eq.text} (${eq.what})`;
    const inside = same.filter((r) => prefixContains(r.p, p)).sort((a, b) => b.p.length - a.p.length)[0];
    if (inside) return `hijack guard: lies inside ${inside.text} (${inside.what})`;
    const covered = same.filter((r) => prefixContains(p, r.p)).sort((a, b) => a.p.length - b.p.length)[0];
    if (covered) return `hijack guard: covers ${covered.text} (${covered.what})`;
    return null;
  }

  accepts(prefix: string): boolean {
    return this.check(prefix) === null;
  }

  reason(prefix: string): string {
    return this.check(prefix) ?? 'accepted';
  }
}

/** The interfaces' addresses (os.networkInterfaces() shape) as guard ranges: each address and its subnet. */
export function interfaceRanges(ifs: NodeJS.Dict<readonly { readonly address: string; readonly cidr: string | null; readonly internal: boolean }[]>): GuardRange[] {
  const out: GuardRange[] = [];
  for (const [name, addrs] of Object.entries(ifs)) {
    for (const a of addrs ?? []) {
      if (a.internal) continue; // loopback: 127/8 and ::1 are not routable anyway
      out.push({ prefix: a.address.includes(':') ? `${a.address.split('%')[0]}/128` : `${a.address}/32`, what: `address of ${name}` });
      if (a.cidr) out.push({ prefix: a.cidr.replace(/%[^/]*/, ''), what: `subnet of ${name}` });
    }
  }
  return out;
}
