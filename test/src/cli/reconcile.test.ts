/**
 * `routectl reconcile pause|resume` against a real API server (the agent's endpoint
 * routes, POST /v1/reconcile) whose repair loop is a flag: the flag follows the command,
 * human and JSON output, exit 1 with the agent's words when it has no repair loop
 * (speaker-only mode, 501), 2 when the agent cannot be reached.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, endpointRoutes, startApiServer, type ApiServer } from '../../../src/api/index.js';
import { fakeHandlers, healthyPeers } from '../api/fake-handlers.js';
import { runCaptured, type CliRun } from './run.js';

let dir: string;
let agent: ApiServer;
let speakerOnly: ApiServer;
let paused = false;
const calls: boolean[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtcd-reconcile-'));
  const routes = endpointRoutes({
    endpoints: () => [],
    setRepairPaused: (p) => {
      calls.push(p);
      paused = p;
      return { paused };
    },
  });
  agent = await startApiServer(join(dir, 'agent.sock'), fakeHandlers(healthyPeers), { routes });
  const refuse = endpointRoutes({
    endpoints: () => [],
    setRepairPaused: () => {
      throw new ApiError(501, 'no_runtime', 'no container runtime in speaker-only mode: there is no repair loop to pause');
    },
  });
  speakerOnly = await startApiServer(join(dir, 'speaker.sock'), fakeHandlers(healthyPeers), { routes: refuse });
});
afterAll(async () => {
  await Promise.all([agent.close(), speakerOnly.close()]);
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<CliRun> {
  const r = await runCaptured(argv);
  return { ...r, err: r.err.split(dir).join('<TMP>') };
}

describe('routectl reconcile', () => {
  it('pause, then resume: the agent is told each, the answer printed, exit 0', async () => {
    expect(await cli('reconcile', 'pause', '--socket', join(dir, 'agent.sock'))).toEqual({ code: 0, out: 'repair loop paused\n', err: '' });
    expect(paused).toBe(true);
    const r = await cli('reconcile', 'resume', '--json', '--socket', join(dir, 'agent.sock'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ paused: false });
    expect(paused).toBe(false);
    expect(calls).toEqual([true, false]);
  });

  it('speaker-only agent: exit 1 with its reason', async () => {
    const r = await cli('reconcile', 'pause', '--socket', join(dir, 'speaker.sock'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('no repair loop to pause');
  });

  it('no agent: exit 2 naming the socket; no sub-command: usage', async () => {
    const r = await cli('reconcile', 'resume', '--socket', join(dir, 'none.sock'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('<TMP>/none.sock');
    expect((await cli('reconcile', 'stop')).code).toBe(64);
  });
});
