/**
 * The BFD session state machine (RFC 5880 6.2, with the transitions of 6.8.6 and 6.8.4)
 * as one explicit state × event switch. Pure: it reads a state and an event and says
 * the next state, the local diagnostic to set (when it changes) and whether the remote
 * discriminator is to be forgotten. bgp/bfd/session.ts turns packets and timers into
 * these events.
 *
 *                              +--+
 *                              |  | UP, ADMIN DOWN, TIMER
 *                              |  V
 *                      DOWN  +------+  INIT
 *               +------------|      |------------+
 *               |            | DOWN |            |
 *               |  +-------->|      |<--------+  |
 *               |  |         +------+         |  |
 *               |  |                          |  |
 *               |  |               ADMIN DOWN,|  |
 *               |  |ADMIN DOWN,          DOWN,|  |
 *               |  |TIMER                TIMER|  |
 *               V  |                          |  V
 *             +------+                      +------+
 *        +----|      |                      |      |----+
 *    DOWN|    | INIT |--------------------->|  UP  |    |INIT, UP
 *        +--->|      | INIT, UP             |      |<---+
 *             +------+                      +------+
 */
import { Diag, type BfdState } from './types.js';

export const BFD_EVENTS = [
  'RecvAdminDown', // a packet with State AdminDown
  'RecvDown',
  'RecvInit',
  'RecvUp',
  'DetectionTimeExpired', // 6.8.4: no valid packet within the detection time
  'AdminDown', // local: the session is taken down administratively
  'AdminUp', // local: the session is enabled again
] as const;
export type BfdEvent = (typeof BFD_EVENTS)[number];

export interface BfdTransition {
  readonly next: BfdState;
  /** The new bfd.LocalDiag, when this transition sets it. */
  readonly diag?: number;
  /** 6.8.1: bfd.RemoteDiscr goes back to zero when the detection time passes. */
  readonly clearRemoteDiscr?: boolean;
}

/** The event a received packet's State field stands for. */
export function recvEvent(state: BfdState): BfdEvent {
  switch (state) {
    case 'AdminDown':
      return 'RecvAdminDown';
    case 'Down':
      return 'RecvDown';
    case 'Init':
      return 'RecvInit';
    case 'Up':
      return 'RecvUp';
  }
}

/** One value per state: a session answers most packets with "stay", and allocates nothing for it. */
const STAY: Readonly<Record<BfdState, BfdTransition>> = {
  AdminDown: Object.freeze({ next: 'AdminDown' }),
  Down: Object.freeze({ next: 'Down' }),
  Init: Object.freeze({ next: 'Init' }),
  Up: Object.freeze({ next: 'Up' }),
};
const stay = (s: BfdState): BfdTransition => STAY[s];

export function transition(state: BfdState, event: BfdEvent): BfdTransition {
  switch (state) {
    case 'AdminDown':
      switch (event) {
        case 'AdminUp':
          // 6.8.16: leaving AdminDown goes to Down (the diag stays until the session is Up).
          return { next: 'Down' };
        case 'RecvAdminDown':
        case 'RecvDown':
        case 'RecvInit':
        case 'RecvUp':
          // 6.8.6: "If bfd.SessionState is AdminDown: Discard the packet".
          return stay(state);
        case 'DetectionTimeExpired':
          return { next: state, clearRemoteDiscr: true };
        case 'AdminDown':
          return stay(state);
      }
      break;
    case 'Down':
      switch (event) {
        case 'RecvAdminDown':
          // 6.8.6: AdminDown received while Down changes nothing.
          return stay(state);
        case 'RecvDown':
          // 6.2: the three-way handshake, first step.
          return { next: 'Init' };
        case 'RecvInit':
          return { next: 'Up' };
        case 'RecvUp':
          // 6.8.6: Up received while Down is ignored; the peer will see our Down and drop.
          return stay(state);
        case 'DetectionTimeExpired':
          return { next: state, clearRemoteDiscr: true };
        case 'AdminDown':
          return { next: 'AdminDown', diag: Diag.AdministrativelyDown };
        case 'AdminUp':
          return stay(state);
      }
      break;
    case 'Init':
      switch (event) {
        case 'RecvAdminDown':
          return { next: 'Down', diag: Diag.NeighborSignaledSessionDown };
        case 'RecvDown':
          return stay(state);
        case 'RecvInit':
        case 'RecvUp':
          return { next: 'Up' };
        case 'DetectionTimeExpired':
          return { next: 'Down', diag: Diag.ControlDetectionTimeExpired, clearRemoteDiscr: true };
        case 'AdminDown':
          return { next: 'AdminDown', diag: Diag.AdministrativelyDown };
        case 'AdminUp':
          return stay(state);
      }
      break;
    case 'Up':
      switch (event) {
        case 'RecvAdminDown':
        case 'RecvDown':
          return { next: 'Down', diag: Diag.NeighborSignaledSessionDown };
        case 'RecvInit':
        case 'RecvUp':
          return stay(state);
        case 'DetectionTimeExpired':
          return { next: 'Down', diag: Diag.ControlDetectionTimeExpired, clearRemoteDiscr: true };
        case 'AdminDown':
          return { next: 'AdminDown', diag: Diag.AdministrativelyDown };
        case 'AdminUp':
          return stay(state);
      }
      break;
  }
  throw new Error(`unreachable: ${state} × ${event}`);
}
