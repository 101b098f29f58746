// test/policy/fixtures.ts — loads the compiler fixtures under test/fixtures/policy/<case>/:
// input.json (zones, policy, host, endpoints, generation) and the golden outputs beside it.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, type PolicyModel } from '../../policy/model.js';
import type { Endpoint, HostPolicy } from '../../policy/compiler.js';
import type { Generation } from '../../policy/names.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'policy');

export interface PolicyCase {
  readonly name: string;
  readonly dir: string;
  readonly model: PolicyModel;
  readonly host: HostPolicy;
  readonly endpoints: readonly Endpoint[];
  readonly generation: Generation;
}

interface RawCase {
  zones: unknown;
  policy: unknown;
  host: HostPolicy;
  endpoints: Endpoint[];
  generation: Generation;
}

export function loadCases(): PolicyCase[] {
  return readdirSync(FIXTURE_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURE_DIR, d.name, 'input.json')))
    .map((d) => {
      const dir = join(FIXTURE_DIR, d.name);
      const raw = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as RawCase;
      return { name: d.name, dir, model: buildModel(raw.zones, raw.policy), host: raw.host, endpoints: raw.endpoints, generation: raw.generation };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function loadCase(name: string): PolicyCase {
  const c = loadCases().find((x) => x.name === name);
  if (!c) throw new Error(`fixture case ${name} not found under ${FIXTURE_DIR}`);
  return c;
}
