/** Shared by the kernel-routes benchmark's runner and worker: the N test prefixes. */

/** The i-th /32 of 198.18.0.0/15 (RFC 2544 benchmarking range; 131072 addresses). */
export function benchPrefix(i: number): string {
  return `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
}

export const BENCH_DEV = 'bench0';
export const BENCH_PROTO = 88;
export const MAX_ROUTES = 1 << 17;
