/**
 * kill -9 during writes never loses an acknowledged write or corrupts the store: a child
 * process (see crash-child.ts) writes in a loop and is SIGKILLed at a random moment,
 * many times over the same directory; after each kill the store must open cleanly and
 * hold at least the last value the child saw acknowledged.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LocalStore } from '../../../src/store/local.js';
import { bundleEntry } from './child-bundle.js';

let child = '';
const dir = mkdtempSync(join(tmpdir(), 'rtc-crash-'));
beforeAll(async () => {
  child = await bundleEntry(join(import.meta.dirname, 'crash-child.ts'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (child) rmSync(dirname(child), { recursive: true, force: true });
});

function runAndKill(afterMs: number): Promise<{ lastAck: number; acks: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let started = false;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // Time the kill from the first acknowledged write, so every round kills mid-loop.
      if (!started) {
        started = true;
        setTimeout(() => p.kill('SIGKILL'), afterMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited on its own: ${err}`));
      const acks = out.split('\n').filter((l) => l.startsWith('ack '));
      resolve({ lastAck: acks.length ? Number(acks[acks.length - 1]?.slice(4)) : 0, acks: acks.length });
    });
  });
}

it('survives SIGKILL mid-write, 15 rounds', async () => {
  let prev = 0;
  let totalAcks = 0;
  for (let round = 0; round < 15; round++) {
    const { lastAck, acks } = await runAndKill(5 + Math.floor(Math.random() * 60));
    totalAcks += acks;
    const s = await LocalStore.open(dir);
    const v = (await s.get('counter/value'))?.value as { n: number } | undefined;
    // Every acknowledged write is there; at most the one in flight when killed is extra.
    expect(v?.n).toBeGreaterThanOrEqual(Math.max(lastAck, prev));
    expect(v?.n).toBeLessThanOrEqual(lastAck + 1);
    expect((await s.list('other/')).length).toBeGreaterThan(0);
    prev = v?.n ?? 0;
    await s.close();
  }
  expect(totalAcks).toBeGreaterThan(15);
});
