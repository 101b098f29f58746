/**
 * Stand-ins shared by the tests that run the agent in-process (runAgent) without a BGP
 * session: a speaker that keeps the advertised set in memory and records each call, and
 * a logger whose output the test can read back.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { SpeakerConfigForAgent, SpeakerLike, SpeakerPeerStatus, SpeakerRouteView } from '../../../src/agent.js';
import { createLogger, type Logger } from '../../../src/log.js';

export class FakeSpeaker extends EventEmitter implements SpeakerLike {
  /** The prefixes advertised now. */
  readonly set = new Set<string>();
  /** Every change, in order: `set N`, `advertise P…`, `withdraw P…`. */
  readonly calls: string[] = [];
  peers: SpeakerPeerStatus[] = [];
  /**
   * @param advertisedTo the peer that `routes({ view: 'advertised' })` says was sent
   *   everything; none by default (then the view is empty).
   */
  constructor(
    readonly cfg: SpeakerConfigForAgent,
    private readonly advertisedTo?: string,
  ) {
    super();
  }
  async start() {}
  async stop() {}
  setAdvertisements(routes: readonly { prefix: string }[]) {
    this.calls.push(`set ${routes.length}`);
    this.set.clear();
    for (const r of routes) this.set.add(r.prefix);
  }
  advertise(routes: readonly { prefix: string }[]) {
    this.calls.push(`advertise ${routes.map((r) => r.prefix).join(' ')}`);
    for (const r of routes) this.set.add(r.prefix);
  }
  withdraw(prefixes: readonly string[]) {
    this.calls.push(`withdraw ${prefixes.join(' ')}`);
    for (const p of prefixes) this.set.delete(p);
  }
  async setPeers() {}
  setImportFilter() {}
  advertisedCount() {
    return this.set.size;
  }
  peerStatus(): SpeakerPeerStatus[] {
    return this.peers;
  }
  routes(q: { view?: 'received' | 'advertised' }): SpeakerRouteView[] {
    const peer = this.advertisedTo;
    if (q.view !== 'advertised' || peer === undefined) return [];
    return [...this.set].map((prefix) => ({ prefix, family: prefix.includes(':') ? ('ipv6-unicast' as const) : ('ipv4-unicast' as const), view: 'advertised' as const, peer, nextHops: [], attributes: {}, accepted: true, reason: null }));
  }
}

/** A logger at level info whose lines the test reads back with `text()`; `clear()` empties it. */
export function captureLog(): { log: () => Logger; text: () => string; clear: () => void } {
  let text = '';
  return {
    log: () => createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, cb) { text += c.toString(); cb(); } }) }),
    text: () => text,
    clear: () => {
      text = '';
    },
  };
}
