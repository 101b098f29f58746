/**
 * Vocabulary of BFD (RFC 5880, single hop RFC 5881): session states, diagnostic codes
 * and the Control packet as a typed value. Nothing here touches a socket or a clock.
 *
 * The part's file split is its architecture: codec.ts (bytes <-> ControlPacket, with the
 * RFC 5880 6.8.6 reception checks as typed errors), fsm.ts (the 6.2 state machine as a
 * state × event table), timers.ts (6.8.2-6.8.4 and 6.8.7 interval negotiation),
 * session.ts (one session: executes the FSM, timers and Poll/Final on an injected clock),
 * scheduler.ts (one timer for all sessions' transmit and detection deadlines),
 * runner.ts (UDP sockets, RFC 5881), ttl-filter.ts (a socket filter that accepts only
 * TTL / hop limit 255, attached through bgp/net/native.ts), peers.ts (what the BGP
 * speaker calls).
 */

/** RFC 5880 4.1 State (Sta) field values. */
export const BfdStateCode = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdState = keyof typeof BfdStateCode;
export const BFD_STATES: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up'];

export function stateOfCode(code: number): BfdState {
  const s = BFD_STATES[code];
  if (s === undefined) throw new RangeError(`BFD state code ${code} is not 0-3`);
  return s;
}

/** RFC 5880 4.1 Diagnostic (Diag) codes. */
export const Diag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;
export type DiagCode = (typeof Diag)[keyof typeof Diag];

const DIAG_NAMES: Readonly<Record<number, string>> = {
  0: 'No Diagnostic',
  1: 'Control Detection Time Expired',
  2: 'Echo Function Failed',
  3: 'Neighbor Signaled Session Down',
  4: 'Forwarding Plane Reset',
  5: 'Path Down',
  6: 'Concatenated Path Down',
  7: 'Administratively Down',
  8: 'Reverse Concatenated Path Down',
};

/** "Control Detection Time Expired"; codes 9-31 are reserved (RFC 5880 4.1). */
export function diagName(code: number): string {
  return DIAG_NAMES[code] ?? `Reserved (${code})`;
}

/**
 * A BFD Control packet (RFC 5880 4.1). Intervals are in microseconds, as on the wire.
 * Authentication is not supported: a packet with the A bit set is refused by the codec
 * (6.8.6: "If the A bit is set and no authentication is in use ... MUST be discarded").
 */
export interface ControlPacket {
  readonly diag: number;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  /** C: Control Plane Independent. */
  readonly cpi: boolean;
  /** D: Demand mode (this speaker never asks for it). */
  readonly demand: boolean;
  readonly detectMult: number;
  readonly myDiscr: number;
  readonly yourDiscr: number;
  readonly desiredMinTx: number;
  readonly requiredMinRx: number;
  readonly requiredMinEchoRx: number;
}

/** RFC 5881 4: control packets go to UDP 3784, from a source port in 49152-65535. */
export const BFD_PORT = 3784;
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_MAX = 65535;
/** RFC 5881 5: sent with TTL / hop limit 255, and only 255 accepted (GTSM, RFC 5082). */
export const BFD_TTL = 255;
