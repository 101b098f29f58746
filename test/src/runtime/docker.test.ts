/**
 * DockerRuntime against an in-memory dockerode-like client: the first list, events in
 * order, a started container that is gone before its inspect, reconnect with resync
 * (diffed: nothing known is added twice), framing of the event stream, zone reload,
 * status, and a stop that leaves nothing scheduled. Time (backoff, the check of containers
 * wired before their start) runs on a fake clock; the rest waits for conditions, or for
 * the event loop's pending work (settle).
 */
import { Agent } from 'node:http';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../../src/runtime/docker.js';
import { backoffDelay } from '../../../src/runtime/backoff.js';
import { CgroupPids } from '../../../src/runtime/cgroup.js';
import type { InvalidContainer, SyncDiff, WantedEndpoint } from '../../../src/runtime/types.js';
import { FakeDocker } from './fake-docker.js';
import { FakeClock, settle } from '../../bgp/session/harness.js';
import { until } from './wait.js';

type Rec =
  | { t: 'sync'; ids: string[]; diff: SyncDiff }
  | { t: 'add'; id: string; pid: number }
  | { t: 'remove'; id: string; reason: string }
  | { t: 'invalid'; id: string; error: string };

const APP = { 'routectl.zone': 'app' };
const id = FakeDocker.id;

const runtimes: DockerRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
});

function setup(opts: { zones?: string[]; backoffMs?: number; execRoot?: string; wireBeforeStart?: boolean } = {}) {
  const docker = new FakeDocker(opts.execRoot);
  const clock = new FakeClock();
  const rt = new DockerRuntime({
    clock,
    zones: opts.zones ?? ['app', 'dmz'],
    client: docker,
    cgroupPids: new CgroupPids(docker.readFile),
    netnsOf: docker.netnsOf,
    ...(opts.wireBeforeStart !== undefined ? { wireBeforeStart: opts.wireBeforeStart } : {}),
    backoff: { initialMs: opts.backoffMs ?? 5, maxMs: Math.max(20, opts.backoffMs ?? 0) },
  });
  runtimes.push(rt);
  const log: Rec[] = [];
  rt.on('sync', (eps: readonly WantedEndpoint[], diff) => log.push({ t: 'sync', ids: eps.map((e) => e.id).sort(), diff }));
  rt.on('add', (e) => log.push({ t: 'add', id: e.id, pid: e.pid }));
  rt.on('remove', (e, reason) => log.push({ t: 'remove', id: e.id, reason }));
  rt.on('invalid', (i: InvalidContainer) => log.push({ t: 'invalid', id: i.id, error: i.error }));
  return { docker, rt, log, clock };
}

describe('DockerRuntime: first list', () => {
  it('emits one sync with the opted-in containers, and invalid ones apart', async () => {
    const { docker, rt, log } = setup();
    docker.run(1, APP, { silent: true });
    docker.run(2, { ...APP, 'routectl.ipv4': '198.51.100.77' }, { silent: true });
    docker.run(3, { 'routectl.zone': 'nope' }, { silent: true });
    docker.run(4, {}, { silent: true });
    docker.run(5, APP, { silent: true, mode: 'bridge' });
    docker.run(6, APP, { silent: true });
    docker.stop(id(6), { silent: true }); // not running: not listed
    await rt.start();
    expect(log).toEqual([
      { t: 'sync', ids: [id(1), id(2)], diff: { added: [id(1), id(2)], removed: [], changed: [] } },
      { t: 'invalid', id: id(3), error: expect.stringContaining('routectl.zone="nope"') },
      { t: 'invalid', id: id(5), error: expect.stringContaining('--net none') },
    ]);
    const ep = rt.endpoints().find((e) => e.id === id(2));
    expect(ep).toEqual({ id: id(2), name: 'c2', pid: docker.containers.get(id(2))!.State.Pid, zone: 'app', ipv4: '198.51.100.77', labels: { ...APP, 'routectl.ipv4': '198.51.100.77' } });
    expect(rt.status()).toEqual({
      connected: true,
      since: expect.any(String),
      lastError: null,
      retryAt: null,
      containers: 2,
      invalid: [expect.objectContaining({ id: id(3), name: 'c3' }), expect.objectContaining({ id: id(5), name: 'c5' })],
    });
    // The unlabelled container cost no inspect.
    expect(docker.inspects).toBe(4);
  });
});

