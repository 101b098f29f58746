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
import { AdjRibIn, maxPrefixData } from '../rib/adj-rib-in.js';
import { AdjRibOut, type ExportContext, type Packer, type PeerExport } from '../rib/adj-rib-out.js';
import { DesiredRoutes, parseCommunity, parseLargeCommunity, type Advertisement } from '../rib/desired.js';
import { checkFirstAs } from '../rib/first-as.js';
import { LocRib, type BestRoute } from '../rib/loc-rib.js';
import { toImportFilter, type ImportFilter } from '../rib/prefix-list.js';
import { nextHopsFor, type InterfaceLookup, type NextHopQuery, type NextHopResult } from '../rib/next-hop.js';
import { wirePacker } from '../rib/wire-packer.js';
import { NativeSocketError, nativeAvailable, secureConnect, SecureListener, hasSecurity, type ListenerPeer, type TcpSecurity } from '../net/index.js';
import { notificationGr, type Negotiated } from '../fsm/index.js';
import { Session, tcpConnect, type ConnectFn, type ConnectOptions, type SocketLike, type StopMode } from '../session/index.js';
import { attributeName, CeaseSubcode, encodeMessage, notificationName } from '../wire/index.js';
import { afiFamily, canonicalPrefix, isLinkLocalV6, prefixFamily, sameAddress, unmapAddress } from '../wire/prefix.js';
import { FAMILIES, type Family, type UpdateMessage } from '../wire/types.js';
import type { DownReason, RouteRefreshRequest, SessionConfig, SessionEvents, SessionInfo, SessionLike, SessionListener } from './session-port.js';
import { DEFAULT_MAX_PREFIX_RESTART, type ExplainView, type ForwardingEntry, type ForwardingPath, type PeerExportConfig, type UpdateErrorAction, type UpdateErrorEvent, type NotificationRecord, type NeighbourSource, type PeerConfig, type PeerStatus, type RejectedConnections, type RouteView, type SpeakerConfig } from './types.js';

export interface SpeakerDeps {
  /** `io.connect`: the peer's own way to connect (TCP-MD5, GTSM), when it has one. */
  createSession(cfg: SessionConfig, io?: { readonly connect?: ConnectFn }): SessionLike;
  /** Outgoing connections of a peer with TCP-MD5 or GTSM (bgp/net secureConnect). */
  secureConnect(o: ConnectOptions & TcpSecurity): SocketLike;
  /**
   * The listening socket with every peer's MD5 key and GTSM (bgp/net SecureListener), to
   * be handed to server.listen({ fd }); null: let Node make a plain one (no native calls
   * here, and no peer needs them).
   */
  openListener(address: string, port: number, peers: readonly ListenerPeer[]): SecureListener | null;
  /** A plain outgoing connection (what an unnumbered peer without its own `connect` uses). */
  plainConnect: ConnectFn;
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
  /** For the hold after a max-prefix shutdown (tests pass a fake clock's). */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** BFD sessions for the peers that ask for them (default: BfdPeers over UDP 3784). */
  bfd: BfdPeers;
}

/** A peer the speaker keeps down: its session stopped until `until`, when the timer starts it again. */
interface Hold {
  readonly reason: 'max-prefix';
  readonly until: number;
  readonly timer: unknown;
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
  hold: Hold | null;
  readonly eorReceived: Set<Family>;
  readonly detach: () => void;
  /** Our connection attempts in a row that got no TCP answer at all (see UNANSWERED_HINT). */
  unanswered: number;
  /** The socket option that could not be set for this peer (NativeSocketError text). */
  transportError: string | null;
  /** The peer's graceful restart as last negotiated (RFC 4724), for when its session ends. */
  gr: {
    readonly families: readonly Family[];
    readonly restartTime: number;
    readonly nBit: boolean;
    /** RFC 9494: the long-lived stale time (seconds) per family the peer asked for; 0: none. */
    readonly longLived: ReadonlyMap<Family, number>;
  } | null;
  /** Ends the wait for a restarting peer (its restart time, then the stale-path time). */
  staleTimer: unknown;
  /** RFC 9494: per family, when the long-lived stale routes go (ms, the speaker's clock). */
  readonly longLivedUntil: Map<Family, number>;
  /** BFD went Down after being Up: the session is stopped until BFD is Up again (RFC 9384). */
  bfdHeld: boolean;
  /** RFC 7606 findings counted per action (routectl_bgp_update_errors_total). */
  readonly updateErrors: Record<UpdateErrorAction, number>;
  /** Why the session is kept down: the interface it runs over is down (see linkDown()). */
  linkDown: string | null;
  /** Unnumbered peers: the neighbour's link-local address with its zone ("fe80::1%eth1"), and how it was found. */
  neighbour: string | null;
  neighbourSource: NeighbourSource | null;
}

/** The per-peer export policy as the Adj-RIB-Out takes it (text parsed, RibError on bad input). */
export function peerExport(e: PeerExportConfig | undefined): PeerExport {
  if (!e) return {};
  return {
    ...(e.communities?.length ? { communities: [...new Set(e.communities.map(parseCommunity))].sort((x, y) => x - y) } : {}),
    ...(e.largeCommunities?.length ? { largeCommunities: e.largeCommunities.map(parseLargeCommunity) } : {}),
    ...(e.prepend ? { prepend: e.prepend } : {}),
    ...(e.med !== undefined ? { med: e.med } : {}),
  };
}

const exportKey = (e: PeerExportConfig | undefined): string => JSON.stringify(peerExport(e));

/**
 * Seconds a restarted peer has to send End-of-RIB before its stale routes go anyway
 * (RFC 4724 4.2 leaves the value local; FRR's stalepath-time default).
 */
export const STALE_PATH_TIME = 360;

