/**
 * Gathering verify's three views from the running agent: desired endpoints (from the
 * endpoint controller when there is one), own kernel state (from the dataplane), and
 * each peer's Adj-RIB-Out (from the speaker). The comparison itself is verify.ts.
 */
import { verify, type VerifyEndpoint, type VerifyReport } from './verify.js';
import type { OwnStateSource } from './kernel-view.js';

export interface VerifySources {
  /** Desired endpoints; absent (or null) without an endpoint controller. */
  endpoints?: () => readonly VerifyEndpoint[] | null | Promise<readonly VerifyEndpoint[] | null>;
  /** Own kernel state; absent when the kernel is not checked. */
  kernel?: OwnStateSource | null;
  /** bgp.advertise. */
  advertise(): readonly string[];
  /** Aggregated pool prefixes (advertised whole) and the blackholes the dataplane keeps for them. */
  aggregates?: () => readonly string[];
  blackholes?: () => readonly string[];
  peers(): readonly {
    readonly address: string;
    readonly state: string;
    readonly families: readonly string[];
    /** agent.yaml `families` of the peer; absent: both. */
    readonly configuredFamilies?: readonly string[];
    readonly problems: readonly string[];
  }[];
  /** Every peer's Adj-RIB-Out as (peer, prefix) pairs. */
  advertised(): readonly { readonly peer: string; readonly prefix: string }[];
}

export async function runVerify(s: VerifySources): Promise<VerifyReport> {
  const endpoints = s.endpoints ? await s.endpoints() : null;
  const kernel = s.kernel ? await s.kernel.listOwn() : null;
  const sent = new Map<string, string[]>();
  for (const r of s.advertised()) sent.set(r.peer, [...(sent.get(r.peer) ?? []), r.prefix]);
  return verify({
    endpoints: endpoints ?? null,
    advertise: s.advertise(),
    aggregates: s.aggregates?.() ?? [],
    blackholes: s.blackholes?.() ?? [],
    kernel: kernel === null ? null : { links: kernel.links, routes: kernel.routes },
    peers: s.peers().map((p) => ({ ...p, advertised: sent.get(p.address) ?? [] })),
  });
}
