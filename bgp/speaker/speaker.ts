/**
 * The speaker: one BGP session per configured peer, one Adj-RIB-In and Adj-RIB-Out per
 * peer, a shared Loc-RIB, and the desired advertisements (docs/design.md: the speaker
 * advertises from its own RIB). Callers say what should be advertised
 * (`setAdvertisements`, or `advertise`/`withdraw` per endpoint) and every established
 * peer is brought to that state with packed UPDATEs, honouring the session's flow control.
 *
 * Isolation: each peer's session, tables and send pump are its own; a malformed message
 * or a max-prefix shutdown on one peer touches nothing else.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { BfdPeers, diagName, type BfdPeerWant } from '../bfd/index.js';
import { AdjRibIn, familyOfAfiSafi, maxPrefixData } from '../rib/adj-rib-in.js';
import { AdjRibOut, type ExportContext, type Packer, type PreviewedAnnouncement } from '../rib/adj-rib-out.js';
import { DesiredRoutes, type Advertisement, type RouteGroup } from '../rib/desired.js';
import { LocRib, type BestRoute } from '../rib/loc-rib.js';
import { nextHopsFor, unmapAddress, type InterfaceLookup, type NextHopQuery, type NextHopResult } from '../rib/next-hop.js';
import { canonicalPrefix, familyOf } from '../rib/prefix.js';
import { wirePacker } from '../rib/wire-packer.js';
import { Session } from '../session/index.js';
import { CeaseSubcode, encodeMessage, notificationName } from '../wire/index.js';
import { FAMILIES, type Family, type UpdateMessage } from '../wire/types.js';
import type { DownReason, SessionConfig, SessionInfo, SessionLike } from './session-port.js';
import type { ExplainView, NotificationRecord, PeerConfig, PeerStatus, RouteView, SpeakerConfig } from './types.js';

export interface SpeakerDeps {
  createSession(cfg: SessionConfig): SessionLike;
  /** Refuse a connection from an unknown address: Cease / Connection Rejected (RFC 4486 6/5), then close. */
  rejectConnection(sock: net.Socket): void;
  packer: Packer;
  interfaces: InterfaceLookup;
  /** Next hops for a family on an established session (default: nextHopsFor over `interfaces`). */
  nextHops(q: NextHopQuery, interfaces: InterfaceLookup): NextHopResult;
  /** Send batches before yielding to the event loop (keepalives keep flowing). */
  batchesPerTick: number;
  /** Max-prefix and similar shutdowns: Cease with this subcode and data (RFC 4486). */
  cease(session: SessionLike, subcode: number, data: Buffer, text: string): Promise<void>;
  now(): number;
  /** BFD sessions for the peers that ask for them (default: BfdPeers over UDP 3784). */
  bfd: BfdPeers;
}

interface Peer {
  cfg: PeerConfig;
  readonly session: SessionLike;
  readonly rin: AdjRibIn;
  readonly out: AdjRibOut;
  state: string;
  since: number;
  establishedAt: number | null;
  lastError: string | null;
  /** Why the peer ended the last Established session, when it said so with a NOTIFICATION. */
  endedBy: string | null;
  /** Set when the speaker itself ends the session (max-prefix): the words for lastError. */
  ceaseText: string | null;
  waitingDrain: boolean;
  pumpScheduled: boolean;
  readonly eorReceived: Set<Family>;
  readonly detach: () => void;
  /** BFD went Down after being Up: the session is stopped until BFD is Up again (RFC 9384). */
  bfdHeld: boolean;
}

const DEFAULT_FAMILIES: readonly Family[] = FAMILIES;

/**
 * Advertisements resolved and encoded ahead (Speaker.prepareAdvertise), for
 * Speaker.advertisePrepared.
 */
export interface PreparedAdvertisement {
  readonly entries: ReadonlyMap<string, RouteGroup>;
  /** By peer address, for each peer established at preparation: its UPDATEs, encoded. */
  readonly previews: ReadonlyMap<string, PreviewedAnnouncement>;
}

const sessionKey = (c: PeerConfig): string =>
  JSON.stringify([c.asn, c.port ?? 179, c.localAddress ?? null, !!c.passive, c.holdTime ?? null, [...(c.families ?? DEFAULT_FAMILIES)].sort()]);

