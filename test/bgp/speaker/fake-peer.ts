/**
 * Shared by the speaker tests on a fake clock over the in-memory network of the session
 * tests (test/bgp/session/harness.ts): the scripted peer's side of a connection, and the
 * speaker's dependencies on that clock and network.
 */
import { Session } from '../../../bgp/session/index.js';
import type { PeerConfig, SpeakerConfig, SpeakerDeps } from '../../../bgp/speaker/index.js';
import { MessageFramer, decodeMessage, encodeMessage } from '../../../bgp/wire/index.js';
import type { BgpMessage, OpenMessage } from '../../../bgp/wire/index.js';
import type { FakeClock, FakeNet, PipeEnd } from '../session/harness.js';
import { nextHops } from './tcp-helpers.js';

/**
 * The peer's side of a connection the speaker opened: every message the speaker sends goes
 * to `onMessage`, decoded; the peer sends `open` and a KEEPALIVE, and closes its side when
 * the speaker closes (as the peer's TCP stack would).
 */
export function answerAsPeer(s: PipeEnd, open: OpenMessage, onMessage: (m: BgpMessage) => void): void {
  const f = new MessageFramer(65535);
  s.on('data', (chunk: Buffer) => {
    for (const m of f.push(chunk)) onMessage(decodeMessage(m, { asn4: true, extendedMessage: true }));
  });
  s.on('error', () => undefined);
  s.on('end', () => s.end());
  s.write(encodeMessage(open));
  s.write(encodeMessage({ type: 'KEEPALIVE' }));
}

/**
 * The speaker A of these tests (AS 65001, router ID `routerId`): no listener (it connects
 * out), hold time 90 s, connect retry 5 s, one peer; `rest` overrides.
 */
export const speakerA = (routerId: string, peer: PeerConfig, rest: Partial<SpeakerConfig> = {}): SpeakerConfig => ({
  asn: 65001,
  routerId,
  listen: null,
  holdTime: 90,
  connectRetryTime: 5,
  peers: [peer],
  importFilter: [],
  ...rest,
});

/** The speaker's clock, timers and sessions on `clock`, connecting from `local` over `net`. */
export function fakeDeps(clock: FakeClock, net: FakeNet, local: string): Partial<SpeakerDeps> {
  return {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
    nextHops,
    createSession: (c) => new Session(c, { clock, connect: net.connector(local), random: () => 0.5 }),
  };
}
