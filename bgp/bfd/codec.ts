/**
 * BFD Control packet codec (RFC 5880 4.1): Buffer <-> ControlPacket, pure. A decode
 * either returns a packet that passed every reception check of RFC 5880 6.8.6 that the
 * packet alone can decide, or throws a BfdPacketError naming the check. The checks that
 * need a session (discriminator lookup, "is authentication in use") are the runner's.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
 * |                       My Discriminator                        |
 * |                      Your Discriminator                       |
 * |                    Desired Min TX Interval                    |
 * |                   Required Min RX Interval                    |
 * |                 Required Min Echo RX Interval                 |
 */
import { BfdStateCode, stateOfCode, type ControlPacket } from './types.js';

export const BFD_VERSION = 1;
/** RFC 5880 6.8.6: 24 without authentication, 26 at least with it. */
export const MIN_LENGTH = 24;
const MIN_LENGTH_AUTH = 26;

export type BfdCheck =
  | 'length' // shorter than 24 (26 with A), or Length beyond what was received
  | 'version' // Vers != 1
  | 'multiplier' // Detect Mult 0
  | 'multipoint' // M set
  | 'my-discriminator' // My Discriminator 0
  | 'your-discriminator' // Your Discriminator 0 while State is neither Down nor AdminDown
  | 'poll-and-final' // P and F both set (4.1: "MUST NOT both be set")
  | 'authentication'; // A set: this speaker uses no authentication

/** A received packet that RFC 5880 6.8.6 says MUST be discarded, and why. */
export class BfdPacketError extends Error {
  override readonly name = 'BfdPacketError';
  constructor(
    readonly check: BfdCheck,
    message: string,
  ) {
    super(`BFD packet discarded (${check}): ${message}`);
  }
}

/** A ControlPacket that decodeControl may overwrite: the runner decodes every packet into one. */
export type ControlPacketSlot = { -readonly [K in keyof ControlPacket]: ControlPacket[K] };

/** Decodes one packet, into `into` when given (valid until the next decode into it). */
export function decodeControl(buf: Buffer, into?: ControlPacketSlot): ControlPacket {
  // RFC 5880 6.8.6, in the RFC's order.
  if (buf.length < 4) throw new BfdPacketError('length', `${buf.length} octets, a Control packet has at least ${MIN_LENGTH}`);
  const version = buf[0]! >> 5;
  if (version !== BFD_VERSION) throw new BfdPacketError('version', `version ${version}, expected ${BFD_VERSION}`);
  const flags = buf[1]!;
  const auth = (flags & 0x04) !== 0;
  const length = buf[3]!;
  const min = auth ? MIN_LENGTH_AUTH : MIN_LENGTH;
  if (length < min) throw new BfdPacketError('length', `Length field ${length}, less than ${min}`);
  if (length > buf.length) throw new BfdPacketError('length', `Length field ${length}, but only ${buf.length} octets received`);
  if (buf.length < MIN_LENGTH) throw new BfdPacketError('length', `${buf.length} octets, a Control packet has at least ${MIN_LENGTH}`);
  const detectMult = buf[2]!;
  if (detectMult === 0) throw new BfdPacketError('multiplier', 'Detect Mult is 0');
  if ((flags & 0x01) !== 0) throw new BfdPacketError('multipoint', 'Multipoint (M) bit set');
  const myDiscr = buf.readUInt32BE(4);
  if (myDiscr === 0) throw new BfdPacketError('my-discriminator', 'My Discriminator is 0');
  const yourDiscr = buf.readUInt32BE(8);
  const stateCode = flags >> 6;
  if (yourDiscr === 0 && stateCode !== BfdStateCode.Down && stateCode !== BfdStateCode.AdminDown) {
    throw new BfdPacketError('your-discriminator', `Your Discriminator is 0 in state ${stateOfCode(stateCode)}`);
  }
  const poll = (flags & 0x20) !== 0;
  const final = (flags & 0x10) !== 0;
  if (poll && final) throw new BfdPacketError('poll-and-final', 'Poll and Final both set');
  if (auth) throw new BfdPacketError('authentication', 'Authentication Present (A) bit set, and no authentication is configured');
  const diag = buf[0]! & 0x1f;
  const state = stateOfCode(stateCode);
  const cpi = (flags & 0x08) !== 0;
  const demand = (flags & 0x02) !== 0;
  const desiredMinTx = buf.readUInt32BE(12);
  const requiredMinRx = buf.readUInt32BE(16);
  const requiredMinEchoRx = buf.readUInt32BE(20);
  if (!into) return { diag, state, poll, final, cpi, demand, detectMult, myDiscr, yourDiscr, desiredMinTx, requiredMinRx, requiredMinEchoRx };
  into.diag = diag;
  into.state = state;
  into.poll = poll;
  into.final = final;
  into.cpi = cpi;
  into.demand = demand;
  into.detectMult = detectMult;
  into.myDiscr = myDiscr;
  into.yourDiscr = yourDiscr;
  into.desiredMinTx = desiredMinTx;
  into.requiredMinRx = requiredMinRx;
  into.requiredMinEchoRx = requiredMinEchoRx;
  return into;
}

/**
 * Encodes without authentication (Length 24), into `into` when given (a session reuses
 * one buffer for all its packets). Throws RangeError on a field out of range.
 */
export function encodeControl(p: ControlPacket, into?: Buffer): Buffer {
  if (!Number.isInteger(p.diag) || p.diag < 0 || p.diag > 31) throw new RangeError(`diag ${p.diag} is not 0-31`);
  if (!Number.isInteger(p.detectMult) || p.detectMult < 1 || p.detectMult > 255) throw new RangeError(`detectMult ${p.detectMult} is not 1-255`);
  if (p.poll && p.final) throw new RangeError('Poll and Final must not both be set (RFC 5880 4.1)');
  if (into && into.length < MIN_LENGTH) throw new RangeError(`a Control packet needs ${MIN_LENGTH} octets, the buffer has ${into.length}`);
  const b = into ?? Buffer.alloc(MIN_LENGTH);
  b[0] = (BFD_VERSION << 5) | p.diag;
  b[1] =
    (BfdStateCode[p.state] << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.cpi ? 0x08 : 0) | (p.demand ? 0x02 : 0);
  b[2] = p.detectMult;
  b[3] = MIN_LENGTH;
  b.writeUInt32BE(p.myDiscr >>> 0, 4);
  b.writeUInt32BE(p.yourDiscr >>> 0, 8);
  b.writeUInt32BE(p.desiredMinTx >>> 0, 12);
  b.writeUInt32BE(p.requiredMinRx >>> 0, 16);
  b.writeUInt32BE(p.requiredMinEchoRx >>> 0, 20);
  return b;
}
