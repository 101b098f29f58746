/**
 * Router advertisements on the links of unnumbered peers (RFC 4861 4.2, 6.2).
 *
 * Why: a router configured with `neighbor eth1 interface` (FRR) learns the address of
 * the speaker at the other end from that speaker's router advertisements, and GoBGP's
 * `neighbor-interface` takes it from its neighbour table, which an advertisement fills
 * (RFC 4861 6.3.4: the receiver records the sender's link-layer address). FRR sends its
 * own for the same reason (zebra, `ipv6 nd ra-interval`, 10 s for BGP unnumbered).
 *
 * What we send: Router Lifetime 0 (RFC 4861 4.2: "not a default router"), so the ToR
 * never routes through the worker by default; no prefixes, no M/O flags, hop limit and
 * timers unspecified (0): the advertisement says only "a router is here", with our
 * link-layer address. Every RA_INTERVAL seconds, and at once when an interface appears.
 * The link-local source address is the kernel's choice for ff02::1 on that interface.
 */
import { closeFd, icmp6Sender, interfaceIndex, sendTo6 } from './native.js';

/** Seconds between advertisements (FRR's interval for BGP unnumbered). */
export const RA_INTERVAL = 10;
const ALL_NODES = 'ff02::1';

/** RFC 4861 4.2 Router Advertisement with Router Lifetime 0 and a Source Link-Layer Address option (4.6.1). */
export function encodeRouterAdvertisement(mac: string | null): Buffer {
  const head = Buffer.alloc(16);
  head[0] = 134; // type
  head[1] = 0; // code
  // checksum (2..3): filled in by the kernel
  head[4] = 0; // Cur Hop Limit: unspecified
  head[5] = 0; // M, O: no DHCPv6
  head.writeUInt16BE(0, 6); // Router Lifetime 0: not a default router
  head.writeUInt32BE(0, 8); // Reachable Time: unspecified
  head.writeUInt32BE(0, 12); // Retrans Timer: unspecified
  const bytes = mac === null ? null : mac.split(':').map((h) => parseInt(h, 16));
  if (bytes === null || bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255)) || bytes.every((b) => b === 0)) return head;
  return Buffer.concat([head, Buffer.from([1, 1, ...bytes])]);
}

/** What decodeRouterAdvertisement finds (for tests and captures). */
export interface RouterAdvertisement {
  readonly routerLifetime: number;
  readonly sourceLinkLayer: string | null;
}

/** Parses an RA's ICMPv6 body; throws RangeError on a short or malformed one (RFC 4861 6.1.2 checks). */
export function decodeRouterAdvertisement(b: Buffer): RouterAdvertisement {
  if (b.length < 16 || b[0] !== 134 || b[1] !== 0) throw new RangeError(`not a router advertisement (${b.length} octets, type ${b[0]})`);
  let sll: string | null = null;
  for (let o = 16; o < b.length; ) {
    if (o + 2 > b.length) throw new RangeError('truncated option');
    const len = b[o + 1]! * 8;
    // RFC 4861 4.6: an option of length 0 is invalid and the packet is discarded.
    if (len === 0 || o + len > b.length) throw new RangeError(`option ${b[o]} of length ${len} at ${o}`);
    if (b[o] === 1 && len >= 8) sll = [...b.subarray(o + 2, o + 8)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    o += len;
  }
  return { routerLifetime: b.readUInt16BE(6), sourceLinkLayer: sll };
}

export interface AdvertiserDeps {
  /** The interface's MAC (null when unknown: the option is left out). */
  mac(iface: string): string | null;
  /** Sends one advertisement on the interface; throws when it cannot (no such interface yet). */
  send(iface: string, packet: Buffer): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(h: unknown): void;
  /** An interface's sending failed (message), or works again (null); called on changes only. */
  onStatus?(iface: string, error: string | null): void;
}

/** Sends with a raw socket per interface, opened on first use and again after a failure. */
export function nativeSender(): { send(iface: string, packet: Buffer): void; close(): void } {
  const fds = new Map<string, number>();
  return {
    send(iface, packet) {
      const index = interfaceIndex(iface);
      if (index === 0) throw new Error(`no interface ${iface}`);
      let fd = fds.get(iface);
      if (fd === undefined) fds.set(iface, (fd = icmp6Sender(iface)));
      try {
        sendTo6(fd, packet, ALL_NODES, index);
      } catch (err) {
        // The interface may have been deleted and made again: a fresh socket next time.
        fds.delete(iface);
        closeFd(fd);
        throw err;
      }
    },
    close() {
      for (const fd of fds.values()) closeFd(fd);
      fds.clear();
    },
  };
}

/**
 * Advertises on a set of interfaces (set() replaces it). An interface that does not exist
 * (yet) is tried again every interval; `lastError(iface)` says why it is not advertised.
 */
export class RouterAdvertiser {
  private readonly ifaces = new Map<string, { timer: unknown; error: string | null; sent: number }>();

  constructor(
    private readonly deps: AdvertiserDeps,
    private readonly intervalMs = RA_INTERVAL * 1000,
  ) {}

  set(ifaces: readonly string[]): void {
    for (const [name, st] of [...this.ifaces]) {
      if (!ifaces.includes(name)) {
        this.deps.clearInterval(st.timer);
        this.ifaces.delete(name);
      }
    }
    for (const name of ifaces) {
      if (this.ifaces.has(name)) continue;
      const st = { timer: null as unknown, error: null as string | null, sent: 0 };
      this.ifaces.set(name, st);
      st.timer = this.deps.setInterval(() => this.advertise(name), this.intervalMs);
      this.advertise(name);
    }
  }

  /** Send now (an interface just came up, or a neighbour is being waited for). */
  advertise(iface: string): void {
    const st = this.ifaces.get(iface);
    if (!st) return;
    const was = st.error;
    try {
      this.deps.send(iface, encodeRouterAdvertisement(this.deps.mac(iface)));
      st.error = null;
      st.sent++;
    } catch (err) {
      st.error = (err as Error).message;
    }
    if (st.error !== was) this.deps.onStatus?.(iface, st.error);
  }

  lastError(iface: string): string | null {
    return this.ifaces.get(iface)?.error ?? null;
  }

  sent(iface: string): number {
    return this.ifaces.get(iface)?.sent ?? 0;
  }

  close(): void {
    for (const st of this.ifaces.values()) this.deps.clearInterval(st.timer);
    this.ifaces.clear();
  }
}
