/**
 * The timing half of bench/cni, run inside the worker namespace (`ip netns exec`) so a
 * plugin that creates the host side of a veth creates it there: executes a CNI plugin
 * once per container netns with the spec's environment and the network config on stdin,
 * sequentially or all at once, and prints each invocation's wall time (spawn → exit) as
 * JSON. A failed ADD fails the run with the plugin's own error JSON. With `floor`, each
 * sequential invocation is preceded by one run of that command (e.g. `node -e 0`), timed
 * too, so that the two can be compared pair by pair at the same moments of the machine.
 *
 *   node measure.js '<json: {argv, conf, cniPath, netns: [..], mode: "seq"|"par", command?}>'
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

interface Job {
  readonly argv: readonly string[];
  /** seq only: run this (with no input) right before each invocation, and report its times too. */
  readonly floor?: readonly string[];
  readonly conf: string;
  readonly cniPath: string;
  readonly netns: readonly string[];
  readonly mode: 'seq' | 'par';
  readonly command?: string;
}

function once(job: Job, netns: string, i: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const [cmd, ...args] = job.argv;
    const p = spawn(cmd!, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: job.command ?? 'ADD', CNI_CONTAINERID: `${netns.split("/").pop() ?? "c"}-${i}`, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: job.cniPath },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${job.command ?? 'ADD'} ${netns} exited ${code}: ${out}${err}`));
      else resolve(ms);
    });
    p.stdin.end(job.conf);
  });
}

/** The floor command once: spawn → exit. */
function floorOnce(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const times: number[] = [];
const floors: number[] = [];
const t0 = performance.now();
if (job.mode === 'seq') {
  for (let i = 0; i < job.netns.length; i++) {
    if (job.floor) floors.push(await floorOnce(job.floor));
    times.push(await once(job, job.netns[i]!, i));
  }
} else {
  times.push(...(await Promise.all(job.netns.map((ns, i) => once(job, ns, i)))));
}
const wallMs = performance.now() - t0 - floors.reduce((a, b) => a + b, 0);
process.stdout.write(JSON.stringify({ times, wallMs, ...(job.floor ? { floors } : {}) }));
