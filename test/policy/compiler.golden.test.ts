// Golden tests for policy/compiler.ts: each case under test/fixtures/policy/ compiles to
// exactly the checked-in ipset/iptables/ip6tables restore texts and nft script (arp.nft). The same texts are fed to
// the real kernel in test/lab/policy.test.ts, which checks iptables-save prints them back
// unchanged. Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../policy/compiler.js';
import { loadCases } from './fixtures.js';

const OUTPUTS = [
  ['ipset.restore', 'ipsetRestore'],
  ['iptables.restore', 'iptablesRestore'],
  ['ip6tables.restore', 'ip6tablesRestore'],
] as const;

const cases = loadCases();

describe('compiler golden files', () => {
  it('finds the fixture cases', () => {
    expect(cases.map((c) => c.name)).toEqual(expect.arrayContaining(['issue-example', 'long-names-reject']));
  });

  for (const c of cases) {
    it(`${c.name} compiles to its golden restore texts`, () => {
      const out = compile({ model: c.model, host: c.host, endpoints: c.endpoints, generation: c.generation });
      const texts: [string, string][] = [...OUTPUTS.map(([file, key]) => [file, out[key]] as [string, string]), ['arp.nft', out.arp.script]];
      for (const [file, text] of texts) {
        const path = join(c.dir, file);
        if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
        expect(existsSync(path), `${path} exists`).toBe(true);
        expect(text).toBe(readFileSync(path, 'utf8'));
      }
    });

    it(`${c.name} is deterministic and respects kernel name limits`, () => {
      const a = compile({ model: c.model, host: c.host, endpoints: c.endpoints, generation: c.generation });
      const b = compile({ model: c.model, host: c.host, endpoints: [...c.endpoints].reverse(), generation: c.generation });
      expect(a.iptablesRestore).toBe(b.iptablesRestore);
      for (const s of a.sets) expect(s.name.length).toBeLessThanOrEqual(31);
      for (const ch of [...a.v4.chains, ...a.v6.chains]) expect(ch.length).toBeLessThanOrEqual(28);
      for (const line of [...a.v4.rules, ...a.v6.rules]) {
        // Every rule carries the ownership mark.
        expect(line).toMatch(/-m comment --comment "routectl:[^"]+"/);
        const prefix = /--log-prefix "([^"]*)"/.exec(line);
        if (prefix) expect(prefix[1]!.length).toBeLessThanOrEqual(29);
      }
    });
  }
});
