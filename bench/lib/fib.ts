/**
 * Counting a namespace's kernel routes cheaply while a daemon fills the FIB. A full
 * dump (`ip route show`, a netlink dump) of 100k routes costs ~0.1 s of CPU and would
 * slow the very daemons being measured, so polling reads the kernel's own counters
 * instead, through /proc/<pid>/net of a process inside the namespace (no fork):
 * `fib_triestat` ("Prefixes:" of the IPv4 main trie) and `rt6_stats` (fib_rt_entries,
 * the 4th hex field). Both count every route of the namespace, so callers subtract a
 * baseline taken before the session starts, and confirm the end state once with a
 * real dump (`dumpCount`).
 */
import { readFileSync } from 'node:fs';
import type { Netns } from '../../test/lab/harness/index.js';

export interface FibCount {
  readonly v4: number;
  readonly v6: number;
}

/** IPv4 and IPv6 route counts of the namespace `pid` lives in. */
export function fibCount(pid: number): FibCount {
  const trie = readFileSync(`/proc/${pid}/net/fib_triestat`, 'utf8');
  // Main and local tables share one trie unless policy rules exist; "Main:" comes first.
  const main = trie.slice(trie.indexOf('Main:'));
  const m = /Prefixes:\s+(\d+)/.exec(main);
  const v6f = readFileSync(`/proc/${pid}/net/rt6_stats`, 'utf8').trim().split(/\s+/);
  if (!m?.[1] || v6f.length < 4) throw new Error(`/proc/${pid}/net: unexpected fib_triestat/rt6_stats format`);
  return { v4: Number(m[1]), v6: parseInt(v6f[3] ?? '', 16) };
}

/** Exact count of routes with this protocol, by a real dump (for the end state only). */
export async function dumpCount(ns: Netns, family: 4 | 6, proto: string): Promise<number> {
  const out = await ns.ip([`-${family}`, 'route', 'show', 'proto', proto]);
  let n = 0;
  for (let i = out.indexOf('\n'); i !== -1; i = out.indexOf('\n', i + 1)) n++;
  return n;
}
