/**
 * The CNI side of the agent, wired: a CniService over the container side's controller,
 * store and dataplane, and the API routes routectl-cni talks to. The agent calls
 * `startCni` once its container side exists (or with none: every verb but STATUS then
 * answers "no pools", and STATUS answers 50).
 *
 * STATUS (CNI spec 1.1.0): ready when the controller has adopted its first lists and the
 * BGP sessions are Established (or the agent is still within its startup grace) — the
 * same rule as /readyz. Sessions down after the grace is 51: containers can still be
 * added, but the fabric no longer learns their routes.
 */
import { cniRoutes } from '../api/cni.js';
import type { ApiRoute } from '../api/server.js';
import type { Config } from '../config/schema.js';
import type { ContainerRuntime } from '../endpoints/containers.js';
import type { Logger } from '../log.js';
import { readiness } from '../metrics/health.js';
import { DEFAULT_READY_GRACE_SECONDS } from '../metrics/observability.js';
import { nsenterInspector, type ContainerInspector } from './inspect.js';
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
          store: c.store,
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
      const r = readiness(d.peers(), d.uptimeSeconds(), grace);
      if (!r.ready) throw new CniError(CniCode.LimitedConnectivity, `routectl agent not ready: ${r.reason}`, 'containers routes are not advertised to the fabric while no session is up');
    },
  });
  return { service, routes };
}
