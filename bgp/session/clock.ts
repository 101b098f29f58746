/**
 * The real clock and transport a Session uses unless tests inject their own.
 */
import { connect as netConnect } from 'node:net';
import type { Clock, ConnectFn } from './types.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export const tcpConnect: ConnectFn = ({ host, port, localAddress }) =>
  netConnect({ host, port, ...(localAddress ? { localAddress } : {}) });
