/**
 * The BGP wire codec: pure functions from Buffers to typed messages and back. One file
 * per message (open, update, notification, keepalive, route-refresh), the attribute
 * descriptor table (attributes), capabilities, prefixes and NLRI (prefix), the
 * header and stream framer (header), the UPDATE packer the RIB uses (pack), and
 * message.ts tying them together. Decoding either returns a typed message or throws
 * BgpNotification; nothing here does I/O, keeps time or logs.
 */
export * from './types.js';
export * from './errors.js';
export * from './reader.js';
export * from './prefix.js';
export * from './header.js';
export * from './capabilities.js';
export * from './open.js';
export * from './notification.js';
export * from './keepalive.js';
export * from './route-refresh.js';
export * from './attributes.js';
export * from './communities.js';
export * from './update.js';
export * from './message.js';
export * from './pack.js';
