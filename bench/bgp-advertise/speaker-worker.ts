/**
 * The worker side of bench/bgp-advertise for routectl's own speaker: runs inside the
 * worker namespace (`ip netns exec W node dist/bench/bgp-advertise/speaker-worker.js`),
 * loads the advertisements before the session starts (as BIRD's static protocol and
 * the preloaded gobgpd have them), connects to the ToR and writes one JSON line per
 * event to stdout: established, and all prefixes handed to the socket. Stops with a
 * Cease on SIGTERM.
 *
 *   speaker-worker.js --asn A --router-id R --peer P --peer-asn B --v4 N --v6 M
 */
import { Speaker } from '../../bgp/index.js';
import { benchPrefixes } from '../lib/prefixes.js';
import { requiredFlag } from '../lib/args.js';


const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`);
};

const n4 = Number(requiredFlag('v4'));
const n6 = Number(requiredFlag('v6'));
const peer = requiredFlag('peer');
const speaker = new Speaker({
  asn: Number(requiredFlag('asn')),
  routerId: requiredFlag('router-id'),
  listen: null,
  holdTime: 90,
  connectRetryTime: 1,
  peers: [{ address: peer, asn: Number(requiredFlag('peer-asn')) }],
  importFilter: [],
});
const t0 = Date.now();
speaker.setAdvertisements(benchPrefixes(n4, n6).map((prefix) => ({ prefix })));
say({ event: 'loaded', ms: Date.now() - t0 });

let sentAll = false;
speaker.on('peerState', (_addr: string, _from: string, to: string, reason: string | null) => {
  say({ event: 'state', to, reason });
  if (to !== 'Established') return;
  // prefixesSent counts what the Adj-RIB-Out has handed to the session.
  const poll = setInterval(() => {
    const st = speaker.peerStatus()[0];
    if (!sentAll && st && st.prefixesSent >= n4 + n6) {
      sentAll = true;
      say({ event: 'sent', prefixes: st.prefixesSent, updates: st.messages.out.update });
      clearInterval(poll);
    }
  }, 5);
});

await speaker.start();
say({ event: 'started' });
const stop = (): void => {
  void speaker.stop('benchmark done').finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
