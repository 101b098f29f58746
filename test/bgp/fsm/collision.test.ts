/** RFC 4271 6.8 collision resolution: the connection initiated by the higher BGP Identifier stays. */
import { describe, expect, it } from 'vitest';
import { resolveCollision } from '../../../bgp/fsm/index.js';

describe('resolveCollision', () => {
  it('local id higher: keep the connection we initiated', () => {
    expect(resolveCollision({ localId: '10.0.0.2', remoteId: '10.0.0.1', existingInitiatedLocally: true, newInitiatedLocally: false })).toBe('close-new');
    expect(resolveCollision({ localId: '10.0.0.2', remoteId: '10.0.0.1', existingInitiatedLocally: false, newInitiatedLocally: true })).toBe('close-existing');
  });

  it('remote id higher: keep the connection the peer initiated', () => {
    expect(resolveCollision({ localId: '10.0.0.1', remoteId: '10.0.0.2', existingInitiatedLocally: true, newInitiatedLocally: false })).toBe('close-existing');
    expect(resolveCollision({ localId: '10.0.0.1', remoteId: '10.0.0.2', existingInitiatedLocally: false, newInitiatedLocally: true })).toBe('close-new');
  });

  it('compares identifiers as numbers, not strings', () => {
    expect(resolveCollision({ localId: '9.0.0.1', remoteId: '10.0.0.1', existingInitiatedLocally: true, newInitiatedLocally: false })).toBe('close-existing');
  });

  it('equal identifiers: the higher AS wins (RFC 6286 2.3)', () => {
    const c = { localId: '10.0.0.1', remoteId: '10.0.0.1', existingInitiatedLocally: true, newInitiatedLocally: false };
    expect(resolveCollision({ ...c, localAsn: 65002, remoteAsn: 65001 })).toBe('close-new');
    expect(resolveCollision({ ...c, localAsn: 65001, remoteAsn: 65002 })).toBe('close-existing');
  });

  it('both sides decide the same connection', () => {
    // A (10.0.0.9) initiated connection X; B (10.0.0.3) initiated Y. Each side sees its own as "existing".
    const a = resolveCollision({ localId: '10.0.0.9', remoteId: '10.0.0.3', existingInitiatedLocally: true, newInitiatedLocally: false });
    const b = resolveCollision({ localId: '10.0.0.3', remoteId: '10.0.0.9', existingInitiatedLocally: true, newInitiatedLocally: false });
    // A keeps X (closes Y = new); B closes its existing Y and keeps X.
    expect([a, b]).toEqual(['close-new', 'close-existing']);
  });

  it('both connections opened by the same side: the one under way stays', () => {
    expect(resolveCollision({ localId: '10.0.0.1', remoteId: '10.0.0.2', existingInitiatedLocally: false, newInitiatedLocally: false })).toBe('close-new');
    expect(resolveCollision({ localId: '10.0.0.2', remoteId: '10.0.0.1', existingInitiatedLocally: false, newInitiatedLocally: false })).toBe('close-new');
  });
});
