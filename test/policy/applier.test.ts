// PolicyApplier against a recording executor: which commands run, with what stdin, and
// that it touches only its own objects. The real kernel behaviour is in test/lab/policy.test.ts.
import { describe, expect, it } from 'vitest';
import { PolicyApplier } from '../../policy/applier.js';
import { compile, type Compiled } from '../../policy/compiler.js';
import { PolicyExecError, type ExecResult, type Executor } from '../../policy/exec.js';
import { loadCase } from './fixtures.js';

const c = loadCase('issue-example');

const EMPTY = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s 192.0.2.0/24 -j ACCEPT\nCOMMIT\n';

/** What iptables-save/ipset save would print after `out` was applied (chains sorted by name, as iptables-nft does). */
function savedAfter(out: Compiled, family: 4 | 6): string {
  const r = family === 4 ? out.v4 : out.v6;
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  const chains = [...r.chains].sort();
  for (const ch of chains) lines.push(`:${ch} - [0:0]`);
  lines.push('[0:0] -A INPUT -m comment --comment "routectl:jump" -j ROUTECTL-INPUT');
  lines.push('[0:0] -A FORWARD -m comment --comment "routectl:jump" -j ROUTECTL-FWD', '[5:300] -A FORWARD -s 192.0.2.0/24 -j ACCEPT');
  for (const ch of chains) for (const rule of r.rules.filter((x) => x.split(' ')[1] === ch)) lines.push(`[7:420] ${rule}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

function ipsetSaved(out: Compiled): string {
  const lines = ['create f2b-sshd hash:ip family inet hashsize 1024 maxelem 65536', 'add f2b-sshd 192.0.2.77'];
  for (const s of out.sets) {
    lines.push(`create ${s.name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'} hashsize 1024 maxelem ${s.maxelem} bucketsize 12 initval 0x1`);
    for (const m of s.members) lines.push(`add ${s.name} ${m}`);
  }
  return lines.join('\n') + '\n';
}

/** What `nft list table arp routectl` prints after `out` was applied: the script's table, elements included. */
function arpListed(out: Compiled): string {
  return out.arp.script.split('\n').slice(2).join('\n');
}

class Recorder implements Executor {
  calls: { argv: readonly string[]; stdin: string | undefined }[] = [];
  state: { v4: string; v6: string; ipset: string; arp?: string } = { v4: EMPTY, v6: EMPTY, ipset: 'create f2b-sshd hash:ip family inet hashsize 1024 maxelem 65536\n' };
  async run(argv: readonly string[], stdin?: string): Promise<ExecResult> {
    this.calls.push({ argv, stdin });
    const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
    if (argv[0] === 'iptables-save') return ok(this.state.v4);
    if (argv[0] === 'ip6tables-save') return ok(this.state.v6);
    if (argv[0] === 'ipset' && argv[1] === 'save') return ok(this.state.ipset);
    if (argv[0] === 'nft' && argv[1] === 'list') {
      return this.state.arp === undefined ? { code: 1, stdout: '', stderr: 'Error: No such file or directory\n' } : ok(this.state.arp);
    }
    return ok();
  }
  writes(): { argv: readonly string[]; stdin: string | undefined }[] {
    return this.calls.filter((x) => !['iptables-save', 'ip6tables-save'].includes(x.argv[0]!) && !(x.argv[0] === 'ipset' && x.argv[1] === 'save') && !(x.argv[0] === 'nft' && x.argv[1] === 'list'));
  }
}

describe('PolicyApplier', () => {
  it('applies generation a to an empty kernel: ipset restore, then one --noflush restore per family, jump inserted once', async () => {
    const rec = new Recorder();
    const ap = new PolicyApplier({ executor: rec, host: c.host });
    ap.setDesired(c.model, c.endpoints);
    const res = await ap.apply();
    expect(res.changed).toBe(true);
    expect(res.generation).toBe('a');
    const w = rec.writes();
    expect(w.map((x) => x.argv.join(' '))).toEqual([
      'ipset restore',
      'iptables-restore -w 5 --noflush',
      'ip6tables-restore -w 5 --noflush',
      'nft -f -',
    ]);
    const want = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    expect(w[0]!.stdin).toBe(want.ipsetRestore);
    expect(w[1]!.stdin).toBe(want.iptablesRestore);
    expect(w[2]!.stdin).toBe(want.ip6tablesRestore);
    expect(w[3]!.stdin).toBe(want.arp.script);
    expect(res.drift).toContain('arp: table arp routectl missing');
    // Other software's rule and set are not in anything we wrote.
    for (const x of w) {
      expect(x.stdin).not.toContain('192.0.2.0/24');
      expect(x.stdin).not.toContain('f2b-sshd');
    }
  });

  it('does nothing when the kernel matches; endpoint changes are ipset add/del only', async () => {
    const rec = new Recorder();
    const want = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    rec.state = { v4: savedAfter(want, 4), v6: savedAfter(want, 6), ipset: ipsetSaved(want), arp: arpListed(want) };
    const ap = new PolicyApplier({ executor: rec, host: c.host });
    ap.setDesired(c.model, c.endpoints);
    expect(await ap.diff()).toEqual([]);
    const same = await ap.apply();
    expect(same).toMatchObject({ changed: false, drift: [], generation: 'a' });
    expect(rec.writes()).toEqual([]);

    const extra = { hostVeth: 'rtc0000000000f', ipv4: '198.51.100.140', ipv6: '2001:db8:c:3::f' };
    ap.setDesired(c.model, [c.endpoints[1]!, extra]);
    const res = await ap.apply();
    expect(res).toMatchObject({ changed: true, drift: [], endpointsAdded: 2, endpointsRemoved: 3 });
    const w = rec.writes();
    expect(w).toHaveLength(2);
    expect(w[0]!.argv).toEqual(['ipset', '-exist', 'restore']);
    expect(w[0]!.stdin!.split('\n').filter(Boolean).sort()).toEqual([
      'add rtc-ep-4 198.51.100.140,rtc0000000000f',
      'add rtc-ep-6 2001:db8:c:3::f,rtc0000000000f',
      'del rtc-ep-4 198.51.100.5,rtc0123456789a',
      'del rtc-ep-6 2001:db8:c:1::5,rtc0123456789a',
      'del rtc-ep-6 fe80::1:2ff:fe03:405,rtc0123456789a',
    ]);
    // The ARP sender set follows in one nft transaction; a delete is an add then a delete (succeeds when gone).
    expect(w[1]!.argv).toEqual(['nft', '-f', '-']);
    expect(w[1]!.stdin).toBe([
      'add element arp routectl ep4 { "rtc0000000000f" . 198.51.100.140 }',
      'add element arp routectl ep4 { "rtc0123456789a" . 198.51.100.5 }',
      'delete element arp routectl ep4 { "rtc0123456789a" . 198.51.100.5 }',
      '',
    ].join('\n'));

    rec.calls = [];
    await ap.addEndpoint({ hostVeth: 'rtc11111111111', ipv4: '198.51.100.71' });
    expect(rec.calls.map((x) => [x.argv.join(' '), x.stdin])).toEqual([
      ['ipset -exist restore', 'add rtc-ep-4 198.51.100.71,rtc11111111111\n'],
      ['nft -f -', 'add element arp routectl ep4 { "rtc11111111111" . 198.51.100.71 }\n'],
    ]);
    rec.calls = [];
    await ap.addEndpoint({ hostVeth: 'rtc22222222222', ipv6: '2001:db8:c:2::47', linkLocal: 'fe80::2' });
    expect(rec.calls.map((x) => [x.argv.join(' '), x.stdin])).toEqual([
      ['ipset -exist restore', 'add rtc-ep-6 2001:db8:c:2::47,rtc22222222222\nadd rtc-ep-6 fe80::2,rtc22222222222\n'],
    ]);
    await expect(ap.addEndpoint({ hostVeth: 'rtc33333333333', ipv6: '2001:db8:c:2::48', linkLocal: '2001:db8::1' })).rejects.toThrow(/not in fe80::\/10/);
  });

  it('repairs a flushed chain by switching to the other generation and destroying the old sets', async () => {
    const rec = new Recorder();
    const live = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    const v4 = savedAfter(live, 4).split('\n').filter((l) => !l.includes('-A ROUTECTL-FROM-dmz ')).join('\n');
    rec.state = { v4, v6: savedAfter(live, 6), ipset: ipsetSaved(live), arp: arpListed(live) };
    const ap = new PolicyApplier({ executor: rec, host: c.host });
    ap.setDesired(c.model, c.endpoints);
    const n = live.v4.rules.filter((r) => r.startsWith('-A ROUTECTL-FROM-dmz ')).length;
    expect(n).toBeGreaterThan(3);
    const expected = [`v4: chain ROUTECTL-FROM-dmz differs (0 rules, want ${n})`];
    expect(await ap.diff()).toEqual(expected);
    const res = await ap.apply();
    expect(res.generation).toBe('b');
    expect(res.drift).toEqual(expected);
    const w = rec.writes();
    const next = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'b' });
    expect(w[0]!.stdin).toBe(next.ipsetRestore);
    // The jump exists once already: no -I and no -D in the restore.
    expect(w[1]!.stdin).not.toMatch(/^-[ID] FORWARD/m);
    const destroyed = w.filter((x) => x.argv[1] === 'destroy').map((x) => x.argv[2]);
    expect(destroyed).toEqual(live.sets.filter((s) => s.name.startsWith('rtc-a-')).map((s) => s.name));
    expect(destroyed).not.toContain('f2b-sshd');
  });

  it('removes duplicate jumps and stale chains in the same transaction', async () => {
    const rec = new Recorder();
    const live = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    rec.state = {
      v4: savedAfter(live, 4).replace('COMMIT', ':ROUTECTL-FROM-old - [0:0]\n[0:0] -A FORWARD -m comment --comment "routectl:jump" -j ROUTECTL-FWD\nCOMMIT'),
      v6: savedAfter(live, 6),
      ipset: ipsetSaved(live),
    };
    const ap = new PolicyApplier({ executor: rec, host: c.host });
    ap.setDesired(c.model, c.endpoints);
    await ap.apply();
    const v4 = rec.writes().find((x) => x.argv[0] === 'iptables-restore')!.stdin!;
    expect(v4).toContain(':ROUTECTL-FROM-old - [0:0]\n');
    expect(v4).toContain('-X ROUTECTL-FROM-old\n');
    expect(v4.match(/^-D FORWARD -m comment --comment "routectl:jump" -j ROUTECTL-FWD$/gm)).toHaveLength(1);
    expect(v4).not.toMatch(/^-I /m);
  });

  it('reads counters of our rules only', async () => {
    const rec = new Recorder();
    const live = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    rec.state = { v4: savedAfter(live, 4), v6: savedAfter(live, 6), ipset: ipsetSaved(live) };
    const ap = new PolicyApplier({ executor: rec });
    const counters = await ap.counters();
    expect(counters).toHaveLength(live.v4.rules.length + live.v6.rules.length);
    expect(counters.find((x) => x.family === 4 && x.rule === 'deny dmz->backend')).toEqual({ family: 4, chain: 'ROUTECTL-FROM-dmz', rule: 'deny dmz->backend', packets: 7, bytes: 420 });
  });

  it('the ARP table: rewritten whole when its chain differs, removed by remove(); nft missing is a clear error', async () => {
    const rec = new Recorder();
    const live = compile({ model: c.model, endpoints: c.endpoints, host: c.host, generation: 'a' });
    // The drop rule deleted by hand: the table differs from the render.
    const damaged = arpListed(live).split('\n').filter((l) => !l.includes('routectl:arp-drop')).join('\n');
    rec.state = { v4: savedAfter(live, 4), v6: savedAfter(live, 6), ipset: ipsetSaved(live), arp: damaged };
    const ap = new PolicyApplier({ executor: rec, host: c.host });
    ap.setDesired(c.model, c.endpoints);
    expect(await ap.diff()).toEqual(['arp: table arp routectl differs']);
    const res = await ap.apply();
    expect(res).toMatchObject({ changed: true, drift: ['arp: table arp routectl differs'], generation: 'a' });
    // Only the ARP table is written, in one transaction that declares, deletes and recreates it.
    expect(rec.writes().map((x) => [x.argv.join(' '), x.stdin])).toEqual([['nft -f -', live.arp.script]]);
    expect(live.arp.script.startsWith('table arp routectl {}\ndelete table arp routectl\ntable arp routectl {\n')).toBe(true);

    rec.calls = [];
    rec.state = { ...rec.state, arp: arpListed(live) };
    await ap.remove();
    const nft = rec.writes().filter((x) => x.argv[0] === 'nft');
    expect(nft.map((x) => x.stdin)).toEqual(['table arp routectl {}\ndelete table arp routectl\n']);

    const missing: Executor = {
      run: (argv, stdin) => (argv[0] === 'nft' ? Promise.reject(new PolicyExecError(argv, -1, 'Error: spawn nft ENOENT')) : rec.run(argv, stdin)),
    };
    const ap2 = new PolicyApplier({ executor: missing, host: c.host });
    ap2.setDesired(c.model, c.endpoints);
    await expect(ap2.apply()).rejects.toThrow(/install nftables/);
  });
});
