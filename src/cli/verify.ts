/**
 * Human output of `routectl verify`: one line per mismatch (the agent's sentence, with its
 * kind in front so it can be grepped), then what was compared and what was not. Pure
 * function of the API's JSON, golden-tested.
 */
import type { VerifyResponse } from '../api/types.js';

export function verifyText(r: VerifyResponse): string {
  const lines: string[] = [];
  const n = r.mismatches.length;
  lines.push(n === 0 ? 'routectl verify: no mismatches' : `routectl verify: ${n} mismatch${n === 1 ? '' : 'es'}`);
  const width = Math.max(0, ...r.mismatches.map((m) => m.kind.length));
  for (const m of r.mismatches) lines.push(`  ${m.kind.padEnd(width)}  ${m.message}`);
  const c = r.checked;
  const parts = [
    c.endpoints === null ? 'no endpoints (speaker-only mode)' : `${c.endpoints} endpoint${c.endpoints === 1 ? '' : 's'}`,
    `${c.desiredPrefixes} desired prefix${c.desiredPrefixes === 1 ? '' : 'es'}`,
    c.kernel ? 'own kernel links and routes' : 'not the kernel',
    c.peers.length === 0 ? 'no Established peer' : `Adj-RIB-Out of ${c.peers.join(', ')}`,
  ];
  lines.push('', `Compared: ${parts.join('; ')}`);
  for (const note of r.notes) lines.push(`Note: ${note}`);
  return `${lines.join('\n')}\n`;
}
