/**
 * The two convergence scenarios, each in fresh namespaces (`rtc-cvtor-*`, `rtc-cvw-*`):
 *
 *   tor (FRR or BIRD, AS 65000, passive)  fab0 203.0.113.1/30 ── fab0 203.0.113.2/30  w (AS 65001)
 *
 * - routectl: dockerd and the built agent in `w`; N `--net none` containers created
 *   first, then started together (parallel `docker start` batches). Per container: the
 *   docker `start` event (`timeNano`), the agent's host /32 in w's FIB and the /32 in the
 *   ToR's FIB (`ip -ts monitor route` in each namespace), the agent's `ready` log line,
 *   and the first completed TCP handshake from the ToR (bench/convergence/prober.ts).
 *   In both scenarios tshark on the ToR's fabric interface records when each /32's first
 *   UPDATE arrived (updates.ts).
 * - Calico: BIRD in `w` configured as calico-node does (calico-bird.ts); a script writes
 *   the same host routes (`ADDR/32 dev caliN`, and with IPv6 the container's /128 in the
 *   same write; one veth per container) into w's kernel through one `ip -batch -`, at the
 *   offsets the routectl run's host routes appeared at, so that the ToR receives and
 *   installs the same routes from both;
 *   per route: installed in w's FIB → in the ToR's FIB, both from `ip -ts monitor route`.
 *   Under the same load: dockerd in `w` starts the same number of `--net none` containers
 *   the same way (nobody routes them) while the routes are written, so both speakers and
 *   the ToR share the 2 CPUs with the same container start-ups.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Lab, exec, startCapture, terminate, waitFor, type Netns } from '../../test/lab/harness/index.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from '../../test/lab/harness/docker.js';
import { asService, cpuMs, realtimePrefix, schedStat } from '../lib/cpu.js';
import { hotFunctions } from '../lib/cpuprofile.js';
import { startTor, type TorKind } from '../lib/tor.js';
import { startCalicoBird } from './calico-bird.js';
import { firstAdds } from './monitor.js';
import { firstAnnouncements } from './updates.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUTECTL = join(here, '../../src/cli/routectl.js');
const PROBER = join(here, 'prober.js');
const EVENTS = join(here, 'events.js');

/**
 * Priorities. Everything runs on one machine, but a real ToR is a box of its own: neither
 * run's UPDATEs should wait at the ToR behind the worker's container start-ups or the
 * agent's helpers. A nice value does not give that: the kernel's fair scheduler shares
 * the CPUs by weight, and a kernel trace of a run with the ToR's daemons at nice -15 (in
 * sessions of their own) showed the ToR's BIRD woken by an UPDATE and then waiting
 * 0.5–11 ms for a CPU while the agent's container helpers (nice -10) and runc ran. So the
 * ToR's daemons run under the real-time policy (SCHED_FIFO), ahead of every process of
 * the worker, as they would on their own CPU; the observers (route monitors, the prober,
 * the bare event subscriber) above them, so that their time stamps are taken when the
 * event happens. The same in both runs. The agent runs in a session of its own at its
 * default nice -10 for the process and the group (src/priority.ts), Calico's BIRD on
 * the worker the same.
 */
const RT_TOR = 20;
const RT_OBSERVER = 30;

export const TOR4 = '203.0.113.1';
export const W4 = '203.0.113.2';
const TOR6 = '2001:db8:ffff::1';
const W6 = '2001:db8:ffff::2';
export const POOL4 = '198.51.100.0/25';
const ZONE4 = '198.51.100.0/24';
const POOL6 = '2001:db8:18::/120';
const ZONE6 = '2001:db8:18::/64';

/** One container (routectl) or one host route (Calico), times in wall-clock ms. */
export interface Sample {
  readonly addr: string;
  /** The container's IPv6 address (its /128 is installed and advertised with the /32), if any. */
  readonly addr6?: string;
  readonly dockerEvent?: number;
  /** A bare subscriber to dockerd's events (events.ts) read the start event. */
  readonly subscriberRead?: number;
  /** The agent's runtime logged `add` (it has the container's details from dockerd). */
  readonly agentAdd?: number;
  /** The agent logged `ready` (addresses, policy set, veth, host routes, advertised). */
  readonly agentReady?: number;
  /** When the agent handed the prefixes to its speaker (its `ready` line's advertisedAtMs). */
  readonly agentAdvertised?: number;
  readonly hostRoute?: number;
  /** The first UPDATE announcing the /32, as captured on the ToR's fabric interface. */
  readonly update?: number;
  readonly torFib?: number;
  readonly reach?: number;
}

