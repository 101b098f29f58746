/**
 * The Docker runtime: which containers want a routed address, followed live.
 *
 * At start (and after every reconnect) it lists the running containers, inspects those
 * with a `routectl.*` label, and emits 'sync' with the full set of wanted endpoints; then
 * it follows GET /events (container create, start, die, destroy) and emits 'add' /
 * 'remove' / 'invalid' one container at a time. The view is declarative: a consumer that sets its
 * desired state to the 'sync' list and applies the increments after it is always right,
 * also after dockerd restarted with containers gone or restarted meanwhile.
 *
 * Ordering: the event stream is opened before the list, and every event is applied after
 * the list that was queued before it, so nothing that happens during the list is lost, and
 * after the container's earlier events, so each container's events are applied in the
 * order dockerd sent them. Different containers do not wait for each other (dispatch):
 * their inspects run two at a time. A connection has a generation number; work
 * queued for a stream that has since gone is dropped.
 *
 * A labelled container is inspected when it is created (its labels, network mode and
 * cgroup parent cannot change after that). Its PID comes from pid.ts, one source with its
 * strategies in order: runc's state file (wired before the start event), its cgroup at
 * the start event, dockerd's inspect. A container wired at runc's create whose process
 * goes with no start event is dropped as if it had died.
 *
 * Reconnect: when the stream ends or errors, or the list fails, the runtime retries with
 * exponential backoff and jitter (0.5 s doubling to 30 s by default) and resyncs. Time
 * (the retry timer, status times, dockerd's lateness) comes from an injected clock.
 */
import { EventEmitter } from 'node:events';
import { Agent } from 'node:http';
import { inspect } from 'node:util';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { z } from 'zod';
import { systemClock, type Clock } from '../../bgp/session/index.js';
import { KeyedSerializer, Limiter } from '../concurrency.js';
import type { Logger } from '../log.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { CgroupPids } from './cgroup.js';
import { ContainerPids, type Inspected, type StartPid } from './pid.js';
import { FOLLOWED_ACTIONS, JsonLines, parseDockerEvent, type ContainerEvent } from './events.js';
import { classifyContainer, hasRoutectlLabel, type ContainerFacts } from './labels.js';
import type { InvalidContainer, RemoveReason, RuntimeEvents, RuntimeStatus, SyncDiff, WantedEndpoint } from './types.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** Event inspects in flight at once (see inspectTimed). */
const INSPECTS_AT_ONCE = 2;

/** The part of a dockerode client the runtime uses (tests inject a fake). */
export interface DockerClient {
  listContainers(opts?: { all?: boolean }): Promise<readonly { Id: string; Labels?: Record<string, string> | null }[]>;
  getContainer(id: string): { inspect(): Promise<unknown> };
  getEvents(opts?: { filters?: Record<string, string[]> }): Promise<NodeJS.ReadableStream>;
}

export interface DockerRuntimeOptions {
  /** dockerd's API socket. Default /var/run/docker.sock. */
  readonly socket?: string;
  /** Zone names this worker knows (a container's zone label must be one of them). */
  readonly zones: readonly string[];
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  /** A dockerode-like client; default: dockerode on `socket`. */
  readonly client?: DockerClient;
  /** Random source for the backoff jitter. */
  readonly random?: () => number;
  /** Finds started containers' PIDs in their cgroups (tests inject one over fake files). */
  readonly cgroupPids?: CgroupPids;
  /**
   * Wire a container as soon as runc has created it, before dockerd's start event (see
   * the file header). Default true.
   */
  readonly wireBeforeStart?: boolean;
  /** A process's network namespace (tests inject one for their fake PIDs). */
  readonly netnsOf?: (pid: number | 'self') => string | undefined;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** Thrown (as the cause in logs and lastError) when dockerd answers something unexpected. */
export class DockerRuntimeError extends Error {
  override readonly name = 'DockerRuntimeError';
}

// `docker inspect`, validated at the edge: only the fields the runtime reads.
const inspectSchema = z
  .object({
    Id: z.string().min(1),
    Name: z.string(),
    State: z.object({ Running: z.boolean(), Pid: z.number().int().nonnegative() }).passthrough(),
    HostConfig: z.object({ NetworkMode: z.string().optional(), CgroupParent: z.string().optional() }).passthrough(),
    Config: z.object({ Labels: z.record(z.string()).nullable().optional() }).passthrough(),
    NetworkSettings: z.object({ SandboxKey: z.string().optional() }).passthrough().nullable().optional(),
  })
  .passthrough();

/** The container no longer exists (HTTP 404 from dockerd). */
function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { statusCode?: unknown }).statusCode === 404;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sameEndpoint(a: WantedEndpoint, b: WantedEndpoint): boolean {
  return a.pid === b.pid && a.zone === b.zone && a.ipv4 === b.ipv4 && a.ipv6 === b.ipv6 && a.name === b.name;
}

