/**
 * Benchmark worker, run inside a fresh namespace (`ip netns exec NS node worker.js N`):
 * programs N /32s with the dataplane's route path — NetlinkKernel.addRoutes, the batched
 * writer Dataplane.apply() uses — then dumps them (what a reconcile pass reads) and
 * deletes them. Prints one JSON line of timings in seconds.
 */
import { NetlinkKernel } from '../../src/dataplane/netlink-kernel.js';
import type { RouteSpec } from '../../src/dataplane/kernel.js';
import { BENCH_DEV, BENCH_PROTO, benchPrefix } from './common.js';

const n = Number(process.argv[2]);
const k = new NetlinkKernel();
const dev = await k.getLink(BENCH_DEV);
if (!dev) throw new Error(`${BENCH_DEV} missing`);
const routes: RouteSpec[] = Array.from({ length: n }, (_, i) => ({ family: 4, dst: benchPrefix(i), type: 'unicast', oif: dev.index }));

const secs = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e9;
let t = process.hrtime.bigint();
const added = await k.addRoutes(routes, BENCH_PROTO);
const add = secs(t);
t = process.hrtime.bigint();
const listed = (await k.listRoutes()).filter((r) => r.protocol === BENCH_PROTO).length;
const dump = secs(t);
t = process.hrtime.bigint();
const deleted = await k.deleteRoutes(routes, BENCH_PROTO);
const del = secs(t);
const left = (await k.listRoutes()).filter((r) => r.protocol === BENCH_PROTO).length;
k.close();
process.stdout.write(
  JSON.stringify({
    add,
    dump,
    del,
    addErrors: added.filter((x) => x !== undefined).length,
    delErrors: deleted.filter((x) => x !== undefined).length,
    listed,
    left,
  }) + '\n',
);
