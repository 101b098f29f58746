/**
 * Packet captures for codec fixtures: tshark on a lab interface writing classic pcap,
 * and a small pcap reader that reassembles each TCP direction by sequence number and
 * splits it into whole BGP messages (RFC 4271 4.1: 16-octet marker, 2-octet length).
 * Reassembly matters: one segment can hold several messages and one large UPDATE can
 * span segments.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { tail, terminate } from './proc.js';
import { waitFor } from './wait.js';

export interface Capture {
  readonly file: string;
  /** Stop tshark and wait until the file is complete. */
  stop(): Promise<void>;
}

export async function startCapture(ns: Netns, iface: string, file: string, filter = 'tcp port 179'): Promise<Capture> {
  const log = `${ns.name}-tshark-${iface}.log`;
  const child: ChildProcess = ns.spawn(['tshark', '-n', '-q', '-i', iface, '-f', filter, '-F', 'pcap', '-w', file], { log });
  await waitFor(() => tail(join(ns.lab.dir, log), 20).includes('Capturing on'), {
    what: `tshark on ${ns.name}/${iface} to start capturing`,
    timeoutMs: 15_000,
    intervalMs: 50,
    diagnostics: () => tail(join(ns.lab.dir, log)),
  });
  return {
    file,
    async stop() {
      if (child.pid) await terminate(child.pid, 5000);
    },
  };
}

export interface CapturedMessage {
  /** "ip:port" of the sender and the receiver. */
  readonly from: string;
  readonly to: string;
  /** Capture time of the segment that completed the message, seconds since the epoch. */
  readonly time: number;
  /** The whole message, header included. */
  readonly bytes: Buffer;
  readonly type: number;
}

interface Flow {
  from: string;
  to: string;
  nextSeq: number | undefined;
  buf: Buffer;
}

function ipv6Text(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** Every BGP message in a classic pcap file (Ethernet or Linux cooked), in capture order. */
export function bgpMessagesFromPcap(file: string): CapturedMessage[] {
  const data = readFileSync(file);
  const magic = data.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${file}: not a little-endian pcap file (use tshark -F pcap)`);
  const nano = magic === 0xa1b23c4d;
  const linkType = data.readUInt32LE(20);
  const flows = new Map<string, Flow>();
  const out: CapturedMessage[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const sec = data.readUInt32LE(off);
    const frac = data.readUInt32LE(off + 4);
    const caplen = data.readUInt32LE(off + 8);
    const pkt = data.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    const time = sec + frac / (nano ? 1e9 : 1e6);
    let p: number;
    let etherType: number;
    if (linkType === 1) {
      etherType = pkt.readUInt16BE(12);
      p = 14;
    } else if (linkType === 113) {
      etherType = pkt.readUInt16BE(14);
      p = 16;
    } else throw new Error(`${file}: unsupported link type ${linkType}`);
    let src: string;
    let dst: string;
    if (etherType === 0x0800) {
      if (pkt[p + 9] !== 6) continue;
      const ihl = ((pkt[p] ?? 0) & 0x0f) * 4;
      const totalLen = pkt.readUInt16BE(p + 2);
      src = [...pkt.subarray(p + 12, p + 16)].join('.');
      dst = [...pkt.subarray(p + 16, p + 20)].join('.');
      const end = p + totalLen;
      p += ihl;
      addSegment(pkt.subarray(p, end), src, dst, time);
    } else if (etherType === 0x86dd) {
      if (pkt[p + 6] !== 6) continue; // extension headers are not used on BGP sessions here
      const payloadLen = pkt.readUInt16BE(p + 4);
      src = ipv6Text(pkt.subarray(p + 8, p + 24));
      dst = ipv6Text(pkt.subarray(p + 24, p + 40));
      addSegment(pkt.subarray(p + 40, p + 40 + payloadLen), `[${src}]`, `[${dst}]`, time);
    }
  }
  return out;

  function addSegment(tcp: Buffer, src: string, dst: string, time: number): void {
    const sport = tcp.readUInt16BE(0);
    const dport = tcp.readUInt16BE(2);
    const seq = tcp.readUInt32BE(4);
    const dataOff = ((tcp[12] ?? 0) >> 4) * 4;
    const flags = tcp[13] ?? 0;
    const from = `${src}:${sport}`;
    const to = `${dst}:${dport}`;
    const key = `${from}>${to}`;
    let f = flows.get(key);
    if (flags & 0x02) {
      // SYN: a new connection in this direction starts at seq + 1.
      f = { from, to, nextSeq: (seq + 1) >>> 0, buf: Buffer.alloc(0) };
      flows.set(key, f);
      return;
    }
    let payload = tcp.subarray(dataOff);
    if (!f || payload.length === 0) return;
    if (f.nextSeq === undefined) f.nextSeq = seq;
    const delta = (seq - f.nextSeq) | 0;
    if (delta > 0) throw new Error(`${f.from}>${f.to}: ${delta} bytes missing from the capture at seq ${seq}`);
    if (delta < 0) {
      if (-delta >= payload.length) return; // pure retransmission
      payload = payload.subarray(-delta);
    }
    f.nextSeq = (f.nextSeq + payload.length) >>> 0;
    f.buf = Buffer.concat([f.buf, payload]);
    while (f.buf.length >= 19) {
      if (!f.buf.subarray(0, 16).equals(MARKER)) throw new Error(`${f.from}>${f.to}: lost BGP framing (no marker)`);
      const len = f.buf.readUInt16BE(16);
      if (len < 19) throw new Error(`${f.from}>${f.to}: BGP length ${len} < 19`);
      if (f.buf.length < len) break;
      const bytes = Buffer.from(f.buf.subarray(0, len));
      out.push({ from: f.from, to: f.to, time, bytes, type: bytes[18] ?? 0 });
      f.buf = f.buf.subarray(len);
    }
  }
}

const MARKER = Buffer.alloc(16, 0xff);
