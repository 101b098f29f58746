/**
 * The agent's CPU priority, as the built agent sets it at start (src/priority.ts):
 *   - started in a session of its own (setsid, as a service manager starts a daemon), it
 *     runs at nice -10 and so does its session's autogroup, which it shares only with the
 *     helpers it starts;
 *   - started inside someone else's session (here: the test runner's), it sets its own
 *     nice only and leaves the session's autogroup alone, saying why.
 * Skipped where the kernel has no autogroups enabled (nothing to show there).
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from './agent-helper.js';
import { Lab } from './harness/index.js';

const AUTOGROUP_ON = existsSync('/proc/sys/kernel/sched_autogroup_enabled') && readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
const IN_ROOT_CPU_CGROUP = /^\d+:(?:[^:]*,)?cpu(?:,[^:]*)?:\/$/m.test(readFileSync('/proc/self/cgroup', 'utf8'));

let lab: Lab;
beforeAll(async () => {
  lab = await Lab.create();
}, 60_000);
afterAll(async () => {
  await lab?.cleanup();
});

const config = { routerId: '203.0.113.2', asn: 65001, peers: [], listen: { port: 0 } };
const niceOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);

describe.runIf(AUTOGROUP_ON && IN_ROOT_CPU_CGROUP)('agent CPU priority with autogroups', () => {
  it('in a session of its own: nice -10 for the process and for its autogroup', async () => {
    const ns = await lab.netns('pa');
    const mine = readFileSync('/proc/self/autogroup', 'utf8');
    const agent = await startAgent(ns, config, { setsid: true });
    expect(niceOf(agent.pid)).toBe(-10);
    expect(readFileSync(`/proc/${agent.pid}/autogroup`, 'utf8')).toMatch(/^\/autogroup-\d+ nice -10$/m);
    expect(readFileSync(`/proc/${agent.pid}/autogroup`, 'utf8')).not.toBe(mine);
    expect(agent.logLines().find((l) => l.event === 'autogroup')).toMatchObject({ op: 'agent.start', nice: -10 });
    expect(readFileSync('/proc/self/autogroup', 'utf8')).toBe(mine);
  });

  it("in the runner's session: nice -10 for the process only; the session's autogroup is left as it was", async () => {
    const ns = await lab.netns('pb');
    const mine = readFileSync('/proc/self/autogroup', 'utf8');
    const agent = await startAgent(ns, config);
    expect(niceOf(agent.pid)).toBe(-10);
    expect(readFileSync(`/proc/${agent.pid}/autogroup`, 'utf8')).toBe(mine);
    expect(agent.logLines().find((l) => l.event === 'autogroup-left')?.reason).toMatch(
      // session 0: the runner's session leader is outside this PID namespace (some CI runners)
      /shares session \d+ with the processes that started it|session leader is outside its PID namespace/,
    );
    expect(readFileSync('/proc/self/autogroup', 'utf8')).toBe(mine);
  });
});