/**
 * A wrong TCP-MD5 password is silent: the kernel drops the unsigned or wrongly signed
 * segments (RFC 2385 2.0) and no RST comes back. After this many unanswered connects in a
 * row the status says so in words.
 */
export const UNANSWERED_HINT = 3;
export const MD5_HINT = 'no TCP answer: check the MD5 password on both sides';

const DEFAULT_FAMILIES: readonly Family[] = FAMILIES;

const sessionKey = (c: PeerConfig): string =>
  JSON.stringify([
    c.interface ?? null,
    c.asn,
    c.port ?? 179,
    c.localAddress ?? null,
    !!c.passive,
    c.holdTime ?? null,
    [...(c.families ?? DEFAULT_FAMILIES)].sort(),
    // A new password or GTSM setting renews this peer's session (and only this one's).
    c.password?.fingerprint() ?? null,
    c.ttlSecurity?.hops ?? null,
  ]);

const securityOf = (c: PeerConfig): TcpSecurity => ({
  ...(c.password ? { password: c.password } : {}),
  ...(c.ttlSecurity ? { ttlSecurityHops: c.ttlSecurity.hops } : {}),
});

const listenerPeer = (c: PeerConfig): ListenerPeer => ({ address: unmapAddress(c.address), ...securityOf(c) });

/** The peers whose keys the listener holds: unnumbered ones have no address to key (and no MD5, config refuses it). */
const listenerPeers = (peers: Iterable<PeerConfig>): ListenerPeer[] => [...peers].filter((c) => c.interface === undefined).map(listenerPeer);

/** The AS a peer is taken to have before its OPEN says: 0 (none) for 'external', ours for 'internal'. */
const initialAsn = (c: PeerConfig, localAsn: number): number => (typeof c.asn === 'number' ? c.asn : c.asn === 'internal' ? localAsn : 0);

/** What the status says while an unnumbered peer's neighbour is not known. */
export const noNeighbourText = (iface: string): string =>
  `no neighbour found on ${iface} yet: waiting for its router advertisements (neighbour table) or for it to connect`;

/** Native listener where the native calls work; a plain one elsewhere unless a peer needs them. */
function defaultOpenListener(address: string, port: number, peers: readonly ListenerPeer[]): SecureListener | null {
  if (!nativeAvailable() && !peers.some(hasSecurity)) return null;
  return SecureListener.open(address, port, peers);
}

export class Speaker extends EventEmitter {
  private readonly deps: SpeakerDeps;
  private readonly desired = new DesiredRoutes();
  private readonly loc = new LocRib();
  private readonly peers = new Map<string, Peer>();
  private server: net.Server | null = null;
  private listener: SecureListener | null = null;
  private readonly rejected = { ipv4: 0, ipv6: 0 };
  private importFilter: readonly string[];
  private importGuard: ImportFilter | undefined;
  private started = false;
  private stopped = false;
  /** RFC 4724 4.1: End-of-RIB waits for initialSyncDone() (see SpeakerConfig.endOfRibDeferral). */
  private endOfRibHeld: boolean;
  /** initialSyncDone() came: a restart (cfg.restarting) is complete. */
  private restartOver = false;
  /** RFC 8326 graceful shutdown is on (gracefulShutdown()). */
  private gshut = false;
  private syncTimer: unknown = null;

