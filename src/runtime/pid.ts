/**
 * Where a labelled container's PID comes from: one source, its strategies in this order.
 *
 *  1. runc's state file (runc.ts): the container is being waited for from its create
 *     event on, and when runc has created it (its network namespace set up by dockerd's
 *     hook, its command not run yet) the one process in its cgroup, in a network namespace
 *     other than the agent's, is its PID. It is wired then, typically a hundred
 *     milliseconds before dockerd's start event, which then only confirms. Should that
 *     process go away with no start event (`runc create` failed after its state file, e.g.
 *     a command that is not in the image: dockerd sends no die event then), the runtime is
 *     told (`onNotStarted`), checked every second on the injected clock.
 *  2. The cgroup (cgroup.ts), at the start event: the one process in the container's
 *     cgroup, with the configuration read when it was created. The start does not wait for
 *     dockerd to answer an inspect while it is busy starting others.
 *  3. dockerd's inspect: a container whose create was not seen, the first one of each
 *     cgroup parent (it teaches where the others' cgroups are), and any whose cgroup does
 *     not hold exactly one process.
 *
 * The first two need the layout, learnt from a running container that dockerd inspected
 * (`learn`): where the cgroups are per cgroup parent, and where runc keeps its states.
 * Until then, and where it cannot be learnt (said once), the later strategies serve.
 */
import { readlinkSync } from 'node:fs';
import type { Clock } from '../../bgp/session/index.js';
import type { Logger } from '../log.js';
import { CgroupPids } from './cgroup.js';
import type { ContainerFacts } from './labels.js';
import { RuncStates } from './runc.js';

/** How often a container wired before its start event is checked to be still there. */
export const CREATED_CHECK_MS = 1000;

/** A process's network namespace (`net:[inode]`), or undefined when it is gone. */
export function realNetnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** An inspect's answer: the facts (undefined when the container is gone) and dockerd's answer time. */
export interface Inspected {
  readonly facts: ContainerFacts | undefined;
  readonly ms: number;
}

/** A start's PID: the facts to judge (undefined: stopped or gone again), and from where. */
export interface StartPid {
  readonly facts: ContainerFacts | undefined;
  readonly pidFrom: 'cgroup' | 'inspect';
  /** dockerd's answer time, when the start needed an inspect. */
  readonly inspectMs?: number;
}

export interface ContainerPidsOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Strategy 1 on (default true). */
  readonly wireBeforeStart?: boolean;
  /** Finds started containers' PIDs in their cgroups (tests inject one over fake files). */
  readonly cgroupPids?: CgroupPids;
  /** A process's network namespace (tests inject one for their fake PIDs). */
  readonly netnsOf?: (pid: number | 'self') => string | undefined;
  /** Strategy 3: dockerd's inspect. */
  readonly inspect: (id: string) => Promise<Inspected>;
  /** runc has created a container that was waited for (strategy 1 may have its PID now). */
  readonly onCreated: (id: string) => void;
  /** A container wired at runc's create lost its process before its start event. */
  readonly onNotStarted: (id: string, pid: number) => void;
}

/** A container wired before its start event: its process and that process's namespace. */
interface CreatedProcess {
  readonly pid: number;
  readonly netns: string;
}

export class ContainerPids {
  private readonly cgroups: CgroupPids;
  /** Cgroup parents whose layout could not be learnt (said once). */
  private readonly cgroupsUnknown = new Set<string>();
  /** Where runc writes its containers' states (null: strategy 1 off). */
  private readonly runc: RuncStates | null;
  /** Said once when runc's states are not found. */
  private runcUnknown = false;
  private readonly netnsOf: (pid: number | 'self') => string | undefined;
  /** Containers wired before their start event, until it comes (or their process goes). */
  private readonly created = new Map<string, CreatedProcess>();
  private createdTimer: unknown;

  constructor(private readonly opts: ContainerPidsOptions) {
    this.cgroups = opts.cgroupPids ?? new CgroupPids();
    this.netnsOf = opts.netnsOf ?? realNetnsOf;
    this.runc =
      opts.wireBeforeStart === false
        ? null
        : new RuncStates(
            (id) => opts.onCreated(id),
            (err) => opts.log.warn({ event: 'runc-watch-failed', err }, `runc's state directory can no longer be watched (${err.message}); containers are wired at their start event`),
          );
  }

