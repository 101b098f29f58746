// The agent's CPU priority: its nice, and its autogroup's when it leads its own session
// in the root cpu cgroup (src/priority.ts). Against a fake /proc; the real one is read
// by the last test.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { cpuCgroupOf, sessionOf, setAutogroupNice, setCpuPriority, type PrioritySystem } from '../../src/priority.js';

const V1 = ['9:name=systemd:/', '4:memory:/x', '2:cpuacct:/', '1:cpu:/', '0::/'].join('\n');
const stat = (pid: number, sid: number, name = 'node') => `${pid} (${name}) S 1 ${pid} ${sid} 0 -1 4194560 1 0 0 0`;

function fakeSystem(files: Record<string, string>, pid = 4242) {
  const written: [string, string][] = [];
  let nice = 0;
  const sys: PrioritySystem = {
    pid,
    read(path) {
      const v = files[path];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return v;
    },
    write(path, data) {
      written.push([path, data]);
      if (path === '/proc/self/autogroup') files[path] = `/autogroup-77 nice ${data}\n`;
    },
    setNice(n) {
      if (n < 0 && files.denied) throw new Error('EACCES: permission denied');
      nice = n;
    },
    getNice: () => nice,
  };
  return { sys, written, nice: () => nice };
}

const leader = (extra: Record<string, string> = {}) => ({
  '/proc/sys/kernel/sched_autogroup_enabled': '1\n',
  '/proc/self/cgroup': V1,
  '/proc/self/stat': stat(4242, 4242),
  '/proc/self/autogroup': '/autogroup-77 nice 0\n',
  ...extra,
});

describe('reading /proc', () => {
  it('the session is the 6th field, also when the name holds spaces and parentheses', () => {
    expect(sessionOf(stat(10, 7))).toBe(7);
    expect(sessionOf(stat(10, 7, 'a) b (c'))).toBe(7);
    expect(() => sessionOf('garbage')).toThrow(/cannot read the session/);
  });

  it('the cpu cgroup: the v1 hierarchy with cpu (alone or with cpuacct), else the v2 path', () => {
    expect(cpuCgroupOf(V1)).toBe('/');
    expect(cpuCgroupOf('3:cpu,cpuacct:/system.slice/routectl.service\n0::/')).toBe('/system.slice/routectl.service');
    expect(cpuCgroupOf('2:cpuacct:/a\n1:cpuset:/b\n0::/kubepods/pod1/c1\n')).toBe('/kubepods/pod1/c1');
    expect(cpuCgroupOf('0::/\n')).toBe('/');
    expect(cpuCgroupOf('')).toBeUndefined();
  });
});

describe('setAutogroupNice', () => {
  it('session leader in the root cpu cgroup: writes the nice to /proc/self/autogroup', () => {
    const f = fakeSystem(leader());
    expect(setAutogroupNice(-10, f.sys)).toEqual({ set: true, group: '/autogroup-77 nice -10' });
    expect(f.written).toEqual([['/proc/self/autogroup', '-10']]);
  });

  it('leaves it, saying why: not the session leader, in a cgroup, autogroups off or absent', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [leader({ '/proc/self/stat': stat(4242, 100) }), /shares session 100 with the processes that started it/],
      [leader({ '/proc/self/stat': stat(4242, 0) }), /session leader is outside its PID namespace/],
      [leader({ '/proc/self/cgroup': '1:cpu:/system.slice/routectl.service\n' }), /cpu cgroup \/system\.slice\/routectl\.service, whose weight decides/],
      [leader({ '/proc/self/cgroup': '0::/kubepods/burstable/pod1/abc\n' }), /cpu cgroup \/kubepods/],
      [leader({ '/proc/sys/kernel/sched_autogroup_enabled': '0\n' }), /autogroups are off/],
    ];
    for (const [files, why] of cases) {
      const f = fakeSystem(files);
      const r = setAutogroupNice(-10, f.sys);
      expect(r.set).toBe(false);
      expect(r.set ? '' : r.why).toMatch(why);
      expect(f.written).toEqual([]);
    }
    const none = fakeSystem({ '/proc/self/cgroup': V1 });
    expect(setAutogroupNice(-10, none.sys)).toEqual({ set: false, why: 'the kernel has no autogroups' });
  });
});

describe('setCpuPriority', () => {
  const logged = () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
    return { log, lines };
  };

  it('sets the nice, then the autogroup, and logs both', () => {
    const f = fakeSystem(leader());
    const { log, lines } = logged();
    setCpuPriority(-10, log, f.sys);
    expect(f.nice()).toBe(-10);
    expect(lines.map((l) => l.event)).toEqual(['priority', 'autogroup']);
    expect(lines[1]).toMatchObject({ op: 'agent.start', group: '/autogroup-77 nice -10' });
  });

  it('no permission for the nice: logged, and the autogroup is not touched either', () => {
    const f = fakeSystem(leader({ denied: '1' }));
    const { log, lines } = logged();
    setCpuPriority(-10, log, f.sys);
    expect(lines.map((l) => l.event)).toEqual(['priority-failed']);
    expect(f.written).toEqual([]);
  });

  it('a failing autogroup write is logged; the nice stays set', () => {
    const f = fakeSystem(leader());
    f.sys.write = () => {
      throw new Error('EACCES: permission denied');
    };
    const { log, lines } = logged();
    setCpuPriority(-5, log, f.sys);
    expect(f.nice()).toBe(-5);
    expect(lines.map((l) => l.event)).toEqual(['priority', 'autogroup-failed']);
  });

  it("this machine's /proc reads without error (whatever it says)", () => {
    const cg = cpuCgroupOf(readFileSync('/proc/self/cgroup', 'utf8'));
    expect(typeof cg).toBe('string');
    // 0 when the session's leader is outside this PID namespace (as in some CI runners)
    expect(sessionOf(readFileSync('/proc/self/stat', 'utf8'))).toBeGreaterThanOrEqual(0);
  });
});
