/**
 * Running the CLI in-process for tests: its output captured, the temp dir masked so
 * output can be compared with golden files, and the golden comparison itself
 * (ROUTECTL_UPDATE_GOLDEN=1 rewrites the files; review the diff before committing).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli } from '../../../src/cli/commands.js';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `routectl argv…` in-process; every occurrence of `maskDir` in the output reads `<TMP>`. */
export async function runCaptured(argv: readonly string[], maskDir?: string): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli([...argv], { out: (s) => (out += s), err: (s) => (err += s) });
  const mask = (s: string): string => (maskDir ? s.split(maskDir).join('<TMP>') : s);
  return { code, out: mask(out), err: mask(err) };
}

export const GOLDEN_DIR = join(import.meta.dirname, 'golden');

export function expectGoldenFile(name: string, actual: string): void {
  const path = join(GOLDEN_DIR, name);
  if (process.env.ROUTECTL_UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  expect(existsSync(path), `${name} missing (ROUTECTL_UPDATE_GOLDEN=1, then review)`).toBe(true);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
