/**
 * The self-contained demo (`npm run demo`): a ToR running FRR and two workers in network
 * namespaces, dockerd and the routectl agent on each worker, containers in zones; then
 * the operator's view (`routectl status`, `routectl endpoints`, the ToR's BGP table) and
 * reachability checks, each printed as a PASS/FAIL line. Exit status 0 only when every
 * check passed.
 *
 * Options: `--keep` leaves everything running after the checks and prints how to look at
 * it (the next run, or `--down`, removes it); `--down` only removes an earlier demo.
 * A run always starts by sweeping what an earlier demo left (demo/cleanup.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { EndpointEntry } from '../src/api/types.js';
import { exec, kernelRouteMap, Lab, LAB_ROOT, startFrr, waitFor, type Frr, type Netns } from '../test/lab/harness/index.js';
import { BUSYBOX_IMAGE, startDockerd, type Dockerd } from '../test/lab/harness/docker.js';
import { sweepPreviousDemos } from './cleanup.js';
import { Checks, httpGet, pingFrom } from './checks.js';
import { agentYamlObject, LISTEN_RANGE, NS_ROLE_PREFIX, TOR_ASN, TOR_ID, WORKERS, type WorkerSpec } from './topology.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The routectl executable built next to this file (dist/demo → dist/src/cli). */
const ROUTECTL = join(here, '../src/cli/routectl.js');

interface Worker {
  readonly spec: WorkerSpec;
  readonly ns: Netns;
  readonly dir: string;
  readonly socket: string;
  dockerd?: Dockerd;
  readonly endpoints: Map<string, EndpointEntry>;
}

const say = (s = ''): void => void process.stdout.write(`${s}\n`);
const heading = (s: string): void => say(`\n=== ${s} ${'='.repeat(Math.max(3, 74 - s.length))}`);

async function routectl(w: Worker, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return w.ns.exec([process.execPath, ROUTECTL, ...args, '--socket', w.socket], { timeoutMs: 20_000 });
}

