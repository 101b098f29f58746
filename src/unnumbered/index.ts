/**
 * Unnumbered peering on the agent's side (docs/bgp.md "Unnumbered peering"): for every
 * peer configured by interface, router advertisements on that link (bgp/net/ra.ts: so
 * that the ToR finds us) and the neighbour table watched for the ToR's link-local address
 * (neighbours.ts), which goes to the speaker's setNeighbour(). The speaker connects to it
 * (with its zone) and takes the ToR's own connection on that link.
 */
import os from 'node:os';
import { nativeSender, RA_INTERVAL, RouterAdvertiser } from '../../bgp/net/index.js';
import type { Logger } from '../log.js';
import { NeighbourWatcher } from './neighbours.js';

export { chooseNeighbour, decodeNeighbour, encodeNeighbourDump, NeighbourWatcher, type NeighbourEntry } from './neighbours.js';

export interface NeighbourSink {
  setNeighbour(iface: string, address: string | null): boolean;
}

/** What the agent needs from the kernel here; the tests of the pieces inject their own. */
export interface UnnumberedDeps {
  readonly advertiser: RouterAdvertiser | null;
  readonly watch: ((ifaces: readonly string[], onChange: (iface: string, address: string | null) => void, onError: (err: Error) => void) => { setInterfaces(ifaces: readonly string[]): void; close(): void }) | null;
}

export function nativeUnnumberedDeps(log: Logger): UnnumberedDeps & { close(): void } {
  const sender = nativeSender();
  return {
    advertiser: new RouterAdvertiser({
      // Once per change: an interface that is not there yet is retried every interval.
      onStatus: (iface, error) => {
        if (error !== null) log.warn({ op: 'unnumbered.advertise', event: 'failed', interface: iface, err: error }, `router advertisements on ${iface} not sent: ${error} (tried again every ${RA_INTERVAL} s)`);
        else log.info({ op: 'unnumbered.advertise', event: 'sending', interface: iface }, `router advertisements on ${iface}: sending`);
      },
      mac: (iface) => os.networkInterfaces()[iface]?.find((a) => a.mac && a.mac !== '00:00:00:00:00:00')?.mac ?? null,
      send: (iface, packet) => sender.send(iface, packet),
      setInterval: (fn, ms) => setInterval(fn, ms).unref(),
      clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
    }),
    watch: (ifaces, onChange, onError) => new NeighbourWatcher(ifaces, onChange, onError),
    close: () => sender.close(),
  };
}

export class Unnumbered {
  private watcher: { setInterfaces(ifaces: readonly string[]): void; close(): void } | null = null;
  private ifaces: readonly string[] = [];
  private readonly errorsSaid = new Set<string>();

  constructor(
    private readonly speaker: NeighbourSink,
    private readonly log: Logger,
    private readonly deps: UnnumberedDeps,
  ) {}

  /** The interfaces of the unnumbered peers now (start, reload). */
  set(ifaces: readonly string[]): void {
    this.ifaces = [...new Set(ifaces)];
    this.deps.advertiser?.set(this.ifaces);
    if (this.ifaces.length === 0) {
      this.watcher?.close();
      this.watcher = null;
      return;
    }
    if (this.watcher) this.watcher.setInterfaces(this.ifaces);
    else if (this.deps.watch) {
      this.watcher = this.deps.watch(
        this.ifaces,
        (iface, address) => this.onNeighbour(iface, address),
        (err) => this.warnOnce('neighbour-table', `cannot read the neighbour table: ${err.message}`),
      );
    }
  }

  private onNeighbour(iface: string, address: string | null): void {
    this.speaker.setNeighbour(iface, address);
    if (address === null) this.log.info({ op: 'unnumbered.neighbour', event: 'none', interface: iface }, `no neighbour on ${iface} in the neighbour table`);
    else this.log.info({ op: 'unnumbered.neighbour', event: 'found', interface: iface, peer: address }, `neighbour ${address} found on ${iface}`);
  }

  /** Why an interface is not advertised on (no such interface, no CAP_NET_RAW), or null. */
  advertiseError(iface: string): string | null {
    return this.deps.advertiser?.lastError(iface) ?? null;
  }

  private warnOnce(key: string, text: string): void {
    if (this.errorsSaid.has(key)) return;
    this.errorsSaid.add(key);
    this.log.warn({ op: 'unnumbered', event: key, err: text }, text);
  }

  close(): void {
    this.deps.advertiser?.close();
    this.watcher?.close();
    this.watcher = null;
  }
}
