/** IPAM: pools and blocks, allocation per endpoint, leak reconcile. */
export * from './errors.js';
export { Ipam, type Allocation, type AddressRequest, type AllocateOptions } from './ipam.js';
export { parsePools, DEFAULT_BLOCK, type Block, type Pool, type PoolConfig } from './pools.js';
