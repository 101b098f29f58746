/**
 * The leaf validators of agent.yaml: each takes whatever YAML produced and returns the
 * canonical value, or reports what is wrong and the fix (as zod issue params, which
 * errors.ts turns into ConfigProblems). Addresses and prefixes come out canonical, so
 * two spellings of the same thing compare equal everywhere after the edge.
 */
import { z } from 'zod';
import {
  canonicalAddress,
  formatPrefix,
  hasHostBits,
  maxLength,
  networkOf,
  parseAddress,
  parsePrefix,
} from '../net.js';
import { quoteExcerpt } from './excerpt.js';

export class Invalid {
  constructor(
    readonly message: string,
    readonly fix: string,
  ) {}
}

/** Describes a YAML value for "got …" in messages; a long string is quoted as an excerpt. */
export function describeValue(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return quoteExcerpt(v);
  return `${typeof v} ${String(v)}`;
}

/** A leaf schema from a parse function; `undefined` input means the key is missing. */
export function leaf<T>(expected: string, parse: (v: unknown) => T | Invalid): z.ZodType<T, z.ZodTypeDef, unknown> {
  return z.unknown().transform((v, ctx): T => {
    const r = v === undefined ? new Invalid('missing', `add it: ${expected}`) : parse(v);
    if (r instanceof Invalid) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.message, params: { fix: r.fix } });
      return z.NEVER;
    }
    return r;
  });
}

export const str = (expected: string, pattern: RegExp, max = 255): z.ZodType<string, z.ZodTypeDef, unknown> =>
  leaf(expected, (v) => {
    if (typeof v !== 'string') return new Invalid(`expected ${expected}, got ${describeValue(v)}`, `write ${expected}`);
    if (v.length > max) return new Invalid(`${quoteExcerpt(v, Math.min(max, 64))} is longer than ${max} characters`, `shorten it: ${expected}`);
    if (!pattern.test(v)) return new Invalid(`${quoteExcerpt(v)} is not ${expected}`, `write ${expected}`);
    return v;
  });

export const int = (expected: string, min: number, max: number): z.ZodType<number, z.ZodTypeDef, unknown> =>
  leaf(expected, (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      return new Invalid(`expected ${expected}, got ${describeValue(v)}`, `write a whole number in ${min}..${max}`);
    }
    if (v < min || v > max) return new Invalid(`${v} is out of range`, `use ${expected}, ${min}..${max}`);
    return v;
  });

export const bool = (what: string): z.ZodType<boolean, z.ZodTypeDef, unknown> =>
  leaf(`true or false (${what})`, (v) =>
    typeof v === 'boolean' ? v : new Invalid(`expected true or false, got ${describeValue(v)}`, `write true or false (${what})`),
  );

export const oneOf = <const T extends string>(values: readonly T[]): z.ZodType<T, z.ZodTypeDef, unknown> =>
  leaf(`one of ${values.join(', ')}`, (v) =>
    typeof v === 'string' && (values as readonly string[]).includes(v)
      ? (v as T)
      : new Invalid(`${describeValue(v)} is not one of ${values.join(', ')}`, `use one of ${values.join(', ')}`),
  );

/** holdTime: RFC 4271 4.2: the Hold Time must be either zero or at least three seconds. */
export const holdTime = leaf('a hold time in seconds: 0 or 3..65535', (v) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return new Invalid(`expected a hold time in seconds, got ${describeValue(v)}`, 'write 0 (no keepalives) or 3..65535, e.g. 90');
  }
  if (v === 1 || v === 2 || v < 0 || v > 65535) {
    return new Invalid(`hold time ${v} is not allowed (RFC 4271 4.2: 0 or at least 3)`, 'use 0 (no keepalives) or 3..65535, e.g. 90');
  }
  return v;
});

/**
 * AS numbers: asplain (RFC 6793) or asdot ("65000.1" = 65000 * 65536 + 1, RFC 5396),
 * normalised to asplain, 1..4294967295. Refused: AS 0 (RFC 7607: never a speaker's or a
 * peer's AS). The reserved numbers, AS_TRANS 23456 among them, are legal on the wire and
 * only warned about (warnings.ts).
 */
export const asn = leaf('an AS number: 65001 (asplain) or "1.10" (asdot)', (v) => {
  const fix = 'use the AS number, 1..4294967295 (asplain) or "X.Y" (asdot, quoted)';
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(v)) n = Number(v);
  else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})$/.test(v)) {
    const [hi, lo] = v.split('.').map(Number) as [number, number];
    if (hi > 65535 || lo > 65535) return new Invalid(`asdot ${v}: each half must be 0..65535`, fix);
    n = hi * 65536 + lo;
  } else return new Invalid(`expected an AS number, got ${describeValue(v)}`, fix);
  if (n < 0) return new Invalid(`${n} is negative; AS numbers are 1..4294967295`, fix);
  if (n === 0) return new Invalid('AS 0 is reserved (RFC 7607)', fix);
  if (n > 4294967295) return new Invalid(`${n} is larger than 4294967295`, fix);
  return n;
});