export interface ScenarioResult {
  readonly tor: TorKind;
  readonly worker: 'routectl' | 'calico-bird';
  readonly samples: readonly Sample[];
  /** First to last docker start event (routectl) or first to last host route (Calico), ms. */
  readonly spreadMs: number;
  readonly notes: readonly string[];
  /** routectl: the agent's per-endpoint phases from its `ready` log lines (ms), by name. */
  readonly phases?: Readonly<Record<string, readonly number[]>>;
  /** routectl with a CPU profile: the agent's hottest functions during the burst. */
  readonly hot?: string;
}

/** The monotonic clock in µs, the clock V8's CPU profiles are stamped with. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => void process.stderr.write(`${s}\n`);

async function topology(lab: Lab): Promise<{ tor: Netns; w: Netns }> {
  const tor = await lab.netns('cvtor');
  const w = await lab.netns('cvw');
  await lab.link(tor, w, { aName: 'fab0', bName: 'fab0', aAddr: [`${TOR4}/30`, `${TOR6}/64`], bAddr: [`${W4}/30`, `${W6}/64`] });
  // Proxy ARP for 169.254.1.1 needs a default route on the worker (docs/design.md).
  await w.addRoute('default', { via: TOR4 });
  await w.addRoute('default', { via: TOR6 });
  return { tor, w };
}

/** The prober in the ToR namespace; resolves once its `ip monitor` is listening. */
async function startProber(tor: Netns, probePort: number | null): Promise<string> {
  const log = join(tor.lab.dir, 'tor-prober.log');
  tor.spawn([...realtimePrefix(RT_OBSERVER), process.execPath, PROBER, ...(probePort === null ? [] : ['--probe', String(probePort)])], { log: 'tor-prober.log' });
  await waitFor(() => readFileSync(log, 'utf8').includes('READY'), { what: 'prober ready', timeoutMs: 10_000, intervalMs: 20 });
  // `ip monitor` subscribes right after it starts; give it a moment before anything changes.
  await sleep(300);
  return log;
}

function startWorkerMonitor(w: Netns): string {
  w.spawn([...realtimePrefix(RT_OBSERVER), 'ip', '-ts', '-4', 'monitor', 'route'], { log: 'w-monitor.log', env: { ...process.env, TZ: 'UTC' } });
  return join(w.lab.dir, 'w-monitor.log');
}

/** The bare event subscriber in the worker namespace; resolves once its stream is open. */
async function startSubscriber(w: Netns, sock: string): Promise<string> {
  const log = join(w.lab.dir, 'w-events.log');
  w.spawn([...realtimePrefix(RT_OBSERVER), process.execPath, EVENTS, sock], { log: 'w-events.log' });
  await waitFor(() => readFileSync(log, 'utf8').includes('READY'), { what: 'event subscriber ready', timeoutMs: 10_000, intervalMs: 20 });
  return log;
}

/** Container id → when the bare subscriber read its start event (wall-clock ms). */
function subscriberTimes(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^START ([0-9a-f]{64}) \S+ (\S+)$/gm)) if (!out.has(m[1]!)) out.set(m[1]!, Number(m[2]));
  return out;
}

function reachTimes(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^REACH (\S+) (\S+)$/gm)) if (!out.has(m[1]!)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function torEstablished(t: Awaited<ReturnType<typeof startTor>>): Promise<void> {
  await waitFor(async () => (await t.establishedAt()) !== null, { what: `${t.label} ToR Established with the worker`, timeoutMs: 40_000, intervalMs: 100 });
}

async function parallel<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  const q = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let x = q.shift(); x !== undefined; x = q.shift()) await fn(x);
  }));
}

