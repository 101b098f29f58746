/**
 * Command-line flags of the benchmarks (`--name value`): one reader, so every bench
 * refuses a missing or malformed value with a message naming the flag instead of
 * running on NaN.
 */

function raw(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** A text flag, or `def` when absent. */
export function flag(name: string, def: string): string {
  return raw(name) ?? def;
}

/** A text flag that must be given. */
export function requiredFlag(name: string): string {
  const v = raw(name);
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

/** A non-negative number flag, or `def` when absent. */
export function numberFlag(name: string, def: number): number {
  const v = raw(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, not ${JSON.stringify(v)}`);
  return n;
}

/** A comma-separated list of numbers, or `def` when absent. */
export function numberListFlag(name: string, def: readonly number[]): number[] {
  const v = raw(name);
  if (v === undefined) return [...def];
  return v.split(',').map((x) => {
    const n = Number(x);
    if (x === '' || !Number.isFinite(n) || n < 0) throw new Error(`--${name} takes non-negative numbers separated by commas, not ${JSON.stringify(v)}`);
    return n;
  });
}