export class Speaker extends EventEmitter {
  private readonly deps: SpeakerDeps;
  private readonly desired = new DesiredRoutes();
  private readonly loc = new LocRib();
  private readonly peers = new Map<string, Peer>();
  private server: net.Server | null = null;
  private importFilter: readonly string[];
  private started = false;
  private stopped = false;

  constructor(
    private cfg: SpeakerConfig,
    deps: Partial<SpeakerDeps> = {},
  ) {
    super();
    this.deps = {
      createSession: (c) => new Session(c),
      rejectConnection,
      packer: wirePacker,
      interfaces: os.networkInterfaces,
      nextHops: nextHopsFor,
      batchesPerTick: 4,
      cease: ceaseViaSession,
      now: Date.now,
      ...deps,
      bfd: deps.bfd ?? new BfdPeers(),
    };
    this.deps.bfd.on('down', (address: string, diag: number) => this.onBfdDown(address, diag));
    this.deps.bfd.on('up', (address: string) => this.onBfdUp(address));
    this.deps.bfd.on('state', (...args: unknown[]) => this.emit('bfdState', ...args));
    // A BFD session that cannot be set up (its sockets): 'bfdError'(address, err); status shows it too.
    this.deps.bfd.on('setupError', (address: string, err: unknown) => this.emit('bfdError', address, err));
    this.importFilter = cfg.importFilter;
    this.loc.onBestChanged = (prefix, _f, best: BestRoute | null) => {
      if (this.listenerCount('bestChanged') > 0) this.emit('bestChanged', prefix, best);
    };
    for (const p of cfg.peers) this.addPeer(p);
  }

  /** The address the listener is bound to (for tests with port 0 semantics see listenPort). */
  address(): net.AddressInfo | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : null;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const l = this.cfg.listen;
    if (l && l.port !== 0) {
      const server = net.createServer((sock) => this.onConnection(sock));
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: l.address, port: l.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    for (const p of this.peers.values()) p.session.start();
    await this.syncBfd();
  }

  private onConnection(sock: net.Socket): void {
    const remote = unmapAddress(sock.remoteAddress ?? '');
    const peer = this.findPeer(remote);
    if (peer && !this.stopped) peer.session.acceptIncoming(sock);
    else this.deps.rejectConnection(sock);
  }

  private findPeer(address: string): Peer | undefined {
    const direct = this.peers.get(address);
    if (direct) return direct;
    for (const [a, p] of this.peers) if (sameAddress(a, address)) return p;
    return undefined;
  }

