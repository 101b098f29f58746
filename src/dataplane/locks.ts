/**
 * Scheduling for the dataplane reconciler: per-key serialization inside a read-write gate.
 *
 * Endpoint operations (add/remove) touch only their own veth, sysctls, container side
 * and host routes, so operations on different endpoints may run at the same time; two
 * operations on the same endpoint id or the same host interface name must not. A full
 * reconcile (apply) reads the whole kernel and writes anywhere among our objects, so it
 * runs alone: it waits for the endpoint operations in flight and holds back new ones
 * until it is done (writer-preferring, so a stream of adds cannot starve it).
 *
 * Everything is promise chaining decided synchronously at call time, so the order is
 * the call order and no cycle (deadlock) can form. (The per-key part, KeyedSerializer, is
 * in ../concurrency.ts: the runtime uses it too.)
 */

/** Shared sections run concurrently; an exclusive section runs alone, in call order with the others. */
export class RwGate {
  /** the last exclusive section asked for (shared sections asked for later start after it) */
  private exclusiveTail: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();

  shared<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(fn);
    this.track(run);
    return run;
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const before = [this.exclusiveTail, ...this.inFlight];
    const run = Promise.all(before).then(fn);
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.exclusiveTail = done;
    return run;
  }

  private track(run: Promise<unknown>): void {
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(done);
    void done.then(() => this.inFlight.delete(done));
  }
}