describe('DockerRuntime: events', () => {
  it('start → add, die → remove, destroy after die → nothing, restart → add with the new pid', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    const a = docker.run(1, APP);
    await until(() => log.length === 1, 'add');
    const pid1 = docker.containers.get(a)!.State.Pid;
    expect(log).toEqual([{ t: 'add', id: a, pid: pid1 }]);
    docker.stop(a);
    docker.restart(a);
    const pid2 = docker.containers.get(a)!.State.Pid;
    await until(() => log.length === 3, 'remove and add');
    expect(log.slice(1)).toEqual([
      { t: 'remove', id: a, reason: 'die' },
      { t: 'add', id: a, pid: pid2 },
    ]);
    docker.rm(a);
    await until(() => log.length === 4, 'remove');
    await settle();
    expect(log.slice(3)).toEqual([{ t: 'remove', id: a, reason: 'die' }]); // destroy adds nothing
    expect(rt.endpoints()).toEqual([]);
  });

  it('keeps dockerd order when an inspect answer is slow: start then die ends with nothing wanted', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    docker.answerGate = async () => held;
    const asked = docker.inspects;
    // Its create went unseen, so its start is inspected; the answer ("running") is held.
    const a = docker.run(1, APP, { startOnly: true });
    await until(() => docker.inspects > asked, 'inspect of a');
    docker.stop(a); // a's die arrives while that answer is in flight
    await settle();
    expect(log).toEqual([]); // the die was not applied ahead of the start
    docker.answerGate = undefined;
    release();
    await until(() => log.length === 2, 'add and remove');
    // Applied in dockerd's order: a stale "running" answer is undone by the die after it.
    expect(log).toEqual([
      { t: 'add', id: a, pid: expect.any(Number) },
      { t: 'remove', id: a, reason: 'die' },
    ]);
    expect(rt.endpoints()).toEqual([]);
  });

  it('a slow inspect does not hold up the other containers (two at a time); each container still in its own order', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const asked = docker.inspects;
    // Two at a time: with every answer held, a third is not asked.
    let openAll!: () => void;
    const all = new Promise<void>((r) => (openAll = r));
    docker.answerGate = async () => all;
    // Creates unseen: each start is inspected.
    const early = [docker.run(30, APP, { startOnly: true }), docker.run(31, APP, { startOnly: true }), docker.run(32, APP, { startOnly: true })];
    await until(() => docker.inspects === asked + 2, 'two inspects asked');
    await settle();
    expect(docker.inspects).toBe(asked + 2);
    docker.answerGate = undefined;
    openAll();
    await until(() => log.length === 3, 'the three added');
    expect(docker.inspects).toBe(asked + 3);
    for (const e of early) docker.stop(e);
    await until(() => log.length === 6, 'the three removed');
    log.length = 0;
    // The first container's inspect answer is held; the others' are not.
    docker.answerGate = async (cid) => (cid === id(10) ? held : undefined);
    const ids = Array.from({ length: 6 }, (_, i) => docker.run(10 + i, APP, { startOnly: true }));
    await until(() => log.length === 5, 'the five others added while the first is held');
    expect(docker.inspects).toBe(asked + 3 + 6);
    expect(log.map((r) => (r as { id: string }).id)).not.toContain(ids[0]);
    docker.stop(ids[0]!); // the first one's die, while its start's answer is held
    await settle();
    expect(log).toHaveLength(5); // not applied ahead of its start
    docker.answerGate = undefined;
    release();
    await until(() => log.length === 7, 'six adds and one remove');
    expect(log.filter((r) => r.t === 'add').map((r) => (r as { id: string }).id).sort()).toEqual([...ids].sort());
    const first = log.filter((r) => 'id' in r && r.id === ids[0]).map((r) => r.t);
    expect(first).toEqual(['add', 'remove']);
    expect(rt.endpoints().map((e) => e.id).sort()).toEqual(ids.slice(1).sort());
  });

  it('events that arrive while the first list runs are applied after it', async () => {
    const { docker, rt, log } = setup();
    docker.run(1, APP, { silent: true });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    docker.inspectGate = async () => held; // holds the list's inspects (and the events')
    const started = rt.start();
    await settle();
    const b = docker.run(2, APP); // a start event during the list
    await settle();
    docker.inspectGate = undefined;
    release();
    await started;
    await until(() => log.length === 2, 'sync and add');
    expect(log[0]).toMatchObject({ t: 'sync', ids: [id(1)] });
    expect(log[1]).toMatchObject({ t: 'add', id: b });
  });

  it('a start whose inspect finds the container stopped again adds nothing', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    docker.inspectGate = async () => held;
    const a = docker.run(1, APP);
    const b = docker.run(2, APP);
    docker.stop(a);
    await settle();
    docker.inspectGate = undefined;
    release();
    await until(() => log.length === 1, 'b added');
    await settle();
    expect(log).toEqual([{ t: 'add', id: b, pid: expect.any(Number) }]);
    expect(rt.endpoints().map((e) => e.id)).toEqual([b]);
  });

  it('a container removed before its inspect is skipped quietly (404)', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    docker.inspectGate = async () => held;
    const a = docker.run(1, APP);
    await settle();
    docker.rm(a);
    docker.inspectGate = undefined;
    release();
    const b = docker.run(2, APP); // a marker: processed after a's events
    await until(() => log.length === 1, 'b added');
    expect(log).toEqual([{ t: 'add', id: b, pid: expect.any(Number) }]);
    expect(rt.status().lastError).toBeNull();
    expect(rt.status().connected).toBe(true);
  });

  it('reassembles events split across chunks and skips garbage lines', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    const c = { Id: id(9), Name: '/c9', State: { Running: true, Pid: 99 }, HostConfig: { NetworkMode: 'none', CgroupParent: '' }, Config: { Labels: { 'routectl.zone': 'app', note: 'zürich' } } };
    docker.containers.set(c.Id, c);
    const line = Buffer.from(`${JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: c.Id, Attributes: c.Config.Labels } })}\n`);
    const cut = line.indexOf(0xc3) + 1; // inside the two-byte ü
    docker.writeRaw('not json\n{"Type":"network","Action":"connect","Actor":{"ID":"x"}}\n');
    for (const part of [line.subarray(0, 7), line.subarray(7, cut), line.subarray(cut)]) {
      docker.writeRaw(part as unknown as string);
      await settle();
    }
    await until(() => log.length === 1, 'add');
    expect(log).toEqual([{ t: 'add', id: c.Id, pid: 99 }]);
    expect(rt.endpoints()[0]?.labels.note).toBe('zürich');
  });

  it('emits invalid for a bad label on start, once, and forgets it when the container dies', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    log.length = 0;
    const x = docker.run(1, { 'routectl.zone': 'app', 'routectl.ipv6': 'nope' });
    await until(() => log.length === 1, 'invalid');
    expect(log[0]).toEqual({ t: 'invalid', id: x, error: expect.stringMatching(/routectl\.ipv6="nope".*not an IPv6 address/) });
    expect(rt.status().invalid).toHaveLength(1);
    docker.stop(x);
    await until(() => rt.status().invalid.length === 0, 'invalid cleared');
    expect(log).toHaveLength(1);
  });
});