  constructor(
    private cfg: SpeakerConfig,
    deps: Partial<SpeakerDeps> = {},
  ) {
    super();
    this.deps = {
      createSession: (c, io) => new Session(c, io?.connect ? { connect: io.connect } : {}),
      secureConnect,
      openListener: defaultOpenListener,
      rejectConnection,
      plainConnect: tcpConnect,
      packer: wirePacker,
      interfaces: os.networkInterfaces,
      nextHops: nextHopsFor,
      batchesPerTick: 4,
      cease: ceaseViaSession,
      now: Date.now,
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      ...deps,
      bfd: deps.bfd ?? new BfdPeers(),
    };
    this.deps.bfd.on('down', (address: string, diag: number) => this.onBfdDown(address, diag));
    this.deps.bfd.on('up', (address: string) => this.onBfdUp(address));
    this.deps.bfd.on('state', (...args: unknown[]) => this.emit('bfdState', ...args));
    // A BFD session that cannot be set up (its sockets): 'bfdError'(address, err); status shows it too.
    this.deps.bfd.on('setupError', (address: string, err: unknown) => this.emit('bfdError', address, err));
    this.importFilter = cfg.importFilter;
    this.endOfRibHeld = cfg.endOfRibDeferral !== undefined;
    this.importGuard = cfg.importGuard;
    this.loc.onBestChanged = (prefix, _f, best: BestRoute | null) => {
      if (this.listenerCount('bestChanged') > 0) this.emit('bestChanged', prefix, best);
    };
    this.loc.onPrefixChanged = (prefix, f) => {
      if (this.listenerCount('forwardingChanged') > 0) this.emit('forwardingChanged', this.forwardingEntry(prefix, f));
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
      // Throws NativeSocketError (e.g. no TCP-MD5 in this kernel) before anything listens.
      const listener = this.deps.openListener(l.address, l.port, listenerPeers([...this.peers.values()].map((p) => p.cfg)));
      this.listener = listener;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listener ? { fd: listener.fd } : { host: l.address, port: l.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    if (this.endOfRibHeld && this.cfg.endOfRibDeferral !== undefined) {
      // A bounded wait: a caller that never says it is done must not keep the peers'
      // stale routes (and their route selection) waiting forever.
      this.syncTimer = this.deps.setTimeout(() => this.initialSyncDone(), this.cfg.endOfRibDeferral);
    }
    for (const p of this.peers.values()) p.session.start();
    await this.syncBfd();
  }

  /**
   * The initial advertisement set is complete (after a restart: everything the kernel
   * still forwards was re-advertised): End-of-RIB may follow the updates (RFC 4724 4.1),
   * now and on every later session. Idempotent.
   */
  initialSyncDone(): void {
    if (this.syncTimer !== null) this.deps.clearTimeout(this.syncTimer);
    this.syncTimer = null;
    // RFC 4724 3: the restart is over; OPENs from now on carry R = 0.
    if (this.cfg.restarting && !this.restartOver) {
      this.restartOver = true;
      for (const p of this.peers.values()) p.session.setRestarting?.(false);
    }
    if (!this.endOfRibHeld) return;
    this.endOfRibHeld = false;
    for (const p of this.peers.values()) {
      p.out.holdEndOfRib = false;
      this.schedulePump(p);
    }
  }

  /**
   * A connection from a configured peer goes to its session (which refuses it while
   * stopped or held down, and takes it in Idle during the idle hold: bgp/fsm/fsm.ts). One from any other address is refused, counted per family and
   * reported as 'connectionRejected'(address, family): the agent logs it, rate-limited.
   */
  private onConnection(sock: net.Socket): void {
    const remote = unmapAddress(sock.remoteAddress ?? '');
    const peer = this.findPeer(remote) ?? this.interfacePeerFor(sock.remoteAddress ?? '');
    if (peer && !this.stopped && this.secureIncoming(peer, sock)) {
      peer.session.acceptIncoming(sock);
      return;
    }
    this.deps.rejectConnection(sock);
    if (peer) return; // a configured peer while the speaker stops, or whose key the listener lacks: not a stranger
    const family = net.isIPv6(remote) ? 'ipv6' : 'ipv4';
    this.rejected[family]++;
    if (this.listenerCount('connectionRejected') > 0) this.emit('connectionRejected', remote, family);
  }

  /** Connections refused because they came from no configured peer, per family, since start. */
  rejectedConnections(): RejectedConnections {
    return { ...this.rejected };
  }

  /**
   * TCP-MD5 and GTSM on a connection from a configured peer; false refuses it (fail
   * closed): a peer with a password whose key the listener does not hold would otherwise
   * talk unsigned.
   */
  private secureIncoming(peer: Peer, sock: net.Socket): boolean {
    const lp = listenerPeer(peer.cfg);
    if (!hasSecurity(lp)) return true;
    if (!this.listener || (lp.password && !this.listener.holdsKey(lp))) {
      peer.transportError = `incoming connection refused: the listener holds no TCP-MD5 key for ${lp.address}${this.listener?.problem(lp) ? ` (${this.listener.problem(lp)})` : ''}`;
      return false;
    }
    try {
      this.listener.accepted(sock, lp);
      return true;
    } catch (err) {
      peer.transportError = `incoming connection refused: ${(err as Error).message}`;
      return false;
    }
  }

  /** A secured peer's connect: its socket options set natively, its unanswered attempts counted. */
  private connectFor(peer: () => Peer | undefined, cfg: PeerConfig): ConnectFn | undefined {
    const security = securityOf(cfg);
    if (!hasSecurity(security)) return undefined;
    return (o) => {
      const p = peer();
      let sock: SocketLike;
      try {
        sock = this.deps.secureConnect({ ...o, ...security });
      } catch (err) {
        if (p && err instanceof NativeSocketError) p.transportError = err.message;
        throw err;
      }
      let answered = false;
      let code: string | undefined;
      sock.once('connect', () => {
        answered = true;
        if (p) {
          p.unanswered = 0;
          p.transportError = null;
        }
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        code = err.code;
      });
      sock.once('close', () => {
        if (!p || answered) return;
        // No error: the session gave up waiting (ConnectRetryTimer); ETIMEDOUT: the
        // kernel did. A refusal (RST) or an unreachable network is an answer of sorts.
        if (code === undefined || code === 'ETIMEDOUT') p.unanswered++;
        else p.unanswered = 0;
      });
      return sock;
    };
  }

  /**
   * An unnumbered peer takes a connection from a link-local address on its interface
   * (the zone Node gives a link-local peer's address names the interface). Until the
   * session is up that address becomes the neighbour: a router that found us first
   * (from our router advertisements) is found by its connection.
   */
  private interfacePeerFor(raw: string): Peer | undefined {
    const zone = /%(.+)$/.exec(raw)?.[1];
    const address = raw.replace(/%.*$/, '');
    if (zone === undefined || !isLinkLocalV6(address)) return undefined;
    for (const p of this.peers.values()) {
      if (p.cfg.interface !== zone) continue;
      const st = p.session.state;
      if (p.neighbour !== raw && st !== 'OpenSent' && st !== 'OpenConfirm' && st !== 'Established') {
        p.neighbour = raw;
        p.neighbourSource = 'connection';
        this.emit('neighbour', p.rin.address, raw, 'connection');
      }
      return p;
    }
    return undefined;
  }

  /**
   * An unnumbered peer's neighbour on `iface` (its link-local address; null: none any
   * more). A peer waiting for one connects at once; an established session stays on the
   * address it runs over. False when no peer is on that interface.
   */
  setNeighbour(iface: string, address: string | null): boolean {
    let found = false;
    for (const p of this.peers.values()) {
      if (p.cfg.interface !== iface) continue;
      found = true;
      const scoped = address === null ? null : `${address.replace(/%.*$/, '')}%${iface}`;
      if (scoped === p.neighbour) continue;
      if (scoped === null && p.neighbourSource === 'connection') continue; // what connected to us stays known
      p.neighbour = scoped;
      p.neighbourSource = scoped === null ? null : 'neighbour-table';
      this.emit('neighbour', p.rin.address, scoped, p.neighbourSource);
      const st = p.session.state;
      const busy = st === 'OpenSent' || st === 'OpenConfirm' || st === 'Established';
      if (scoped === null || busy || p.cfg.passive || !this.started || this.stopped || p.hold !== null || p.bfdHeld || p.linkDown !== null) continue;
      // The session waits out a connect retry after "no neighbour": start it over so it
      // connects now (a ManualStop in Connect/Active sends nothing).
      void p.session.stop().then(() => {
        if (!this.stopped && this.peers.get(p.rin.address) === p && p.hold === null && !p.bfdHeld && p.linkDown === null) p.session.start();
      });
    }
    return found;
  }

  private findPeer(address: string): Peer | undefined {
    const direct = this.peers.get(address);
    if (direct) return direct;
    for (const [a, p] of this.peers) if (sameAddress(a, address)) return p;
    return undefined;
  }

  /**
   * Ends every session, then closes the listener. 'hard' (default): the peers drop our
   * routes (Cease / Administrative Shutdown with the RFC 9003 text, as Hard Reset where
   * RFC 8538 was negotiated). 'graceful': the peers keep them as graceful restart
   * helpers while we are away (session.ts stop() says how, per RFC 8538 4).
   */
  async stop(reason = 'speaker stopped', mode: StopMode = 'hard'): Promise<void> {
    this.stopped = true;
    if (this.syncTimer !== null) this.deps.clearTimeout(this.syncTimer);
    this.syncTimer = null;
    for (const p of this.peers.values()) {
      this.unhold(p);
      this.clearStaleTimer(p);
    }
    const server = this.server;
    this.server = null;
    this.listener = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.peers.values()].map((p) => p.session.stop(reason, mode)));
    for (const p of this.peers.values()) p.detach();
    await this.deps.bfd.close();
    await closed;
  }