/**
 * A peer's AS: a number as `asn`, or (FRR's `remote-as external|internal`) `external`:
 * any AS other than ours, `internal`: ours. The peer's OPEN says which AS it is.
 */
export const peerAsn = leaf('an AS number, "external" (any AS but ours) or "internal" (ours)', (v) => {
  if (v === 'external' || v === 'internal') return v;
  const r = asn.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0] as { message: string; params?: { fix?: string } } | undefined;
  return new Invalid(issue?.message ?? `expected an AS number, got ${describeValue(v)}`, `${issue?.params?.fix ?? 'use the AS number'}, or "external" / "internal"`);
});

/**
 * A Linux interface name (IFNAMSIZ 16 with the NUL: at most 15 characters, no "/", no
 * white space, not "." or ".."; net/core/dev.c dev_valid_name).
 */
export const interfaceName = leaf('an interface name such as eth1', (v) => {
  if (typeof v !== 'string') return new Invalid(`expected an interface name, got ${describeValue(v)}`, 'write the name of the link to the router, e.g. eth1');
  if (v.length === 0 || v.length > 15 || v === '.' || v === '..' || /[/:\s%]/.test(v)) {
    return new Invalid(`${quoteExcerpt(v)} is not an interface name (1..15 characters, no "/", ":", "%" or spaces)`, 'write the name as `ip link` shows it, e.g. eth1');
  }
  return v;
});

export const address = (family?: 4 | 6): z.ZodType<string, z.ZodTypeDef, unknown> => {
  const what = family === 4 ? 'an IPv4 address' : family === 6 ? 'an IPv6 address' : 'an IPv4 or IPv6 address';
  return leaf(what, (v) => {
    const a = typeof v === 'string' ? parseAddress(v) : null;
    if (a === null || (family !== undefined && a.family !== family)) {
      return new Invalid(`${describeValue(v)} is not ${what}`, `write ${what}, e.g. ${family === 6 ? '2001:db8::1' : '192.0.2.1'}${family === undefined ? ' or 2001:db8::1' : ''} (IPv6: quote it)`);
    }
    return canonicalAddress(v as string) as string;
  });
};

export const prefix = leaf('a prefix such as 198.51.100.0/24', (v) => {
  const p = typeof v === 'string' ? parsePrefix(v) : null;
  if (p === null) {
    return new Invalid(`${describeValue(v)} is not a prefix`, 'write ADDRESS/LENGTH, e.g. 198.51.100.0/24 or "2001:db8::/64"');
  }
  if (hasHostBits(p)) {
    return new Invalid(`${formatPrefix(p)} has host bits set`, `write ${formatPrefix(networkOf(p))}`);
  }
  return formatPrefix(p);
});

/**
 * An import rule, prefix-list style (as in FRR/Cisco `ip prefix-list`):
 *   "0.0.0.0/0"                  exactly the default route
 *   "10.0.0.0/8 le 32"           10.0.0.0/8 and everything more specific
 *   "198.51.100.0/24 ge 32"      only the /32s inside
 *   "2001:db8::/32 ge 48 le 64"  /48 to /64 inside
 * Canonical spelling: `ge` only when the lower bound is longer than the prefix, `le`
 * only when the upper bound is not implied (ge alone means up to the family maximum).
 */
export const importRule = leaf('a prefix-list entry such as "0.0.0.0/0" or "10.0.0.0/8 le 32"', (v) => {
  const fix = 'write PREFIX [ge N] [le M], e.g. "0.0.0.0/0" (only the default route) or "198.51.100.0/24 le 32"';
  if (typeof v !== 'string') {
    return new Invalid(`expected a prefix-list entry as a string, got ${describeValue(v)}`, fix);
  }
  const m = /^(\S+)(?:\s+ge\s+([0-9]{1,3}))?(?:\s+le\s+([0-9]{1,3}))?$/.exec(v.trim());
  const p = m ? parsePrefix(m[1] ?? '') : null;
  if (m === null || p === null) return new Invalid(`${quoteExcerpt(v)} is not a prefix-list entry`, fix);
  if (hasHostBits(p)) return new Invalid(`${m[1]} has host bits set`, `write ${formatPrefix(networkOf(p))}`);
  const max = maxLength(p.family);
  const ge = m[2] === undefined ? undefined : Number(m[2]);
  const le = m[3] === undefined ? undefined : Number(m[3]);
  const lo = ge ?? p.length;
  const hi = le ?? (ge === undefined ? p.length : max);
  if (!(p.length <= lo && lo <= hi && hi <= max)) {
    return new Invalid(
      `${quoteExcerpt(v)}: the lengths must satisfy ${p.length} <= ge <= le <= ${max}`,
      `pick ge/le between ${p.length} and ${max}, e.g. "${formatPrefix(p)} le ${max}"`,
    );
  }
  return formatImportRule(formatPrefix(p), p.length, lo, hi, max);
});

