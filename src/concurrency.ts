/**
 * Two small scheduling primitives shared by the agent's parts: per-key serialization
 * (the dataplane's endpoint operations, the Docker runtime's events per container) and a
 * bound on how many tasks run at once (the endpoint controller's converges, the Docker
 * runtime's inspects). Promise chaining only, decided synchronously at call time, so the
 * order is the call order.
 */

/** Runs `fn` after every earlier operation that shares one of `keys`, in call order. */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const uniq = [...new Set(keys)];
    const prior = uniq.map((k) => this.tails.get(k)).filter((p): p is Promise<void> => p !== undefined);
    const start = prior.length === 0 ? Promise.resolve() : Promise.all(prior).then(() => undefined);
    const run = start.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    for (const k of uniq) this.tails.set(k, tail);
    // Forget a key once nothing newer was queued on it (the map stays as small as the work in flight).
    void tail.then(() => {
      for (const k of uniq) if (this.tails.get(k) === tail) this.tails.delete(k);
    });
    return run;
  }

  /** Keys with work queued or running (tests, metrics). */
  get size(): number {
    return this.tails.size;
  }

  /** Settles once everything queued so far has run. */
  async idle(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}

/** Runs tasks with at most `max` of them at once; the others wait, in call order. */
export class Limiter {
  private running = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiters.shift()?.();
    }
  }
}
