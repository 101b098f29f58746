/**
 * IPAM errors: each names what was asked, why it cannot be done, and what to change.
 * The runtime shows `message` to the operator as is (routectl endpoints, the CNI error).
 */

export class IpamError extends Error {
  override readonly name: string = 'IpamError';
}

export class PoolConfigError extends IpamError {
  override readonly name = 'PoolConfigError';
}

export class UnknownZoneError extends IpamError {
  override readonly name = 'UnknownZoneError';
  constructor(
    readonly zone: string,
    readonly knownZones: readonly string[],
  ) {
    super(
      `zone ${JSON.stringify(zone)} has no address pool on this worker` +
        (knownZones.length ? ` (zones with pools: ${knownZones.join(', ')})` : ' (no pools configured)') +
        '; fix the routectl.zone label or add a pool for that zone',
    );
  }
}

export class InvalidAddressError extends IpamError {
  override readonly name = 'InvalidAddressError';
  constructor(
    readonly field: 'ipv4' | 'ipv6',
    readonly address: string,
  ) {
    super(`requested ${field} ${JSON.stringify(address)} is not an ${field === 'ipv4' ? 'IPv4' : 'IPv6'} address`);
  }
}

export class AddressOutsidePoolsError extends IpamError {
  override readonly name = 'AddressOutsidePoolsError';
  constructor(
    readonly address: string,
    readonly zone: string,
    readonly pools: readonly string[],
  ) {
    super(
      `requested address ${address} is outside the zone ${zone}'s pools on this worker` +
        (pools.length ? ` (${pools.join(', ')})` : ' (none of that family)') +
        '; pick an address inside one of them or drop the fixed-address request',
    );
  }
}

export class AddressTakenError extends IpamError {
  override readonly name = 'AddressTakenError';
  constructor(
    readonly address: string,
    readonly owner: string,
  ) {
    super(`requested address ${address} is already allocated to endpoint ${owner}; pick another or remove that endpoint first`);
  }
}

export class PoolExhaustedError extends IpamError {
  override readonly name = 'PoolExhaustedError';
  constructor(
    readonly zone: string,
    readonly family: 4 | 6,
    readonly pools: readonly string[],
  ) {
    super(
      `no free IPv${family} address in zone ${zone}'s pools on this worker (${pools.join(', ')}); ` +
        'release endpoints or add a pool',
    );
  }
}

/** The endpoint already holds addresses that differ from what this request asks for. */
export class AllocationConflictError extends IpamError {
  override readonly name = 'AllocationConflictError';
  constructor(
    readonly endpointId: string,
    detail: string,
  ) {
    super(`endpoint ${endpointId} already has an allocation: ${detail}; release it first`);
  }
}

/** Cluster mode: a fixed address inside a block another worker has claimed. */
export class BlockOwnedError extends IpamError {
  override readonly name = 'BlockOwnedError';
  constructor(
    readonly address: string,
    readonly block: string,
    readonly owner: string,
  ) {
    super(`requested address ${address} is in block ${block}, claimed by worker ${owner}; start the container there or pick an address outside that block`);
  }
}
