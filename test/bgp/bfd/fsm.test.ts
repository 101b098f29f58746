/** The BFD state machine (RFC 5880 6.2, 6.8.6, 6.8.4): one row per state × event cell. */
import { describe, expect, it } from 'vitest';
import { BFD_EVENTS, transition, type BfdEvent, type BfdTransition } from '../../../bgp/bfd/fsm.js';
import { BFD_STATES, Diag, type BfdState } from '../../../bgp/bfd/types.js';

const T = Diag.ControlDetectionTimeExpired;
const N = Diag.NeighborSignaledSessionDown;
const A = Diag.AdministrativelyDown;

// [state, event, next, diag set (or undefined), remote discriminator cleared]
const table: [BfdState, BfdEvent, BfdState, number | undefined, boolean][] = [
  ['AdminDown', 'RecvAdminDown', 'AdminDown', undefined, false],
  ['AdminDown', 'RecvDown', 'AdminDown', undefined, false],
  ['AdminDown', 'RecvInit', 'AdminDown', undefined, false],
  ['AdminDown', 'RecvUp', 'AdminDown', undefined, false],
  ['AdminDown', 'DetectionTimeExpired', 'AdminDown', undefined, true],
  ['AdminDown', 'AdminDown', 'AdminDown', undefined, false],
  ['AdminDown', 'AdminUp', 'Down', undefined, false],

  ['Down', 'RecvAdminDown', 'Down', undefined, false],
  ['Down', 'RecvDown', 'Init', undefined, false],
  ['Down', 'RecvInit', 'Up', undefined, false],
  ['Down', 'RecvUp', 'Down', undefined, false],
  ['Down', 'DetectionTimeExpired', 'Down', undefined, true],
  ['Down', 'AdminDown', 'AdminDown', A, false],
  ['Down', 'AdminUp', 'Down', undefined, false],

  ['Init', 'RecvAdminDown', 'Down', N, false],
  ['Init', 'RecvDown', 'Init', undefined, false],
  ['Init', 'RecvInit', 'Up', undefined, false],
  ['Init', 'RecvUp', 'Up', undefined, false],
  ['Init', 'DetectionTimeExpired', 'Down', T, true],
  ['Init', 'AdminDown', 'AdminDown', A, false],
  ['Init', 'AdminUp', 'Init', undefined, false],

  ['Up', 'RecvAdminDown', 'Down', N, false],
  ['Up', 'RecvDown', 'Down', N, false],
  ['Up', 'RecvInit', 'Up', undefined, false],
  ['Up', 'RecvUp', 'Up', undefined, false],
  ['Up', 'DetectionTimeExpired', 'Down', T, true],
  ['Up', 'AdminDown', 'AdminDown', A, false],
  ['Up', 'AdminUp', 'Up', undefined, false],
];

describe('BFD FSM table', () => {
  it('has exactly one row per state × event', () => {
    const cells = new Set(table.map(([s, e]) => `${s}×${e}`));
    expect(cells.size).toBe(table.length);
    expect(table.length).toBe(BFD_STATES.length * BFD_EVENTS.length);
    for (const s of BFD_STATES) for (const e of BFD_EVENTS) expect(cells.has(`${s}×${e}`)).toBe(true);
  });

  it.each(table)('%s × %s -> %s', (state, event, next, diag, clear) => {
    const t: BfdTransition = transition(state, event);
    expect(t.next).toBe(next);
    expect(t.diag).toBe(diag);
    expect(!!t.clearRemoteDiscr).toBe(clear);
  });
});

describe('BFD three-way handshake (RFC 5880 6.2)', () => {
  it('both sides reach Up after Down, Init, Up are exchanged', () => {
    let a: BfdState = 'Down';
    let b: BfdState = 'Down';
    // a sends Down; b hears it.
    b = transition(b, 'RecvDown').next; // Init
    a = transition(a, 'RecvInit').next; // Up
    b = transition(b, 'RecvUp').next; // Up
    expect([a, b]).toEqual(['Up', 'Up']);
  });

  it('a peer that says Up while we are Down does not bring us Up', () => {
    expect(transition('Down', 'RecvUp').next).toBe('Down');
  });
});
