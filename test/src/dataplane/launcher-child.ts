/**
 * Child process for the launcher test: starts the launcher, runs one helper that takes a
 * while, prints its exit code and returns. The process must wait for the helper, then
 * exit by itself: an idle launcher holds no reference.
 */
import { HelperLauncher } from '../../../src/dataplane/launcher.js';

const l = new HelperLauncher();
l.warm();
const h = l.open(['sh', '-c', 'sleep 0.3; exit 4'], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
h.end();
void h.exited.then((e) => process.stdout.write(`exit ${'code' in e ? e.code : e.error}\n`));
