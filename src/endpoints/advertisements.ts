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
 */

import type { PreparedAdvertisement } from '../../bgp/speaker/speaker.js';

export interface SpeakerAdvertiseTarget {
  setAdvertisements(routes: readonly { readonly prefix: string }[]): void;
  advertise?(routes: readonly { readonly prefix: string }[], opts?: { readonly now?: boolean }): void;
  withdraw?(prefixes: readonly string[]): void;
  prepareAdvertise?(routes: readonly { readonly prefix: string }[]): PreparedAdvertisement;
  advertisePrepared?(prepared: PreparedAdvertisement): void;
}

/** What `add` will announce for some prefixes, encoded ahead (Advertisements.prepare). */
export interface PreparedPrefixes {
  /** The prefixes that were new when it was made, in order. */
  readonly fresh: readonly string[];
  readonly speaker: PreparedAdvertisement;
}

export class Advertisements {
  private readonly counts = new Map<string, number>();
  private staticSet = new Set<string>();

  constructor(private readonly speaker: SpeakerAdvertiseTarget) {}

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
   * One more source for each prefix (canonical text). What is new goes out at once (the
   * speaker writes its UPDATEs before this returns): an endpoint's prefixes are added the
   * moment its host routes are in the kernel.
   */
  add(prefixes: readonly string[], prepared?: PreparedPrefixes): void {
    const fresh: string[] = [];
    for (const p of prefixes) {
      const n = this.counts.get(p) ?? 0;
      this.counts.set(p, n + 1);
      if (n === 0) fresh.push(p);
    }
    if (fresh.length === 0) return;
    if (prepared && this.speaker.advertisePrepared && sameList(fresh, prepared.fresh)) this.speaker.advertisePrepared(prepared.speaker);
    else if (this.speaker.advertise) this.speaker.advertise(fresh.map((prefix) => ({ prefix })), { now: true });
    else this.pushAll();
  }

  /**
   * Encodes ahead, changing nothing, what `add(prefixes)` would send now: handed to that
   * `add`, it is used if the same prefixes are still new then, and only the writes are
   * left for that moment. Undefined when none is new or the speaker cannot (or refuses
   * them: `add` then reports it).
   */
  prepare(prefixes: readonly string[]): PreparedPrefixes | undefined {
    if (!this.speaker.prepareAdvertise || !this.speaker.advertisePrepared) return undefined;
    const fresh = prefixes.filter((p, i) => !this.counts.has(p) && prefixes.indexOf(p) === i);
    if (fresh.length === 0) return undefined;
    try {
      return { fresh, speaker: this.speaker.prepareAdvertise(fresh.map((prefix) => ({ prefix }))) };
    } catch {
      return undefined;
    }
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
    this.speaker.setAdvertisements(this.prefixes().map((prefix) => ({ prefix })));
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
