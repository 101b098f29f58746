/**
 * The worker side of bench/bfd, run inside the worker namespace
 * (`ip netns exec W node dist/bench/bfd/worker.js …`). Two modes:
 *
 * - `--mode bgp`: a Speaker with one peer (the ToR) and BFD with it; one JSON line per
 *   BFD and BGP state change, stamped with the wall clock (ms, fractional).
 * - `--mode sessions`: BFD only, `--count N` sessions from 198.18.0.i to 198.18.1.i
 *   (i = 1..N), for the CPU cost per session; a line when all are Up at the fast rate.
 *
 * The transmit jitter is measured from a capture on the ToR's side, not in here, so the
 * process runs exactly the code the agent runs. Stops on SIGTERM (AdminDown to the peers).
 */
import { performance } from 'node:perf_hooks';
import { BfdPeers, BfdRunner, type BfdSession } from '../../bgp/bfd/index.js';
import { Speaker } from '../../bgp/index.js';
import { flag, numberFlag, requiredFlag } from '../lib/args.js';

const now = (): number => performance.timeOrigin + performance.now();
const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ t: now(), ...o })}\n`);
};
const timers = { minTx: numberFlag('min-tx', 300), minRx: numberFlag('min-rx', 300), multiplier: numberFlag('multiplier', 3) };
let stop: () => Promise<void>;
if (flag('mode', 'bgp') === 'bgp') {
  const peer = requiredFlag('peer');
  const speaker = new Speaker(
    {
      asn: Number(requiredFlag('asn')),
      routerId: requiredFlag('router-id'),
      listen: null,
      holdTime: 9,
      connectRetryTime: 1,
      peers: [{ address: peer, asn: Number(requiredFlag('peer-asn')), bfd: timers }],
      importFilter: [],
    },
    { bfd: new BfdPeers() },
  );
  speaker.on('peerState', (_a: string, from: string, to: string, reason: string | null) => say({ event: 'bgp', from, to, reason }));
  speaker.on('bfdState', (_a: string, from: string, to: string, diag: number) => say({ event: 'bfd', from, to, diag }));
  await speaker.start();
  stop = () => speaker.stop('benchmark done');
} else {
  const n = numberFlag('count', 100);
  const runner = new BfdRunner();
  const sessions: BfdSession[] = [];
  for (let i = 1; i <= n; i++) {
    const s = await runner.add({ peer: `198.18.1.${i}`, localAddress: `198.18.0.${i}`, timers });
    sessions.push(s);
  }
  // Counted from state events, so that watching costs nothing per packet.
  let up = 0;
  let announced = false;
  for (const s of sessions) {
    s.on('state', (from: string, to: string) => {
      if (to === 'Up') up++;
      if (from === 'Up') {
        up--;
        if (announced) say({ event: 'not-all-up', up });
      }
    });
    if (s.current === 'Up') up++;
  }
  // Packets and scheduler wake-ups so far, for the rates from all-up to the stop.
  const counters = () => {
    let sent = 0;
    let received = 0;
    for (const s of sessions) {
      const p = s.info().packets;
      sent += p.out;
      received += p.in;
    }
    const rx = runner.rxCounts();
    return { t: now(), sent, received, wakeups: runner.scheduler.wakeups, ...rx };
  };
  let atUp = counters();
  // All Up, and past the Poll that moves them to the fast interval.
  const check = setInterval(() => {
    if (announced || up !== n || !sessions.every((s) => s.info().txIntervalUs === timers.minTx * 1000)) return;
    announced = true;
    clearInterval(check);
    atUp = counters();
    say({ event: 'all-up', sessions: n });
  }, 500);
  stop = async () => {
    clearInterval(check);
    const c = counters();
    const per = (x: number, x0: number): number => Math.round(((x - x0) / (c.t - atUp.t)) * 10_000) / 10;
    say({ event: 'rates', seconds: (c.t - atUp.t) / 1000, sentPerS: per(c.sent, atUp.sent), receivedPerS: per(c.received, atUp.received), wakeupsPerS: per(c.wakeups, atUp.wakeups), messagesPerS: per(c.messages, atUp.messages), batchesPerS: per(c.batches, atUp.batches), batchedPerS: per(c.batched, atUp.batched) });
    await runner.close();
  };
}
say({ event: 'started', pid: process.pid });
const end = (): void => {
  void stop().finally(() => process.exit(0));
};
process.once('SIGTERM', end);
process.once('SIGINT', end);