describe('DockerRuntime: the PID of a started container', () => {
  it('inspected at create; at start its PID comes from its cgroup once one container taught where they are', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    const asked = docker.inspects;
    // The first: inspected at create and at start (its cgroup teaches the layout).
    const a = docker.run(1, APP);
    await until(() => log.length === 2, 'a added');
    expect(docker.inspects).toBe(asked + 2);
    // The others: one inspect each, at create; the start reads the cgroup.
    const reads = docker.procsReads;
    const others = [docker.run(2, APP), docker.run(3, APP), docker.run(4, APP)];
    await until(() => log.length === 5, 'three more added');
    expect(docker.inspects).toBe(asked + 2 + 3);
    expect(docker.procsReads).toBeGreaterThanOrEqual(reads + 3);
    for (const cid of [a, ...others]) {
      expect(rt.endpoints().find((e) => e.id === cid)?.pid).toBe(docker.containers.get(cid)!.State.Pid);
    }
    // Unlabelled containers cost no inspect at create or start.
    docker.run(5, {});
    await settle();
    expect(docker.inspects).toBe(asked + 5);
    // A restart: the new PID from the cgroup, no inspect; the current name from the event.
    docker.containers.get(a)!.Name = '/renamed';
    docker.stop(a);
    docker.restart(a);
    await until(() => log.length === 7, 'a removed and added again');
    expect(log.slice(-2)).toEqual([
      { t: 'remove', id: a, reason: 'die' },
      { t: 'add', id: a, pid: docker.containers.get(a)!.State.Pid },
    ]);
    expect(rt.endpoints().find((e) => e.id === a)).toMatchObject({ name: 'renamed', zone: 'app' });
    expect(docker.inspects).toBe(asked + 5);
  });

  it('inspected at start instead: create unseen, two processes in the cgroup, a cgroup parent not yet learnt', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    docker.run(1, APP);
    await until(() => log.length === 2, 'first added');
    let asked = docker.inspects;
    docker.run(2, APP, { startOnly: true });
    await until(() => log.length === 3, 'create unseen');
    expect(docker.inspects).toBe(asked + 1);
    asked = docker.inspects;
    docker.extraPids.set(id(3), [99_999]); // an exec already beside the init
    const two = docker.run(3, APP);
    await until(() => log.length === 4, 'two processes');
    expect(docker.inspects).toBe(asked + 2); // create and start
    expect(rt.endpoints().find((e) => e.id === two)?.pid).toBe(docker.containers.get(two)!.State.Pid);
    asked = docker.inspects;
    const p1 = docker.run(4, APP, { cgroupParent: '/custom' });
    const p2 = docker.run(5, APP, { cgroupParent: '/custom' });
    await until(() => log.length === 6, 'the /custom pair');
    // Both created (2 inspects); the first start of the new parent is inspected, and so is
    // the second when it is read before the first's answer taught the layout.
    expect([3, 4]).toContain(docker.inspects - asked);
    asked = docker.inspects;
    const p3 = docker.run(6, APP, { cgroupParent: '/custom' });
    await until(() => log.length === 7, 'a third /custom');
    expect(docker.inspects - asked).toBe(1); // at create only
    for (const cid of [p1, p2, p3]) expect(rt.endpoints().find((e) => e.id === cid)?.pid).toBe(docker.containers.get(cid)!.State.Pid);
  });

  it('says where it reads PIDs from, or once why it cannot (no cgroup mounted): then every start is inspected', async () => {
    for (const mounted of [true, false]) {
      const docker = new FakeDocker();
      const lines: Record<string, unknown>[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
      const read = mounted ? docker.readFile : (p: string) => (p === '/proc/self/mountinfo' ? '25 1 0:23 / /sys rw - sysfs sysfs rw\n' : docker.readFile(p));
      const rt = new DockerRuntime({ zones: ['app'], client: docker, cgroupPids: new CgroupPids(read), logger });
      runtimes.push(rt);
      await rt.start();
      const asked = docker.inspects;
      docker.run(1, APP);
      await until(() => rt.endpoints().length === 1, 'the first added');
      for (let n = 2; n <= 3; n++) docker.run(n, APP);
      await until(() => rt.endpoints().length === 3, 'three added');
      expect(docker.inspects - asked).toBe(mounted ? 4 : 6);
      const said = lines.filter((l) => l.event === 'cgroups-found' || l.event === 'cgroups-unknown');
      expect(said).toEqual([
        mounted
          ? expect.objectContaining({ event: 'cgroups-found', where: '/sys/fs/cgroup/pids/docker/<id>', msg: "started containers' PIDs are read from /sys/fs/cgroup/pids/docker/<id>/cgroup.procs" })
          : expect.objectContaining({ event: 'cgroups-unknown', reason: 'no cgroup file system is mounted in this mount namespace' }),
      ]);
    }
  });

  it('a container that stops before its start is read: nothing added (its cgroup is gone, the inspect says stopped)', async () => {
    const { docker, rt, log } = setup();
    await rt.start();
    docker.run(1, APP);
    await until(() => log.length === 2, 'first added');
    log.length = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    docker.answerGate = async (cid) => (cid === id(2) ? held : undefined);
    const b = docker.run(2, APP); // its create's inspect answer is held; the start waits for it
    docker.stop(b);
    await settle();
    docker.answerGate = undefined;
    release();
    await settle();
    expect(log).toEqual([]);
    expect(rt.endpoints().map((e) => e.id)).not.toContain(b);
  });
});