  /** Cease / Administrative Shutdown with the RFC 9003 text to every peer, then close the listener. */
  async stop(reason = 'speaker stopped'): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.peers.values()].map((p) => p.session.stop(reason)));
    for (const p of this.peers.values()) p.detach();
    await this.deps.bfd.close();
    await closed;
  }

  // ---------------------------------------------------------------------------
  // Advertisements (declarative and incremental)
  // ---------------------------------------------------------------------------

  /** Replace everything we advertise; peers get only the difference. Throws RibError on bad input, changing nothing. */
  setAdvertisements(routes: readonly Advertisement[]): void {
    this.changed(this.desired.replace(routes));
  }

  /**
   * Add or change some advertisements; sent together with every other change of this tick.
   * `now`: their UPDATEs are written to each Established peer before this returns (a
   * container's prefixes, whose host routes the kernel has just applied: left to a
   * microtask, they waited 0.25 ms at p50 behind the rest of a busy tick). Whatever else
   * is pending for that peer goes with them; a peer waiting for its socket to drain gets
   * them when it has drained, as always.
   */
  advertise(routes: readonly Advertisement[], opts: { readonly now?: boolean } = {}): void {
    this.changed(this.desired.add(routes), opts.now === true);
  }

  /**
   * Resolves and encodes ahead what `advertise(routes, { now: true })` would send, changing
   * nothing (throws RibError on bad input, like advertise). Made while the caller works
   * towards announcing them (a container's prefixes, while its veth and host routes are
   * set up), it leaves only the writes for the moment of `advertisePrepared`.
   */
  prepareAdvertise(routes: readonly Advertisement[]): PreparedAdvertisement {
    const entries = this.desired.resolve(routes);
    const previews = new Map<string, PreviewedAnnouncement>();
    for (const [address, p] of this.peers) {
      const pv = p.out.preview(entries);
      if (pv) previews.set(address, pv);
    }
    return { entries, previews };
  }

  /**
   * `advertise(routes, { now: true })` for routes prepared earlier: each peer whose session
   * and Adj-RIB-Out still match its preview is written the encoded UPDATEs first, before
   * any bookkeeping; every other peer gets them the normal way.
   */
  advertisePrepared(prepared: PreparedAdvertisement): void {
    for (const [address, pv] of prepared.previews) {
      // A peer replaced since (reconfigured) has an Adj-RIB-Out of its own: the preview's
      // session is not its session, and commitPreview refuses it.
      const peer = this.peers.get(address);
      if (!peer || peer.waitingDrain) continue;
      if (peer.out.commitPreview(pv) && !peer.session.sendUpdates(pv.messages, pv.joined)) peer.waitingDrain = true;
    }
    this.changed(this.desired.addResolved(prepared.entries), true);
  }

  withdraw(prefixes: readonly string[]): void {
    this.changed(this.desired.remove(prefixes));
  }

  /** The advertisements currently desired. */
  advertisements(): string[] {
    return [...this.desired.prefixes()];
  }

  private changed(prefixes: readonly string[], now = false): void {
    if (prefixes.length === 0) return;
    for (const p of this.peers.values()) {
      p.out.changed(prefixes);
      if (now) this.pump(p);
      else this.schedulePump(p);
    }
  }

  // ---------------------------------------------------------------------------
  // Peers
  // ---------------------------------------------------------------------------

  private addPeer(cfg: PeerConfig): void {
    const address = unmapAddress(cfg.address);
    const families = cfg.families ?? DEFAULT_FAMILIES;
    const session = this.deps.createSession({
      localAsn: this.cfg.asn,
      routerId: this.cfg.routerId,
      peerAddress: address,
      peerAsn: cfg.asn,
      ...(cfg.port !== undefined ? { port: cfg.port } : {}),
      ...(cfg.localAddress !== undefined ? { localAddress: cfg.localAddress } : {}),
      holdTime: cfg.holdTime ?? this.cfg.holdTime,
      connectRetryTime: this.cfg.connectRetryTime,
      passive: !!cfg.passive,
      families,
      ...(this.cfg.gracefulRestartTime !== undefined ? { gracefulRestartTime: this.cfg.gracefulRestartTime } : {}),
      ...(this.cfg.hostname !== undefined ? { hostname: this.cfg.hostname } : {}),
    });
    const rin = new AdjRibIn(address, cfg.asn, this.cfg.asn, {
      filter: this.importFilter,
      ...(cfg.maxPrefixes !== undefined ? { maxPrefixes: cfg.maxPrefixes } : {}),
    });
    const out = new AdjRibOut(this.desired, this.deps.packer);
    this.loc.addPeer(rin);
    const onState = (...args: unknown[]): void => this.onState(peer, args);
    const onEstablished = (): void => this.onEstablished(peer);
    const onDown = (r: DownReason): void => this.onDown(peer, r);
    const onUpdate = (u: UpdateMessage): void => this.onUpdate(peer, u);
    const onRefresh = (r: { afi: number; safi: number; subtype: number }): void => this.onRouteRefresh(peer, r);
    const onDrain = (): void => {
      peer.waitingDrain = false;
      this.pump(peer);
    };
    const onError = (): void => undefined; // errors arrive as 'down' with a reason
    session.on('state', onState);
    session.on('established', onEstablished);
    session.on('down', onDown);
    session.on('update', onUpdate);
    session.on('routeRefresh', onRefresh);
    session.on('drain', onDrain);
    session.on('error', onError);
    const peer: Peer = {
      cfg,
      session,
      rin,
      out,
      state: session.state ?? 'Idle',
      since: this.deps.now(),
      establishedAt: null,
      endedBy: null,
      lastError: null,
      ceaseText: null,
      waitingDrain: false,
      pumpScheduled: false,
      eorReceived: new Set(),
      bfdHeld: false,
      detach: () => {
        session.off('state', onState);
        session.off('established', onEstablished);
        session.off('down', onDown);
        session.off('update', onUpdate);
        session.off('routeRefresh', onRefresh);
        session.off('drain', onDrain);
      },
    };
    this.peers.set(address, peer);
    if (this.started && !this.stopped) session.start();
  }

  private async removePeer(peer: Peer, reason: string): Promise<void> {
    this.peers.delete(peer.rin.address);
    peer.out.stop();
    await peer.session.stop(reason);
    peer.detach();
    this.loc.removePeer(peer.rin);
    peer.rin.clear();
  }

  /** Configuration reload: add, remove and change peers. Unchanged peers keep their sessions. */
  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const next = new Map(peers.map((p) => [unmapAddress(p.address), p]));
    const work: Promise<void>[] = [];
    for (const [address, peer] of [...this.peers]) {
      const want = next.get(address);
      if (!want) work.push(this.removePeer(peer, 'peer removed from configuration'));
      else if (sessionKey(want) !== sessionKey(peer.cfg)) {
        // A different session is needed: the old one says goodbye first, then the new one starts.
        this.replacing.add(address);
        work.push(
          this.removePeer(peer, 'peer configuration changed').then(() => {
            this.replacing.delete(address);
            if (!this.stopped) this.addPeer(want);
          }),
        );
      } else {
        peer.cfg = want;
        peer.rin.maxPrefixes = want.maxPrefixes;
      }
    }
    for (const [address, cfg] of next) if (!this.peers.has(address) && !this.replacing.has(address)) this.addPeer(cfg);
    this.cfg = { ...this.cfg, peers };
    await Promise.all(work);
    if (this.started && !this.stopped) await this.syncBfd();
  }
  private readonly replacing = new Set<string>();

  /** Replace the import filter; stored routes are re-evaluated at once (no refresh needed). */
  setImportFilter(entries: readonly string[]): void {
    this.importFilter = entries;
    for (const p of this.peers.values()) p.rin.setFilter(entries);
  }

  // ---------------------------------------------------------------------------
  // BFD (RFC 5880/5881) and RFC 9384: every BFD hook of the speaker is here.
  // ---------------------------------------------------------------------------

  private syncBfd(): Promise<void> {
    const wants: BfdPeerWant[] = [];
    for (const [address, p] of this.peers) {
      if (p.cfg.bfd) wants.push({ address, ...(p.cfg.localAddress ? { localAddress: p.cfg.localAddress } : {}), timers: p.cfg.bfd });
    }
    return this.deps.bfd.set(wants);
  }

  /**
   * BFD left Up: the path to the peer is gone, so the BGP session goes at once (RFC 9384:
   * Cease / BFD Down when a connection is open) with its routes, and stays stopped, so
   * that it cannot come back over a path BFD says is broken, until BFD is Up again.
   */
  private onBfdDown(address: string, diag: number): void {
    const p = this.peers.get(address);
    if (!p || p.bfdHeld || this.stopped) return;
    p.bfdHeld = true;
    const why = `BFD down: ${diagName(diag)}`;
    const st = p.session.state;
    if (st === 'OpenSent' || st === 'OpenConfirm' || st === 'Established') {
      p.ceaseText = `${why}; NOTIFICATION sent: Cease / BFD Down`;
      p.session.cease(CeaseSubcode.BFD_DOWN);
    } else p.ceaseText = why;
    void p.session.stop();
    p.ceaseText = null;
    p.lastError = `${p.lastError ?? why}; held down until BFD is Up`;
  }

  private onBfdUp(address: string): void {
    const p = this.peers.get(address);
    if (!p || !p.bfdHeld) return;
    p.bfdHeld = false;
    if (this.started && !this.stopped) p.session.start();
  }

  // ---------------------------------------------------------------------------
  // Session events
  // ---------------------------------------------------------------------------

  /** Session 'state' (from, to, reason): re-emitted as 'peerState'(address, from, to, reason). */
  private onState(peer: Peer, args: unknown[]): void {
    const from = peer.state;
    const to = typeof args[1] === 'string' ? args[1] : peer.session.state;
    if (from === to) return;
    peer.state = to;
    peer.since = this.deps.now();
    const reason = typeof args[2] === 'string' ? args[2] : peer.lastError;
    this.emit('peerState', peer.rin.address, from, to, reason);
  }

  private onEstablished(peer: Peer): void {
    const info = peer.session.info();
    const n = info.negotiated;
    if (!n) return;
    peer.establishedAt = this.deps.now();
    peer.lastError = null;
    peer.endedBy = null;
    peer.eorReceived.clear();
    peer.rin.routerId = n.peerRouterId;
    const local = info.localAddress ?? '';
    const remote = info.remoteAddress ?? peer.rin.address;
    const nextHops = {} as Record<Family, readonly string[] | string>;
    for (const f of FAMILIES) {
      const r = this.deps.nextHops(
        { family: f, localAddress: local, remoteAddress: remote, extendedNextHopV4: n.extendedNextHop.includes('ipv4-unicast') },
        this.deps.interfaces,
      );
      nextHops[f] = 'error' in r ? r.error : r.nextHops;
    }
    const ctx: ExportContext = {
      localAsn: this.cfg.asn,
      peerAsn: peer.cfg.asn,
      families: n.families,
      codec: {
        asn4: n.asn4,
        extendedMessage: n.extendedMessage,
        extendedNextHopV4: n.extendedNextHop.includes('ipv4-unicast'),
      },
      nextHops,
    };
    peer.out.start(ctx);
    this.schedulePump(peer);
  }

  private onDown(peer: Peer, r: DownReason): void {
    // A stop the speaker asked for (max-prefix) keeps the speaker's own words for it.
    const text = peer.ceaseText ?? r.text;
    // A peer that ended the session with a NOTIFICATION (an administrative shutdown with
    // its RFC 9003 text, or a refusal of our OPEN such as Bad Peer AS) keeps that reason
    // in front until it is Established again: the refused or closed reconnects that
    // follow would otherwise hide why it is down.
    if (r.kind === 'notification-received') peer.endedBy = text;
    else if (peer.establishedAt !== null) peer.endedBy = null;
    peer.lastError = peer.endedBy !== null && peer.endedBy !== text ? `${peer.endedBy}; since then: ${text}` : text;
    peer.ceaseText = null;
    peer.establishedAt = null;
    peer.waitingDrain = false;
    peer.out.stop();
    peer.rin.clear(); // RFC 4271 8.2.2: routes from a peer go when its session does
  }

  private onUpdate(peer: Peer, u: UpdateMessage): void {
    const over = peer.rin.apply(u);
    const eor = endOfRibFamily(u);
    if (eor) peer.eorReceived.add(eor);
    if (over) {
      const text = `maximum number of prefixes reached: ${over.received} > ${over.limit}`;
      peer.lastError = text;
      peer.ceaseText = `${text}; NOTIFICATION sent: Cease / Maximum Number of Prefixes Reached`;
      void this.deps.cease(peer.session, 1, maxPrefixData(over), text);
    }
  }

  private onRouteRefresh(peer: Peer, r: { afi: number; safi: number; subtype: number }): void {
    const f = familyOfAfiSafi(r.afi, r.safi);
    if (!f) return;
    if (r.subtype === 0) {
      // RFC 2918 4 / RFC 7313 4: resend the whole Adj-RIB-Out of that family.
      peer.out.routeRefresh(f, !!peer.session.info().negotiated?.enhancedRouteRefresh);
      this.schedulePump(peer);
    } else if (r.subtype === 1) peer.rin.markStale(f);
    else if (r.subtype === 2) peer.rin.purgeStale(f);
  }

  // ---------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------

  /**
   * Coalesce: everything changed by the code running now goes out in the same batches.
   * The first pump after a change runs as a microtask, right after that code, not after
   * whatever other I/O the event loop has ready (a new container's route is not kept
   * waiting behind other containers' netlink answers); when one pump cannot send all
   * that is pending, the next one yields to I/O first (setImmediate), so that a large
   * table never holds the event loop. `advertise(…, { now: true })` pumps at once instead
   * of from the microtask.
   */
  private schedulePump(peer: Peer, yieldFirst = false): void {
    if (peer.pumpScheduled) return;
    peer.pumpScheduled = true;
    const run = (): void => {
      peer.pumpScheduled = false;
      this.pump(peer);
    };
    if (yieldFirst) setImmediate(run);
    else queueMicrotask(run);
  }

  private pump(peer: Peer): void {
    if (peer.waitingDrain || !peer.out.active || this.peers.get(peer.rin.address) !== peer) return;
    for (let i = 0; i < this.deps.batchesPerTick; i++) {
      const msgs = peer.out.next();
      if (!msgs) return;
      if (!peer.session.sendUpdates(msgs)) {
        peer.waitingDrain = true;
        return;
      }
    }
    if (peer.out.pending) this.schedulePump(peer, true);
  }

  // ---------------------------------------------------------------------------
  // Queries
  // ---------------------------------------------------------------------------

  peerStatus(): PeerStatus[] {
    return [...this.peers.values()].map((p) => this.statusOf(p));
  }

  private statusOf(p: Peer): PeerStatus {
    return { ...statusOf(p, this.deps.now()), bfd: p.cfg.bfd ? this.deps.bfd.status(p.rin.address) : null };
  }

  routes(q: { peer?: string; view?: 'received' | 'advertised' | 'best' } = {}): RouteView[] {
    const view = q.view ?? 'received';
    const out: RouteView[] = [];
    if (view === 'best') {
      for (const b of this.loc.routes()) {
        if (q.peer && !sameAddress(q.peer, b.peer)) continue;
        out.push({ prefix: b.prefix, family: b.family, view, peer: b.peer, nextHops: b.path.nextHops, attributes: b.path.attributes, accepted: true, reason: null });
      }
      return out;
    }
    for (const [address, p] of this.peers) {
      if (q.peer && !sameAddress(q.peer, address)) continue;
      if (view === 'received') {
        for (const r of p.rin.routes()) {
          out.push({ prefix: r.prefix, family: r.family, view, peer: address, nextHops: r.path.nextHops, attributes: r.path.attributes, accepted: r.accepted, reason: r.reason });
        }
      } else {
        for (const r of p.out.advertised()) {
          out.push({ prefix: r.prefix, family: r.family, view, peer: address, nextHops: r.nextHops, attributes: r.attributes, accepted: true, reason: null });
        }
      }
    }
    return out;
  }

  /** Best path for `prefix` with every candidate and the step that decided against it. */
  explain(prefix: string): ExplainView {
    const e = this.loc.explain(canonicalPrefix(prefix));
    return {
      prefix: e.prefix,
      best: e.best?.peer ?? null,
      candidates: e.candidates.map((c) => ({
        peer: c.peer,
        status: c.status,
        step: c.step,
        why: c.why,
        nextHops: c.path.nextHops,
        attributes: c.path.attributes,
      })),
    };
  }

  /** Ask a peer to resend its routes (RFC 2918), for one family or all negotiated ones. */
  routeRefresh(peer: string, family?: Family): boolean {
    const p = this.findPeer(unmapAddress(peer));
    const n = p?.session.info().negotiated;
    if (!p || !n || !n.routeRefresh) return false;
    for (const f of family ? [family] : n.families) if (n.families.includes(f)) p.session.sendRouteRefresh(f);
    return true;
  }

  /** Number of prefixes currently desired, per family. */
  advertisedCount(f?: Family): number {
    let n = 0;
    for (const p of this.desired.prefixes()) if (!f || familyOf(p) === f) n++;
    return n;
  }
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return canonicalPrefix(`${unmapAddress(a)}/${a.includes(':') ? 128 : 32}`) === canonicalPrefix(`${unmapAddress(b)}/${b.includes(':') ? 128 : 32}`);
  } catch {
    return false;
  }
}

