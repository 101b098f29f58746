/**
 * When each IPv4 /32 first arrived at the ToR in a BGP UPDATE: the ToR's capture of its
 * fabric interface (tshark, lab harness) split into messages, and the IPv4 NLRI of each
 * UPDATE from the worker read (RFC 4271 4.3: withdrawn routes length, withdrawn routes,
 * total path attribute length, path attributes, then NLRI as length-prefix pairs up to
 * the end of the message). That time splits host route → ToR FIB into the worker
 * speaker's share (until the UPDATE is on the wire) and the ToR's (until its FIB has it).
 */
import { bgpMessagesFromPcap } from '../../test/lab/harness/index.js';

const UPDATE = 2;

/** Host address → capture time (wall-clock ms) of the first UPDATE from `from` (an IPv4 address) announcing it as a /32. */
export function firstAnnouncements(pcap: string, from: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of bgpMessagesFromPcap(pcap)) {
    if (m.type !== UPDATE || !m.from.startsWith(`${from}:`)) continue;
    const b = m.bytes;
    let off = 19;
    const wdLen = b.readUInt16BE(off);
    off += 2 + wdLen;
    const attrLen = b.readUInt16BE(off);
    off += 2 + attrLen;
    while (off < b.length) {
      const len = b[off]!;
      const n = Math.ceil(len / 8);
      if (len === 32) {
        const addr = [...b.subarray(off + 1, off + 1 + n)].join('.');
        if (!out.has(addr)) out.set(addr, m.time * 1000);
      }
      off += 1 + n;
    }
  }
  return out;
}
