/**
 * Endpoint-set changes (`add`/`del` of (address, host veth) in rtc-ep-4 / rtc-ep-6) sent to
 * the kernel's ipset over nfnetlink, from the agent's own process: no `ipset` process per
 * container start or stop. A burst of changes is one sendmsg(2) (RtnlSocket.batch).
 *
 * The messages are what `ipset -exist add|del SET ADDR,IFACE` sends (the kernel's uapi
 * linux/netfilter/ipset/ip_set.h): type NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_ADD/DEL, a
 * nfgenmsg with the family, then IPSET_ATTR_PROTOCOL, IPSET_ATTR_SETNAME and a nested
 * IPSET_ATTR_DATA holding IPSET_ATTR_IP (nested; the address in network byte order),
 * IPSET_ATTR_CIDR and IPSET_ATTR_IFACE. Without NLM_F_EXCL the kernel treats adding what
 * is there and deleting what is gone as success (ipset's -exist).
 *
 * Creating, swapping and listing the sets stays with `ipset restore`/`ipset save` in the
 * policy's applier: those are rare and whole-table.
 */
import type { EndpointSetOp, EndpointSetWriter } from '../../policy/applier.js';
import { addressBytes, attr, cstr } from '../dataplane/netlink/codec.js';
import { RtnlSocket, type OutMessage } from '../dataplane/netlink/socket.js';
import { maxLength } from '../net.js';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_IPSET = 6;
const IPSET_CMD_ADD = 9;
const IPSET_CMD_DEL = 10;
/** Accepted by every kernel since ipset protocol 6 (IPSET_PROTOCOL_MIN of protocol 7). */
const IPSET_PROTOCOL = 6;
const IPSET_ATTR_PROTOCOL = 1;
const IPSET_ATTR_SETNAME = 2;
const IPSET_ATTR_DATA = 7;
const IPSET_ATTR_IP = 1;
const IPSET_ATTR_CIDR = 3;
const IPSET_ATTR_IFACE = 23;
const IPSET_ATTR_IPADDR_IPV4 = 1;
const IPSET_ATTR_IPADDR_IPV6 = 2;
const NLA_F_NESTED = 0x8000;
const NLA_F_NET_BYTEORDER = 0x4000;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;
const IPSET_MAXNAMELEN = 32;
/** Up to IFNAMSIZ - 1 = 15 characters. */
const IFNAME_RE = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** ipset's own error numbers (enum ipset_errno, and the hash types' specific ones). */
const IPSET_ERRORS: Record<number, string> = {
  4097: 'IPSET_ERR_PROTOCOL (the kernel refused the message format)',
  4098: 'IPSET_ERR_FIND_TYPE (set type not supported by the kernel)',
  4102: 'IPSET_ERR_TYPE_MISMATCH (the set is of another type or family)',
  4103: 'IPSET_ERR_EXIST',
  4104: 'IPSET_ERR_INVALID_CIDR',
  4106: 'IPSET_ERR_INVALID_FAMILY',
  4109: 'IPSET_ERR_IPADDR_IPV4',
  4110: 'IPSET_ERR_IPADDR_IPV6',
  4352: 'IPSET_ERR_HASH_FULL (the set is full: maxelem reached)',
  4353: 'IPSET_ERR_HASH_ELEM',
};

/** One add/del as a netlink message body; throws on an address or name the kernel would refuse. */
export function ipsetMessage(op: EndpointSetOp): OutMessage {
  let addr: Buffer | undefined;
  try {
    addr = addressBytes(op.addr);
  } catch {
    addr = undefined;
  }
  if (addr?.length !== (op.family === 4 ? 4 : 16)) throw new Error(`ipset ${op.verb} ${op.set}: "${op.addr}" is not an IPv${op.family} address`);
  if (op.set.length === 0 || op.set.length >= IPSET_MAXNAMELEN) throw new Error(`ipset ${op.verb}: set name "${op.set}" must be 1-${IPSET_MAXNAMELEN - 1} characters`);
  if (!IFNAME_RE.test(op.iface)) throw new Error(`ipset ${op.verb} ${op.set}: "${op.iface}" is not an interface name`);
  const ipAttr = attr(IPSET_ATTR_IP | NLA_F_NESTED, attr((op.family === 4 ? IPSET_ATTR_IPADDR_IPV4 : IPSET_ATTR_IPADDR_IPV6) | NLA_F_NET_BYTEORDER, addr));
  const data = Buffer.concat([ipAttr, attr(IPSET_ATTR_CIDR, Uint8Array.of(maxLength(op.family))), attr(IPSET_ATTR_IFACE, cstr(op.iface))]);
  const nfgen = Uint8Array.of(op.family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6, 0, 0, 0);
  const payload = Buffer.concat([nfgen, attr(IPSET_ATTR_PROTOCOL, Uint8Array.of(IPSET_PROTOCOL)), attr(IPSET_ATTR_SETNAME, cstr(op.set)), attr(IPSET_ATTR_DATA | NLA_F_NESTED, data)]);
  return { type: (NFNL_SUBSYS_IPSET << 8) | (op.verb === 'add' ? IPSET_CMD_ADD : IPSET_CMD_DEL), flags: 0, payload };
}

/** What an error code from the batch means, for the message naming the failed change. */
function describe(code: string): string {
  const m = /^errno (\d+)$/.exec(code);
  if (m) return IPSET_ERRORS[Number(m[1])] ?? code;
  if (code === 'ENOENT') return 'ENOENT (no such set)';
  return code;
}

/**
 * The applier's endpoint-set writer over nfnetlink. The socket is opened on first use in
 * the calling process's network namespace (the agent's), and holds the event loop only
 * while a batch is in flight.
 */
export class NetlinkEndpointSets implements EndpointSetWriter {
  private sock: RtnlSocket | undefined;

  async write(ops: readonly EndpointSetOp[]): Promise<void> {
    if (ops.length === 0) return;
    const msgs = ops.map(ipsetMessage);
    this.sock ??= new RtnlSocket({ protocol: NETLINK_NETFILTER });
    const results = await this.sock.batch(msgs);
    const failed = results.flatMap((code, i) => (code === undefined ? [] : [`${ops[i]!.verb} ${ops[i]!.set} ${ops[i]!.addr},${ops[i]!.iface}: ${describe(code)}`]));
    if (failed.length > 0) throw new Error(`ipset over netlink: ${failed.join('; ')}`);
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