/** RFC 4724 2: an UPDATE with nothing in it (IPv4) or an empty MP_UNREACH is End-of-RIB. */
function endOfRibFamily(u: UpdateMessage): Family | null {
  if (u.nlri.length === 0 && u.withdrawn.length === 0 && !u.mpReach) {
    if (u.mpUnreach && u.mpUnreach.withdrawn.length === 0) return familyOfAfiSafi(u.mpUnreach.afi, u.mpUnreach.safi);
    if (!u.mpUnreach && Object.keys(u.attributes).length === 0) return 'ipv4-unicast';
  }
  return null;
}

function notif(n: SessionInfo['lastNotificationSent']): NotificationRecord | null {
  if (!n) return null;
  return { code: n.code, subcode: n.subcode, name: n.name || notificationName(n.code, n.subcode), text: n.text ?? '', at: n.at.toISOString() };
}

function capabilityNames(n: NonNullable<SessionInfo['negotiated']>): string[] {
  const caps = ['multiprotocol'];
  if (n.routeRefresh) caps.push('route-refresh');
  if (n.enhancedRouteRefresh) caps.push('enhanced-route-refresh');
  if (n.asn4) caps.push('four-octet-as');
  if (n.extendedMessage) caps.push('extended-message');
  if (n.extendedNextHop.length > 0) caps.push('extended-nexthop');
  if (n.gracefulRestart) caps.push('graceful-restart');
  return caps;
}