  /**
   * Learns where containers' cgroups and runc's states are from a running one dockerd
   * inspected; says so once, or once (per cgroup parent) why not.
   */
  learn(f: ContainerFacts): void {
    const parent = f.cgroupParent ?? '';
    const r = this.cgroups.learn(parent, f.id, f.pid);
    if (r.known) {
      if (r.fresh) this.opts.log.info({ event: 'cgroups-found', cgroupParent: parent, where: r.where }, `started containers' PIDs are read from ${r.where}/cgroup.procs`);
    } else if (!this.cgroupsUnknown.has(parent)) {
      this.cgroupsUnknown.add(parent);
      this.opts.log.warn({ event: 'cgroups-unknown', cgroupParent: parent, container: f.id, reason: r.why }, `started containers' PIDs come from dockerd's inspect: their cgroups are not found (${r.why})`);
    }
    if (!this.runc) return;
    const q = this.runc.learn(f.sandboxKey, f.id);
    if (q.known) {
      if (q.fresh) this.opts.log.info({ event: 'runc-found', root: q.root }, `containers are wired when runc has created them (${q.root}/<id>/state.json), before their start event`);
    } else if (!this.runcUnknown) {
      this.runcUnknown = true;
      this.opts.log.info({ event: 'runc-unknown', container: f.id, reason: q.why }, `containers are wired at their start event: runc's states are not found (${q.why})`);
    }
  }

  /** A labelled container was created (its configuration read): wait for runc's create. */
  expect(id: string): void {
    this.runc?.expect(id);
  }

  /**
   * Strategy 1, once runc has created the container: its one process, in a network
   * namespace of its own, is its PID (then tracked until its start). Undefined: left to
   * its start event (started already, gone, more than one process, still in the agent's
   * namespace).
   */
  atCreated(cfg: ContainerFacts): number | undefined {
    const pid = this.cgroups.pidOf(cfg.cgroupParent ?? '', cfg.id);
    if (pid === undefined) return undefined;
    const netns = this.netnsOf(pid);
    const own = this.netnsOf('self');
    if (netns === undefined || own === undefined || netns === own) return undefined;
    this.created.set(cfg.id, { pid, netns });
    this.armCreatedCheck();
    return pid;
  }

  /**
   * At the start event: strategy 2 (the cgroup, with `cfg`, the configuration read at its
   * create), else 3 (`inspected`, an inspect already asked for, or a new one). Throws when
   * the inspect fails.
   */
  async atStart(id: string, name: string | undefined, cfg: ContainerFacts | undefined, inspected: Promise<Inspected> | undefined): Promise<StartPid> {
    this.forget(id);
    if (!inspected && cfg) {
      const pid = this.cgroups.pidOf(cfg.cgroupParent ?? '', id);
      // The name can change (docker rename); the event carries the current one.
      if (pid !== undefined) return { facts: { ...cfg, name: name !== undefined && name !== '' ? name : cfg.name, pid, running: true }, pidFrom: 'cgroup' };
    }
    const r = await (inspected ?? this.opts.inspect(id));
    return { facts: r.facts, pidFrom: 'inspect', inspectMs: r.ms };
  }

  /** The container started, died or was destroyed: no longer waited for nor tracked. */
  forget(id: string): void {
    this.runc?.forget(id);
    if (this.created.delete(id)) this.armCreatedCheck();
  }

  /** A fresh list replaces everything: nothing waited for or tracked. */
  forgetAll(): void {
    this.runc?.forgetAll();
    this.created.clear();
    this.armCreatedCheck();
  }

  /** Whether `pid` is still the process tracked for `id` (wired at its create). */
  tracks(id: string, pid: number): boolean {
    return this.created.get(id)?.pid === pid;
  }

  close(): void {
    this.runc?.close();
    this.created.clear();
    this.armCreatedCheck();
  }

  /** The check of containers wired before their start event runs while there are any. */
  private armCreatedCheck(): void {
    if (this.created.size === 0) {
      if (this.createdTimer !== undefined) this.opts.clock.clearTimeout(this.createdTimer);
      this.createdTimer = undefined;
      return;
    }
    if (this.createdTimer !== undefined) return;
    const arm = (): void => {
      this.createdTimer = this.opts.clock.setTimeout(check, CREATED_CHECK_MS);
      // A pending check keeps no process alive (the system clock's timers are Node's).
      (this.createdTimer as { unref?: () => void }).unref?.();
    };
    const check = (): void => {
      this.createdTimer = undefined;
      for (const [id, p] of this.created) {
        // Its process went away before dockerd said it started: `runc create` failed
        // after writing its state (dockerd sends no die event then), or it died at once
        // (its die event follows, and finds it gone).
        if (this.netnsOf(p.pid) !== p.netns) this.opts.onNotStarted(id, p.pid);
      }
      if (this.created.size > 0 && this.createdTimer === undefined) arm();
    };
    arm();
  }
}
