/** The dataplane: the reconciler, the kernel interface and its netlink implementation. */
export { Dataplane, reportChanged, type ApplyError, type ApplyReport, type DataplaneOptions, type OwnState } from './dataplane.js';
export { NetlinkKernel, netnsPath } from './netlink-kernel.js';
export * from './kernel.js';
export * from './errors.js';
export * from './plumbing.js';