  /**
   * Maintenance stop: withdraw everything we advertise, wait (at most `waitMs`) until
   * every established peer was sent the withdrawals, then stop hard, so the fabric moves
   * traffic away before the sessions go rather than after a hold time. Returns how many
   * peers had taken all withdrawals in time.
   *
   * `gracefulShutdownMs` > 0: first RFC 8326 graceful shutdown: every route is sent again
   * with GRACEFUL_SHUTDOWN (and LOCAL_PREF 0 to internal peers), and the withdrawal waits
   * that long, so that a fabric with another path for a prefix (a VIP several workers
   * announce) moves its traffic there while ours still forwards. `beforeStop` runs just
   * before the sessions end (the agent stops following the peers' routes there).
   */
  async drain(reason = 'speaker drained', waitMs = 5000, gracefulShutdownMs = 0, beforeStop?: () => void): Promise<{ flushed: number; peers: number }> {
    this.initialSyncDone();
    if (gracefulShutdownMs > 0) {
      this.gracefulShutdown(true);
      await this.untilSent(waitMs);
      await new Promise<void>((r) => this.deps.setTimeout(r, gracefulShutdownMs));
    }
    this.setAdvertisements([]);
    const established = [...this.peers.values()].filter((p) => p.out.active);
    await this.untilSent(waitMs);
    const n = established.filter((p) => this.sent(p)).length;
    beforeStop?.();
    await this.stop(reason, 'hard');
    return { flushed: n, peers: established.length };
  }

  /** Every change so far is on its way to the peer (or the peer is not established). */
  private sent(p: Peer): boolean {
    return !p.out.active || (!p.out.pending && !p.waitingDrain && !p.pumpScheduled);
  }

  /** Waits (at most `waitMs`) until every established peer was sent every change. */
  private async untilSent(waitMs: number): Promise<void> {
    const established = [...this.peers.values()].filter((p) => p.out.active);
    const deadline = this.deps.now() + waitMs;
    while (established.some((p) => !this.sent(p)) && this.deps.now() < deadline) {
      await new Promise<void>((r) => this.deps.setTimeout(r, 10));
    }
  }

  /**
   * RFC 8326: on, every route to every peer is sent again with GRACEFUL_SHUTDOWN (65535:0),
   * and to internal peers with LOCAL_PREF 0; off, as before. Sessions that come up
   * meanwhile get the routes marked too.
   */
  gracefulShutdown(on: boolean): void {
    if (this.gshut === on) return;
    this.gshut = on;
    for (const p of this.peers.values()) {
      p.out.setExport(this.exportFor(p.cfg));
      this.schedulePump(p);
    }
  }

  /** Whether graceful shutdown (RFC 8326) is on. */
  get inGracefulShutdown(): boolean {
    return this.gshut;
  }

  /** The export policy of a peer: its own, plus graceful shutdown while that is on. */
  private exportFor(cfg: PeerConfig): PeerExport {
    const e = peerExport(cfg.export);
    return this.gshut ? { ...e, gracefulShutdown: true } : e;
  }

  // ---------------------------------------------------------------------------
  // Advertisements (declarative and incremental)
  // ---------------------------------------------------------------------------

  /** Replace everything we advertise; peers get only the difference. Throws RibError on bad input, changing nothing. */
  setAdvertisements(routes: readonly Advertisement[]): void {
    this.changed(this.desired.replace(routes));
  }

  /** Add or change some advertisements; sent together with every other change of this tick. */
  advertise(routes: readonly Advertisement[]): void {
    this.changed(this.desired.add(routes));
  }

  withdraw(prefixes: readonly string[]): void {
    this.changed(this.desired.remove(prefixes));
  }

  /** The advertisements currently desired. */
  advertisements(): string[] {
    return [...this.desired.prefixes()];
  }

  private changed(prefixes: readonly string[]): void {
    if (prefixes.length === 0) return;
    for (const p of this.peers.values()) {
      p.out.changed(prefixes);
      this.schedulePump(p);
    }
  }

  // ---------------------------------------------------------------------------
  // Peers
  // ---------------------------------------------------------------------------