export function formatImportRule(prefixText: string, length: number, lo: number, hi: number, max: number): string {
  if (lo === length && hi === length) return prefixText;
  if (lo === length) return `${prefixText} le ${hi}`;
  if (hi === max) return `${prefixText} ge ${lo}`;
  return `${prefixText} ge ${lo} le ${hi}`;
}

/** "127.0.0.1:9273", "[::1]:9273" — canonical address, IPv6 in brackets. */
export const hostPort = leaf('ADDRESS:PORT such as 127.0.0.1:9273 or "[::1]:9273"', (v) => {
  const fix = 'write ADDRESS:PORT, e.g. 127.0.0.1:9273 or "[::1]:9273"';
  const m = typeof v === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(v) : null;
  const addrText = m ? (m[1] ?? m[2] ?? '') : '';
  const a = m ? parseAddress(addrText) : null;
  if (m === null || a === null || (m[1] !== undefined && a.family !== 6)) {
    return new Invalid(`${describeValue(v)} is not ADDRESS:PORT`, fix);
  }
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return new Invalid(`port ${port} is out of range`, 'use a port in 1..65535');
  const canon = canonicalAddress(addrText) as string;
  return a.family === 6 ? `[${canon}]:${port}` : `${canon}:${port}`;
});

/** Unix socket paths: absolute, and short enough for sun_path (108 bytes with the NUL). */
export const socketPath = leaf('an absolute path such as /run/routectl/routectl.sock', (v) => {
  if (typeof v !== 'string' || !v.startsWith('/')) {
    return new Invalid(`${describeValue(v)} is not an absolute path`, 'write an absolute path, e.g. /run/routectl/routectl.sock');
  }
  if (Buffer.byteLength(v) > 107) return new Invalid('longer than 107 bytes, the limit for a unix socket path', 'use a shorter path');
  return v;
});

export const absPath = leaf('an absolute path', (v) =>
  typeof v === 'string' && v.startsWith('/') && !v.includes('\0')
    ? v
    : new Invalid(`${describeValue(v)} is not an absolute path`, 'write an absolute path, e.g. /var/lib/routectl'),
);

export const url = leaf('an http(s) URL such as http://203.0.113.5:2379', (v) => {
  const fix = 'write http://HOST:PORT or https://HOST:PORT, e.g. http://203.0.113.5:2379';
  if (typeof v !== 'string' || !/^https?:\/\//.test(v)) return new Invalid(`${describeValue(v)} is not an http(s) URL`, fix);
  try {
    new URL(v);
  } catch {
    return new Invalid(`${quoteExcerpt(v)} is not a valid URL`, fix);
  }
  return v;
});

/** RFC 1997 community, canonical "ASN:value" text (both parts 0..65535). */
export const community = leaf('a community such as "65000:100" (RFC 1997: AS:value, each 0..65535)', (v) => {
  const m = typeof v === 'string' ? /^(\d{1,5}):(\d{1,5})$/.exec(v) : null;
  const hi = Number(m?.[1]);
  const lo = Number(m?.[2]);
  if (!m || hi > 65535 || lo > 65535) {
    return new Invalid(`${describeValue(v)} is not a community`, 'write it as "AS:value" with both parts 0..65535, quoted, e.g. "65000:100"');
  }
  return `${hi}:${lo}`;
});

/** RFC 8092 large community, canonical "global:local1:local2" text (each 0..4294967295). */
export const largeCommunity = leaf('a large community such as "65000:1:2" (RFC 8092)', (v) => {
  const parts = typeof v === 'string' && /^\d{1,10}:\d{1,10}:\d{1,10}$/.test(v) ? v.split(':').map(Number) : null;
  if (!parts || parts.some((n) => n > 0xffffffff)) {
    return new Invalid(`${describeValue(v)} is not a large community`, 'write it as "global:local1:local2" with each part 0..4294967295, quoted, e.g. "65000:1:2"');
  }
  return parts.join(':');
});