type Destroyable = NodeJS.ReadableStream & { destroy?: (err?: Error) => void };

/** A start's timing, for its `add` log line. */
interface StartTiming {
  /** From dockerd's stamp on the event to its reading here. */
  eventLagMs: number | undefined;
  /** dockerd's answer time, when the start needed an inspect. */
  inspectMs?: number;
  pidFrom: 'cgroup' | 'inspect';
  /** `created`: wired when runc had created it, before dockerd's start event. */
  at: 'created' | 'start';
}

export class DockerRuntime extends EventEmitter<RuntimeEvents> {
  private readonly client: DockerClient;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private zones: readonly string[];
  /** Every running container with a routectl label, as last inspected. */
  private readonly facts = new Map<string, ContainerFacts>();
  /**
   * Every container with a routectl label whose configuration is known (inspected when it
   * was created, started or listed), running or not, until it is destroyed.
   */
  private readonly configs = new Map<string, ContainerFacts>();
  /** Containers whose create event is being read: their start waits for it, not for an inspect of its own. */
  private readonly creating = new Set<string>();
  private readonly clock: Clock;
  private readonly pids: ContainerPids;
  private readonly wanted = new Map<string, WantedEndpoint>();
  private readonly invalid = new Map<string, InvalidContainer>();
  private stream: Destroyable | undefined;
  private timer: unknown;
  /** When the scheduled retry runs (epoch ms), while `timer` is set. */
  private retryAt: number | undefined;
  /** When `connected` last changed (epoch ms). */
  private since: number;
  private attempt = 0;
  private gen = 0;
  private running = false;
  private connected = false;
  private lastError: string | null = null;
  private queue: Promise<void> = Promise.resolve();
  /** Each container's events, one after another (see dispatch). */
  private readonly perContainer = new KeyedSerializer();
  /** Event inspects, INSPECTS_AT_ONCE at a time (see inspectTimed). */
  private readonly inspects = new Limiter(INSPECTS_AT_ONCE);
  /** Our own HTTP agent for the default client, so that stop() can close its idle sockets (and their timers). */
  private readonly agent: Agent | undefined;

