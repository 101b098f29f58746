// Finding a started container's PID in its cgroup (src/runtime/cgroup.ts), over fake
// /proc and /sys files: cgroup v1 (cgroupfs driver), cgroup v2 with systemd's scopes,
// a mount whose root is not "/", and every case that must answer "ask dockerd".
import { describe, expect, it } from 'vitest';
import { CgroupPids, cgroupDir, cgroupMounts } from '../../../src/runtime/cgroup.js';

const ID = 'ab'.repeat(32);
const ID2 = 'cd'.repeat(32);

const MOUNTINFO_V1 = [
  '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
  '33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct',
  '36 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids',
].join('\n');
const MOUNTINFO_V2 = '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

function files(map: Record<string, string>): { read: (p: string) => string; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    read(p) {
      reads.push(p);
      const v = map[p];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return v;
    },
  };
}

describe('mountinfo', () => {
  it('the cgroup mounts, v1 with their options and v2, escapes undone; other file systems skipped', () => {
    const m = cgroupMounts(`${MOUNTINFO_V1}\n40 25 0:40 /a\\040b /mnt/with\\040space rw - cgroup cgroup rw,memory\n`);
    expect(m.map((x) => x.mountPoint)).toEqual(['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/pids', '/mnt/with space']);
    expect(m[0]).toMatchObject({ version: 2, root: '/' });
    expect(m[2]).toMatchObject({ version: 1, options: ['rw', 'cpu', 'cpuacct'] });
    expect(m[4]!.root).toBe('/a b');
    expect(cgroupMounts('garbage\n\n')).toEqual([]);
  });

  it('a cgroup path to its directory: by controllers (v1) or unified (v2), relative to the mount root', () => {
    const v1 = cgroupMounts(MOUNTINFO_V1);
    expect(cgroupDir(v1, 'pids', `/docker/${ID}`)).toBe(`/sys/fs/cgroup/pids/docker/${ID}`);
    expect(cgroupDir(v1, 'cpu,cpuacct', '/x')).toBe('/sys/fs/cgroup/cpu,cpuacct/x');
    expect(cgroupDir(v1, 'name=systemd', '/')).toBe('/sys/fs/cgroup/systemd');
    expect(cgroupDir(v1, '', '/a')).toBe('/sys/fs/cgroup/unified/a');
    expect(cgroupDir(v1, 'memory', '/a')).toBeUndefined();
    // A container's view: its own cgroup mounted as the root.
    const inner = cgroupMounts('50 40 0:26 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n');
    expect(cgroupDir(inner, '', '/kubepods/pod1/docker/x')).toBe('/sys/fs/cgroup/docker/x');
    expect(cgroupDir(inner, '', '/kubepods/pod1')).toBe('/sys/fs/cgroup');
    expect(cgroupDir(inner, '', '/kubepods/pod10/y')).toBeUndefined();
  });
});

