/** IPAM: pools and blocks, allocation per endpoint, leak reconcile. */
export * from './errors.js';
export { Ipam, blockKey, blockOfKey, blockSearchStart, BLOCKS_PREFIX, HOSTS_PREFIX, type Allocation, type AddressRequest, type AllocateOptions, type BlockClaim, type ClusterOptions } from './ipam.js';
export { parsePools, DEFAULT_BLOCK, type Block, type Pool, type PoolConfig } from './pools.js';
