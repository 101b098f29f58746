/**
 * The Docker label contract (docs/docker.md), validated at the edge with zod.
 *
 * Opt-in rule: a container is wired when it runs with `--net none` AND carries a
 * `routectl.zone` label naming a zone this worker knows. `routectl.ipv4` / `routectl.ipv6`
 * ask for a fixed address (whether it lies in the zone's pools and is free is the IPAM's
 * question; here only its form is checked). A container that carries any `routectl.*`
 * label but breaks the contract is left alone and reported with one message per problem,
 * each naming the label, the value and the fix. Containers with no `routectl.*` label are
 * not ours and are ignored silently. Label keys and values are anyone's input (Docker
 * allows values of any length): messages quote at most 64 characters of one, with its
 * full length (config/excerpt.ts).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { cutExcerpt, quoteExcerpt } from '../config/excerpt.js';
import type { WantedEndpoint } from './types.js';
import { canonicalAddress } from '../net.js';

export const LABEL_PREFIX = 'routectl.';
export const ZONE_LABEL = 'routectl.zone';
export const IPV4_LABEL = 'routectl.ipv4';
export const IPV6_LABEL = 'routectl.ipv6';
export const KNOWN_LABELS: readonly string[] = [ZONE_LABEL, IPV4_LABEL, IPV6_LABEL];

/** Same rule as zone names in agent.yaml. */
export const ZONE_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;

/** What the runtime learned about one container from `docker inspect`. */
export interface ContainerFacts {
  readonly id: string;
  readonly name: string;
  readonly pid: number;
  readonly running: boolean;
  /** HostConfig.NetworkMode: "none" for `--net none`. */
  readonly networkMode: string;
  readonly labels: Readonly<Record<string, string>>;
  /** HostConfig.CgroupParent ("" for dockerd's default): where its cgroup is (cgroup.ts). */
  readonly cgroupParent?: string;
  /** NetworkSettings.SandboxKey: the network namespace's bind mount ("" until started). */
  readonly sandboxKey?: string;
}

export type Classification =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'wanted'; readonly endpoint: WantedEndpoint }
  | { readonly kind: 'invalid'; readonly error: string };

/** True when any label is one of ours (so the container is worth a look). */
export function hasRoutectlLabel(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels !== undefined && Object.keys(labels).some((k) => k.startsWith(LABEL_PREFIX));
}

// Addresses that can never be a container's own unicast address. 169.254.0.0/16 and
// fe80::/10 matter most: 169.254.1.1 is every container's gateway (docs/design.md).
const notUnicast4 = new BlockList();
for (const [net, len] of [['0.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) {
  notUnicast4.addSubnet(net, len, 'ipv4');
}
const notUnicast6 = new BlockList();
for (const [net, len] of [['::', 96], ['::ffff:0:0', 96], ['fe80::', 10], ['ff00::', 8]] as const) {
  notUnicast6.addSubnet(net, len, 'ipv6');
}

const example = (zone: string | undefined): string => `--label ${ZONE_LABEL}=${zone && ZONE_NAME_RE.test(zone) ? zone : 'app'}`;

function addressSchema(label: string, family: 4 | 6) {
  const sample = family === 4 ? '198.51.100.77' : '2001:db8:c:1::77';
  const fix = `give one address of the zone's pools without a prefix length (e.g. ${label}=${sample}), or drop the label to get one allocated`;
  return z.string().superRefine((v, ctx) => {
    const ok = family === 4 ? isIPv4(v) : isIPv6(v) && !v.includes('%');
    if (!ok) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `label ${label}=${quoteExcerpt(v)} is not an IPv${family} address: ${fix}` });
      return;
    }
    const special = family === 4 ? notUnicast4.check(v, 'ipv4') : notUnicast6.check(v, 'ipv6');
    if (special) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `label ${label}=${quoteExcerpt(v)} is not a unicast address a container can own (unspecified, loopback, link-local, multicast, reserved or IPv4-mapped): ${fix}`,
      });
    }
  });
}

/** The routectl.* labels of one container, for a worker that knows `zones`. */
export function labelSchema(zones: readonly string[]) {
  const known = zones.length > 0 ? zones.join(', ') : '(none configured)';
  return z
    .object({
      [ZONE_LABEL]: z
        .string({ required_error: `label ${ZONE_LABEL} is missing: routectl wires only containers that name their zone (e.g. ${example(undefined)}); known zones: ${known}` })
        .superRefine((v, ctx) => {
          if (!ZONE_NAME_RE.test(v)) {
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              message: `label ${ZONE_LABEL}=${quoteExcerpt(v)} is not a zone name (1-31 of a-z, 0-9 and '-', starting with a letter); known zones: ${known}`,
            });
          } else if (!zones.includes(v)) {
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              message: `label ${ZONE_LABEL}=${quoteExcerpt(v)} names no zone of this worker; known zones: ${known} (fix the label, or declare the zone in agent.yaml)`,
            });
          }
        }),
      [IPV4_LABEL]: addressSchema(IPV4_LABEL, 4).optional(),
      [IPV6_LABEL]: addressSchema(IPV6_LABEL, 6).optional(),
    })
    .strict(`unknown routectl label; routectl reads only ${KNOWN_LABELS.join(', ')}`);
}


/** Canonical text (RFC 5952 for IPv6), so that the same address always compares equal. */
const canonical = (addr: string): string => canonicalAddress(addr) ?? addr;

/**
 * Decide what to do with one container. Pure: the same facts and zones always give the
 * same answer, and the error text is stable (it is shown to operators and tested).
 */
export function classifyContainer(c: ContainerFacts, zones: readonly string[]): Classification {
  if (!hasRoutectlLabel(c.labels)) return { kind: 'ignored' };
  const ours: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.labels)) if (k.startsWith(LABEL_PREFIX)) ours[k] = v;
  const errors: string[] = [];
  if (c.networkMode !== 'none') {
    errors.push(
      `container uses network mode ${quoteExcerpt(c.networkMode)}; routectl wires only containers started with --net none: re-create it with docker run --net none ${example(ours[ZONE_LABEL])} …`,
    );
  }
  const parsed = labelSchema(zones).safeParse(ours);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        for (const k of issue.keys) errors.push(`unknown label ${cutExcerpt(k)}=${quoteExcerpt(ours[k] ?? '')}: routectl reads only ${KNOWN_LABELS.join(', ')} (check the spelling)`);
      } else errors.push(issue.message);
    }
  }
  if (errors.length > 0 || !parsed.success) return { kind: 'invalid', error: errors.join('; ') };
  const l = parsed.data;
  return {
    kind: 'wanted',
    endpoint: {
      id: c.id,
      name: c.name,
      pid: c.pid,
      zone: l[ZONE_LABEL],
      ...(l[IPV4_LABEL] === undefined ? {} : { ipv4: canonical(l[IPV4_LABEL]) }),
      ...(l[IPV6_LABEL] === undefined ? {} : { ipv6: canonical(l[IPV6_LABEL]) }),
      labels: { ...c.labels },
    },
  };
}
