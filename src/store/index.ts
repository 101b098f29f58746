/** The store package: the interface, the embedded file store, the in-memory store. */
export * from './store.js';
export { LocalStore, StoreCorruptError, StoreLockedError, type LocalStoreOptions } from './local.js';
export { MemoryStore } from './memory.js';
