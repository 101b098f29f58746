/**
 * Turns snapshots of a count that restarts at 0 (a session's message counts, a kernel
 * rule counter after its chain is rebuilt) into increments of a Prometheus counter. A
 * value below the last one means the count restarted, so all of it is new.
 */
export class SnapshotDeltas {
  private readonly last = new Map<string, number>();
  delta(key: string, value: number): number {
    const prev = this.last.get(key);
    this.last.set(key, value);
    if (prev === undefined || value < prev) return value;
    return value - prev;
  }
}
