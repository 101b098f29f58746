/**
 * Capabilities (RFC 5492), carried in the OPEN's optional parameter type 2. Known ones
 * are decoded to typed values; unknown ones are kept raw and ignored (RFC 5492 3: a
 * speaker that does not recognise a capability ignores it). A known capability with a
 * malformed value is an OPEN Message Error (2/0), as BIRD and GoBGP do.
 */
import { BgpNotification } from './errors.js';
import type { Capability } from './types.js';

export const CapabilityCode = {
  MULTIPROTOCOL: 1, // RFC 4760
  ROUTE_REFRESH: 2, // RFC 2918
  EXTENDED_NEXTHOP: 5, // RFC 8950
  EXTENDED_MESSAGE: 6, // RFC 8654
  GRACEFUL_RESTART: 64, // RFC 4724
  FOUR_OCTET_AS: 65, // RFC 6793
  ADD_PATH: 69, // RFC 7911
  ENHANCED_ROUTE_REFRESH: 70, // RFC 7313
  LONG_LIVED_GRACEFUL_RESTART: 71, // RFC 9494
  FQDN: 73, // draft-walton-bgp-hostname-capability
  ROUTE_REFRESH_CISCO: 128, // pre-standard route refresh
} as const;

function malformed(code: number, why: string): BgpNotification {
  return new BgpNotification(2, 0, Buffer.alloc(0), `malformed capability ${code}: ${why}`);
}

function tlv(code: number, value: Buffer): Buffer {
  if (value.length > 255) throw new RangeError(`capability ${code} value of ${value.length} octets exceeds 255`);
  const b = Buffer.allocUnsafe(2 + value.length);
  b[0] = code;
  b[1] = value.length;
  value.copy(b, 2);
  return b;
}

