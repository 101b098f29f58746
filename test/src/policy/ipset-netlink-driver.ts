/**
 * Runs NetlinkEndpointSets in the namespace it is started in (test/lab/ipset-netlink.test.ts
 * bundles it and starts it with `ip netns exec`): one batch of changes from argv (JSON),
 * one line of JSON out: {"ok":true} or {"ok":false,"error":"..."}.
 */
import type { EndpointSetOp } from '../../../policy/applier.js';
import { NetlinkEndpointSets } from '../../../src/policy/ipset-netlink.js';

const ops = JSON.parse(process.argv[2] ?? '[]') as EndpointSetOp[];
const sets = new NetlinkEndpointSets();
sets
  .write(ops)
  .then(
    () => process.stdout.write(`${JSON.stringify({ ok: true })}\n`),
    (err: unknown) => process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`),
  )
  .finally(() => sets.close());
