/**
 * Runs in the worker's namespace during a routectl convergence run, at the observers'
 * priority: a bare subscriber to dockerd's event stream (`GET /events`, start events of
 * containers only), which prints, per event, when it read it. Set against the event's own
 * `timeNano`, that is how late dockerd delivers a start event to a client that does
 * nothing else: the part of "docker start event → agent `add`" that no agent can shorten.
 *
 * Output, one line each: `READY` once the stream is open, then
 * `START <id> <timeNano in ms> <read at: wall-clock ms with µs fraction>`. Stops on SIGTERM.
 */
import { request } from 'node:http';

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: events.js DOCKER_SOCKET\n');
  process.exit(2);
}
const nowMs = (): number => performance.timeOrigin + performance.now();
const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start'] }));

const req = request({ socketPath, path: `/events?filters=${filters}`, method: 'GET' }, (res) => {
  if (res.statusCode !== 200) {
    process.stderr.write(`GET /events: HTTP ${res.statusCode}\n`);
    process.exit(1);
  }
  process.stdout.write('READY\n');
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    const at = nowMs();
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      // timeNano exceeds 2^53: read it as text, so that nothing is rounded.
      const id = /"id":"([0-9a-f]{64})"/.exec(line)?.[1];
      const nano = /"timeNano":(\d+)/.exec(line)?.[1];
      if (id === undefined || nano === undefined) continue;
      const ms = Number(BigInt(nano) / 1000n) / 1000;
      process.stdout.write(`START ${id} ${ms.toFixed(3)} ${at.toFixed(3)}\n`);
    }
  });
  res.on('end', () => process.exit(0));
});
req.on('error', (e) => {
  process.stderr.write(`GET /events: ${e.message}\n`);
  process.exit(1);
});
req.end();
process.on('SIGTERM', () => process.exit(0));
