// policy/reload.ts: the reload matrix as pure decisions — which model swaps widen what
// reaches a running endpoint (refused, with the zone and containers named) and which are
// narrowing or explicit (allowed) — plus the prefix arithmetic it rests on.
import { describe, expect, it } from 'vitest';
import { formatCidr, mustCidr } from '../../policy/cidr.js';
import { buildModel, type PolicyModel } from '../../policy/model.js';
import { reloadProblems, uncovered, type ReloadInUse } from '../../policy/reload.js';

type Z = { name: string; cidrs: string[]; ingress?: { from: string; ports: string[] }[]; isolated?: boolean };
const model = (zones: Z[], policy: Record<string, unknown> = {}): PolicyModel => buildModel(zones, policy);

// dmz 198.51.100.0/26, app .64/26, backend .128/26 (and v6 /64s), as in docs/policy.md.
const DMZ: Z = { name: 'dmz', cidrs: ['198.51.100.0/26', '2001:db8:c:1::/64'], ingress: [{ from: 'world', ports: ['tcp/80', 'tcp/443'] }] };
const APP: Z = { name: 'app', cidrs: ['198.51.100.64/26', '2001:db8:c:2::/64'], ingress: [{ from: 'dmz', ports: ['tcp/8080'] }] };
const BACKEND: Z = { name: 'backend', cidrs: ['198.51.100.128/26', '2001:db8:c:3::/64'], ingress: [{ from: 'app', ports: ['tcp/5432', 'udp/53'] }] };
const RUNNING = model([DMZ, APP, BACKEND]);
/** backend once app is gone: the file can no longer name app in its ingress. */
const BACKEND_ALONE: Z = { ...BACKEND, ingress: [] };

const c1 = { name: 'c1', addresses: ['198.51.100.66', '2001:db8:c:2::2'] };
const c2 = { name: 'c2', addresses: ['198.51.100.67', '2001:db8:c:2::3'] };
const b1 = { name: 'b1', addresses: ['198.51.100.130', '2001:db8:c:3::2'] };
const appPool = { where: 'pools[0]', cidr: '198.51.100.64/28', zone: 'app' };
const backendPool = { where: 'pools[1]', cidr: '198.51.100.128/28', zone: 'backend' };

const use = (endpoints: ReloadInUse['endpoints'], pools: ReloadInUse['pools'] = []): ReloadInUse => ({ endpoints, pools });
const kinds = (ps: ReturnType<typeof reloadProblems>) => ps.map((p) => `${p.kind} ${p.zone}`);