describe('DockerRuntime: wired when runc has created the container', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function runcSetup(opts: { wireBeforeStart?: boolean } = {}) {
    const execRoot = mkdtempSync(join(tmpdir(), 'rtc-runc-'));
    dirs.push(execRoot);
    return setup({ execRoot, ...opts });
  }
  /** The first container teaches where cgroups and runc's states are; then the log is cleared. */
  async function learnt(docker: FakeDocker, rt: DockerRuntime, log: Rec[]): Promise<void> {
    await rt.start();
    log.length = 0; // the first sync
    docker.run(1, APP, { startOnly: true });
    await until(() => log.length === 1, 'the first container added');
    log.length = 0;
  }
  /** The create event read and inspected. */
  async function created(docker: FakeDocker, n: number, labels: Record<string, string> = APP): Promise<string> {
    const before = docker.inspects;
    const c = docker.create(n, labels);
    await until(() => docker.inspects > before, 'the create inspected');
    await settle();
    return c.Id;
  }

  it('adds a created container from its state file, before the start event; the start event adds nothing more', async () => {
    const { docker, rt, log } = runcSetup();
    await learnt(docker, rt, log);
    const b = await created(docker, 2);
    expect(log).toEqual([]);
    const pid = docker.runcCreate(b);
    await until(() => log.length === 1, 'b added at its state file');
    expect(log).toEqual([{ t: 'add', id: b, pid }]);
    expect(rt.endpoints().find((e) => e.id === b)).toMatchObject({ pid, zone: 'app', name: 'c2' });
    const inspects = docker.inspects;
    docker.finishStart(b);
    docker.run(3, APP, { startOnly: true }); // a marker behind b's start event
    await until(() => log.length === 2, 'the marker added');
    expect(log[1]).toMatchObject({ t: 'add', id: id(3) });
    expect(docker.inspects).toBe(inspects + 1); // the marker's, whose create was unseen
    // Dies like any other.
    docker.stop(b);
    await until(() => log.length === 3, 'b removed');
    expect(log[2]).toEqual({ t: 'remove', id: b, reason: 'die' });
  });

  it('a created container whose process goes with no start event (runc create failed) is removed', async () => {
    const { docker, rt, log, clock } = runcSetup();
    await learnt(docker, rt, log);
    const b = await created(docker, 2);
    const pid = docker.runcCreate(b);
    await until(() => log.length === 1, 'b added');
    expect(log[0]).toEqual({ t: 'add', id: b, pid });
    docker.failCreate(b);
    await settle();
    expect(log).toHaveLength(1);
    await clock.advance(1000); // the check of containers wired before their start
    await until(() => log.length === 2, 'b removed');
    expect(log[1]).toEqual({ t: 'remove', id: b, reason: 'die' });
    expect(rt.endpoints().map((e) => e.id)).not.toContain(b);
  });

  it('waits for the start event when the cgroup holds two processes, the container was never created by runc, or it is turned off', async () => {
    const { docker, rt, log } = runcSetup();
    await learnt(docker, rt, log);
    const b = await created(docker, 2);
    docker.extraPids.set(b, [4242]);
    const reads = docker.procsReads;
    docker.runcCreate(b);
    await until(() => docker.procsReads > reads, "b's cgroup read when runc created it");
    await settle();
    expect(log).toEqual([]);
    docker.extraPids.delete(b);
    docker.finishStart(b);
    await until(() => log.length === 1, 'b added at its start event');
    expect(log[0]).toMatchObject({ t: 'add', id: b });
    // Destroyed before runc created it: nothing waits for it any more.
    const c = await created(docker, 3);
    docker.rm(c);
    await settle();
    docker.runcCreate(c);
    // A marker created by runc after it: once the marker is added, c's state file was seen too.
    const e = await created(docker, 5);
    const pe = docker.runcCreate(e);
    await until(() => log.length === 2, 'the marker added');
    expect(log[1]).toEqual({ t: 'add', id: e, pid: pe });

    const off = runcSetup({ wireBeforeStart: false });
    await learnt(off.docker, off.rt, off.log);
    const d = await created(off.docker, 4);
    off.docker.runcCreate(d);
    await settle();
    expect(off.log).toEqual([]);
    off.docker.finishStart(d);
    await until(() => off.log.length === 1, 'd added at its start event');
  });

  it('a container created before the layout was learnt is added once it is', async () => {
    const { docker, rt, log } = runcSetup();
    await rt.start();
    log.length = 0; // the first sync
    const b = await created(docker, 2);
    const pid = docker.runcCreate(b);
    await settle();
    expect(log).toEqual([]); // nothing learnt yet: no cgroup layout, no runc root
    docker.run(1, APP, { startOnly: true });
    await until(() => log.length === 2, 'the first and b added');
    expect(log).toContainEqual({ t: 'add', id: b, pid });
  });
});