function statusOf(p: Peer, now: number): Omit<PeerStatus, 'bfd'> {
  const info = p.session.info();
  const n = info.negotiated;
  const established = info.state === 'Established';
  let received = 0;
  let accepted = 0;
  let sent = 0;
  const byFamily = {} as Record<Family, { sent: number; received: number; accepted: number }>;
  for (const f of FAMILIES) {
    const c = p.rin.counts(f);
    const s = p.out.count(f);
    byFamily[f] = { sent: s, received: c.received, accepted: c.accepted };
    received += c.received;
    accepted += c.accepted;
    sent += s;
  }
  return {
    address: p.rin.address,
    asn: p.cfg.asn,
    description: p.cfg.description ?? null,
    type: p.cfg.asn === p.rin.localAsn ? 'iBGP' : 'eBGP',
    state: info.state,
    since: info.since.toISOString(),
    families: established && n ? [...n.families] : [...(p.cfg.families ?? DEFAULT_FAMILIES)],
    configuredFamilies: [...(p.cfg.families ?? DEFAULT_FAMILIES)],
    prefixesSent: sent,
    prefixesReceived: received,
    prefixesAccepted: accepted,
    prefixesByFamily: byFamily,
    // An Established peer has no current error (the history is in lastNotification*).
    lastError: info.state === 'Established' ? null : (p.lastError ?? info.lastError),
    uptime: established && p.establishedAt !== null ? Math.floor((now - p.establishedAt) / 1000) : 0,
    holdTime: info.holdTime,
    keepalive: info.keepalive,
    capabilities: established && n ? capabilityNames(n) : [],
    localAddress: info.localAddress,
    remoteAddress: info.remoteAddress,
    messages: { in: { ...info.counters.in }, out: { ...info.counters.out } },
    flaps: info.flaps,
    lastNotificationSent: notif(info.lastNotificationSent),
    lastNotificationReceived: notif(info.lastNotificationReceived),
    problems: [...p.out.problems].map(([f, why]) => `${f}: ${why}`),
  };
}

/** RFC 4486: refuse an unknown peer with Cease / Connection Rejected (6/5), then close. */
export function rejectConnection(sock: net.Socket): void {
  sock.on('error', () => undefined);
  sock.end(encodeMessage({ type: 'NOTIFICATION', code: 6, subcode: 5, data: Buffer.alloc(0) }));
  setTimeout(() => sock.destroy(), 2000).unref();
}

/**
 * RFC 4486 Cease with a given subcode and data (max-prefix: 6/1). The session sends it as
 * an AutomaticStop (RFC 4271 8.1.2), so its own record names 6/1 as the last NOTIFICATION
 * sent, and it comes back after the idle-hold backoff rather than staying down.
 */
export async function ceaseViaSession(s: SessionLike, subcode: number, data: Buffer, _text: string): Promise<void> {
  s.cease(subcode, data);
}
