/**
 * The dataplane as a child process for the lab tests: started inside the worker namespace
 * (`ip netns exec <worker> node <bundle>`), it drives a real Dataplane over NetlinkKernel
 * and takes commands as JSON lines on stdin: {id, op, arg} -> {id, ok, result | error}.
 * With `watch`, drift reports arrive unasked as {event: "drift", report}.
 */
import { createInterface } from 'node:readline';
import { Dataplane, NetlinkKernel, type ApplyReport } from '../../../src/dataplane/index.js';

const kernel = new NetlinkKernel();
const dp = new Dataplane(kernel, { driftDebounceMs: 10 });
let stopWatch: (() => void) | undefined;

const send = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};
const plainReport = (r: ApplyReport) => ({ ...r, errors: r.errors.map((e) => ({ ...e, error: e.error.message })) });

type Cmd = { id: number; op: string; arg?: unknown };
const ops: Record<string, (arg: any) => Promise<unknown> | unknown> = {
  setDesired: (eps) => dp.setDesired(eps),
  setBlackholes: (p) => dp.setBlackholes(p),
  apply: async () => plainReport(await dp.apply()),
  add: (e) => dp.addEndpoint(e),
  remove: (id) => dp.removeEndpoint(id),
  listOwn: () => dp.listOwn(),
  watch: () => {
    stopWatch ??= dp.watch(
      (r) => send({ event: 'drift', report: plainReport(r) }),
      (err) => send({ event: 'driftError', error: err.message }),
    );
  },
  exit: () => {
    stopWatch?.();
    kernel.close();
    setImmediate(() => process.exit(0));
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as Cmd;
  const fn = ops[cmd.op];
  try {
    if (!fn) throw new Error(`unknown op ${cmd.op}`);
    send({ id: cmd.id, ok: true, result: (await fn(cmd.arg)) ?? null });
  } catch (err) {
    const e = err as Error;
    send({ id: cmd.id, ok: false, error: `${e.message}${e.cause instanceof Error ? ` <- ${e.cause.message}` : ''}` });
  }
}
