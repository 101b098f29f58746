/**
 * Golden files for agent.yaml: each test/fixtures/config/NAME.yaml is either valid, with
 * its canonical form in NAME.canonical.yaml (and its warnings, when it has any, in
 * NAME.warnings.txt), or invalid (NAME starts with "bad-"), with the exact error text in
 * NAME.errors.txt. ROUTECTL_UPDATE_GOLDEN=1 rewrites them (then
 * review the diff). Also: the canonical form re-parses to the same Config and is a fixed
 * point of formatConfig.
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REDACTED } from '../../../bgp/net/index.js';
import { ConfigError, formatConfig, formatWarning, loadConfig, loadConfigWithWarnings, parseConfig } from '../../../src/config/index.js';

const GOLDEN_SECRET = 'golden-secret';

const dir = join(import.meta.dirname, '../../fixtures/config');
const update = process.env.ROUTECTL_UPDATE_GOLDEN === '1';
const inputs = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.canonical.yaml')).sort();

function golden(file: string, actual: string): void {
  const path = join(dir, file);
  if (update) writeFileSync(path, actual);
  expect(existsSync(path), `${file} missing (run with ROUTECTL_UPDATE_GOLDEN=1 and review)`).toBe(true);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('config golden files', () => {
  it('finds the fixtures', () => {
    expect(inputs.filter((f) => f.startsWith('bad-')).length).toBeGreaterThanOrEqual(6);
    expect(inputs.filter((f) => !f.startsWith('bad-')).length).toBeGreaterThanOrEqual(4);
    expect(inputs).toContain('reserved-asns.yaml');
  });

  for (const file of inputs) {
    const name = file.replace(/\.yaml$/, '');
    const path = join(dir, file);
    if (name.startsWith('bad-')) {
      it(`${file} is rejected with the expected problems`, () => {
        let err: unknown;
        try {
          loadConfig(path, { hostname: 'golden-host' });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        const ce = err as ConfigError;
        expect(ce.problems.length).toBeGreaterThan(0);
        // Report source names relative to the fixture dir, so the golden text is portable.
        golden(`${name}.errors.txt`, `${ce.message.split(path).join(file)}\n`);
      });
    } else {
      it(`${file} has the expected canonical form, which re-parses to the same config`, () => {
        const { config: cfg, warnings } = loadConfigWithWarnings(path, { hostname: 'golden-host' });
        const text = formatConfig(cfg);
        golden(`${name}.canonical.yaml`, text);
        if (warnings.length > 0) golden(`${name}.warnings.txt`, `${warnings.map((w) => formatWarning(file, w)).join('\n')}\n`);
        else expect(existsSync(join(dir, `${name}.warnings.txt`)), `${name} has no warnings, but a ${name}.warnings.txt`).toBe(false);
        // Passwords print as <redacted> (which the schema refuses): the fixtures' inline
        // passwords are all GOLDEN_SECRET, put back to re-parse, then compared by value.
        const again = parseConfig(text.replaceAll(REDACTED, GOLDEN_SECRET), `${name}.canonical.yaml`, { hostname: 'other-host' });
        expect(again).toEqual(cfg);
        expect(again.bgp.peers.map((p) => p.password?.bytes().toString())).toEqual(cfg.bgp.peers.map((p) => p.password?.bytes().toString()));
        expect(formatConfig(again)).toBe(text);
        expect(text).not.toContain(GOLDEN_SECRET);
      });
    }
  }
});

describe('deploy/agent.example.yaml', () => {
  it('is valid and its canonical form is a fixed point', () => {
    const path = join(import.meta.dirname, '../../../deploy/agent.example.yaml');
    const cfg = loadConfig(path, { hostname: 'example-host' });
    expect(cfg.bgp.peers.length).toBeGreaterThan(0);
    const text = formatConfig(cfg);
    expect(formatConfig(parseConfig(text, 'canonical'))).toBe(text);
  });
});
