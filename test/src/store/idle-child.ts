/**
 * Child process for the writer test: opens a LocalStore, writes once and returns without
 * closing it. The process must exit by itself: an idle writer thread holds no reference.
 */
import { LocalStore } from '../../../src/store/local.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: idle-child DIR');
const s = await LocalStore.open(dir);
await s.put('idle/x', { ok: true });
process.stdout.write('written\n');
