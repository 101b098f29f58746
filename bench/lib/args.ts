/**
 * Command-line flags of the benchmarks (`--name value`): one reader, so every bench
 * refuses a missing or malformed value with a message naming the flag instead of
 * running on NaN.
 */

/**
 * Checks the whole command line against what a bench takes, before any flag is read:
 * `--help` (or `-h`) prints `usage` and exits 0; an option the bench does not know, a
 * value flag without its value, or a stray argument prints what is wrong and the usage,
 * and exits 64. Nothing runs on a typo.
 */
export function expectArgs(usage: string, values: readonly string[], switches: readonly string[] = []): void {
  const args = process.argv.slice(2);
  const problem = argsProblem(args, values, switches);
  if (problem === 'help') {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (problem !== null) {
    process.stderr.write(`${problem}\n${usage}\n`);
    process.exit(64);
  }
}

/** Why `args` do not fit (null when they do, 'help' when help is asked for). */
export function argsProblem(args: readonly string[], values: readonly string[], switches: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return 'help';
    if (!a.startsWith('--')) return `unexpected argument ${JSON.stringify(a)}`;
    const name = a.slice(2);
    if (switches.includes(name)) continue;
    if (!values.includes(name)) return `unknown option ${a}`;
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) return `${a} needs a value`;
    i++;
  }
  return null;
}

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