describe('CgroupPids', () => {
  it('cgroup v1 (cgroupfs): learns /docker/<id> from an inspected container, then finds another by its id', () => {
    const f = files({
      '/proc/self/mountinfo': MOUNTINFO_V1,
      '/proc/4000/cgroup': `12:pids:/docker/${ID}\n3:cpu,cpuacct:/docker/${ID}\n1:name=systemd:/docker/${ID}\n0::/\n`,
      [`/sys/fs/cgroup/pids/docker/${ID}/cgroup.procs`]: '4000\n',
      [`/sys/fs/cgroup/pids/docker/${ID2}/cgroup.procs`]: '4100\n',
    });
    const c = new CgroupPids(f.read);
    expect(c.pidOf('', ID2)).toBeUndefined(); // nothing learnt yet
    expect(c.learn('', ID, 4000)).toEqual({ known: true, where: '/sys/fs/cgroup/pids/docker/<id>', fresh: true });
    expect(c.learn('', ID2, 4100)).toEqual({ known: true, where: '/sys/fs/cgroup/pids/docker/<id>', fresh: false });
    expect(c.knows('')).toBe(true);
    expect(c.pidOf('', ID2)).toBe(4100);
    expect(c.pidOf('', ID)).toBe(4000);
    expect(c.knows('/other')).toBe(false);
    expect(c.pidOf('/other', ID2)).toBeUndefined();
  });

  it('cgroup v2 (systemd driver): docker-<id>.scope under system.slice', () => {
    const f = files({
      '/proc/self/mountinfo': MOUNTINFO_V2,
      '/proc/4000/cgroup': `0::/system.slice/docker-${ID}.scope\n`,
      [`/sys/fs/cgroup/system.slice/docker-${ID}.scope/cgroup.procs`]: '4000\n',
      [`/sys/fs/cgroup/system.slice/docker-${ID2}.scope/cgroup.procs`]: '4100\n',
    });
    const c = new CgroupPids(f.read);
    expect(c.learn('', ID, 4000)).toMatchObject({ known: true });
    expect(c.pidOf('', ID2)).toBe(4100);
  });

  it('answers undefined (ask dockerd) for none or several processes, a missing cgroup, a bad id', () => {
    const f = files({
      '/proc/self/mountinfo': MOUNTINFO_V1,
      '/proc/4000/cgroup': `12:pids:/docker/${ID}\n`,
      [`/sys/fs/cgroup/pids/docker/${ID}/cgroup.procs`]: '4000\n4005\n',
      [`/sys/fs/cgroup/pids/docker/${ID2}/cgroup.procs`]: '',
    });
    const c = new CgroupPids(f.read);
    expect(c.learn('', ID, 4000)).toMatchObject({ known: true });
    expect(c.pidOf('', ID)).toBeUndefined(); // an exec (or --init) beside the init
    expect(c.pidOf('', ID2)).toBeUndefined(); // stopped: empty
    expect(c.pidOf('', 'ef'.repeat(32))).toBeUndefined(); // no such cgroup
    const before = f.reads.length;
    expect(c.pidOf('', '../../etc')).toBeUndefined(); // not an id: never put into a path
    expect(c.pidOf('', ID.toUpperCase())).toBeUndefined();
    expect(f.reads.length).toBe(before);
  });

  it('learns nothing from a PID that is not in the cgroup named, an id not in its cgroups, or unmounted hierarchies', () => {
    const base = { '/proc/self/mountinfo': MOUNTINFO_V1 };
    const cases: [Record<string, string>, RegExp][] = [
      // the cgroup's processes do not include the PID (it died, the PID was reused)
      [{ ...base, '/proc/4000/cgroup': `12:pids:/docker/${ID}\n`, [`/sys/fs/cgroup/pids/docker/${ID}/cgroup.procs`]: '4001\n' }, /none of its cgroups \(pids:\/docker\/ab.*\) is mounted here with PID 4000 in it/],
      // the PID's cgroups do not name the container
      [{ ...base, '/proc/4000/cgroup': '12:pids:/user.slice\n0::/\n' }, /no line of \/proc\/4000\/cgroup names the container/],
      // the only hierarchy naming it is not mounted here
      [{ ...base, '/proc/4000/cgroup': `9:memory:/docker/${ID}\n` }, /none of its cgroups \(memory:/],
      // no /proc/<pid>/cgroup at all
      [base, /ENOENT: \/proc\/4000\/cgroup/],
      // `ip netns exec` mounts a sysfs of its own, without /sys/fs/cgroup
      [{ '/proc/self/mountinfo': '25 1 0:23 / /sys rw - sysfs sysfs rw\n', '/proc/4000/cgroup': `12:pids:/docker/${ID}\n` }, /no cgroup file system is mounted in this mount namespace/],
    ];
    for (const [map, why] of cases) {
      const c = new CgroupPids(files(map).read);
      const r = c.learn('', ID, 4000);
      expect(r.known).toBe(false);
      expect(r.known ? '' : r.why).toMatch(why);
      expect(c.knows('')).toBe(false);
    }
    expect(new CgroupPids(files(base).read).learn('', 'nothex', 4000)).toEqual({ known: false, why: 'container id "nothex" is not 64 hex digits' });
    expect(new CgroupPids(files(base).read).learn('', ID, 0)).toEqual({ known: false, why: 'PID 0 is not a process' });
  });

  it('takes the first hierarchy that works: v1 pids after an unusable unified line', () => {
    const f = files({
      '/proc/self/mountinfo': MOUNTINFO_V1,
      // the unified line names the id, but cgroup.procs there does not exist
      '/proc/4000/cgroup': `12:pids:/docker/${ID}\n0::/docker/${ID}\n`,
      [`/sys/fs/cgroup/pids/docker/${ID}/cgroup.procs`]: '4000\n',
      [`/sys/fs/cgroup/pids/docker/${ID2}/cgroup.procs`]: '4100\n',
    });
    const c = new CgroupPids(f.read);
    expect(c.learn('', ID, 4000)).toMatchObject({ known: true });
    expect(f.reads).toContain(`/sys/fs/cgroup/unified/docker/${ID}/cgroup.procs`); // tried first
    expect(c.pidOf('', ID2)).toBe(4100);
  });
});
