/**
 * OPEN (RFC 4271 4.2) with the checks that belong to the codec (RFC 4271 6.2): version
 * 4 (2/1, data = the version we support), hold time 0 or >= 3 (2/6), a non-zero BGP
 * Identifier (2/3), only optional parameter type 2, capabilities (2/4). The peer AS is
 * checked by the session, which knows what it expects (2/2).
 * RFC 9072: extended optional parameters length, used when capabilities exceed 255 octets.
 */
import { decodeCapabilities, encodeCapabilities } from './capabilities.js';
import { BgpNotification } from './errors.js';
import { formatIPv4, isIPv4, parseAddress } from './prefix.js';
import { Reader } from './reader.js';
import type { OpenMessage } from './types.js';

export const BGP_VERSION = 4;
/** RFC 5492 4: the Capabilities optional parameter. */
const PARAM_CAPABILITIES = 2;
/** RFC 9072 2: the non-extended type octet that announces the extended format. */
const PARAM_EXTENDED = 255;

export function encodeOpen(m: Omit<OpenMessage, 'type'>): Buffer {
  if (!isIPv4(m.bgpId)) throw new RangeError(`BGP identifier "${m.bgpId}" is not a dotted quad`);
  const caps = encodeCapabilities(m.capabilities);
  const head = Buffer.allocUnsafe(10);
  head[0] = m.version ?? BGP_VERSION;
  head.writeUInt16BE(m.myAs, 1);
  head.writeUInt16BE(m.holdTime, 3);
  parseAddress(m.bgpId).copy(head, 5);
  if (caps.length === 0) {
    head[9] = 0;
    return head;
  }
  if (caps.length + 2 <= 255) {
    head[9] = caps.length + 2;
    return Buffer.concat([head, Buffer.from([PARAM_CAPABILITIES, caps.length]), caps]);
  }
  // RFC 9072 2: Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet length, 2-octet parameter lengths.
  head[9] = 255;
  const ext = Buffer.allocUnsafe(6);
  ext[0] = PARAM_EXTENDED;
  ext.writeUInt16BE(3 + caps.length, 1);
  ext[3] = PARAM_CAPABILITIES;
  ext.writeUInt16BE(caps.length, 4);
  return Buffer.concat([head, ext, caps]);
}

function openError(subcode: number, why: string, data: Buffer = Buffer.alloc(0)): BgpNotification {
  return new BgpNotification(2, subcode, data, why);
}

export function decodeOpen(body: Buffer): OpenMessage {
  const r = new Reader(body, 0, body.length, 2, 0, 'OPEN');
  const version = r.u8();
  if (version !== BGP_VERSION) {
    // RFC 4271 6.2: data = the largest supported version below the one bid, or our smallest.
    throw openError(1, `unsupported BGP version ${version}`, Buffer.from([0, BGP_VERSION]));
  }
  const myAs = r.u16();
  const holdTime = r.u16();
  const idBytes = r.bytes(4);
  const optLen = r.u8();
  // RFC 4271 6.2: hold time must be 0 or at least 3.
  if (holdTime === 1 || holdTime === 2) throw openError(6, `unacceptable hold time ${holdTime}`);
  // RFC 6286 2.2: any non-zero 4-octet value.
  if (idBytes.readUInt32BE(0) === 0) throw openError(3, 'BGP identifier 0.0.0.0');
  const bgpId = formatIPv4(idBytes);

  let extended = false;
  let params: Reader;
  if (optLen === 255 && r.remaining > 0 && body[r.pos] === PARAM_EXTENDED) {
    // RFC 9072 2
    extended = true;
    r.u8();
    params = r.sub(r.u16());
  } else {
    params = r.sub(optLen);
  }
  if (r.remaining !== 0) throw openError(0, `${r.remaining} octets after the optional parameters`);
  const capabilities = [];
  while (params.remaining > 0) {
    const type = params.u8();
    const len = extended ? params.u16() : params.u8();
    const value = params.bytes(len);
    if (type !== PARAM_CAPABILITIES) throw openError(4, `unsupported optional parameter type ${type}`);
    capabilities.push(...decodeCapabilities(value));
  }
  return { type: 'OPEN', version, myAs, holdTime, bgpId, capabilities };
}
