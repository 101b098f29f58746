/**
 * NOTIFICATION (RFC 4271 4.5): every error code and subcode with its name (RFC 4271 4.5
 * and 6, RFC 4486 Cease subcodes, RFC 5492, RFC 6608, RFC 7313, RFC 8538, RFC 9234),
 * and the RFC 8203/9003 shutdown communication carried in Cease / Administrative
 * Shutdown and Administrative Reset.
 */
import type { NotificationMessage } from './types.js';

export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

export const HeaderSubcode = { CONNECTION_NOT_SYNCHRONIZED: 1, BAD_MESSAGE_LENGTH: 2, BAD_MESSAGE_TYPE: 3 } as const;

export const OpenSubcode = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_ID: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
  ROLE_MISMATCH: 11,
} as const;

export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN: 2,
  MISSING_WELL_KNOWN: 3,
  ATTRIBUTE_FLAGS: 4,
  ATTRIBUTE_LENGTH: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

export const FsmSubcode = { UNEXPECTED_IN_OPENSENT: 1, UNEXPECTED_IN_OPENCONFIRM: 2, UNEXPECTED_IN_ESTABLISHED: 3 } as const;

export const CeaseSubcode = {
  MAX_PREFIXES: 1,
  ADMIN_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMIN_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIG_CHANGE: 6,
  CONNECTION_COLLISION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
  BFD_DOWN: 10,
} as const;

export const RouteRefreshSubcode = { INVALID_MESSAGE_LENGTH: 1 } as const;

const CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

const SUBCODE_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  1: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  2: {
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    5: 'Authentication Failure', // deprecated (RFC 4271 Appendix A)
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability',
    11: 'Role Mismatch',
  },
  3: {
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    7: 'AS Routing Loop', // deprecated (RFC 4271 Appendix A)
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  5: {
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  6: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  7: { 1: 'Invalid Message Length' },
};

/** "Cease / Administrative Shutdown"; subcode 0 gives the code's name alone. */
export function notificationName(code: number, subcode: number): string {
  const c = CODE_NAMES[code] ?? `Error code ${code}`;
  if (subcode === 0) return c;
  const s = SUBCODE_NAMES[code]?.[subcode] ?? `subcode ${subcode}`;
  return `${c} / ${s}`;
}

/** One line for logs and `routectl peers`: name, then the shutdown text or the data in hex. */
export function describeNotification(n: Pick<NotificationMessage, 'code' | 'subcode' | 'data' | 'shutdownMessage'>): string {
  let name = notificationName(n.code, n.subcode);
  // RFC 8538 3: name the NOTIFICATION a Hard Reset wraps (its code and subcode lead the data).
  if (n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.HARD_RESET && n.data.length >= 2) {
    name = `${name} (${notificationName(n.data[0]!, n.data[1]!).replace(/^Cease \/ /, '')})`;
  }
  if (n.shutdownMessage !== undefined) return `${name}: ${JSON.stringify(n.shutdownMessage)}`;
  // RFC 4486 4: Maximum Number of Prefixes Reached carries AFI (2), SAFI (1), limit (4).
  if (n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.MAX_PREFIXES && n.data.length === 7) {
    const afi = n.data.readUInt16BE(0);
    const fam = afi === 1 ? 'IPv4' : afi === 2 ? 'IPv6' : `AFI ${afi}`;
    const safi = n.data[2] === 1 ? 'unicast' : `SAFI ${n.data[2]}`;
    return `${name} (${fam} ${safi}, limit ${n.data.readUInt32BE(3)})`;
  }
  if (n.data.length > 0) return `${name} (data ${n.data.subarray(0, 64).toString('hex')}${n.data.length > 64 ? '…' : ''})`;
  return name;
}

/** RFC 9003 2: shutdown communication is up to 255 octets of UTF-8. */
export const MAX_SHUTDOWN_MESSAGE = 255;

function carriesShutdownMessage(code: number, subcode: number): boolean {
  return code === ErrorCode.CEASE && (subcode === CeaseSubcode.ADMIN_SHUTDOWN || subcode === CeaseSubcode.ADMIN_RESET);
}

/**
 * A Cease NOTIFICATION carrying a shutdown communication (RFC 9003 2). Text longer than
 * 255 octets is cut at a character boundary: an over-long message must not stop the
 * shutdown it explains.
 */
export function shutdownNotification(subcode: number, text: string): NotificationMessage {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_SHUTDOWN_MESSAGE) {
    let cut = MAX_SHUTDOWN_MESSAGE;
    // Step back over UTF-8 continuation octets (10xxxxxx) so no character is split.
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
    bytes = bytes.subarray(0, cut);
  }
  const data = Buffer.allocUnsafe(1 + bytes.length);
  data[0] = bytes.length;
  bytes.copy(data, 1);
  return { type: 'NOTIFICATION', code: ErrorCode.CEASE, subcode, data, shutdownMessage: bytes.toString('utf8') };
}

export function encodeNotification(m: Pick<NotificationMessage, 'code' | 'subcode' | 'data'>): Buffer {
  const body = Buffer.allocUnsafe(2 + m.data.length);
  body[0] = m.code;
  body[1] = m.subcode;
  m.data.copy(body, 2);
  return body;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Never throws for a body of at least 2 octets (the framer guarantees that): a
 * NOTIFICATION is not answered with another one (RFC 4271 6.4). The shutdown text is
 * taken only when its length octet fits and it is valid UTF-8 (RFC 9003 3).
 */
export function decodeNotification(body: Buffer): NotificationMessage {
  const code = body[0] ?? 0;
  const subcode = body[1] ?? 0;
  const data = Buffer.from(body.subarray(2));
  // RFC 8538 3: Hard Reset's data is the error code and subcode of the NOTIFICATION it
  // wraps, then that one's data.
  const wrapped = code === ErrorCode.CEASE && subcode === CeaseSubcode.HARD_RESET && data.length >= 2;
  const inner = wrapped ? data.subarray(2) : data;
  if (carriesShutdownMessage(wrapped ? data[0]! : code, wrapped ? data[1]! : subcode) && inner.length >= 1) {
    const len = inner[0]!;
    if (len > 0 && len + 1 <= inner.length) {
      try {
        const text = utf8.decode(inner.subarray(1, 1 + len));
        return { type: 'NOTIFICATION', code, subcode, data, shutdownMessage: text };
      } catch {
        // RFC 9003 3: invalid UTF-8 is not displayed; the NOTIFICATION itself stands.
      }
    }
  }
  return { type: 'NOTIFICATION', code, subcode, data };
}
