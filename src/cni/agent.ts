/**
 * The CNI side of the agent, wired: a CniService over the container side's controller,
 * store and dataplane, and the API routes routectl-cni talks to. The agent calls
 * `startCni` once its container side exists (or with none: every verb but STATUS then
 * answers "no pools", and STATUS answers 50).
 *
 * STATUS (CNI spec 1.1.0): ready when the controller has adopted its first lists and at
 * least one BGP session is Established (or no peer is configured, or the agent is still
 * within its startup grace). One session up is enough: a new container's routes reach
 * the fabric through it, and the ToRs route between themselves (this is not /readyz,
 * which wants every session). No session up after the grace is 51: containers can still
 * be added, but the fabric would not learn their routes.
 */
import { cniRoutes } from '../api/cni.js';
import type { ApiRoute } from '../api/server.js';
import type { Config } from '../config/schema.js';
import type { ContainerRuntime } from '../endpoints/containers.js';
import type { Logger } from '../log.js';
import { DEFAULT_READY_GRACE_SECONDS } from '../metrics/observability.js';
import { nsenterInspector, type ContainerInspector } from './inspect.js';
import { loadNsType } from './netns.js';
import { CniService } from './service.js';
import { CniCode, CniError } from './types.js';

export interface CniSideDeps {
  readonly containers: ContainerRuntime | undefined;
  readonly cfg: () => Config;
  readonly peers: () => readonly { readonly address: string; readonly state: string }[];
  readonly uptimeSeconds: () => number;
  readonly log: Logger;
  /** Tests read the container side from the fake kernel. */
  readonly inspector?: ContainerInspector;
}

export interface CniSide {
  readonly service: CniService | undefined;
  readonly routes: ApiRoute<unknown>[];
}

function noPools(): never {
  throw new CniError(CniCode.NotAvailable, 'this routectl agent serves no containers: it has no pools (add pools to agent.yaml)');
}

export async function startCni(d: CniSideDeps): Promise<CniSide> {
  const c = d.containers;
  const service =
    c === undefined
      ? undefined
      : new CniService({
          controller: c.controller,
          store: c.attachmentStore,
          dataplane: c.dataplane,
          inspector: d.inspector ?? nsenterInspector,
          zones: () => [...new Set(d.cfg().pools.map((p) => p.zone))],
          log: d.log,
        });
  if (service !== undefined) {
    const { adopted } = await service.start();
    void adopted.catch((err: unknown) => d.log.error({ op: 'cni', event: 'adopt-failed', err }, 'CNI attachments could not be adopted'));
  }
  const routes = cniRoutes({
    add: (req) => (service ? service.add(req) : noPools()),
    del: (req) => (service ? service.del(req) : noPools()),
    check: (req) => (service ? service.check(req) : noPools()),
    gc: (req) => (service ? service.gc(req) : noPools()),
    status() {
      if (c === undefined) noPools();
      if (!c.controller.isSynced) {
        throw new CniError(CniCode.NotAvailable, 'routectl agent is starting: the container runtimes have not been adopted yet (is dockerd reachable?)');
      }
      const grace = d.cfg().metrics.readyGraceSeconds ?? DEFAULT_READY_GRACE_SECONDS;
      const down = cniStatusProblem(d.peers(), d.uptimeSeconds(), grace);
      if (down !== null) throw new CniError(CniCode.LimitedConnectivity, `routectl agent not ready: ${down}`, "new containers' routes would not reach the fabric: see routectl peers");
    },
  });
  // The namespace check's ioctl loads koffi (~20 ms): at start, not in the first ADD.
  if (service !== undefined && d.inspector === undefined) void loadNsType();
  return { service, routes };
}

/** The most peers a STATUS message names; the rest are counted. */
const STATUS_PEERS_NAMED = 8;

/**
 * Why CNI STATUS is not ready, or null when it is: no BGP session Established once the
 * startup grace is over. "none of the 2 BGP sessions is Established (203.0.113.1 Active, …)".
 */
export function cniStatusProblem(peers: readonly { readonly address: string; readonly state: string }[], uptimeSeconds: number, graceSeconds: number): string | null {
  if (peers.length === 0 || peers.some((p) => p.state === 'Established')) return null;
  if (uptimeSeconds < graceSeconds) return null;
  const named = peers.slice(0, STATUS_PEERS_NAMED).map((p) => `${p.address} ${p.state}`);
  const more = peers.length - named.length;
  const sessions = peers.length === 1 ? 'its BGP session is not Established' : `none of its ${peers.length} BGP sessions is Established`;
  return `${sessions} (${named.join(', ')}${more > 0 ? `, and ${more} more` : ''})`;
}
