/**
 * Pools and blocks: the address arithmetic of IPAM.
 *
 * A pool is an address range owned by a zone. It is carved into blocks of `blockSize`
 * (default /26 for IPv4 and /122 for IPv6, as Calico does; a pool smaller than that is
 * one block). A worker claims a block the first time it needs an address from it and
 * keeps it; an aggregated pool advertises its claimed blocks (plus a blackhole route for
 * each) instead of the /32s and /128s inside them.
 *
 * Which addresses are usable: all of them, as in Calico. Containers get a /32 (/128)
 * routed to their veth, so there is no shared L2 subnet and hence no network or broadcast
 * address to keep free: x.x.x.0 and x.x.x.255 are ordinary host addresses here. (A few
 * applications treat .0/.255 as special; an operator who cares can shape the pools.)
 */
import { formatAddress, formatPrefix, hasHostBits, maxLength, parseAddress, parsePrefix, type IpFamily } from '../net.js';
import { PoolConfigError } from './errors.js';

export interface PoolConfig {
  readonly cidr: string;
  readonly zone: string;
  readonly aggregate?: boolean;
  readonly blockSize?: number;
}

export interface Pool {
  readonly cidr: string;
  readonly zone: string;
  readonly family: IpFamily;
  readonly base: bigint;
  readonly length: number;
  /** Effective block prefix length (never shorter than the pool's). */
  readonly blockLength: number;
  readonly aggregate: boolean;
}

export interface Block {
  readonly cidr: string;
  readonly pool: string;
  readonly zone: string;
  readonly family: IpFamily;
  readonly aggregate: boolean;
}

export const DEFAULT_BLOCK: Readonly<Record<IpFamily, number>> = { 4: 26, 6: 122 };
// Calico's bounds: a block of at most 4096 addresses keeps a free-address scan cheap.
const BLOCK_BOUNDS: Readonly<Record<IpFamily, readonly [number, number]>> = { 4: [20, 32], 6: [116, 128] };

export function parsePools(configs: readonly PoolConfig[]): Pool[] {
  const pools: Pool[] = [];
  for (const [i, c] of configs.entries()) {
    const p = parsePrefix(c.cidr);
    if (p === null) throw new PoolConfigError(`pools[${i}].cidr: ${JSON.stringify(c.cidr)} is not a prefix (e.g. 198.51.100.0/28)`);
    if (hasHostBits(p)) throw new PoolConfigError(`pools[${i}].cidr: ${c.cidr} has host bits set; use the network address`);
    const [lo, hi] = BLOCK_BOUNDS[p.family];
    const bs = c.blockSize ?? DEFAULT_BLOCK[p.family];
    if (!Number.isInteger(bs) || bs < lo || bs > hi) {
      throw new PoolConfigError(`pools[${i}].blockSize: ${bs} is out of range for IPv${p.family} (use ${lo}..${hi})`);
    }
    const pool: Pool = {
      cidr: formatPrefix(p),
      zone: c.zone,
      family: p.family,
      base: p.value,
      length: p.length,
      blockLength: Math.max(bs, p.length),
      aggregate: c.aggregate ?? false,
    };
    for (const q of pools) {
      if (q.family === pool.family && overlaps(q, pool)) {
        throw new PoolConfigError(`pools[${i}].cidr: ${pool.cidr} overlaps ${q.cidr}; pools must be disjoint`);
      }
    }
    pools.push(pool);
  }
  return pools;
}

function size(family: IpFamily, length: number): bigint {
  return 1n << BigInt(maxLength(family) - length);
}

function overlaps(a: Pool, b: Pool): boolean {
  const aEnd = a.base + size(a.family, a.length);
  const bEnd = b.base + size(b.family, b.length);
  return a.base < bEnd && b.base < aEnd;
}

export function poolContains(p: Pool, family: IpFamily, value: bigint): boolean {
  return p.family === family && value >= p.base && value < p.base + size(p.family, p.length);
}

export function blockCount(p: Pool): bigint {
  return 1n << BigInt(p.blockLength - p.length);
}

export function blockSizeOf(p: Pool): bigint {
  return size(p.family, p.blockLength);
}

export function blockBase(p: Pool, index: bigint): bigint {
  return p.base + index * blockSizeOf(p);
}

export function blockIndexOf(p: Pool, value: bigint): bigint {
  return (value - p.base) / blockSizeOf(p);
}

export function blockCidr(p: Pool, index: bigint): string {
  return `${formatAddress(p.family, blockBase(p, index))}/${p.blockLength}`;
}

export { formatAddress, parseAddress, type IpFamily };
