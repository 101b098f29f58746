// PolicyApplier endpoint batching: container starts/stops that queue while an `ipset`
// process runs share the next `ipset -exist restore`. A recording executor keeps the
// endpoint set members the lines would leave in the kernel and takes a little time per
// process, as a real one does; the kernel behaviour itself is in test/lab/policy.test.ts.
import { describe, expect, it } from 'vitest';
import { PolicyApplier, PolicyApplyError } from '../../policy/applier.js';
import type { Endpoint } from '../../policy/compiler.js';
import type { ExecResult, Executor } from '../../policy/exec.js';

class SlowIpset implements Executor {
  calls: { argv: readonly string[]; stdin: string | undefined }[] = [];
  /** The ARP sender set's element changes (one `nft -f -` after each successful ipset write). */
  nftCalls: { argv: readonly string[]; stdin: string | undefined }[] = [];
  members = new Set<string>();
  running = 0;
  maxRunning = 0;
  constructor(
    private readonly ms = 5,
    /** A line containing this makes the process fail there, after the lines before it went in (as ipset restore does). */
    private readonly badMark?: string,
  ) {}
  async run(argv: readonly string[], stdin?: string): Promise<ExecResult> {
    if (argv[0] === 'nft') {
      this.nftCalls.push({ argv, stdin });
      return { code: 0, stdout: '', stderr: '' };
    }
    this.calls.push({ argv, stdin });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise((r) => setTimeout(r, this.ms));
      if (argv.join(' ') !== 'ipset -exist restore') return { code: 0, stdout: '', stderr: '' };
      const lines = (stdin ?? '').split('\n').filter(Boolean);
      for (const [i, l] of lines.entries()) {
        if (this.badMark !== undefined && l.includes(this.badMark)) {
          return { code: 1, stdout: '', stderr: `ipset v7.17: Error in line ${i + 1}: Syntax error: cannot parse interface` };
        }
        const [verb, set, member] = l.split(' ');
        if (verb === 'add') this.members.add(`${set} ${member}`);
        else if (verb === 'del') this.members.delete(`${set} ${member}`);
      }
      return { code: 0, stdout: '', stderr: '' };
    } finally {
      this.running--;
    }
  }
}

const ep = (i: number): Endpoint => ({
  hostVeth: `rtc${i.toString(16).padStart(11, '0')}`,
  ipv4: `198.51.100.${i}`,
  ipv6: `2001:db8:c:1::${i.toString(16)}`,
});

describe('PolicyApplier endpoint batching', () => {
  it('50 concurrent addEndpoint calls: far fewer than 50 ipset processes, every member present, one process at a time', async () => {
    const x = new SlowIpset();
    const ap = new PolicyApplier({ executor: x });
    const eps = Array.from({ length: 50 }, (_, i) => ep(i + 1));
    await Promise.all(eps.map((e) => ap.addEndpoint(e)));
    expect(x.calls.length).toBeGreaterThanOrEqual(1);
    expect(x.calls.length).toBeLessThanOrEqual(5);
    expect(x.calls.every((c) => c.argv.join(' ') === 'ipset -exist restore')).toBe(true);
    expect(x.maxRunning).toBe(1);
    const want = eps.flatMap((e) => [`rtc-ep-4 ${e.ipv4},${e.hostVeth}`, `rtc-ep-6 ${e.ipv6},${e.hostVeth}`]);
    expect([...x.members].sort()).toEqual(want.sort());
    // Each batch's IPv4 addresses also go into the ARP sender set, one nft run per batch.
    expect(x.nftCalls).toHaveLength(x.calls.length);
    const arp = x.nftCalls.flatMap((c) => (c.stdin ?? '').split('\n').filter(Boolean));
    expect(arp.sort()).toEqual(eps.map((e) => `add element arp routectl ep4 { "${e.hostVeth}" . ${e.ipv4} }`).sort());
  });

  it('calls made while a process runs go together into the next one, and resolve only after it', async () => {
    const x = new SlowIpset(20);
    const ap = new PolicyApplier({ executor: x });
    const done: number[] = [];
    const first = ap.addEndpoint(ep(1)).then(() => done.push(1));
    while (x.running === 0) await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 20 }, (_, i) => ap.addEndpoint(ep(i + 2)).then(() => done.push(i + 2)));
    const gone = ap.removeEndpoint(ep(1)).then(() => done.push(-1));
    await first;
    expect(done).toEqual([1]); // the others wait for their own batch
    expect(x.calls).toHaveLength(1);
    await Promise.all([...rest, gone]);
    expect(x.calls).toHaveLength(2);
    const second = x.calls[1]!.stdin!.split('\n').filter(Boolean);
    expect(second).toHaveLength(20 * 2 + 2);
    // Call order is kept inside the batch: ep(1)'s removal comes after the adds queued before it.
    expect(second.slice(-2)).toEqual([`del rtc-ep-4 198.51.100.1,${ep(1).hostVeth}`, `del rtc-ep-6 2001:db8:c:1::1,${ep(1).hostVeth}`]);
    expect(x.members.size).toBe(40);
    expect(x.members.has(`rtc-ep-4 198.51.100.1,${ep(1).hostVeth}`)).toBe(false);
  });

  it('one bad entry fails only its caller: the batch is retried change by change', async () => {
    const x = new SlowIpset(1, 'rtcBAD');
    const ap = new PolicyApplier({ executor: x });
    const bad: Endpoint = { hostVeth: 'rtcBAD', ipv4: '198.51.100.99' };
    const rs = await Promise.allSettled([ap.addEndpoint(ep(1)), ap.addEndpoint(bad), ap.addEndpoint(ep(2))]);
    expect(rs.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((rs[1] as PromiseRejectedResult).reason).toBeInstanceOf(PolicyApplyError);
    expect(x.calls).toHaveLength(1 + 3); // the batch, then each alone
    expect(x.members.size).toBe(4);
  });

  it('an address of the wrong family is rejected at its caller and sends nothing for it', async () => {
    const x = new SlowIpset(1);
    const ap = new PolicyApplier({ executor: x });
    const rs = await Promise.allSettled([ap.addEndpoint({ hostVeth: 'rtc00000000bad', ipv4: '2001:db8::1' }), ap.addEndpoint(ep(3))]);
    expect(rs.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(x.calls).toHaveLength(1);
    expect(x.calls[0]!.stdin).not.toContain('rtc00000000bad');
  });
});
