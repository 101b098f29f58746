/**
 * The store writer's thread (started by src/store/writer.ts): replaces one document
 * durably per message (temp file, fsync, rename, directory fsync), synchronously and in
 * order, and answers each job with its id (and the error, if it failed). Why a thread:
 * see writer.ts.
 *
 * Plain JavaScript, checked by tsc (checkJs) with the types of writer.ts, so that it runs
 * as it is from the sources (tests), from dist/ and from a test's bundle.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** @typedef {import('./writer.js').ReplaceJob & { readonly id: number }} Job */
/** @typedef {import('./writer.js').WriterReply} Reply */

/** @param {Job} job */
function replace(job) {
  const fd = openSync(job.tmp, 'w', 0o600);
  try {
    writeFileSync(fd, job.data);
    if (job.sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(job.tmp, job.final);
  } catch (err) {
    try {
      unlinkSync(job.tmp);
    } catch {
      // The rename's error is the one to report.
    }
    throw err;
  }
  if (job.sync) {
    const dfd = openSync(job.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

const port = parentPort;
if (port === null) throw new Error('writer-thread.js runs as a worker thread (src/store/writer.ts)');
port.on('message', (/** @type {Job} */ job) => {
  /** @type {Reply} */
  let reply;
  try {
    replace(job);
    reply = { id: job.id };
  } catch (err) {
    const e = /** @type {NodeJS.ErrnoException} */ (err);
    reply = { id: job.id, error: { message: String(e?.message ?? e), ...(e?.code === undefined ? {} : { code: e.code }) } };
  }
  port.postMessage(reply);
});
