/**
 * Config warnings: values that are valid and work, but are probably not what an operator
 * meant in production. They never stop the agent. `routectl validate` prints them (on
 * stderr, with their line; the canonical form still goes to stdout) and the agent logs
 * each at start (op "config", event "warning"). Errors are in leaves.ts and checks.ts.
 *
 * AS numbers (IANA "Special-Purpose AS Numbers" registry):
 *   0            error (RFC 7607)                   23456   warning: AS_TRANS (RFC 6793)
 *   64496-64511  warning: documentation (RFC 5398)  65536-65551  warning: documentation (RFC 5398)
 *   65535        warning: last 16-bit AS (RFC 7300)  4294967295   warning: last 32-bit AS (RFC 7300)
 *   65552-131071 warning: reserved by IANA, never allocated
 *   64512-65534, 4200000000-4294967294: private use (RFC 6996): the usual choice in a
 *   data centre, no warning.
 */
import { formatPath } from './errors.js';
import type { Config } from './schema.js';

export interface ConfigWarning {
  readonly segments: readonly (string | number)[];
  /** Field path as written in the file: `bgp.peers[1].asn`. */
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}

/** Why an AS number is unusual, or null for an ordinary one (public or private use). */
export function asnWarning(n: number): string | null {
  // RFC 6793: the placeholder a 4-octet AS shows in the 2-octet My AS field of an OPEN;
  // configured as a real AS it cannot be told apart from a 4-octet AS behind an old speaker.
  if (n === 23456) return 'AS 23456 is AS_TRANS (RFC 6793), the stand-in for a 4-octet AS in 2-octet fields; a router with a 4-octet AS shows it in its OPEN, its real AS is in the 4-octet AS capability (show bgp neighbor)';
  if ((n >= 64496 && n <= 64511) || (n >= 65536 && n <= 65551)) return `AS ${n} is reserved for documentation (RFC 5398)`;
  if (n === 65535 || n === 4294967295) return `AS ${n} is reserved, the last AS number of its range (RFC 7300)`;
  if (n >= 65552 && n <= 131071) return `AS ${n} is reserved by IANA and never allocated`;
  return null;
}

const ASN_FIX = 'use your own AS number, or a private one (RFC 6996: 64512-65534, 4200000000-4294967294)';

export function configWarnings(cfg: Pick<Config, 'asn' | 'bgp'>): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const add = (segments: (string | number)[], message: string, fix: string): void => {
    out.push({ segments, path: formatPath(segments), message, fix });
  };
  const own = asnWarning(cfg.asn);
  if (own !== null) add(['asn'], own, ASN_FIX);
  cfg.bgp.peers.forEach((p, i) => {
    const w = typeof p.asn === 'number' ? asnWarning(p.asn) : null;
    if (w !== null) add(['bgp', 'peers', i, 'asn'], w, "use the peer's own AS number (as configured on the router)");
  });
  return out;
}
