/**
 * The netlink socket's thread (started by src/dataplane/netlink/thread.ts): owns one
 * rtnetlink socket, sends the datagrams it is given and passes back, unparsed, every
 * datagram the kernel sends to the socket. Why a thread: see thread.ts.
 *
 * Plain JavaScript, checked by tsc (checkJs) with the types of thread.ts, so that it runs
 * as it is from the sources (tests), from dist/ and from a test's bundle.
 */
import { RawNetlinkSocket } from 'netlink';
import { parentPort, workerData } from 'node:worker_threads';

/** @typedef {import('./thread.js').SocketThreadData} Data */
/** @typedef {import('./thread.js').ToSocketThread} In */
/** @typedef {import('./thread.js').FromSocketThread} Out */

const port = parentPort;
if (port === null) throw new Error('socket-thread.js runs as a worker thread (src/dataplane/netlink/thread.ts)');
const data = /** @type {Data} */ (workerData);
const sock = new RawNetlinkSocket(data.protocol, { recvBufferSize: data.recvBufferSize, sendBufferSize: data.sendBufferSize });

// Posted once the package's native callback that produced them has returned (from
// setImmediate, later in the same event-loop turn): the agent may exit as soon as it has
// its answers, which terminates this thread, and a termination that lands inside a
// native callback aborts the whole process ('terminate called after throwing an
// instance of Napi::Error'). Between turns, the thread is idle and ends cleanly.
/** @type {[Out, ArrayBuffer[]][]} */
const out = [];
const flush = () => {
  for (const [m, t] of out.splice(0)) port.postMessage(m, t);
};
/** @param {Out} m @param {ArrayBuffer[]} [transfer] */
const post = (m, transfer = []) => {
  if (out.push([m, transfer]) === 1) setImmediate(flush);
};

sock.on('message', (buf) => {
  const copy = new Uint8Array(buf.length);
  copy.set(buf);
  post({ t: 'msg', buf: copy }, [copy.buffer]);
});
sock.on('error', (e) => post({ t: 'error', ...(e.code === undefined ? {} : { code: e.code }), message: e.message }));
port.on('message', (/** @type {In} */ m) => {
  if (m.t === 'send') {
    const bufs = m.bufs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    sock.send(bufs, {}, (e) => post({ t: 'sent', id: m.id, ...(e ? { err: { ...(e.code === undefined ? {} : { code: e.code }), message: e.message } } : {}) }));
  } else if (m.t === 'close') {
    sock.close();
    port.close();
  }
});
