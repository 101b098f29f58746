/**
 * The installer's RouteTable and the uplink watcher over rtnetlink (src/dataplane/netlink
 * socket), in the worker's namespace.
 */
import { decodeLink, encodeLinkByName, encodeRouteDumpRequest, RTM_DELROUTE, RTM_GETLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWROUTE } from '../dataplane/netlink/codec.js';
import { NLM_F_CREATE, NLM_F_REPLACE, RtnlSocket } from '../dataplane/netlink/socket.js';
import { KernelError } from '../dataplane/errors.js';
import { addressInNetwork } from '../../bgp/wire/prefix.js';
import type { RouteTable } from './installer.js';
import { decodeLearnedRoute, encodeLearnedDelete, encodeLearnedRoute, type LearnedKernelRoute } from './route-codec.js';

/** The agent's routing protocol number (src/dataplane: its host routes carry the same). */
export const AGENT_PROTOCOL = 88;

const RTNLGRP_LINK = 1;
const RT_TABLE_MAIN = 254;
/** include/uapi/linux/if.h */
const IFF_UP = 0x1;
const IFF_LOWER_UP = 0x10000;

export class NetlinkRouteTable implements RouteTable {
  private readonly sock = new RtnlSocket();

  async replace(r: LearnedKernelRoute): Promise<string | undefined> {
    const [err] = await this.sock.batch([{ type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: encodeLearnedRoute(r, AGENT_PROTOCOL) }]);
    return err;
  }

  async remove(r: Pick<LearnedKernelRoute, 'family' | 'dst' | 'table' | 'metric'>): Promise<string | undefined> {
    const [err] = await this.sock.batch([{ type: RTM_DELROUTE, flags: 0, payload: encodeLearnedDelete(r, AGENT_PROTOCOL) }]);
    return err;
  }

  async list(table: number, metric: number): Promise<LearnedKernelRoute[]> {
    const parts = await this.sock.dump(RTM_GETROUTE, encodeRouteDumpRequest(), 'dump routes');
    const byKey = new Map<string, LearnedKernelRoute>();
    for (const m of parts) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = decodeLearnedRoute(m.data);
      if (!r || r.protocol !== AGENT_PROTOCOL || r.table !== table || r.metric !== metric) continue;
      // Older kernels dump an IPv6 multipath route as one message per next hop.
      const prev = byKey.get(r.dst);
      byKey.set(r.dst, prev ? { ...prev, nextHops: [...prev.nextHops, ...r.nextHops] } : r);
    }
    return [...byKey.values()];
  }

  async hasRouteTo(address: string): Promise<boolean> {
    const parts = await this.sock.dump(RTM_GETROUTE, encodeRouteDumpRequest(), 'dump routes');
    for (const m of parts) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = decodeLearnedRoute(m.data);
      if (r && r.table === RT_TABLE_MAIN && addressInNetwork(address, r.dst)) return true;
    }
    return false;
  }

  async ifindex(name: string): Promise<number | undefined> {
    try {
      const parts = await this.sock.request({ type: RTM_GETLINK, flags: 0, payload: encodeLinkByName(name) }, `get link ${name}`);
      for (const m of parts) if (m.type === RTM_NEWLINK) return decodeLink(m.data)?.index;
      return undefined;
    } catch (err) {
      if (err instanceof KernelError && (err.code === 'ENODEV' || err.code === 'ENOENT')) return undefined;
      throw err;
    }
  }

  close(): void {
    this.sock.close();
  }
}

export interface LinkState {
  readonly index: number;
  readonly name: string;
  /** Administratively up and the carrier present (IFF_UP and IFF_LOWER_UP). */
  readonly running: boolean;
}

/** Every link's state now, and each change as it happens (RTM_NEWLINK / RTM_DELLINK). */
export class LinkWatcher {
  private readonly sub: RtnlSocket;
  private readonly sock = new RtnlSocket();

  constructor(onChange: (l: LinkState, deleted: boolean) => void, onOverrun: () => void) {
    this.sub = new RtnlSocket({
      groups: [RTNLGRP_LINK],
      onOverrun,
      onNotify: (msgs) => {
        for (const m of msgs) {
          if (m.type !== RTM_NEWLINK && m.type !== 17) continue;
          const l = linkState(m.data);
          if (l) onChange(l, m.type !== RTM_NEWLINK);
        }
      },
    });
  }

  async list(): Promise<LinkState[]> {
    const parts = await this.sock.dump(RTM_GETLINK, Buffer.alloc(16), 'dump links');
    const out: LinkState[] = [];
    for (const m of parts) if (m.type === RTM_NEWLINK) {
      const l = linkState(m.data);
      if (l) out.push(l);
    }
    return out;
  }

  close(): void {
    this.sub.close();
    this.sock.close();
  }
}

function linkState(data: Buffer): LinkState | undefined {
  const l = decodeLink(data);
  if (!l) return undefined;
  const flags = data.readUInt32LE(8);
  return { index: l.index, name: l.name, running: (flags & IFF_UP) !== 0 && (flags & IFF_LOWER_UP) !== 0 };
}
