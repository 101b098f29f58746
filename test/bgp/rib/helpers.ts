/** Builders for RIB tests: UPDATE messages as the codec would decode them. */
import type { PathAttributes, UpdateMessage } from '../../../bgp/wire/types.js';

export function v4Update(nlri: string[], attrs: Partial<PathAttributes> = {}, extra: Partial<UpdateMessage> = {}): UpdateMessage {
  return {
    type: 'UPDATE',
    withdrawn: [],
    attributes: Object.freeze({ origin: 0, asPath: [{ type: 'sequence' as const, asns: [65000] }], nextHop: '203.0.113.1', ...attrs }),
    nlri,
    handling: 'none',
    errors: [],
    ...extra,
  };
}

export function v6Update(nlri: string[], attrs: Partial<PathAttributes> = {}, extra: Partial<UpdateMessage> = {}): UpdateMessage {
  return {
    type: 'UPDATE',
    withdrawn: [],
    attributes: Object.freeze({ origin: 0, asPath: [{ type: 'sequence' as const, asns: [65000] }], ...attrs }),
    nlri: [],
    mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8:ff::1', 'fe80::1'], nlri },
    handling: 'none',
    errors: [],
    ...extra,
  };
}

export function withdrawV4(prefixes: string[]): UpdateMessage {
  return { type: 'UPDATE', withdrawn: prefixes, attributes: {}, nlri: [], handling: 'none', errors: [] };
}

export function withdrawV6(prefixes: string[]): UpdateMessage {
  return {
    type: 'UPDATE',
    withdrawn: [],
    attributes: {},
    nlri: [],
    mpUnreach: { afi: 2, safi: 1, withdrawn: prefixes },
    handling: 'none',
    errors: [],
  };
}
