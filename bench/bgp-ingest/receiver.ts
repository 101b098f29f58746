/**
 * The receiving side of bench/bgp-ingest: routectl's speaker with an import filter
 * that accepts everything, run inside its namespace with
 * `node --expose-gc dist/bench/bgp-ingest/receiver.js`. It measures
 *   - time from the first UPDATE (as the session hands it over) until the speaker
 *     reports `expect` prefixes received and accepted (Adj-RIB-In; the Loc-RIB is filled
 *     in the same step), and from Established for comparison with other daemons;
 *   - RSS and V8 heap before the session starts and after the last prefix, each after
 *     two forced full GCs, and the CPU time spent;
 * and writes one JSON line to --out, then stops its session.
 *
 *   receiver.js --asn A --router-id R --peer P --peer-asn B --expect N --out FILE
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Session, Speaker, type UpdateMessage } from '../../bgp/index.js';
import { requiredFlag } from '../lib/args.js';


const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const fullGc = (): void => {
  gc();
  gc();
};

const expect = Number(requiredFlag('expect'));
const out = requiredFlag('out');
let establishedAt = 0;
let firstUpdate = 0;
let updates = 0;
let nlri = 0;
let checking = false;
let finished = false;

const onUpdate = (u: UpdateMessage): void => {
  updates++;
  if (firstUpdate === 0) firstUpdate = performance.now();
  nlri += u.nlri.length + (u.mpReach?.nlri.length ?? 0);
  // This listener runs before the speaker's: look at the Adj-RIB-In once the current
  // batch of messages has been handled.
  if (nlri >= expect && !checking) {
    checking = true;
    setImmediate(check);
  }
};

const speaker = new Speaker(
  {
    asn: Number(requiredFlag('asn')),
    routerId: requiredFlag('router-id'),
    listen: null,
    holdTime: 90,
    connectRetryTime: 1,
    peers: [{ address: requiredFlag('peer'), asn: Number(requiredFlag('peer-asn')) }],
    importFilter: ['0.0.0.0/0 le 32', '::/0 le 128'],
  },
  {
    createSession: (cfg) => {
      const s = new Session(cfg);
      s.on('update', onUpdate);
      s.on('established', () => {
        establishedAt = performance.now();
      });
      return s;
    },
  },
);

fullGc();
const before = process.memoryUsage();
const cpuBefore = process.cpuUsage();

function check(): void {
  const st = speaker.peerStatus()[0];
  if (!st || st.prefixesAccepted < expect) {
    setTimeout(check, 1);
    return;
  }
  if (finished) return;
  finished = true;
  const done = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  fullGc();
  const after = process.memoryUsage();
  const result = {
    prefixes: st.prefixesReceived,
    accepted: st.prefixesAccepted,
    updates,
    fromFirstUpdateMs: done - firstUpdate,
    fromEstablishedMs: done - establishedAt,
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    externalBefore: before.external + before.arrayBuffers,
    externalAfter: after.external + after.arrayBuffers,
  };
  writeFileSync(out, `${JSON.stringify(result)}\n`);
  void speaker.stop('benchmark done').finally(() => process.exit(0));
}

process.once('SIGTERM', () => {
  void speaker.stop('benchmark stopped').finally(() => process.exit(1));
});
await speaker.start();
