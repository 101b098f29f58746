/**
 * The desired set of advertisements: what the speaker wants every peer to have.
 * Prefixes are canonicalised and their extra attributes (communities, MED) interned as
 * route groups, so prefixes with the same attributes share one group object and the
 * Adj-RIB-Out can compare what it sent with what is wanted by reference. One instance
 * is shared by every peer's Adj-RIB-Out; each change returns the prefixes it touched.
 */
import type { LargeCommunity } from '../wire/types.js';
import { RibError } from './errors.js';
import { canonicalPrefix } from '../wire/prefix.js';

export interface Advertisement {
  readonly prefix: string;
  /** RFC 1997 communities: 32-bit values or "ASN:value" text. */
  readonly communities?: readonly (number | string)[];
  /** RFC 8092 large communities: triples or "a:b:c" text. */
  readonly largeCommunities?: readonly (LargeCommunity | string)[];
  readonly med?: number;
}

/** The attributes a set of advertised prefixes share. Interned: compare by reference. */
export interface RouteGroup {
  readonly key: string;
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly med?: number;
}

const U32 = 0xffffffff;
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32;

export function parseCommunity(c: number | string): number {
  if (typeof c === 'number') {
    if (!isU32(c)) throw new RibError(`community ${c} is not a 32-bit value`);
    return c;
  }
  const m = /^(\d+):(\d+)$/.exec(c);
  const hi = Number(m?.[1]);
  const lo = Number(m?.[2]);
  if (!m || hi > 0xffff || lo > 0xffff) throw new RibError(`community ${JSON.stringify(c)} must be "ASN:value" with both parts 0..65535`);
  return ((hi << 16) | lo) >>> 0;
}

export function parseLargeCommunity(c: LargeCommunity | string): LargeCommunity {
  const parts = typeof c === 'string' ? c.split(':').map((x) => (/^\d+$/.test(x) ? Number(x) : NaN)) : [...c];
  if (parts.length !== 3 || !parts.every(isU32)) {
    throw new RibError(`large community ${JSON.stringify(c)} must be "a:b:c" with each part 0..4294967295`);
  }
  return [parts[0]!, parts[1]!, parts[2]!];
}

/** The canonical text of a prefix; bad text is the caller's error (RibError). */
function canonical(prefix: string): string {
  try {
    return canonicalPrefix(prefix);
  } catch (err) {
    throw new RibError((err as Error).message, { cause: err });
  }
}

export class DesiredRoutes {
  private readonly routes = new Map<string, RouteGroup>();
  private readonly groups = new Map<string, RouteGroup>();

  /** The interned group for an advertisement's attributes. */
  group(a: Omit<Advertisement, 'prefix'>): RouteGroup {
    const communities = a.communities?.length ? [...new Set(a.communities.map(parseCommunity))].sort((x, y) => x - y) : undefined;
    const large = a.largeCommunities?.length
      ? [...new Map(a.largeCommunities.map(parseLargeCommunity).map((l) => [l.join(':'), l])).values()].sort(
          (x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2],
        )
      : undefined;
    if (a.med !== undefined && !isU32(a.med)) throw new RibError(`med ${a.med} is not a 32-bit value`);
    const key = `${communities?.join(',') ?? ''}|${large?.map((l) => l.join(':')).join(',') ?? ''}|${a.med ?? ''}`;
    let g = this.groups.get(key);
    if (!g) {
      g = Object.freeze({
        key,
        ...(communities ? { communities } : {}),
        ...(large ? { largeCommunities: large } : {}),
        ...(a.med !== undefined ? { med: a.med } : {}),
      });
      this.groups.set(key, g);
    }
    return g;
  }

  /** Canonical prefix → interned group for each advertisement, changing nothing; throws RibError on bad input. */
  private resolve(advs: readonly Advertisement[]): Map<string, RouteGroup> {
    const out = new Map<string, RouteGroup>();
    for (const a of advs) out.set(canonical(a.prefix), this.group(a));
    return out;
  }

  /** Replace the whole set (declarative). Validates everything before changing anything. */
  replace(advs: readonly Advertisement[]): string[] {
    const next = this.resolve(advs);
    const changed: string[] = [];
    for (const [p, g] of next) if (this.routes.get(p) !== g) changed.push(p);
    for (const p of this.routes.keys()) if (!next.has(p)) changed.push(p);
    this.routes.clear();
    for (const [p, g] of next) this.routes.set(p, g);
    return changed;
  }

  /** Add or change some advertisements; returns the prefixes that changed. Validates everything before changing anything. */
  add(advs: readonly Advertisement[]): string[] {
    const next = this.resolve(advs);
    const changed: string[] = [];
    for (const [p, g] of next) {
      if (this.routes.get(p) !== g) {
        this.routes.set(p, g);
        changed.push(p);
      }
    }
    return changed;
  }

  /** Remove some prefixes (absent ones are ignored: already withdrawn). */
  remove(prefixes: readonly string[]): string[] {
    const canon = prefixes.map(canonical);
    return canon.filter((p) => this.routes.delete(p));
  }

  get(prefix: string): RouteGroup | undefined {
    return this.routes.get(prefix);
  }

  has(prefix: string): boolean {
    return this.routes.has(prefix);
  }

  get size(): number {
    return this.routes.size;
  }

  prefixes(): IterableIterator<string> {
    return this.routes.keys();
  }

  entries(): IterableIterator<[string, RouteGroup]> {
    return this.routes.entries();
  }
}
