/**
 * The speaker's advertisements as a union: the static `bgp.advertise` list plus what the
 * endpoints bring (their /32 and /128, or their aggregated blocks). Each prefix carries a
 * reference count, so a prefix announced by two sources (a VIP that is also a block, two
 * endpoints inside one block) is withdrawn only when the last source lets go.
 *
 * The speaker is told only what changed — `advertise([p])` when a count goes 0 → 1,
 * `withdraw([p])` when it goes 1 → 0 — so one endpoint costs O(1) however many others
 * exist; nothing rebuilds the whole set per container. A speaker without the incremental
 * calls (a stand-in) gets `setAdvertisements` with the whole union instead.
 *
 * Each prefix goes out with its zone's tags (zones[].communities, largeCommunities): the
 * zone is the one whose ranges hold the prefix (pools lie inside their zone's ranges), so
 * the fabric can filter by zone. New tags (a reload) re-send every prefix with them.
 */

import { parsePrefix, prefixContains, type ParsedPrefix } from '../net.js';

/** One route for the speaker: the prefix and the communities it carries. */
export interface RouteAdvertisement {
  readonly prefix: string;
  /** RFC 1997 "AS:value" */
  readonly communities?: readonly string[];
  /** RFC 8092 "a:b:c" */
  readonly largeCommunities?: readonly string[];
}

export interface SpeakerAdvertiseTarget {
  setAdvertisements(routes: readonly RouteAdvertisement[]): void;
  advertise?(routes: readonly RouteAdvertisement[]): void;
  withdraw?(prefixes: readonly string[]): void;
}

/** The tags of a prefix (its zone's communities), or undefined for none. */
export type PrefixTags = (prefix: string) => Omit<RouteAdvertisement, 'prefix'> | undefined;

export interface ZoneTags {
  readonly cidrs: readonly string[];
  readonly communities: readonly string[];
  readonly largeCommunities: readonly string[];
}

/** Tags by zone range: a prefix inside a zone's range gets that zone's communities (zone ranges never overlap). */
export function zoneTags(zones: readonly ZoneTags[]): PrefixTags {
  const ranges: { range: ParsedPrefix; tags: Omit<RouteAdvertisement, 'prefix'> }[] = [];
  for (const z of zones) {
    if (z.communities.length === 0 && z.largeCommunities.length === 0) continue;
    const tags = {
      ...(z.communities.length > 0 ? { communities: [...z.communities] } : {}),
      ...(z.largeCommunities.length > 0 ? { largeCommunities: [...z.largeCommunities] } : {}),
    };
    for (const c of z.cidrs) {
      const range = parsePrefix(c);
      if (range) ranges.push({ range, tags });
    }
  }
  if (ranges.length === 0) return () => undefined;
  return (prefix) => {
    const p = parsePrefix(prefix);
    return p ? ranges.find((r) => prefixContains(r.range, p))?.tags : undefined;
  };
}

export class Advertisements {
  private readonly counts = new Map<string, number>();
  private staticSet = new Set<string>();

  constructor(
    private readonly speaker: SpeakerAdvertiseTarget,
    private tags: PrefixTags = () => undefined,
  ) {}

  /** New tags (config reload): every prefix is handed to the speaker again, which sends only what changed. */
  setTags(tags: PrefixTags): void {
    this.tags = tags;
    if (this.counts.size === 0) return;
    if (this.speaker.advertise) this.speaker.advertise(this.prefixes().map((p) => this.route(p)));
    else this.pushAll();
  }

  private route(prefix: string): RouteAdvertisement {
    const t = this.tags(prefix);
    return t ? { prefix, ...t } : { prefix };
  }

  /** Replaces the static part (config load and reload); prefixes must be canonical text. */
  setStatic(prefixes: readonly string[]): void {
    const next = new Set(prefixes);
    const gone = [...this.staticSet].filter((p) => !next.has(p));
    const added = [...next].filter((p) => !this.staticSet.has(p));
    this.staticSet = next;
    this.remove(gone);
    this.add(added);
  }

  /**
   * One more source for each prefix (canonical text). What is new goes to the speaker at
   * once, which sends it with the rest of this tick's changes: an endpoint's prefixes are
   * added the moment its host routes are in the kernel.
   */
  add(prefixes: readonly string[]): void {
    const fresh: string[] = [];
    for (const p of prefixes) {
      const n = this.counts.get(p) ?? 0;
      this.counts.set(p, n + 1);
      if (n === 0) fresh.push(p);
    }
    if (fresh.length === 0) return;
    if (this.speaker.advertise) this.speaker.advertise(fresh.map((p) => this.route(p)));
    else this.pushAll();
  }

  /** One source fewer for each prefix; the last one withdraws it. */
  remove(prefixes: readonly string[]): void {
    const gone: string[] = [];
    for (const p of prefixes) {
      const n = this.counts.get(p);
      if (n === undefined) continue;
      if (n <= 1) {
        this.counts.delete(p);
        gone.push(p);
      } else this.counts.set(p, n - 1);
    }
    if (gone.length === 0) return;
    if (this.speaker.withdraw) this.speaker.withdraw(gone);
    else this.pushAll();
  }

  has(prefix: string): boolean {
    return this.counts.has(prefix);
  }

  prefixes(): string[] {
    return [...this.counts.keys()];
  }

  get size(): number {
    return this.counts.size;
  }

  private pushAll(): void {
    this.speaker.setAdvertisements(this.prefixes().map((p) => this.route(p)));
  }
}
