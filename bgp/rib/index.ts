/**
 * bgp/rib: the routing tables. Adj-RIB-In per peer (import filter, RFC 7606 handling,
 * max-prefix), Loc-RIB with the RFC 4271 9.1 decision process and its reasons, and the
 * declarative Adj-RIB-Out that turns the desired advertisements into packed UPDATEs.
 */
export * from './errors.js';
export * from './prefix-list.js';
export * from './best-path.js';
export * from './adj-rib-in.js';
export * from './loc-rib.js';
export * from './desired.js';
export * from './adj-rib-out.js';
export * from './next-hop.js';
export { wirePacker } from './wire-packer.js';
export * from './first-as.js';