  private addPeer(cfg: PeerConfig): void {
    const address = unmapAddress(cfg.address);
    const families = cfg.families ?? DEFAULT_FAMILIES;
    let connect = this.connectFor(() => peer, cfg);
    const iface = cfg.interface;
    if (iface !== undefined) {
      // Unnumbered: connect to the neighbour found on the link, with its zone (a link-local
      // address means nothing without its interface: connect() would fail with EINVAL).
      const base = connect ?? this.deps.plainConnect;
      connect = (o) => {
        if (peer.neighbour === null) throw new Error(noNeighbourText(iface));
        return base({ host: peer.neighbour, port: o.port });
      };
    }
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
      ...(this.cfg.gracefulRestartNotification !== undefined ? { gracefulRestartNotification: this.cfg.gracefulRestartNotification } : {}),
      ...(this.cfg.restarting !== undefined ? { restarting: this.cfg.restarting && !this.restartOver } : {}),
      ...(this.cfg.forwardingKept !== undefined ? { forwardingKept: this.cfg.forwardingKept } : {}),
      ...(this.cfg.hostname !== undefined ? { hostname: this.cfg.hostname } : {}),
    }, connect ? { connect } : undefined);
    const rin = new AdjRibIn(address, initialAsn(cfg, this.cfg.asn), this.cfg.asn, {
      filter: this.effectiveFilter(cfg),
      ...(cfg.maxPrefixes !== undefined ? { maxPrefixes: cfg.maxPrefixes } : {}),
    });
    const out = new AdjRibOut(this.desired, this.deps.packer, undefined, this.exportFor(cfg));
    out.holdEndOfRib = this.endOfRibHeld;
    this.loc.addPeer(rin);
    // One list, attached now and detached with the peer.
    const listen = <E extends keyof SessionEvents>(event: E, listener: SessionListener<E>) => ({
      on: () => session.on(event, listener),
      off: () => session.off(event, listener),
    });
    const listeners = [
      listen('state', (_from, to, reason) => this.onState(peer, to, reason)),
      listen('established', () => this.onEstablished(peer)),
      listen('down', (r) => this.onDown(peer, r)),
      listen('update', (u) => this.onUpdate(peer, u)),
      listen('routeRefresh', (r) => this.onRouteRefresh(peer, r)),
      listen('drain', () => {
        peer.waitingDrain = false;
        this.pump(peer);
      }),
      listen('error', () => undefined), // a session's failures arrive as 'down' with a reason
    ];
    for (const l of listeners) l.on();
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
      hold: null,
      eorReceived: new Set(),
      unanswered: 0,
      transportError: null,
      gr: null,
      staleTimer: null,
      longLivedUntil: new Map(),
      bfdHeld: false,
      updateErrors: { 'attribute-discard': 0, 'treat-as-withdraw': 0, 'afisafi-disable': 0 },
      linkDown: null,
      neighbour: null,
      neighbourSource: null,
      detach: () => {
        for (const l of listeners) l.off();
      },
    };
    this.peers.set(address, peer);
    if (this.started && !this.stopped) session.start();
  }

  private async removePeer(peer: Peer, reason: string): Promise<void> {
    this.peers.delete(peer.rin.address);
    this.unhold(peer);
    this.clearStaleTimer(peer);
    peer.out.stop();
    await peer.session.stop(reason);
    peer.detach();
    this.loc.removePeer(peer.rin);
    peer.rin.clear();
  }

  /** Configuration reload: add, remove and change peers. Unchanged peers keep their sessions. */
  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const next = new Map(peers.map((p) => [unmapAddress(p.address), p]));
    // Keys of removed or changed peers go, new ones come, the others stay as they are.
    this.listener?.setPeers(listenerPeers(peers));
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
        const exportChanged = exportKey(want.export) !== exportKey(peer.cfg.export);
        const refilter = JSON.stringify(want.importFilter ?? null) !== JSON.stringify(peer.cfg.importFilter ?? null);
        peer.cfg = want;
        peer.rin.maxPrefixes = want.maxPrefixes;
        if (refilter) peer.rin.setFilter(this.effectiveFilter(want));
        if (exportChanged) {
          peer.out.setExport(this.exportFor(want));
          this.schedulePump(peer);
        }
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
    for (const p of this.peers.values()) p.rin.setFilter(this.effectiveFilter(p.cfg));
  }

  /** Replace the import guard (see SpeakerConfig.importGuard); stored routes are re-evaluated. */
  setImportGuard(guard: ImportFilter | undefined): void {
    this.importGuard = guard;
    for (const p of this.peers.values()) p.rin.setFilter(this.effectiveFilter(p.cfg));
  }

  /** The prefix list, then the guard's veto: a route passes only both, and says which refused it. */
  private effectiveFilter(peer: PeerConfig): ImportFilter {
    const list = toImportFilter(peer.importFilter ?? this.importFilter);
    const guard = this.importGuard;
    if (!guard) return list;
    return {
      accepts: (p) => list.accepts(p) && guard.accepts(p),
      reason: (p) => (list.accepts(p) ? guard.reason(p) : list.reason(p)),
    };
  }

  // ---------------------------------------------------------------------------
  // BFD (RFC 5880/5881) and RFC 9384: every BFD hook of the speaker is here.
  // ---------------------------------------------------------------------------

  private syncBfd(): Promise<void> {
    const wants: BfdPeerWant[] = [];
    for (const [address, p] of this.peers) {
      if (p.cfg.bfd && p.cfg.interface === undefined) wants.push({ address, ...(p.cfg.localAddress ? { localAddress: p.cfg.localAddress } : {}), timers: p.cfg.bfd });
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
    // A max-prefix hold still running keeps the peer down; its timer starts it.
    if (this.started && !this.stopped && p.hold === null) p.session.start();
  }

  // ---------------------------------------------------------------------------
  // Session events
  // ---------------------------------------------------------------------------

  /** Session 'state' (from, to, reason): re-emitted as 'peerState'(address, from, to, reason). */
  private onState(peer: Peer, to: string, reason: string): void {
    const from = peer.state;
    if (from === to) return;
    peer.state = to;
    peer.since = this.deps.now();
    this.emit('peerState', peer.rin.address, from, to, reason);
  }

  private onEstablished(peer: Peer): void {
    const info = peer.session.info();
    const n = info.negotiated;
    if (!n) return;
    peer.establishedAt = this.deps.now();
    peer.lastError = null;
    peer.transportError = null;
    peer.unanswered = 0;
    peer.endedBy = null;
    peer.eorReceived.clear();
    peer.rin.routerId = n.peerRouterId;
    // 'external' / 'internal': the AS is the one the OPEN gave.
    peer.rin.asn = n.peerAsn;
    this.resumeAfterPeerRestart(peer, n);
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
      peerAsn: n.peerAsn,
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
    const wasEstablished = peer.establishedAt !== null;
    peer.establishedAt = null;
    peer.waitingDrain = false;
    peer.out.stop();
    if (!wasEstablished && !this.stopped && !peer.bfdHeld && peer.staleTimer !== null) {
      // A failed attempt to come back (refused connect, an OPEN exchange cut short): the
      // stale routes wait for the restart time or the next session (RFC 4724 4.2), not
      // for whichever attempt happens to fail first.
      return;
    }
    if (this.keepsRoutes(peer, r)) {
      // RFC 4724 4.2: the peer restarts; its routes stay, stale, for its restart time
      // (RFC 9494 4.2: then, for the long-lived families, for their long-lived stale time).
      const gr = peer.gr!;
      peer.rin.retainStale([...new Set([...gr.families, ...gr.longLived.keys()])]);
      this.startStaleTimer(peer, gr.restartTime, 'long-lived');
      this.emit('peerRestarting', peer.rin.address, peer.rin.staleCount());
    } else {
      this.clearStaleTimer(peer);
      peer.rin.clear(); // RFC 4271 8.2.2: routes from a peer go when its session does
    }
  }

  // ---------------------------------------------------------------------------
  // Graceful restart helper (RFC 4724 4.2, RFC 8538 4)
  // ---------------------------------------------------------------------------

  /**
   * Whether a peer's routes outlive its session. Only for a peer that announced graceful
   * restart, only when the speaker still runs and did not end the session itself, and:
   * a connection that just closed (RFC 4724 4.2); with the N bit also a hold timer
   * expiry or a NOTIFICATION from the peer other than Cease / Hard Reset (RFC 8538 4).
   * A restart time of 0 keeps nothing (there is no time to come back in), and neither
   * does a session BFD took down: the path is gone, so the routes must go with it.
   */
  private keepsRoutes(peer: Peer, r: DownReason): boolean {
    const gr = peer.gr;
    if (gr === null || this.stopped || peer.hold !== null || peer.bfdHeld || peer.ceaseText !== null) return false;
    // RFC 9494 4.2: a restart time of 0 with long-lived families goes straight to the long-lived phase.
    if ((gr.restartTime === 0 || gr.families.length === 0) && gr.longLived.size === 0) return false;
    if (r.kind === 'connection-closed') return true;
    if (!gr.nBit) return false;
    if (r.kind === 'hold-timer-expired') return true;
    return r.kind === 'notification-received' && !(r.code === 6 && r.subcode === 9);
  }

  /**
   * The peer is back. RFC 4724 4.2: stale routes of a family go at once when the new OPEN
   * has no graceful restart, leaves the family out, or says its forwarding was not kept
   * (F = 0); the others wait for the family's End-of-RIB, at most STALE_PATH_TIME.
   */
  private resumeAfterPeerRestart(peer: Peer, n: Negotiated): void {
    const cap = n.gracefulRestart;
    const llgr = n.longLivedGracefulRestart;
    const longLived = new Map((llgr?.families ?? []).filter((f) => f.staleTime > 0).map((f) => [f.family, f.staleTime] as const));
    peer.gr = cap ? { families: cap.families.map((f) => f.family), restartTime: cap.restartTime, nBit: notificationGr(n), longLived } : null;
    const stale = peer.rin.staleFamilies();
    if (stale.length === 0) return;
    this.clearStaleTimer(peer);
    for (const f of stale) {
      // RFC 9494 4.2: the F bit of either capability says the forwarding state was kept.
      const kept = (cap?.families.some((x) => x.family === f && x.forwardingState) ?? false) || (llgr?.families.some((x) => x.family === f && x.forwardingState) ?? false);
      if (!kept || !n.families.includes(f)) peer.rin.purgeStale(f);
    }
    if (peer.rin.staleFamilies().length > 0) this.startStaleTimer(peer, STALE_PATH_TIME, 'purge');
  }

  /**
   * The wait for a restarting peer. When it runs out: 'purge', every stale route goes;
   * 'long-lived' (the restart time, RFC 9494 4.2), the families with a long-lived stale
   * time keep theirs, marked LLGR_STALE, for that long, and the others go.
   */
  private startStaleTimer(peer: Peer, seconds: number, then: 'purge' | 'long-lived'): void {
    this.clearStaleTimer(peer);
    peer.staleTimer = this.deps.setTimeout(() => {
      peer.staleTimer = null;
      if (then === 'purge') {
        for (const f of peer.rin.staleFamilies()) peer.rin.purgeStale(f);
        return;
      }
      for (const f of peer.rin.staleFamilies()) {
        const keep = peer.gr?.longLived.get(f) ?? 0;
        if (keep === 0) {
          peer.rin.purgeStale(f);
          continue;
        }
        const r = peer.rin.keepLongLived(f);
        peer.longLivedUntil.set(f, this.deps.now() + keep * 1000);
        this.emit('peerLongLivedStale', peer.rin.address, f, r.kept, r.dropped, keep);
      }
      this.scheduleLongLived(peer);
    }, seconds * 1000);
  }

  /** RFC 9494 4.3: long-lived stale routes go when their family's stale time is over. */
  private scheduleLongLived(peer: Peer): void {
    if (peer.longLivedUntil.size === 0) return;
    const next = Math.min(...peer.longLivedUntil.values());
    peer.staleTimer = this.deps.setTimeout(() => {
      peer.staleTimer = null;
      const now = this.deps.now();
      for (const [f, until] of [...peer.longLivedUntil]) {
        if (until > now) continue;
        peer.longLivedUntil.delete(f);
        peer.rin.purgeStale(f);
      }
      this.scheduleLongLived(peer);
    }, Math.max(0, next - this.deps.now()));
  }

  private clearStaleTimer(peer: Peer): void {
    peer.longLivedUntil.clear();
    if (peer.staleTimer === null) return;
    this.deps.clearTimeout(peer.staleTimer);
    peer.staleTimer = null;
  }

  private onUpdate(peer: Peer, received: UpdateMessage): void {
    // RFC 4271 6.3 first-AS check for external peers, unless turned off for the peer.
    const ebgp = peer.rin.asn !== this.cfg.asn;
    const u = ebgp && peer.cfg.enforceFirstAs !== false ? checkFirstAs(received, peer.rin.asn) : received;
    for (const e of u.errors) {
      peer.updateErrors[e.handling]++;
      const ev: UpdateErrorEvent = { peer: peer.rin.address, action: e.handling, attribute: attributeName(e.code), reason: e.reason };
      this.emit('updateError', ev);
    }
    const over = peer.rin.apply(u);
    const eor = endOfRibFamily(u);
    if (eor) {
      peer.eorReceived.add(eor);
      // RFC 4724 4.2: End-of-RIB ends the family's stale routes the peer did not resend.
      if (peer.rin.staleFamilies().includes(eor)) {
        peer.rin.purgeStale(eor);
        if (peer.rin.staleFamilies().length === 0) this.clearStaleTimer(peer);
      }
      // The peer's table of this family is complete: forwarding state kept from before
      // (the agent's kernel routes of a previous run) can be brought up to date now.
      this.emit('endOfRib', peer.rin.address, eor);
    }
    if (over && peer.hold === null) {
      const text = `maximum number of prefixes reached: ${over.received} > ${over.limit}`;
      peer.lastError = text;
      peer.ceaseText = `${text}; NOTIFICATION sent: Cease / Maximum Number of Prefixes Reached`;
      void this.deps.cease(peer.session, 1, maxPrefixData(over), text);
      this.holdDown(peer, peer.cfg.maxPrefixRestart ?? DEFAULT_MAX_PREFIX_RESTART);
    }
  }

  /**
   * After a max-prefix Cease the peer stays down for `seconds` (FRR's `maximum-prefix N
   * restart M`): reconnecting at once would only take the same table again. The Cease
   * above was an AutomaticStop, which would restart after the session's short idle hold;
   * stopping the session as well cancels that restart, and while stopped it refuses
   * every connection from the peer (RFC 4271 8.2.2: Idle refuses connections). The
   * timer starts it again.
   */
  private holdDown(peer: Peer, seconds: number): void {
    this.unhold(peer);
    const ms = seconds * 1000;
    const timer = this.deps.setTimeout(() => this.release(peer), ms);
    peer.hold = { reason: 'max-prefix', until: this.deps.now() + ms, timer };
    void peer.session.stop().catch(() => undefined);
  }

  private unhold(peer: Peer): void {
    if (peer.hold === null) return;
    this.deps.clearTimeout(peer.hold.timer);
    peer.hold = null;
  }

  private release(peer: Peer): void {
    if (peer.hold === null) return;
    peer.hold = null;
    // BFD still Down keeps the peer down (RFC 9384), and so does its interface being down;
    // BFD Up and the link coming back start it.
    if (!this.stopped && !peer.bfdHeld && peer.linkDown === null && this.peers.get(peer.rin.address) === peer) peer.session.start();
  }

  /**
   * Ends a max-prefix hold early (the operator fixed the peer's table): the session starts
   * at once. False when the peer is unknown or not held.
   */
  releaseHold(address: string): boolean {
    const peer = this.findPeer(unmapAddress(address));
    if (!peer || peer.hold === null) return false;
    this.deps.clearTimeout(peer.hold.timer);
    this.release(peer);
    return true;
  }

  private onRouteRefresh(peer: Peer, r: RouteRefreshRequest): void {
    const f = afiFamily(r.afi, r.safi);
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
   * table never holds the event loop.
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
    const keyProblem = this.listener?.problem(listenerPeer(p.cfg));
    return {
      ...statusOf(p, this.deps.now(), keyProblem ? `listener: ${keyProblem}` : null),
      bfd: p.cfg.bfd ? this.deps.bfd.status(p.rin.address) : null,
    };
  }

  routes(q: { peer?: string; view?: 'received' | 'advertised' | 'best' } = {}): RouteView[] {
    const view = q.view ?? 'received';
    const out: RouteView[] = [];
    if (view === 'best') {
      for (const b of this.loc.routes()) {
        if (q.peer && !sameAddress(q.peer, b.peer)) continue;
        out.push({ prefix: b.prefix, family: b.family, view, peer: b.peer, nextHops: b.path.nextHops, attributes: b.path.attributes, accepted: true, reason: null, stale: this.peers.get(b.peer)?.rin.isStale(b.family, b.prefix) ?? false });
      }
      return out;
    }
    for (const [address, p] of this.peers) {
      if (q.peer && !sameAddress(q.peer, address)) continue;
      if (view === 'received') {
        for (const r of p.rin.routes()) {
          out.push({ prefix: r.prefix, family: r.family, view, peer: address, nextHops: r.path.nextHops, attributes: r.path.attributes, accepted: r.accepted, reason: r.reason, stale: r.stale });
        }
      } else {
        for (const r of p.out.advertised()) {
          out.push({ prefix: r.prefix, family: r.family, view, peer: address, nextHops: r.nextHops, attributes: r.attributes, accepted: true, reason: null, stale: false });
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

  /**
   * The multipath set of one prefix, for a forwarding table (the agent installs it in
   * the kernel; the speaker itself never touches one). Also emitted as
   * 'forwardingChanged'(entry) whenever a prefix's candidates change.
   */
  forwardingEntry(prefix: string, f: Family = prefixFamily(prefix)): ForwardingEntry {
    const paths: ForwardingPath[] = this.loc.multipath(prefix, f, this.cfg.multipath).map((b) => ({
      peer: b.peer,
      nextHops: b.path.nextHops,
      interface: this.sessionInterface(b.peer),
    }));
    return { prefix, family: f, paths };
  }

  /** Every prefix with a best path, with its multipath set (for a full reconcile). */
  forwarding(): ForwardingEntry[] {
    return [...this.loc.routes()].map((b) => this.forwardingEntry(b.prefix, b.family));
  }

  /** The interface holding the session's local address (what a link-local next hop is reached over). */
  private sessionInterface(address: string): string | null {
    const peer = this.findPeer(address);
    if (peer?.cfg.interface !== undefined) return peer.cfg.interface;
    const local = peer?.session.info().localAddress;
    if (!local) return null;
    // A link-local session address carries its interface as the zone.
    const zone = /%(.+)$/.exec(local)?.[1];
    if (zone !== undefined) return zone;
    const ifs = this.deps.interfaces();
    for (const [name, addrs] of Object.entries(ifs)) {
      if (addrs?.some((a) => sameAddress(a.address, unmapAddress(local)))) return name;
    }
    return null;
  }

  /**
   * The interface the peer's session runs over went down (FRR's fast external
   * failover): the session goes down now rather than at the hold timer, its routes
   * with it, and it stays Idle, refusing connections, until linkUp(). `why` is shown as
   * the peer's lastError. False when the peer is unknown.
   */
  linkDown(address: string, why: string): boolean {
    const peer = this.findPeer(unmapAddress(address));
    if (!peer) return false;
    if (peer.linkDown !== null) return true;
    peer.linkDown = why;
    peer.ceaseText = why;
    void peer.session.stop(why).catch(() => undefined);
    return true;
  }

  /** The interface is back: the session starts at once (no backoff: the cause is gone). */
  linkUp(address: string): boolean {
    const peer = this.findPeer(unmapAddress(address));
    if (!peer || peer.linkDown === null) return false;
    peer.linkDown = null;
    if (!this.stopped && peer.hold === null && this.peers.get(peer.rin.address) === peer) peer.session.start();
    return true;
  }

  /** Number of prefixes currently desired, per family. */
  advertisedCount(f?: Family): number {
    let n = 0;
    for (const p of this.desired.prefixes()) if (!f || prefixFamily(p) === f) n++;
    return n;
  }
}

/** RFC 4724 2: an UPDATE with nothing in it (IPv4) or an empty MP_UNREACH is End-of-RIB. */
function endOfRibFamily(u: UpdateMessage): Family | null {
  if (u.nlri.length === 0 && u.withdrawn.length === 0 && !u.mpReach) {
    if (u.mpUnreach && u.mpUnreach.withdrawn.length === 0) return afiFamily(u.mpUnreach.afi, u.mpUnreach.safi) ?? null;
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
  if (n.longLivedGracefulRestart?.families.some((f) => f.staleTime > 0)) caps.push('long-lived-graceful-restart');
  return caps;
}

function statusOf(p: Peer, now: number, listenerProblem: string | null): Omit<PeerStatus, 'bfd'> {
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
  const noNeighbour = p.cfg.interface !== undefined && p.neighbour === null && info.state !== 'Established';
  return {
    address: p.rin.address,
    asn: p.rin.asn,
    ...(typeof p.cfg.asn !== 'number' ? { configuredAsn: p.cfg.asn } : {}),
    ...(p.cfg.interface !== undefined ? { interface: p.cfg.interface, neighbour: { address: p.neighbour, source: p.neighbourSource } } : {}),
    description: p.cfg.description ?? null,
    type: p.rin.asn === p.rin.localAsn ? 'iBGP' : 'eBGP',
    state: info.state,
    since: info.since.toISOString(),
    families: established && n ? [...n.families] : [...(p.cfg.families ?? DEFAULT_FAMILIES)],
    configuredFamilies: [...(p.cfg.families ?? DEFAULT_FAMILIES)],
    prefixesSent: sent,
    prefixesReceived: received,
    prefixesAccepted: accepted,
    prefixesByFamily: byFamily,
    // An Established peer has no current error (the history is in lastNotification*).
    lastError: info.state === 'Established' ? null : (p.linkDown ?? (noNeighbour ? noNeighbourText(p.cfg.interface!) : null) ?? p.transportError ?? listenerProblem ?? md5Hint(p) ?? p.lastError ?? info.lastError),
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
    md5: p.cfg.password !== undefined,
    ttlSecurityHops: p.cfg.ttlSecurity?.hops ?? null,
    staleRoutes: p.rin.staleCount(),
    updateErrors: { ...p.updateErrors },
    linkDown: p.linkDown,
    held: p.hold === null ? null : { reason: p.hold.reason, until: new Date(p.hold.until).toISOString(), retryInSeconds: Math.max(0, Math.ceil((p.hold.until - now) / 1000)) },
  };
}

function md5Hint(p: Peer): string | null {
  if (!p.cfg.password || p.unanswered < UNANSWERED_HINT) return null;
  return `${MD5_HINT} (${p.unanswered} connection attempts unanswered)`;
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