describe('DockerRuntime: reconnect and resync', () => {
  it('after dockerd comes back: one sync that is the truth, a diff, and no duplicate adds', async () => {
    const { docker, rt, log, clock } = setup();
    const keep = docker.run(1, APP, { silent: true });
    const gone = docker.run(2, APP, { silent: true });
    const restarted = docker.run(3, APP, { silent: true });
    await rt.start();
    const seen: string[] = [];
    rt.on('disconnected', (e) => seen.push(e));
    log.length = 0;
    docker.crash();
    await until(() => !rt.status().connected, 'disconnected');
    expect(rt.status().lastError).toMatch(/event stream ended|ENOENT/);
    // While dockerd is down: one container removed, one restarted, one new.
    docker.rm(gone, { silent: true });
    docker.stop(restarted, { silent: true });
    docker.restart(restarted, { silent: true });
    const fresh = docker.run(4, APP, { silent: true });
    await clock.advance(30); // several failed retries
    const listsWhileDown = docker.lists;
    docker.up();
    await clock.advance(20); // the next retry (backoff capped at 20 ms here)
    await until(() => rt.status().connected, 'reconnected');
    expect(docker.lists).toBeGreaterThanOrEqual(listsWhileDown);
    expect(log).toEqual([
      { t: 'sync', ids: [keep, restarted, fresh].sort(), diff: { added: [fresh], removed: [gone], changed: [restarted] } },
    ]);
    expect(rt.endpoints().find((e) => e.id === restarted)?.pid).toBe(docker.containers.get(restarted)!.State.Pid);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(rt.status()).toMatchObject({ connected: true, lastError: null, containers: 3 });
    // Events flow again on the new stream, and a start replayed for a known container adds nothing.
    docker.event('start', docker.containers.get(keep)!);
    const late = docker.run(5, APP);
    await until(() => log.length === 2, 'add after reconnect');
    expect(log[1]).toEqual({ t: 'add', id: late, pid: expect.any(Number) });
    expect(docker.openStreams).toBe(1);
  });

  it('retries while dockerd is absent at start, then syncs', async () => {
    const { docker, rt, log, clock } = setup();
    docker.down = true;
    docker.run(1, APP, { silent: true });
    await rt.start();
    expect(rt.status()).toMatchObject({ connected: false, lastError: expect.stringContaining('ENOENT') });
    expect(log).toEqual([]);
    docker.up();
    await clock.advance(20);
    await until(() => rt.status().connected, 'connected');
    expect(log).toEqual([{ t: 'sync', ids: [id(1)], diff: { added: [id(1)], removed: [], changed: [] } }]);
  });
});