/** routectl: N containers started together; see the file header. */
/**
 * `cpuProfile`: run the agent under `node --cpu-prof` and copy its profile to this path;
 * the result's `hot` is then its hottest functions between the first start and the last
 * container reachable.
 */
export async function runRoutectl(torKind: TorKind, n: number, ipv6 = true, cpuProfile?: string): Promise<ScenarioResult> {
  const lab = await Lab.create();
  let dockerd: Dockerd | undefined;
  const notes: string[] = [];
  try {
    const { tor, w } = await topology(lab);
    const t = await startTor(torKind, tor, { asn: 65000, routerId: TOR4, peer: W4, peerAsn: 65001, spawnPrefix: realtimePrefix(RT_TOR) });
    // Before the session exists: the pcap reader reassembles each direction from its SYN.
    const cap = await startCapture(tor, 'fab0', join(lab.dir, 'tor.pcap'));
    dockerd = await startDockerd(w);
    await dockerd.importBusybox();
    const dir = join(lab.dir, 'agent');
    await exec(['mkdir', '-p', join(dir, 'store')]);
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(cfg, stringify({
      node: 'w1',
      routerId: W4,
      asn: 65001,
      bgp: { listen: { address: '::', port: 0 }, holdTime: 90, connectRetryTime: 1, peers: [{ address: TOR4, asn: 65000 }] },
      pools: [{ cidr: POOL4, zone: 'bench' }, ...(ipv6 ? [{ cidr: POOL6, zone: 'bench' }] : [])],
      runtime: { docker: { socket: dockerd.sock } },
      store: { local: { path: join(dir, 'store') } },
      api: { socket: join(dir, 'routectl.sock') },
      metrics: { listen: '127.0.0.1:9273' },
      // The ToR (in no zone: `world`) must reach the containers' httpd through the zone policy.
      zones: [{ name: 'bench', cidrs: ipv6 ? [ZONE4, ZONE6] : [ZONE4], ingress: [{ from: 'world', ports: ['tcp/80'] }] }],
    }));
    // nsenter and setsid exec node in place: this PID is the agent's. In a session of its
    // own, as a service manager starts it, so that it sets its autogroup's priority; in the
    // worker's network namespace only, with the host's mounts, as a service manager runs it
    // (`ip netns exec` would mount a sysfs without /sys/fs/cgroup, where it reads PIDs).
    const profDir = join(dir, 'prof');
    const prof = cpuProfile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir];
    const agentPid = w.spawn(asService([process.execPath, ...prof, ROUTECTL, 'agent', '--config', cfg]), { nsenter: true, log: 'agent.log' }).pid ?? 0;
    await torEstablished(t);
    const names = Array.from({ length: n }, (_, i) => `b${String(i).padStart(3, '0')}`);
    await parallel(names, 4, async (name) => {
      await dockerd!.docker(['create', '--net', 'none', '--name', name, '--label', 'routectl.zone=bench', BUSYBOX_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
    });
    const proberLog = await startProber(tor, 80);
    const wMon = startWorkerMonitor(w);
    const eventsLog = await startSubscriber(w, dockerd.sock);
    await sleep(300);
    const since = Math.floor(Date.now() / 1000) - 1;
    say(`  ${torKind}/routectl: starting ${n} containers`);
    const cpu0 = { agent: cpuMs(agentPid), dockerd: cpuMs(dockerd.pid ?? 0), us: monotonicUs(), loop: schedStat(agentPid) };
    const batches = Array.from({ length: Math.ceil(n / 10) }, (_, i) => names.slice(i * 10, i * 10 + 10));
    await Promise.all(batches.map((b) => dockerd!.docker(['start', ...b])));
    const routectl = (args: string[]) => w.exec([process.execPath, ROUTECTL, ...args, '--socket', join(dir, 'routectl.sock')], { timeoutMs: 20_000 });
    type Ep = { id: string; name: string | null; ipv4: string | null; ipv6: string | null; state: string };
    const eps = await waitFor(async () => {
      const r = await routectl(['endpoints', '--json']);
      const list = (JSON.parse(r.stdout) as { endpoints: Ep[] }).endpoints;
      return list.filter((e) => e.state === 'ready').length === n ? list : undefined;
    }, { what: `${n} endpoints ready`, timeoutMs: 120_000, intervalMs: 250 });
    const addrs = eps.map((e) => e.ipv4!);
    await waitFor(() => {
      const r = reachTimes(readFileSync(proberLog, 'utf8'));
      return addrs.every((a) => r.has(a));
    }, { what: 'every container reachable from the ToR', timeoutMs: 60_000, intervalMs: 200 });
    const cpu1 = { agent: cpuMs(agentPid), dockerd: cpuMs(dockerd.pid ?? 0), us: monotonicUs(), loop: schedStat(agentPid) };
    const rib = await waitFor(async () => {
      const c = await t.ribCount();
      return c.v4 >= n && c.v6 >= (ipv6 ? n : 0) ? c : undefined;
    }, { what: `the ToR's RIB holding the containers' prefixes`, timeoutMs: 30_000, intervalMs: 200 });
    const until = Math.ceil(Date.now() / 1000) + 1;
    const ev = await dockerd.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'type=container', '--filter', 'event=start', '--format', '{{json .}}']);
    const started = new Map<string, number>();
    for (const l of ev.split('\n').filter(Boolean)) {
      const e = JSON.parse(l) as { id: string; timeNano: number };
      // timeNano exceeds 2^53, so JSON.parse rounds it (by ~256 ns): far below what is measured.
      started.set(e.id, e.timeNano / 1e6);
    }
    await cap.stop();
    const updates = firstAnnouncements(cap.file, W4);
    const host = firstAdds(readFileSync(wMon, 'utf8'), (l) => / dev rtc/.test(l));
    const torFib = firstAdds(readFileSync(proberLog, 'utf8'));
    const reach = reachTimes(readFileSync(proberLog, 'utf8'));
    const subscriber = subscriberTimes(readFileSync(eventsLog, 'utf8'));
    const ready = new Map<string, number>();
    const advertised = new Map<string, number>();
    const added = new Map<string, number>();
    const phases: Record<string, number[]> = {};
    /** Where each start's PID came from (the `add` line's pidFrom). */
    const pidFrom: Record<string, number> = {};
    /** When each container was wired (the `add` line's at: runc had created it, or dockerd's start event). */
    const wiredAt: Record<string, number> = {};
    for (const l of readFileSync(join(lab.dir, 'agent.log'), 'utf8').split('\n')) {
      if (l.includes('"event":"ready"')) {
        const j = JSON.parse(l) as { id: string; time: string } & Record<string, unknown>;
        ready.set(j.id, Date.parse(j.time));
        if (typeof j['advertisedAtMs'] === 'number') advertised.set(j.id, j['advertisedAtMs']);
        for (const k of ['allocMs', 'storeMs', 'policyMs', 'plumbMs', 'storeWaitMs', 'advertiseMs', 'advertiseCallMs', 'totalMs']) if (typeof j[k] === 'number') (phases[k] ??= []).push(j[k]);
        const steps = j['plumbSteps'];
        if (typeof steps === 'object' && steps !== null) {
          for (const [k, v] of Object.entries(steps)) if (typeof v === 'number') (phases[`plumb.${k}`] ??= []).push(v);
        }
      } else if (l.includes('"op":"runtime.docker"') && l.includes('"event":"add"')) {
        const j = JSON.parse(l) as { container: string; time: string; eventLagMs?: number; inspectMs?: number; pidFrom?: string; at?: string };
        if (j.pidFrom !== undefined) pidFrom[j.pidFrom] = (pidFrom[j.pidFrom] ?? 0) + 1;
        if (j.at !== undefined) wiredAt[j.at] = (wiredAt[j.at] ?? 0) + 1;
        if (!added.has(j.container)) added.set(j.container, Date.parse(j.time));
        if (typeof j.eventLagMs === 'number') (phases['docker.eventLagMs'] ??= []).push(j.eventLagMs);
        if (typeof j.inspectMs === 'number') (phases['docker.inspectMs'] ??= []).push(j.inspectMs);
      }
    }
    const samples: Sample[] = eps.map((e) => ({
      addr: e.ipv4!,
      ...(e.ipv6 ? { addr6: e.ipv6 } : {}),
      dockerEvent: started.get(e.id),
      subscriberRead: subscriber.get(e.id),
      agentAdd: added.get(e.id),
      agentReady: ready.get(e.id),
      agentAdvertised: advertised.get(e.id),
      hostRoute: host.get(e.ipv4!)?.atMs,
      update: updates.get(e.ipv4!),
      torFib: torFib.get(e.ipv4!)?.atMs,
      reach: reach.get(e.ipv4!),
    }));
    const starts = [...started.values()];
    notes.push(`${started.size} start events (${subscriber.size} read by the bare subscriber), ${host.size} host routes and ${samples.filter((s) => s.torFib).length} ToR FIB entries seen`);
    notes.push(`the ToR's RIB then held ${rib.v4} IPv4 and ${rib.v6} IPv6 prefixes from the worker`);
    const froms = Object.entries(pidFrom);
    if (froms.length > 0) notes.push(`each start's PID from: ${froms.map(([k, n]) => `${k} ${n}`).join(', ')} (the agent inspects every labelled container at create)`);
    const ats = Object.entries(wiredAt);
    if (ats.length > 0) notes.push(`wired at: ${ats.map(([k, n]) => `${k === 'created' ? 'runc created it' : k === 'start' ? 'the start event' : k} ${n}`).join(', ')}`);
    notes.push(`CPU time from the first start until every container was reachable: agent ${Math.round(cpu1.agent - cpu0.agent)} ms, dockerd ${Math.round(cpu1.dockerd - cpu0.dockerd)} ms (containerd and runc not counted)`);
    notes.push(
      `the agent's event-loop thread meanwhile: on a CPU ${Math.round(cpu1.loop.runMs - cpu0.loop.runMs)} ms, runnable but waiting for a CPU ${Math.round(cpu1.loop.waitMs - cpu0.loop.waitMs)} ms, over ${cpu1.loop.slices - cpu0.loop.slices} times put on a CPU`,
    );
    let hot: string | undefined;
    if (cpuProfile !== undefined) {
      // The profile is written when the agent exits.
      await terminate(agentPid, 20_000);
      const file = existsSync(profDir) ? readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      if (file === undefined) notes.push('no CPU profile was written');
      else {
        copyFileSync(join(profDir, file), cpuProfile);
        hot = hotFunctions(readFileSync(cpuProfile, 'utf8'), 30, { fromUs: cpu0.us, toUs: cpu1.us });
      }
    }
    return { tor: torKind, worker: 'routectl', samples, spreadMs: Math.max(...starts) - Math.min(...starts), notes, phases, hot };
  } finally {
    await dockerd?.cleanup().catch((e: unknown) => say(`dockerd cleanup: ${String(e)}`));
    await lab.cleanup();
  }
}