async function endpointsOf(w: Worker): Promise<EndpointEntry[]> {
  const r = await routectl(w, ['endpoints', '--json']);
  if (r.code !== 0) throw new Error(`routectl endpoints on ${w.spec.node}: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { endpoints: EndpointEntry[] }).endpoints;
}

async function setUp(lab: Lab, log: (s: string) => void): Promise<{ tor: Netns; frr: Frr; workers: Worker[] }> {
  const tor = await lab.netns(`${NS_ROLE_PREFIX}tor`);
  const workers: Worker[] = [];
  for (const spec of WORKERS) {
    const ns = await lab.netns(`${NS_ROLE_PREFIX}${spec.node}`);
    const dir = join(lab.dir, spec.node);
    mkdirSync(join(dir, 'store'), { recursive: true, mode: 0o700 });
    workers.push({ spec, ns, dir, socket: join(dir, 'routectl.sock'), endpoints: new Map() });
    const ifname = `fab${spec.node.slice(1)}`;
    await lab.link(tor, ns, {
      aName: ifname,
      bName: ifname,
      aAddr: [`${spec.tor4}/30`, `${spec.tor6}/64`],
      bAddr: [`${spec.addr4}/30`, `${spec.addr6}/64`],
    });
    // The agent advertises and does not install what it learns; proxy ARP for
    // 169.254.1.1 needs the worker to have a default route (docs/design.md), so it is static.
    await ns.addRoute('default', { via: spec.tor4 });
    await ns.addRoute('default', { via: spec.tor6 });
  }
  log(`namespaces: ${[tor, ...workers.map((w) => w.ns)].map((n) => n.name).join(' ')}`);
  const frr = await startFrr(tor, { asn: TOR_ASN, routerId: TOR_ID, listenRange: LISTEN_RANGE, listenDefaultOriginate: true });
  log(`FRR ToR up in ${tor.name} (AS ${TOR_ASN}, listen range ${LISTEN_RANGE})`);
  await Promise.all(
    workers.map(async (w) => {
      w.dockerd = await startDockerd(w.ns, { liveRestore: true });
      await w.dockerd.importBusybox();
      log(`${w.spec.node}: dockerd up (${w.dockerd.sock}), image ${BUSYBOX_IMAGE} imported`);
    }),
  );
  for (const w of workers) {
    const cfg = join(w.dir, 'agent.yaml');
    writeFileSync(cfg, stringify(agentYamlObject(w.spec, w.dir, w.dockerd!.sock)), { mode: 0o600 });
    // The worker's network namespace only, the host's mounts (as a service manager runs it).
    w.ns.spawn([process.execPath, ROUTECTL, 'agent', '--config', cfg], { nsenter: true, log: `${w.spec.node}-agent.log` });
  }
  await Promise.all(
    workers.map(async (w) => {
      await waitFor(async () => (await routectl(w, ['status', '--json'])).code !== 2, {
        what: `routectl agent on ${w.spec.node} to answer on ${w.socket}`,
        timeoutMs: 30_000,
        intervalMs: 200,
        diagnostics: () => lab.logTails(20),
      });
      await frr.waitEstablished(w.spec.addr4);
      log(`${w.spec.node}: agent up (AS ${w.spec.asn}), session to the ToR Established`);
    }),
  );
  return { tor, frr, workers };
}

async function startContainers(workers: readonly Worker[], lab: Lab, log: (s: string) => void): Promise<void> {
  for (const w of workers) {
    for (const c of w.spec.containers) {
      await w.dockerd!.runContainer([
        '--net', 'none', '--name', c.name, '--label', `routectl.zone=${c.zone}`,
        BUSYBOX_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www',
      ]);
      log(`${w.spec.node}: docker run -d --net none --name ${c.name} --label routectl.zone=${c.zone} ${BUSYBOX_IMAGE} httpd -f -p 80`);
    }
  }
  for (const w of workers) {
    for (const c of w.spec.containers) {
      const e = await waitFor(async () => (await endpointsOf(w)).find((x) => x.name === c.name && x.state === 'ready'), {
        what: `${c.name} ready in routectl endpoints on ${w.spec.node}`,
        timeoutMs: 30_000,
        intervalMs: 100,
        diagnostics: () => lab.logTails(20),
      });
      w.endpoints.set(c.name, e);
    }
  }
}

async function show(title: string, r: { code: number; stdout: string; stderr: string }): Promise<void> {
  heading(`${title}   (exit ${r.code})`);
  process.stdout.write(r.stdout.endsWith('\n') || r.stdout === '' ? r.stdout : `${r.stdout}\n`);
  if (r.stderr.trim()) process.stdout.write(r.stderr);
}

function pokeHelp(tor: Netns, frr: Frr, workers: readonly Worker[]): string {
  const L = ['The demo is left running. To look at it:'];
  for (const w of workers) {
    L.push(`  ip netns exec ${w.ns.name} node ${ROUTECTL} status --socket ${w.socket}`);
    L.push(`  ip netns exec ${w.ns.name} node ${ROUTECTL} endpoints --socket ${w.socket}`);
    L.push(`  DOCKER_HOST=${w.dockerd!.host} docker ps      # ${w.spec.node}'s dockerd`);
  }
  L.push(`  ip netns exec ${tor.name} vtysh --vty_socket ${frr.dir} -c 'show bgp ipv4 unicast'`);
  L.push(`  ip netns exec ${tor.name} busybox ping -c 1 ${workers[0]?.endpoints.get('web')?.ipv4 ?? '198.51.100.1'}`);
  L.push(`  logs and configs: ${workers[0]?.dir ? dirname(workers[0].dir) : LAB_ROOT}`);
  L.push('Remove it with `npm run demo -- --down` (a new `npm run demo` also removes it first).');
  return L.join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const keep = argv.includes('--keep');
  const down = argv.includes('--down');
  const unknown = argv.filter((a) => a !== '--keep' && a !== '--down');
  if (unknown.length > 0 || (keep && down)) {
    process.stderr.write('usage: demo [--keep | --down]\n');
    return 2;
  }
  const swept = await sweepPreviousDemos();
  if (swept.namespaces.length > 0 || swept.processes > 0) {
    say(`cleanup: removed an earlier demo (${swept.namespaces.join(' ')}; ${swept.processes} processes stopped)`);
  }
  for (const s of swept.skipped) say(`cleanup: left alone ${s}`);
  if (down) return swept.skipped.length === 0 ? 0 : 1;

  const t0 = Date.now();
  const log = (s: string): void => say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}`);
  const lab = await Lab.create();
  let workers: Worker[] = [];
  let failed = 0;
  try {
    heading('Setting up: ToR (FRR) + two workers (dockerd + routectl agent)');
    const net = await setUp(lab, log);
    workers = net.workers;
    const { tor, frr } = net;
    await startContainers(workers, lab, log);
    const all = workers.flatMap((w) => [...w.endpoints.values()]);
    await waitFor(
      async () => {
        const [v4, v6] = await Promise.all([kernelRouteMap(tor, 4), kernelRouteMap(tor, 6)]);
        return all.every((e) => v4.has(`${e.ipv4}/32`) && v6.has(`${e.ipv6}/128`));
      },
      { what: 'every container /32 and /128 in the ToR FIB', timeoutMs: 20_000, intervalMs: 50 },
    );
    log(`all ${all.length} containers ready; their /32 and /128 are in the ToR's FIB`);

    for (const w of workers) await show(`${w.spec.node}: routectl status`, await routectl(w, ['status']));
    for (const w of workers) await show(`${w.spec.node}: routectl endpoints`, await routectl(w, ['endpoints']));
    for (const fam of ['ipv4', 'ipv6']) {
      const r = await tor.exec(['vtysh', '--vty_socket', frr.dir, '-c', `show bgp ${fam} unicast`]);
      await show(`ToR: vtysh -c 'show bgp ${fam} unicast'`, r);
    }

    heading('Checks');
    const checks = new Checks(say);
    const [w1, w2] = workers as [Worker, Worker];
    const web = w1.endpoints.get('web')!;
    const api = w1.endpoints.get('api')!;
    const api2 = w2.endpoints.get('api2')!;
    const db = w2.endpoints.get('db')!;
    for (const w of workers) {
      checks.record(`routectl status on ${w.spec.node} exits 0 (healthy)`, (await routectl(w, ['status'])).code === 0);
    }
    for (const a of [web.ipv4!, web.ipv6!]) {
      checks.record(`ping web (w1, dmz) ${a} from the ToR`, await pingFrom(tor, a));
    }
    for (const a of [api.ipv4!, api.ipv6!]) {
      checks.record(`ping api (w1, app) ${a} from api2 (w2, app)`, await pingFrom(w2.dockerd!, a, 'api2'));
    }
    checks.record(`HTTP GET http://${web.ipv4}/ from the ToR`, await httpGet(tor, web.ipv4!));
    checks.record(`HTTP GET http://[${api.ipv6}]/ from api2 (w2) to api (w1)`, await httpGet(w2.dockerd!, api.ipv6!, 'api2'));
    checks.record(`HTTP GET http://${db.ipv4}/ from api (w1, app) to db (w2, backend)`, await httpGet(w1.dockerd!, db.ipv4!, 'api'));
    // Zone policy: DMZ → App → Backend, never DMZ → Backend (docs/design.md). The same flow
    // from app (api → db) passed above, so a refusal here is the policy, not the path.
    checks.record(`HTTP from web (w1, dmz) to db (w2, backend) ${db.ipv4}:80 is refused by zone policy`, !(await httpGet(w1.dockerd!, db.ipv4!, 'web')));
    checks.record(`ping from web (w1, dmz) to db (w2, backend) ${db.ipv4} is refused by zone policy`, !(await pingFrom(w1.dockerd!, db.ipv4!, 'web', 1)));
    const verdict = await routectl(w2, ['policy', 'check', web.ipv4!, 'db', 'tcp/80']);
    checks.record(`routectl policy check ${web.ipv4} db tcp/80 on w2 says deny (exit 1)`, verdict.code === 1);
    say(verdict.stdout.trimEnd().replace(/^/gm, '      '));
    failed = checks.failed;
    say(`\n${checks.summary()}   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (keep) {
      say(`\n${pokeHelp(tor, frr, workers)}`);
      // The lab's exit hook would otherwise stop everything when this process ends.
      process.removeAllListeners('exit');
      return failed === 0 ? 0 : 1;
    }
  } catch (e) {
    failed++;
    say(`FAIL  demo setup: ${e instanceof Error ? e.message : String(e)}`);
    if (keep) say('(--keep ignored: the demo is removed after a failed setup; logs were printed above)');
  }
  heading('Tearing down');
  for (const w of workers) await w.dockerd?.cleanup().catch((e: unknown) => say(`teardown: dockerd on ${w.spec.node}: ${String(e)}`));
  const names = lab.namespaceNames;
  await lab.cleanup();
  const left = (await exec(['ip', 'netns', 'list'])).stdout;
  const leftover = names.filter((n) => left.includes(n));
  say(leftover.length === 0 ? `removed namespaces ${names.join(' ')}` : `teardown: namespaces still present: ${leftover.join(' ')}`);
  return failed === 0 && leftover.length === 0 ? 0 : 1;
}