describe('DockerRuntime: zones and stop', () => {
  it('setZones judges known containers again', async () => {
    const { docker, rt, log } = setup({ zones: ['app'] });
    const d = docker.run(1, { 'routectl.zone': 'dmz' }, { silent: true });
    const a = docker.run(2, APP, { silent: true });
    await rt.start();
    expect(rt.status().invalid.map((i) => i.id)).toEqual([d]);
    log.length = 0;
    await rt.setZones(['dmz']);
    expect(log).toEqual([
      { t: 'add', id: d, pid: expect.any(Number) },
      { t: 'remove', id: a, reason: 'zones-changed' },
      { t: 'invalid', id: a, error: expect.stringContaining('routectl.zone="app" names no zone') },
    ]);
  });

  it('stop() while a retry is pending cancels it, closes the stream, and emits nothing after', async () => {
    const { docker, rt, log, clock } = setup({ backoffMs: 10_000 });
    docker.run(1, APP, { silent: true });
    await rt.start();
    docker.crash();
    await until(() => !rt.status().connected, 'disconnected');
    const retryAt = rt.status().retryAt;
    expect(retryAt).not.toBeNull();
    expect(Date.parse(retryAt!) - clock.now()).toBeGreaterThanOrEqual(8_000); // 10 s ± 20 %
    await rt.stop();
    expect(rt.status().retryAt).toBeNull();
    expect(clock.pending).toBe(0);
    docker.up();
    log.length = 0;
    await clock.advance(20_000);
    expect(log).toEqual([]);
    expect(docker.openStreams).toBe(0);
  });

  it('status(): connected since when, the last error, and when the next attempt runs', async () => {
    const { docker, rt, clock } = setup({ backoffMs: 50 });
    docker.crash();
    await clock.advance(7);
    const t0 = clock.now();
    await rt.start();
    let s = rt.status();
    expect(s).toMatchObject({ connected: false, lastError: expect.any(String) });
    expect(Date.parse(s.since)).toBe(t0);
    const firstDown = s.since;
    expect(Date.parse(s.retryAt!)).toBeGreaterThan(clock.now());
    docker.up();
    await clock.advance(60); // 50 ms ± 20 %
    await until(() => rt.status().connected, 'connected');
    s = rt.status();
    expect(s).toMatchObject({ connected: true, lastError: null, retryAt: null });
    expect(Date.parse(s.since)).toBeGreaterThanOrEqual(Date.parse(firstDown));
    const up = s.since;
    expect(Date.parse(up)).toBeGreaterThan(Date.parse(firstDown)); // when the retry connected
    await clock.advance(5);
    docker.crash();
    await until(() => !rt.status().connected, 'disconnected');
    s = rt.status();
    expect(Date.parse(s.since)).toBeGreaterThan(Date.parse(up));
    expect(s.retryAt).not.toBeNull();
  });
});

