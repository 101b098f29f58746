/**
 * A CNI ADD is answered within its store bound even while the store call itself hangs
 * (etcd without quorum: each call waits for its deadline, and an allocation makes
 * several): code 11, its attachment record gone, the endpoint removed.
 */
import { describe, expect, it } from 'vitest';
import { CniService, type CniControllerPort } from '../../../src/cni/service.js';
import { CniCode, CniError } from '../../../src/cni/types.js';
import type { EndpointSpec, EndpointView } from '../../../src/endpoints/types.js';
import { createLogger } from '../../../src/log.js';
import { MemoryStore } from '../../../src/store/memory.js';

const BOUND_MS = 200;

/** A controller whose setups never finish: the store never answers. */
function hangingController(): CniControllerPort & { removed: string[]; specs: Map<string, EndpointSpec> } {
  const specs = new Map<string, EndpointSpec>();
  const removed: string[] = [];
  return {
    specs,
    removed,
    add(spec) {
      specs.set(spec.id, spec);
      return new Promise<void>(() => undefined);
    },
    remove(id) {
      removed.push(id);
      specs.delete(id);
      return Promise.resolve();
    },
    get(id): EndpointView | undefined {
      const s = specs.get(id);
      if (!s) return undefined;
      return { id, name: s.name, zone: s.zone, pid: 0, state: 'pending', error: null, ipv4: null, ipv6: null, hostVeth: null, hwaddr: null, gateway: { ipv4: null, ipv6: null }, advertised: [], since: new Date().toISOString() };
    },
    sync: () => Promise.resolve(),
  };
}

describe('CNI ADD while the store does not answer', () => {
  it('answers code 11 within the bound (plus its grace), leaving no attachment and no endpoint', async () => {
    const store = new MemoryStore();
    const controller = hangingController();
    const svc = new CniService({
      controller,
      store,
      dataplane: { listOwn: () => Promise.resolve({ links: [], routes: [] }) },
      inspector: { inspect: () => Promise.resolve(null) },
      zones: () => ['app'],
      log: createLogger({ level: 'silent' }),
      storeWaitMs: BOUND_MS,
    });
    const err = await svc.add({ cniVersion: '1.1.0', network: 'net', containerId: 'c0ffee', ifName: 'eth0', netns: '/run/netns/x', zone: 'app' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(CniCode.TryAgainLater);
    expect((err as CniError).message).toMatch(/waiting for store/);
    expect(controller.removed).toHaveLength(1);
    expect(await store.list('cni/')).toEqual([]);
    // Without the bound the ADD waits on the setup, which never ends: the test times out.
  }, 10_000);
});