/** One capability as code, length, value. */
export function encodeCapability(c: Capability): Buffer {
  switch (c.kind) {
    case 'multiprotocol': {
      const v = Buffer.alloc(4);
      v.writeUInt16BE(c.afi, 0);
      v[3] = c.safi;
      return tlv(CapabilityCode.MULTIPROTOCOL, v);
    }
    case 'route-refresh':
      return tlv(CapabilityCode.ROUTE_REFRESH, Buffer.alloc(0));
    case 'route-refresh-cisco':
      return tlv(CapabilityCode.ROUTE_REFRESH_CISCO, Buffer.alloc(0));
    case 'enhanced-route-refresh':
      return tlv(CapabilityCode.ENHANCED_ROUTE_REFRESH, Buffer.alloc(0));
    case 'extended-message':
      return tlv(CapabilityCode.EXTENDED_MESSAGE, Buffer.alloc(0));
    case 'extended-nexthop': {
      const v = Buffer.alloc(6 * c.entries.length);
      c.entries.forEach((e, i) => {
        v.writeUInt16BE(e.afi, 6 * i);
        v.writeUInt16BE(e.safi, 6 * i + 2);
        v.writeUInt16BE(e.nextHopAfi, 6 * i + 4);
      });
      return tlv(CapabilityCode.EXTENDED_NEXTHOP, v);
    }
    case 'graceful-restart': {
      // RFC 4724 3: R bit, N bit (RFC 8538), two reserved bits, 12 bits of restart time.
      const v = Buffer.alloc(2 + 4 * c.families.length);
      v.writeUInt16BE((c.restartState ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | (c.restartTime & 0x0fff), 0);
      c.families.forEach((f, i) => {
        v.writeUInt16BE(f.afi, 2 + 4 * i);
        v[4 + 4 * i] = f.safi;
        v[5 + 4 * i] = f.forwardingState ? 0x80 : 0;
      });
      return tlv(CapabilityCode.GRACEFUL_RESTART, v);
    }
    case 'long-lived-graceful-restart': {
      // RFC 9494 3: per family AFI (2), SAFI (1), flags (1; F bit 0x80), Long-lived Stale Time (3).
      const v = Buffer.alloc(7 * c.families.length);
      c.families.forEach((f, i) => {
        v.writeUInt16BE(f.afi, 7 * i);
        v[7 * i + 2] = f.safi;
        v[7 * i + 3] = f.forwardingState ? 0x80 : 0;
        v.writeUIntBE(f.staleTime & 0xffffff, 7 * i + 4, 3);
      });
      return tlv(CapabilityCode.LONG_LIVED_GRACEFUL_RESTART, v);
    }
    case 'four-octet-as': {
      const v = Buffer.alloc(4);
      v.writeUInt32BE(c.asn >>> 0, 0);
      return tlv(CapabilityCode.FOUR_OCTET_AS, v);
    }
    case 'add-path': {
      const v = Buffer.alloc(4 * c.entries.length);
      c.entries.forEach((e, i) => {
        v.writeUInt16BE(e.afi, 4 * i);
        v[4 * i + 2] = e.safi;
        v[4 * i + 3] = e.sendReceive;
      });
      return tlv(CapabilityCode.ADD_PATH, v);
    }
    case 'fqdn': {
      const h = Buffer.from(c.hostname, 'utf8').subarray(0, 255);
      const d = Buffer.from(c.domain, 'utf8').subarray(0, 255);
      return tlv(CapabilityCode.FQDN, Buffer.concat([Buffer.from([h.length]), h, Buffer.from([d.length]), d]));
    }
    case 'unknown':
      return tlv(c.code, c.value);
  }
}

function expectLength(code: number, v: Buffer, ok: boolean): void {
  if (!ok) throw malformed(code, `length ${v.length}`);
}

/** Decodes one capability value. */
export function decodeCapability(code: number, v: Buffer): Capability {
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL:
      expectLength(code, v, v.length === 4);
      return { kind: 'multiprotocol', afi: v.readUInt16BE(0), safi: v[3]! };
    case CapabilityCode.ROUTE_REFRESH:
      return { kind: 'route-refresh' };
    case CapabilityCode.ROUTE_REFRESH_CISCO:
      return { kind: 'route-refresh-cisco' };
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      return { kind: 'enhanced-route-refresh' };
    case CapabilityCode.EXTENDED_MESSAGE:
      return { kind: 'extended-message' };
    case CapabilityCode.EXTENDED_NEXTHOP: {
      expectLength(code, v, v.length % 6 === 0);
      const entries = [];
      for (let i = 0; i < v.length; i += 6) {
        entries.push({ afi: v.readUInt16BE(i), safi: v.readUInt16BE(i + 2), nextHopAfi: v.readUInt16BE(i + 4) });
      }
      return { kind: 'extended-nexthop', entries };
    }
    case CapabilityCode.GRACEFUL_RESTART: {
      expectLength(code, v, v.length >= 2 && (v.length - 2) % 4 === 0);
      const head = v.readUInt16BE(0);
      const families = [];
      for (let i = 2; i < v.length; i += 4) {
        families.push({ afi: v.readUInt16BE(i), safi: v[i + 2]!, forwardingState: (v[i + 3]! & 0x80) !== 0 });
      }
      return {
        kind: 'graceful-restart',
        restartState: (head & 0x8000) !== 0,
        notification: (head & 0x4000) !== 0,
        restartTime: head & 0x0fff,
        families,
      };
    }
    case CapabilityCode.LONG_LIVED_GRACEFUL_RESTART: {
      expectLength(code, v, v.length % 7 === 0);
      const families = [];
      for (let i = 0; i < v.length; i += 7) {
        families.push({ afi: v.readUInt16BE(i), safi: v[i + 2]!, forwardingState: (v[i + 3]! & 0x80) !== 0, staleTime: v.readUIntBE(i + 4, 3) });
      }
      return { kind: 'long-lived-graceful-restart', families };
    }
    case CapabilityCode.FOUR_OCTET_AS:
      expectLength(code, v, v.length === 4);
      return { kind: 'four-octet-as', asn: v.readUInt32BE(0) };
    case CapabilityCode.ADD_PATH: {
      expectLength(code, v, v.length % 4 === 0);
      const entries = [];
      for (let i = 0; i < v.length; i += 4) {
        entries.push({ afi: v.readUInt16BE(i), safi: v[i + 2]!, sendReceive: v[i + 3]! });
      }
      return { kind: 'add-path', entries };
    }
    case CapabilityCode.FQDN: {
      // A draft capability: when it does not parse, keep it raw rather than refuse the peer.
      const hl = v[0];
      if (hl === undefined || 1 + hl >= v.length || 2 + hl + v[1 + hl]! !== v.length) {
        return { kind: 'unknown', code, value: Buffer.from(v) };
      }
      return {
        kind: 'fqdn',
        hostname: v.subarray(1, 1 + hl).toString('utf8'),
        domain: v.subarray(2 + hl).toString('utf8'),
      };
    }
    default:
      return { kind: 'unknown', code, value: Buffer.from(v) };
  }
}

/** Decodes the capabilities in one optional parameter of type 2 (RFC 5492 4). */
export function decodeCapabilities(v: Buffer): Capability[] {
  const out: Capability[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 2 > v.length) throw malformed(v[i]!, 'truncated header');
    const code = v[i]!;
    const len = v[i + 1]!;
    if (i + 2 + len > v.length) throw malformed(code, `length ${len} overruns the parameter`);
    out.push(decodeCapability(code, v.subarray(i + 2, i + 2 + len)));
    i += 2 + len;
  }
  return out;
}

export function encodeCapabilities(caps: readonly Capability[]): Buffer {
  return Buffer.concat(caps.map(encodeCapability));
}

/** The first capability of a kind, typed. */
export function findCapability<K extends Capability['kind']>(
  caps: readonly Capability[],
  kind: K,
): Extract<Capability, { kind: K }> | undefined {
  return caps.find((c) => c.kind === kind) as Extract<Capability, { kind: K }> | undefined;
}

/** The 4-octet ASN a peer announced (RFC 6793), else its 2-octet My AS. */
export function peerAsn(open: { readonly myAs: number; readonly capabilities: readonly Capability[] }): number {
  return findCapability(open.capabilities, 'four-octet-as')?.asn ?? open.myAs;
}