/**
 * Calico: BIRD learning the same host routes from the kernel; see the file header.
 * `offsets[i]` is when (ms after the first) `addrs[i]` is written: the routectl run's own
 * host-route timing is replayed, so both speakers and the ToR see the same arrival pattern
 * (FRR's processing batches what arrives close together).
 */
export async function runCalico(torKind: TorKind, addrs: readonly string[], offsets: readonly number[], containers: number, addrs6?: readonly string[]): Promise<ScenarioResult> {
  const lab = await Lab.create();
  let dockerd: Dockerd | undefined;
  try {
    const { tor, w } = await topology(lab);
    const t = await startTor(torKind, tor, { asn: 65000, routerId: TOR4, peer: W4, peerAsn: 65001, spawnPrefix: realtimePrefix(RT_TOR) });
    // Before the session exists: the pcap reader reassembles each direction from its SYN.
    const cap = await startCapture(tor, 'fab0', join(lab.dir, 'tor.pcap'));
    // One workload interface per route, as Felix has one cali* veth per pod.
    const links = addrs.flatMap((_, i) => [`link add cali${i} type veth peer name calp${i}`, `link set cali${i} up`, `link set calp${i} up`]);
    const batch = join(lab.dir, 'links.batch');
    writeFileSync(batch, `${links.join('\n')}\n`);
    await w.ip(['-batch', batch]);
    await startCalicoBird(w, { routerId: W4, asn: 65001, tor: TOR4, torAsn: 65000, pools: [ZONE4], ifPattern: 'cal*', ...(addrs6 ? { ipv6: { pools: [ZONE6], nextHop: W6 } } : {}) });
    await torEstablished(t);
    // The same container start-ups as in the routectl run, for the same CPU load.
    let names: string[] = [];
    if (containers > 0) {
      dockerd = await startDockerd(w);
      await dockerd.importBusybox();
      names = Array.from({ length: containers }, (_, i) => `l${String(i).padStart(3, '0')}`);
      await parallel(names, 4, async (name) => {
        await dockerd!.docker(['create', '--net', 'none', '--name', name, BUSYBOX_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
      });
    }
    const proberLog = await startProber(tor, null);
    const wMon = startWorkerMonitor(w);
    await sleep(300);
    say(`  ${torKind}/calico-bird: installing ${addrs.length} host ${addrs6 ? '/32 + /128 pairs' : 'routes'} over ${Math.round(Math.max(0, ...offsets))} ms${names.length ? `, starting ${names.length} containers` : ''}`);
    const batches = Array.from({ length: Math.ceil(names.length / 10) }, (_, i) => names.slice(i * 10, i * 10 + 10));
    const load = Promise.all(batches.map((b) => dockerd!.docker(['start', ...b])));
    load.catch(() => undefined);
    const feeder = spawn('ip', ['-n', w.name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    feeder.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number | null>((r) => feeder.once('exit', r));
    const order = addrs.map((a, i) => ({ a, i, at: offsets[i] ?? 0 })).sort((x, y) => x.at - y.at);
    const t0 = performance.now();
    for (const { a, i, at } of order) {
      const wait = at - (performance.now() - t0);
      if (wait > 0.5) await sleep(wait);
      // With IPv6, the /128 in the same write, as the agent hands both to the kernel at once.
      const a6 = addrs6?.[i];
      feeder.stdin.write(`route add ${a}/32 dev cali${i}\n${a6 === undefined ? '' : `route add ${a6}/128 dev cali${i}\n`}`);
    }
    feeder.stdin.end();
    const code = await done;
    if (code !== 0) throw new Error(`ip -batch failed (${code}): ${err}`);
    await load;
    await waitFor(() => {
      const fib = firstAdds(readFileSync(proberLog, 'utf8'));
      return addrs.every((a) => fib.has(a));
    }, { what: 'every host route in the ToR FIB', timeoutMs: 30_000, intervalMs: 100 });
    // The ToR got the /128s too: the same routes as from routectl, or the comparison is off.
    const rib = await waitFor(async () => {
      const c = await t.ribCount();
      return c.v4 >= addrs.length && c.v6 >= (addrs6?.length ?? 0) ? c : undefined;
    }, { what: `the ToR's RIB holding ${addrs.length} IPv4${addrs6 ? ` and ${addrs6.length} IPv6` : ''} prefixes from the worker`, timeoutMs: 30_000, intervalMs: 200 });
    await cap.stop();
    const updates = firstAnnouncements(cap.file, W4);
    const host = firstAdds(readFileSync(wMon, 'utf8'), (l) => / dev cali/.test(l));
    const torFib = firstAdds(readFileSync(proberLog, 'utf8'));
    const samples = addrs.map((a) => ({ addr: a, hostRoute: host.get(a)?.atMs, update: updates.get(a), torFib: torFib.get(a)?.atMs }));
    const hs = samples.map((s) => s.hostRoute).filter((x): x is number => x !== undefined);
    const notes = [
      `${host.size} host routes and ${torFib.size} ToR FIB entries seen${addrs6 ? ' (IPv4; each /32 written together with its container\'s /128, both advertised)' : ''}`,
      `the ToR's RIB then held ${rib.v4} IPv4 and ${rib.v6} IPv6 prefixes from the worker`,
    ];
    if (names.length) notes.push(`${names.length} containers started meanwhile (no routing), as in the routectl run`);
    return { tor: torKind, worker: 'calico-bird', samples, spreadMs: Math.max(...hs) - Math.min(...hs), notes };
  } finally {
    await dockerd?.cleanup().catch((e: unknown) => say(`dockerd cleanup: ${String(e)}`));
    await lab.cleanup();
  }
}