describe('reloadProblems: the reload matrix', () => {
  it('zone removed under running containers: refused, naming the zone, the containers and their addresses', () => {
    const next = model([DMZ, BACKEND_ALONE]);
    const ps = reloadProblems(RUNNING, next, use([c1, c2, b1], [appPool, backendPool]));
    expect(kinds(ps)).toEqual(['endpoint-reclassified app', 'pool-orphaned app']);
    expect(ps[0]!.containers).toEqual(['c1', 'c2']);
    expect(ps[0]!.message).toBe(
      'zone "app" still holds running containers c1 (198.51.100.66, 2001:db8:c:2::2), c2 (198.51.100.67, 2001:db8:c:2::3): the new config removes zone "app", so they would be in no zone (world), where the policy judges nothing: open to every address',
    );
    expect(ps[1]!.message).toMatch(/^pools\[0\] \(198\.51\.100\.64\/28\) gives addresses to zone "app" until a restart .*no zone "app"/);
    expect(ps[1]!.fix).toMatch(/restart the agent/);
  });

  it('every zone removed (no zones at all) under running containers: refused', () => {
    const ps = reloadProblems(RUNNING, undefined, use([c1, b1]));
    expect(kinds(ps)).toEqual(['endpoint-reclassified app', 'endpoint-reclassified backend']);
  });

  it('zone removed once its containers are gone, but its pool still runs: refused until a restart', () => {
    expect(kinds(reloadProblems(RUNNING, model([DMZ, BACKEND_ALONE]), use([b1], [appPool, backendPool])))).toEqual(['pool-orphaned app']);
  });

  it('zone removed with nothing of it running here: applies, unless world gets more than it had into a zone with containers', () => {
    // app's hosts (other workers) become world; backend admits nothing from world: narrower.
    expect(reloadProblems(RUNNING, model([DMZ, BACKEND_ALONE]), use([b1], [backendPool]))).toEqual([]);
    // backend admits tcp/22 from world, which it never admitted from app: app's hosts would gain it.
    const open = { ...BACKEND, ingress: [{ from: 'world', ports: ['tcp/22', 'tcp/5432'] }] };
    const running = model([DMZ, APP, open]);
    const openAlone = { ...open, ingress: open.ingress.filter((r) => r.from !== 'app') };
    const ps = reloadProblems(running, model([DMZ, openAlone]), use([b1], [backendPool]));
    expect(kinds(ps)).toEqual(['source-widened app']);
    expect(ps[0]!.containers).toEqual(['b1']);
    expect(ps[0]!.message).toBe(
      'removing zone "app" leaves 198.51.100.64/26, 2001:db8:c:2::/64 in no zone (world), and zone "backend" admits tcp/22, tcp/5432 from world, which it did not admit from zone "app": its running containers b1 would become reachable from those addresses',
    );
    // Narrowing backend's world ingress in the same change makes it safe.
    expect(reloadProblems(running, model([DMZ, BACKEND_ALONE]), use([b1], [backendPool]))).toEqual([]);
    // What app admitted already is no widening: app → backend tcp/5432 becomes world → backend tcp/5432.
    const same = { ...BACKEND, ingress: [{ from: 'app', ports: ['tcp/5000-5500'] }, { from: 'world', ports: ['tcp/5432'] }] };
    expect(reloadProblems(model([DMZ, APP, same]), model([DMZ, { ...BACKEND, ingress: [{ from: 'world', ports: ['tcp/5432'] }] }]), use([b1], [backendPool]))).toEqual([]);
  });

  it('zone ranges shrunk: refused when a running container falls outside, applied when all stay inside', () => {
    const shrunk = (cidr: string) => model([DMZ, { ...APP, cidrs: [cidr, '2001:db8:c:2::/64'] }, BACKEND]);
    // .64/28 keeps c1 (.66), c2 (.67) and the pool .64/28.
    expect(reloadProblems(RUNNING, shrunk('198.51.100.64/28'), use([c1, c2, b1], [appPool]))).toEqual([]);
    // .64/31 holds .64 and .65 only: both containers and the pool fall out.
    const ps = reloadProblems(RUNNING, shrunk('198.51.100.64/31'), use([c1, c2, b1], [appPool]));
    expect(kinds(ps)).toEqual(['endpoint-reclassified app', 'pool-orphaned app']);
    expect(ps[0]!.message).toMatch(/c1 \(198\.51\.100\.66\), c2 \(198\.51\.100\.67\): the new ranges of zone "app" \(198\.51\.100\.64\/31, 2001:db8:c:2::\/64\) no longer hold their addresses, so they would be in no zone \(world\)/);
    expect(ps[1]!.message).toMatch(/do not contain it/);
  });

  it('range moved to another zone (the pool moved in the file): refused while containers or the running pool are in it', () => {
    const next = model([
      { ...DMZ, cidrs: ['198.51.100.0/26', '198.51.100.64/28', '2001:db8:c:1::/64'] },
      { ...APP, cidrs: ['198.51.100.80/28', '198.51.100.96/27', '2001:db8:c:2::/64'] },
      BACKEND,
    ]);
    const ps = reloadProblems(RUNNING, next, use([c1, b1], [appPool]));
    expect(kinds(ps)).toEqual(['endpoint-reclassified app', 'pool-orphaned app']);
    expect(ps[0]!.message).toMatch(/c1 \(198\.51\.100\.66\): .* so they would be judged as zone "dmz", which their label did not ask for$/);
    // Nothing of it running here (no container, no pool): an explicit growth of dmz, applied.
    expect(reloadProblems(RUNNING, next, use([b1], [backendPool]))).toEqual([]);
  });

  it('ingress rule removed (narrower) or added (explicit): applied', () => {
    const removed = model([DMZ, { ...APP, ingress: [] }, BACKEND]);
    const added = model([DMZ, { ...APP, ingress: [...APP.ingress!, { from: 'world', ports: ['tcp/22'] }] }, BACKEND]);
    expect(reloadProblems(RUNNING, removed, use([c1, b1], [appPool]))).toEqual([]);
    expect(reloadProblems(RUNNING, added, use([c1, b1], [appPool]))).toEqual([]);
  });

  it('policy.defaultAction or logDrops changed, a zone made non-isolated, a zone added: applied', () => {
    const u = use([c1, b1], [appPool, backendPool]);
    expect(reloadProblems(RUNNING, model([DMZ, APP, BACKEND], { defaultAction: 'reject', logDrops: true }), u)).toEqual([]);
    expect(reloadProblems(model([DMZ, { ...APP, isolated: true }, BACKEND]), RUNNING, u)).toEqual([]);
    expect(reloadProblems(RUNNING, model([DMZ, APP, BACKEND, { name: 'ops', cidrs: ['203.0.113.128/25'] }]), u)).toEqual([]);
    // The first zones of a worker that had none.
    expect(reloadProblems(undefined, RUNNING, use([], [appPool]))).toEqual([]);
  });

  it('an isolated zone shrunk: its remaining containers may not get more from world than they got from the zone', () => {
    const iso = { ...APP, isolated: true, ingress: [{ from: 'world', ports: ['tcp/443'] }] };
    const running = model([DMZ, iso, BACKEND]);
    const next = model([DMZ, { ...iso, cidrs: ['198.51.100.64/27', '2001:db8:c:2::/64'] }, BACKEND]);
    // .96/27 leaves app: world gets tcp/443 into app, where app → app (isolated) got nothing.
    expect(kinds(reloadProblems(running, next, use([c1], [appPool])))).toEqual(['source-widened app']);
    // Not isolated: app → app was everything, so world's tcp/443 is no widening.
    expect(reloadProblems(model([DMZ, { ...iso, isolated: false }, BACKEND]), model([DMZ, { ...iso, isolated: false, cidrs: ['198.51.100.64/27', '2001:db8:c:2::/64'] }, BACKEND]), use([c1], [appPool]))).toEqual([]);
  });
});

describe('uncovered', () => {
  const u = (c: string, cover: string[]) => uncovered(mustCidr(c), cover.map(mustCidr)).map(formatCidr);
  it('gives the parts of a prefix that no prefix of the cover holds', () => {
    expect(u('198.51.100.64/26', [])).toEqual(['198.51.100.64/26']);
    expect(u('198.51.100.64/26', ['198.51.100.0/24'])).toEqual([]);
    expect(u('198.51.100.64/26', ['198.51.100.64/27'])).toEqual(['198.51.100.96/27']);
    expect(u('198.51.100.64/26', ['198.51.100.64/28', '198.51.100.96/27'])).toEqual(['198.51.100.80/28']);
    expect(u('198.51.100.64/26', ['198.51.100.66/32'])).toEqual(['198.51.100.64/31', '198.51.100.67/32', '198.51.100.68/30', '198.51.100.72/29', '198.51.100.80/28', '198.51.100.96/27']);
    expect(u('2001:db8:c:2::/64', ['2001:db8:c:2::/65', '198.51.100.0/24'])).toEqual(['2001:db8:c:2:8000::/65']);
  });
});
