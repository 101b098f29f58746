/** IPAM: pools and blocks, allocation per endpoint, leak reconcile. */
export * from './errors.js';
export { Ipam, blockKey, blockOfKey, blockSearchStart, BLOCKS_PREFIX, type Allocation, type AddressRequest, type AllocateOptions, type BlockClaim, type ClusterOptions } from './ipam.js';
export { ENDPOINTS_PREFIX, HOSTS_PREFIX, readHost, readHosts, type HostRecord } from './layout.js';
export { parsePools, DEFAULT_BLOCK, type Block, type Pool, type PoolConfig } from './pools.js';