  constructor(opts: DockerRuntimeOptions) {
    super();
    if (opts.client) this.client = opts.client;
    else {
      this.agent = new Agent({ keepAlive: true, maxSockets: 8 });
      // docker-modem formats every request's options with util.inspect (showHidden, no depth
      // limit) for its debug log, enabled or not, and the options hold this agent: its
      // sockets and their whole state, 0.9 ms per request on an idle core. Shown as a name.
      Object.defineProperty(this.agent, inspect.custom, { value: () => 'Agent { keepAlive: true, maxSockets: 8 }' });
      // docker-modem passes `agent` to http.request; @types/dockerode does not list it.
      const dockerOpts: Dockerode.DockerOptions & { agent: Agent } = { socketPath: opts.socket ?? DEFAULT_DOCKER_SOCKET, agent: this.agent };
      this.client = new Dockerode(dockerOpts);
    }
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ op: 'runtime.docker' });
    this.backoff = opts.backoff ?? {};
    this.random = opts.random ?? Math.random;
    this.zones = [...opts.zones];
    this.clock = opts.clock ?? systemClock;
    this.since = this.clock.now();
    this.pids = new ContainerPids({
      clock: this.clock,
      log: this.log,
      ...(opts.wireBeforeStart !== undefined ? { wireBeforeStart: opts.wireBeforeStart } : {}),
      ...(opts.cgroupPids ? { cgroupPids: opts.cgroupPids } : {}),
      ...(opts.netnsOf ? { netnsOf: opts.netnsOf } : {}),
      inspect: (id) => this.inspectTimed(id),
      onCreated: (id) => this.onRuncCreated(id),
      onNotStarted: (id, pid) => this.onNotStarted(id, pid),
    });
  }

  /** Connect, list and emit the first 'sync' (or schedule a retry if dockerd is not there). Resolves after that first attempt. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  /** Close the stream, cancel any retry and wait for queued work: nothing is left running. */
  async stop(): Promise<void> {
    this.running = false;
    this.gen++;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.retryAt = undefined;
    this.pids.close();
    this.closeStream();
    this.setConnected(false);
    await Promise.all([this.queue, this.perContainer.idle()]);
    this.agent?.destroy();
  }

  status(): RuntimeStatus {
    return {
      connected: this.connected,
      since: new Date(this.since).toISOString(),
      lastError: this.lastError,
      retryAt: this.retryAt === undefined ? null : new Date(this.retryAt).toISOString(),
      containers: this.wanted.size,
      invalid: [...this.invalid.values()],
    };
  }

  /** The endpoints wanted now (what the last 'sync' plus the increments after it add up to). */
  endpoints(): readonly WantedEndpoint[] {
    return [...this.wanted.values()];
  }

  /** New zone list (config reload): every known container is judged again; changes go out as add/remove/invalid. */
  setZones(zones: readonly string[]): Promise<void> {
    this.zones = [...zones];
    return this.enqueue(async () => {
      for (const f of [...this.facts.values()]) this.judge(f, 'zones-changed');
    });
  }

  // ---- connection ----

  private async connect(): Promise<void> {
    const g = ++this.gen;
    this.timer = undefined;
    let stream: Destroyable;
    try {
      stream = (await this.client.getEvents({
        filters: { type: ['container'], event: [...FOLLOWED_ACTIONS] },
      })) as Destroyable;
    } catch (e) {
      this.fail(g, e);
      return;
    }
    if (g !== this.gen || !this.running) {
      stream.destroy?.();
      return;
    }
    this.stream = stream;
    const lines = new JsonLines();
    stream.on('data', (chunk: Buffer | string) => {
      if (g !== this.gen) return;
      for (const line of lines.push(chunk)) {
        let ev: ContainerEvent | undefined;
        try {
          ev = parseDockerEvent(line);
        } catch (e) {
          this.log.warn({ event: 'bad-event', err: e }, 'skipping an event dockerd sent that does not parse');
          continue;
        }
        if (ev) this.dispatch(g, ev);
      }
    });
    const down = (err?: unknown): void => this.fail(g, err ?? new DockerRuntimeError('docker event stream ended'));
    stream.once('end', () => down());
    stream.once('close', () => down());
    stream.once('error', (e: unknown) => down(e));
    // Listed after the stream is open, on the same queue: events that arrive while the
    // list runs are applied after it, in order.
    await this.enqueue(async () => {
      let facts: ContainerFacts[];
      try {
        facts = await this.listFacts(g);
      } catch (e) {
        this.fail(g, e);
        return;
      }
      if (g !== this.gen) return;
      this.applySync(facts);
      this.setConnected(true);
      this.attempt = 0;
      this.lastError = null;
      this.emit('connected');
    });
  }

  private fail(g: number, err: unknown): void {
    if (g !== this.gen || !this.running) return;
    this.gen++;
    this.closeStream();
    const wasConnected = this.connected;
    this.setConnected(false);
    // The first failed attempt after start is a change too: "unreachable since" the start.
    if (this.attempt === 0 && !wasConnected) this.since = this.clock.now();
    this.lastError = message(err);
    const delay = backoffDelay(this.attempt++, this.backoff, this.random);
    this.log.warn({ event: wasConnected ? 'disconnected' : 'connect-failed', err, retryMs: delay }, `dockerd unreachable; retrying in ${delay} ms`);
    this.emit('disconnected', this.lastError);
    this.retryAt = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.retryAt = undefined;
      void this.connect();
    }, delay);
  }

  private setConnected(up: boolean): void {
    if (up !== this.connected) this.since = this.clock.now();
    this.connected = up;
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    s?.destroy?.();
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const next = this.queue.then(job).catch((e: unknown) => {
      // A listener that throws must not stop the queue (and with it every later event).
      this.log.error({ event: 'handler-failed', err: e }, 'runtime event handling failed');
    });
    this.queue = next;
    return next;
  }

  /**
   * One event from the stream. Its container's inspect (a `create` with a routectl label,
   * or a `start` of one whose create was not seen) is asked at once (two at a time,
   * inspectTimed), so that one container's slow inspect does not hold up the next. What
   * it means is applied in order: after the container's earlier events, and after what was
   * queued when it arrived (this connection's list); other containers' events do not wait
   * for it.
   */
  private dispatch(g: number, ev: ContainerEvent): void {
    const received = this.clock.now();
    let facts: Promise<Inspected> | undefined;
    if (hasRoutectlLabel(ev.attributes)) {
      if (ev.action === 'create') {
        this.creating.add(ev.id);
        facts = this.inspectTimed(ev.id);
      } else if (ev.action === 'start' && !this.configs.has(ev.id) && !this.creating.has(ev.id)) {
        facts = this.inspectTimed(ev.id);
      }
    }
    facts?.catch(() => undefined); // reported when applied
    const queued = this.queue;
    void this.perContainer
      .run([ev.id], () => queued.then(() => this.onEvent(g, ev, received, facts)))
      .catch((e: unknown) => this.log.error({ event: 'handler-failed', err: e }, 'runtime event handling failed'));
  }

  /**
   * An event's inspect, at most INSPECTS_AT_ONCE at a time: enough that one container's
   * slow (or hung) inspect does not hold up the others', few enough not to load dockerd
   * while it is starting a burst of containers (measured: 8 at once made its inspects
   * slower at p99 than one after another, 150–295 against 64–133 ms). `ms` is dockerd's
   * answer time, from the request to the answer.
   */
  private inspectTimed(id: string): Promise<Inspected> {
    return this.inspects.run(async () => {
      const t = this.clock.now();
      const facts = await this.inspect(id);
      return { facts, ms: this.clock.now() - t };
    });
  }

  // ---- docker reads ----

  private async listFacts(g: number): Promise<ContainerFacts[]> {
    // Running containers only (the default); labels are in the list, the PID is not.
    const listed = await this.client.listContainers();
    const ours = listed.filter((c) => hasRoutectlLabel(c.Labels ?? undefined));
    const out: ContainerFacts[] = [];
    for (let i = 0; i < ours.length && g === this.gen; i += 32) {
      const batch = await Promise.all(ours.slice(i, i + 32).map((c) => this.inspect(c.Id)));
      for (const f of batch) {
        if (!f?.running) continue;
        out.push(f);
        this.pids.learn(f);
      }
    }
    return out;
  }

  /** The container's facts, or undefined when it is already gone. */
  private async inspect(id: string): Promise<ContainerFacts | undefined> {
    let raw: unknown;
    try {
      raw = await this.client.getContainer(id).inspect();
    } catch (e) {
      // Removed between the list (or its start event) and this inspect: its destroy
      // event is queued behind us and there is nothing to wire, so this is not an error.
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const r = inspectSchema.safeParse(raw);
    if (!r.success) {
      throw new DockerRuntimeError(`docker inspect ${id}: unexpected answer (${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
    }
    const c = r.data;
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      pid: c.State.Pid,
      // A running container always has a PID; 0 means it is stopping or gone.
      running: c.State.Running && c.State.Pid > 0,
      networkMode: c.HostConfig.NetworkMode ?? 'default',
      labels: c.Config.Labels ?? {},
      cgroupParent: c.HostConfig.CgroupParent ?? '',
      sandboxKey: c.NetworkSettings?.SandboxKey ?? '',
    };
  }

  // ---- state ----

  private async onEvent(g: number, ev: ContainerEvent, received: number, inspected: Promise<Inspected> | undefined): Promise<void> {
    if (g !== this.gen) {
      // A stream that has gone: its create is not being read any more.
      if (ev.action === 'create') this.creating.delete(ev.id);
      return;
    }
    // Actor attributes carry the container's labels (plus name, image…): anything
    // without a routectl label is not ours and costs no inspect.
    if (!hasRoutectlLabel(ev.attributes) && !this.facts.has(ev.id)) return;
    if (ev.action === 'create') {
      try {
        const f = (await inspected)?.facts;
        // Gone already: its destroy event is queued behind this one.
        if (f && g === this.gen) {
          this.configs.set(f.id, f);
          this.pids.expect(f.id);
        }
      } catch (e) {
        // Its start inspects it instead.
        this.log.warn({ event: 'inspect-failed', err: e, container: ev.id }, 'cannot inspect a created container; its start will');
      } finally {
        this.creating.delete(ev.id);
      }
      return;
    }
    if (ev.action === 'start') {
      // How late the event reached us, and how long dockerd took to answer the inspect
      // when one was needed: dockerd's part of a container's time to be routed (in the
      // `add` log line), and where the PID came from.
      const timing: StartTiming = {
        eventLagMs: ev.timeNano > 0 ? Math.max(0, Math.round((received - ev.timeNano / 1e6) * 10) / 10) : undefined,
        pidFrom: 'cgroup',
        at: 'start',
      };
      // Wired already when runc had created it: judge() finds it unchanged (same PID).
      let r: StartPid;
      try {
        r = await this.pids.atStart(ev.id, ev.attributes.name, this.configs.get(ev.id), inspected);
      } catch (e) {
        this.lastError = message(e);
        this.log.error({ event: 'inspect-failed', err: e, container: ev.id }, 'cannot inspect a started container');
        return;
      }
      timing.pidFrom = r.pidFrom;
      if (r.inspectMs !== undefined) timing.inspectMs = r.inspectMs;
      const f = r.facts;
      if (r.pidFrom === 'inspect') {
        if (g !== this.gen) return;
        // Already stopped again: its die event is queued behind this one.
        if (!f?.running) return;
        this.configs.set(f.id, f);
        this.pids.learn(f);
      }
      if (!f) return;
      this.judge(f, 'restarted', timing);
    } else {
      this.drop(ev.id, ev.action);
    }
  }

  /** runc has created a container that was waited for: wire it, after what is queued and its own earlier events. */
  private onRuncCreated(id: string): void {
    const g = this.gen;
    void this.perContainer
      .run([id], () => this.queue.then(() => this.wireCreated(g, id)))
      .catch((e: unknown) => this.log.error({ event: 'handler-failed', err: e }, 'runtime event handling failed'));
  }

  /** Strategy 1 of pid.ts: a created container whose PID is known now is wired (else at its start event). */
  private wireCreated(g: number, id: string): void {
    if (g !== this.gen || !this.running || this.facts.has(id)) return;
    const cfg = this.configs.get(id);
    if (!cfg) return;
    const pid = this.pids.atCreated(cfg);
    if (pid === undefined) return;
    this.judge({ ...cfg, pid, running: true }, 'restarted', { eventLagMs: undefined, pidFrom: 'cgroup', at: 'created' });
  }

  /** A container wired at runc's create lost its process before any start event: dropped as if it had died. */
  private onNotStarted(id: string, pid: number): void {
    const g = this.gen;
    void this.perContainer
      .run([id], () =>
        this.queue.then(() => {
          if (g !== this.gen || !this.pids.tracks(id, pid)) return;
          this.pids.forget(id);
          this.log.warn({ event: 'not-started', container: id, pid }, `container ${this.wanted.get(id)?.name ?? id} did not start: its process ${pid} is gone and dockerd sent no start event`);
          this.drop(id, 'die');
        }),
      )
      .catch((e: unknown) => this.log.error({ event: 'handler-failed', err: e }, 'runtime event handling failed'));
  }

  /** Classify one running container and emit what changed for it. */
  private judge(f: ContainerFacts, reason: RemoveReason, timing?: StartTiming): void {
    this.facts.set(f.id, f);
    const c = classifyContainer(f, this.zones);
    const prev = this.wanted.get(f.id);
    if (c.kind === 'wanted') {
      this.invalid.delete(f.id);
      if (prev && sameEndpoint(prev, c.endpoint)) return; // known and unchanged: no duplicate add
      if (prev) this.emit('remove', prev, reason);
      this.wanted.set(f.id, c.endpoint);
      this.log.info({ event: 'add', container: f.id, name: f.name, zone: c.endpoint.zone, pid: f.pid, ...timing }, `container ${f.name} wants a routed address`);
      this.emit('add', c.endpoint);
      return;
    }
    if (prev) {
      this.wanted.delete(f.id);
      this.emit('remove', prev, reason);
    }
    if (c.kind === 'invalid') this.markInvalid({ id: f.id, name: f.name, error: c.error });
    else this.invalid.delete(f.id);
  }

  private markInvalid(inv: InvalidContainer): void {
    if (this.invalid.get(inv.id)?.error === inv.error) return;
    this.invalid.set(inv.id, inv);
    this.log.warn({ event: 'invalid', container: inv.id, name: inv.name }, `container ${inv.name} left alone: ${inv.error}`);
    this.emit('invalid', inv);
  }

  private drop(id: string, reason: RemoveReason): void {
    this.pids.forget(id);
    this.facts.delete(id);
    if (reason === 'destroy') this.configs.delete(id);
    this.invalid.delete(id);
    const prev = this.wanted.get(id);
    if (!prev) return;
    this.wanted.delete(id);
    this.log.info({ event: 'remove', container: id, name: prev.name, reason }, `container ${prev.name} gone (${reason})`);
    this.emit('remove', prev, reason);
  }

  /** Replace the whole view with a fresh list; emit 'sync' with the diff against the previous view. */
  private applySync(list: readonly ContainerFacts[]): void {
    const nextWanted = new Map<string, WantedEndpoint>();
    const nextInvalid: InvalidContainer[] = [];
    this.facts.clear();
    // Created but not running: forgotten (destroyed meanwhile, perhaps); their start inspects.
    this.configs.clear();
    // Wired before a start event that the list now stands for, or not running any more.
    this.pids.forgetAll();
    for (const f of list) {
      this.facts.set(f.id, f);
      this.configs.set(f.id, f);
      const c = classifyContainer(f, this.zones);
      if (c.kind === 'wanted') nextWanted.set(f.id, c.endpoint);
      else if (c.kind === 'invalid') nextInvalid.push({ id: f.id, name: f.name, error: c.error });
    }
    const diff: { added: string[]; removed: string[]; changed: string[] } = { added: [], removed: [], changed: [] };
    for (const [id, ep] of nextWanted) {
      const prev = this.wanted.get(id);
      if (!prev) diff.added.push(id);
      else if (!sameEndpoint(prev, ep)) diff.changed.push(id);
    }
    for (const id of this.wanted.keys()) if (!nextWanted.has(id)) diff.removed.push(id);
    this.wanted.clear();
    for (const [id, ep] of nextWanted) this.wanted.set(id, ep);
    const stillInvalid = new Set(nextInvalid.map((i) => i.id));
    for (const id of [...this.invalid.keys()]) if (!stillInvalid.has(id)) this.invalid.delete(id);
    this.log.info(
      { event: 'sync', containers: nextWanted.size, added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length, invalid: nextInvalid.length },
      'docker containers listed',
    );
    this.emit('sync', [...nextWanted.values()], diff as SyncDiff);
    for (const inv of nextInvalid) this.markInvalid(inv);
  }
}
