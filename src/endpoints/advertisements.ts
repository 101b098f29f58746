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

export interface SpeakerAdvertiseTarget {
  setAdvertisements(routes: readonly { readonly prefix: string }[]): void;
  advertise?(routes: readonly { readonly prefix: string }[]): void;
  withdraw?(prefixes: readonly string[]): void;
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
    if (this.speaker.advertise) this.speaker.advertise(fresh.map((prefix) => ({ prefix })));
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
    this.speaker.setAdvertisements(this.prefixes().map((prefix) => ({ prefix })));
  }
}
