/** `routectl validate FILE`: canonical form on stdout and exit 0, or the problems on stderr and exit 1. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCaptured, type CliRun } from './run.js';

const fixtures = join(import.meta.dirname, '../../fixtures/config');

const cli = (...argv: string[]): Promise<CliRun> => runCaptured(argv);

describe('routectl validate', () => {
  it('prints the canonical form of a valid file', async () => {
    const r = await cli('validate', join(fixtures, 'minimal.yaml'));
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toBe(readFileSync(join(fixtures, 'minimal.canonical.yaml'), 'utf8'));
  });

  it('a valid file with warnings: the canonical form on stdout, the warnings on stderr, exit 0', async () => {
    const file = join(fixtures, 'every-field.yaml');
    const r = await cli('validate', file);
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync(join(fixtures, 'every-field.canonical.yaml'), 'utf8'));
    const warnings = readFileSync(join(fixtures, 'every-field.warnings.txt'), 'utf8').split('every-field.yaml').join(file);
    expect(r.err).toBe(`${warnings}1 warning in ${file} (valid: the agent starts and logs them)\n`);
  });

  it('prints every problem to stderr and exits 1', async () => {
    const file = join(fixtures, 'bad-references.yaml');
    const r = await cli('validate', file);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const expected = readFileSync(join(fixtures, 'bad-references.errors.txt'), 'utf8').split('bad-references.yaml').join(file);
    expect(r.err).toBe(`${expected}11 problems in ${file}\n`);
  });

  it('a missing file', async () => {
    const r = await cli('validate', '/nonexistent/agent.yaml');
    expect(r.code).toBe(1);
    expect(r.err).toContain('/nonexistent/agent.yaml: cannot read the config: file not found');
  });

  it('agent --config with an invalid file starts nothing and exits 1', async () => {
    const r = await cli('agent', '--config', join(fixtures, 'bad-md5.yaml'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bgp\.peers\[0\]\.password: empty password/);
    expect(r.err).toMatch(/invalid config, nothing started \(6 problems\)/);
  });
});