describe('DockerRuntime: the default client', () => {
  it("its HTTP agent formats as a name: docker-modem inspects every request's options, agent included", async () => {
    const rt = new DockerRuntime({ zones: ['app'], socket: '/nonexistent/docker.sock' });
    runtimes.push(rt);
    const modem = (rt as unknown as { client: { modem: { agent?: unknown } } }).client.modem;
    expect(modem.agent).toBeInstanceOf(Agent);
    // What docker-modem does before each request (lib/modem.js, buildRequest).
    const shown = inspect({ path: '/containers/x/json', agent: modem.agent }, { showHidden: true, depth: null });
    expect(shown).toContain('Agent { keepAlive: true, maxSockets: 8 }');
    expect(shown.length).toBeLessThan(200);
  });
});

describe('backoffDelay', () => {
  it('doubles from 0.5 s to the 30 s cap, with jitter inside ±20 %', () => {
    const mid = (n: number): number => backoffDelay(n, {}, () => 0.5);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map(mid)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(backoffDelay(0, {}, () => 0)).toBe(400);
    expect(backoffDelay(0, {}, () => 1)).toBe(600);
    expect(backoffDelay(10, {}, () => 1)).toBe(30000); // jitter never exceeds the cap
    expect(backoffDelay(3, { initialMs: 100, maxMs: 1000, jitter: 0 })).toBe(800);
  });
});
