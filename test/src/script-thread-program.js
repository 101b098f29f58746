/**
 * The program test/src/script-thread.test.ts runs on a ScriptThread. Answers {id, n} with
 * {id, twice} after a delay of n ms, so that answers come out of order; {die} exits the
 * thread; {say} is echoed without an id, with workerData.suffix; {t: 'close'} ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort;
if (port === null) throw new Error('runs as a worker thread');
const { suffix } = /** @type {{ suffix: string }} */ (workerData);
port.on('message', (/** @type {{ id?: number, n?: number, die?: boolean, say?: string, t?: string }} */ m) => {
  if (m.die) process.exit(3);
  if (m.say !== undefined) return port.postMessage({ said: m.say + suffix });
  if (m.t === 'close') return port.close();
  const n = m.n ?? 0;
  setTimeout(() => port.postMessage({ id: m.id, twice: n * 2 }), n);
});
