/**
 * Child process for the crash test: opens a LocalStore and writes forever, printing
 * "ack <n>" after each put resolves. The parent kills it with SIGKILL at a random moment
 * and checks that the store still opens and holds at least the last acknowledged value.
 */
import { LocalStore } from '../../../src/store/local.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child DIR');
const store = await LocalStore.open(dir);
const cur = await store.get('counter/value');
let n = typeof cur?.value === 'object' && cur.value !== null && 'n' in cur.value ? Number(cur.value.n) : 0;
let rev = cur?.revision ?? 0;
// A second class and a bulky payload so the write window (temp file, fsync, rename) is wide.
const pad = 'x'.repeat(64 * 1024);
for (;;) {
  n++;
  rev = await store.put('counter/value', { n, pad }, { expectRevision: rev });
  await store.put(`other/k${n % 7}`, { n });
  process.stdout.write(`ack ${n}\n`);
}
