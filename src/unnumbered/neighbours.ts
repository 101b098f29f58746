/**
 * The neighbour an unnumbered peer's session goes to, from the kernel's IPv6 neighbour
 * table (rtnetlink RTM_GETNEIGH, and RTM_NEWNEIGH/RTM_DELNEIGH as they happen).
 *
 * Why the neighbour table: a router advertisement from the ToR makes the kernel record
 * its link-local address with the router flag (RFC 4861 6.3.4; Linux does this even
 * where it does not act on the advertisement, as on a forwarding host), and a ToR that
 * connects first resolves us with a Neighbor Solicitation, which records it too (7.2.3).
 * So the table holds the ToR whether it advertises (FRR) or not (GoBGP), without a raw
 * receive socket of our own.
 *
 * Which one: a link-local, not FAILED or INCOMPLETE, on the interface, and not one of our
 * own addresses (an advertisement looped back to its sender would list us as our own
 * router; we turn the loopback off, and still never pick ourselves); entries with the
 * router flag first, then the lowest address (stable across dumps). Pure parts first,
 * the netlink watcher after.
 */
import { AF_INET6, bytesToAddress, decodeLink, RTM_GETLINK, RTM_NEWLINK } from '../dataplane/netlink/codec.js';
import { RtnlSocket } from '../dataplane/netlink/socket.js';
import os from 'node:os';
import { canonicalAddress, isLinkLocalV6 } from '../../bgp/wire/prefix.js';

export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
const RTNLGRP_NEIGH = 3;
const NDA_DST = 1;
const NDA_LLADDR = 2;
/** include/uapi/linux/neighbour.h */
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;
const NTF_ROUTER = 0x80;

export interface NeighbourEntry {
  readonly ifindex: number;
  readonly address: string;
  readonly state: number;
  readonly router: boolean;
  readonly lladdr: boolean;
}

/** struct ndmsg (12 octets: family, pad, pad, ifindex, state, flags, type) and its attributes; undefined if not IPv6. */
export function decodeNeighbour(data: Buffer): NeighbourEntry | undefined {
  if (data.length < 12 || data[0] !== AF_INET6) return undefined;
  const ifindex = data.readInt32LE(4);
  const state = data.readUInt16LE(8);
  const flags = data[10]!;
  let address: string | undefined;
  let lladdr = false;
  for (let o = 12; o + 4 <= data.length; ) {
    const len = data.readUInt16LE(o);
    if (len < 4 || o + len > data.length) break;
    const type = data.readUInt16LE(o + 2) & 0x3fff;
    if (type === NDA_DST && len - 4 === 16) address = bytesToAddress(data.subarray(o + 4, o + len));
    else if (type === NDA_LLADDR && len > 4) lladdr = true;
    o += (len + 3) & ~3;
  }
  if (address === undefined) return undefined;
  return { ifindex, address, state, router: (flags & NTF_ROUTER) !== 0, lladdr };
}

/** The RTM_GETNEIGH dump request for IPv6 neighbours. */
export function encodeNeighbourDump(): Buffer {
  const b = Buffer.alloc(12);
  b[0] = AF_INET6;
  return b;
}

/** The neighbour to peer with on interface `ifindex`, or null (see the module comment); `own`: our addresses. */
export function chooseNeighbour(entries: readonly NeighbourEntry[], ifindex: number, own: ReadonlySet<string> = new Set()): string | null {
  const usable = entries.filter((e) => e.ifindex === ifindex && isLinkLocalV6(e.address) && !own.has(canonicalAddress(e.address)) && (e.state & (NUD_FAILED | NUD_INCOMPLETE)) === 0);
  usable.sort((a, b) => Number(b.router) - Number(a.router) || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return usable[0]?.address ?? null;
}

/**
 * Watches the neighbour table for the given interfaces and reports each interface's
 * chosen neighbour when it changes (null: none any more). A change notification, or
 * every `pollMs` (interfaces that appear later, missed notifications), dumps again.
 */
export class NeighbourWatcher {
  private readonly sock = new RtnlSocket();
  private readonly sub: RtnlSocket;
  private readonly known = new Map<string, string | null>();
  private timer: ReturnType<typeof setInterval> | null;
  private scheduled = false;
  private closed = false;

  constructor(
    private ifaces: readonly string[],
    private readonly onChange: (iface: string, address: string | null) => void,
    private readonly onError: (err: Error) => void,
    pollMs = 5000,
  ) {
    this.sub = new RtnlSocket({
      groups: [RTNLGRP_NEIGH],
      onOverrun: () => this.schedule(),
      onNotify: (msgs) => {
        if (msgs.some((m) => m.type === RTM_NEWNEIGH || m.type === RTM_DELNEIGH)) this.schedule();
      },
    });
    this.timer = setInterval(() => this.schedule(), pollMs);
    this.timer.unref();
    this.schedule();
  }

  /** A reload: every interface's neighbour is reported again (a peer made anew knows none). */
  setInterfaces(ifaces: readonly string[]): void {
    this.ifaces = ifaces;
    this.known.clear();
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.resync().catch((err: unknown) => this.onError(err as Error));
    });
  }

  /** Dumps links and neighbours and reports what changed. */
  async resync(): Promise<void> {
    if (this.ifaces.length === 0 || this.closed) return;
    const links = await this.sock.dump(RTM_GETLINK, Buffer.alloc(16), 'dump links');
    const index = new Map<string, number>();
    for (const m of links) {
      if (m.type !== RTM_NEWLINK) continue;
      const l = decodeLink(m.data);
      if (l) index.set(l.name, l.index);
    }
    const parts = await this.sock.dump(RTM_GETNEIGH, encodeNeighbourDump(), 'dump neighbours');
    const entries: NeighbourEntry[] = [];
    for (const m of parts) {
      if (m.type !== RTM_NEWNEIGH) continue;
      const e = decodeNeighbour(m.data);
      if (e) entries.push(e);
    }
    if (this.closed) return;
    const own = new Set<string>();
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv6') own.add(canonicalAddress(a.address.replace(/%.*$/, '')));
    for (const name of this.ifaces) {
      const i = index.get(name);
      const chosen = i === undefined ? null : chooseNeighbour(entries, i, own);
      if (this.known.has(name) && this.known.get(name) === chosen) continue;
      this.known.set(name, chosen);
      this.onChange(name, chosen);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sub.close();
    this.sock.close();
  }
}
