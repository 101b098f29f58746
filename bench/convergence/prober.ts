/**
 * Runs inside the ToR's namespace during a convergence run: follows the ToR's kernel FIB
 * with `ip -ts -4 monitor route` (copied to stdout, so the run's log holds the raw
 * lines), and with `--probe PORT`, as soon as a /32 appears, opens TCP connections to
 * that address and port (every 5 ms, each attempt given 200 ms) until one completes:
 * the time of the first completed handshake is the container's "first reachable" time.
 *
 * A TCP handshake to the container's busybox httpd stands in for a ping: Node has no ICMP
 * socket, and starting a `ping` process per attempt would cost the CPU being measured.
 * Like an echo reply, the SYN-ACK comes from the container's kernel over the whole path.
 *
 * Output, one line each: the monitor's own lines, then
 * `REACH <addr> <wall-clock ms with µs fraction>` per address. Stops on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const portArg = args.indexOf('--probe');
const port = portArg >= 0 ? Number(args[portArg + 1]) : 0;
const nowMs = (): number => performance.timeOrigin + performance.now();

const probing = new Set<string>();

function probe(addr: string): void {
  if (probing.has(addr)) return;
  probing.add(addr);
  const attempt = (): void => {
    const sock = connect({ host: addr, port, timeout: 200 });
    let done = false;
    const retry = (): void => {
      if (done) return;
      done = true;
      sock.destroy();
      setTimeout(attempt, 5);
    };
    sock.once('connect', () => {
      const at = nowMs();
      done = true;
      sock.destroy();
      process.stdout.write(`REACH ${addr} ${at.toFixed(3)}\n`);
    });
    sock.once('timeout', retry);
    sock.once('error', retry);
  };
  attempt();
}

const mon = spawn('ip', ['-ts', '-4', 'monitor', 'route'], { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'inherit'] });
const LINE = /^\[[^\]]+\] (?:unicast )?(\d+\.\d+\.\d+\.\d+) /;
createInterface({ input: mon.stdout }).on('line', (line) => {
  process.stdout.write(`${line}\n`);
  const m = LINE.exec(line);
  if (m && port > 0) probe(m[1]!);
});
process.stdout.write('READY\n');
process.once('SIGTERM', () => {
  mon.kill('SIGTERM');
  process.exit(0);
});
