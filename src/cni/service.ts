/**
 * The agent side of routectl-cni: each CNI verb turned into what the endpoint controller
 * already does for Docker containers (one code path: allocate → plumb → advertise, and
 * back), with the attachment recorded in the store so a restarted agent adopts it.
 *
 *   ADD    claim the attachment key (an existing one is an error: CNI spec 1.1.0 forbids
 *          a second ADD for the same container id and ifname without a DEL), controller.add,
 *          wait for it; a failure is rolled back (controller.remove, key deleted) and
 *          answered with the reason. Result: host veth, container interface, /32 + /128.
 *   DEL    idempotent and best-effort: "not known" is success (an ADD that failed, a
 *          second DEL); a gone netns does not stop the addresses being released.
 *   CHECK  the attachment against prevResult, the agent's own veth and host routes, and
 *          the container's interface, addresses and default routes; errors say which.
 *   GC     every attachment of the network not in cni.dev/valid-attachments is deleted.
 */
import { GATEWAY_V4, HOST_VETH_LINK_LOCAL, HOST_VETH_MAC, RTPROT_ROUTECTL } from '../dataplane/plumbing.js';
import type { OwnState } from '../dataplane/dataplane.js';
import type { Logger } from '../log.js';
import type { EndpointSpec, EndpointView } from '../endpoints/types.js';
import type { Store } from '../store/store.js';
import { AttachmentStore, endpointIdOf, type Attachment } from './attachments.js';
import type { ContainerInspector } from './inspect.js';
import { quoteExcerpt } from '../config/excerpt.js';
import { buildResult } from './result.js';
import { CniCode, CniError, type CniAddRequest, type CniCheckRequest, type CniDelRequest, type CniGcRequest, type CniGcResult, type CniResult } from './types.js';
import { hostPrefix } from '../net.js';
import { WAITING_FOR_STORE } from '../endpoints/controller.js';

/** The endpoint controller, as much of it as CNI needs. */
export interface CniControllerPort {
  add(spec: EndpointSpec): Promise<void>;
  remove(id: string): Promise<void>;
  get(id: string): EndpointView | undefined;
  sync(specs: readonly EndpointSpec[], source?: string): Promise<void>;
}

export interface CniServiceDeps {
  readonly controller: CniControllerPort;
  readonly store: Store;
  readonly dataplane: { listOwn(): Promise<OwnState> };
  readonly inspector: ContainerInspector;
  /** Zones that have pools on this worker. */
  readonly zones: () => readonly string[];
  readonly log: Logger;
  /** How long an ADD waits for a store that does not answer before code 11 (default CNI_STORE_WAIT_MS). */
  readonly storeWaitMs?: number;
}

/**
 * An ADD waits this long for a store that does not answer (etcd without quorum), then
 * answers code 11 (try again later) with nothing left behind. A setup whose store write
 * is in flight undoes its part when that write fails (etcd's deadline, and the client's
 * try on another member), so the answer can come some seconds later: routectl-cni's
 * default timeout (20 s) leaves room for that, so the runtime gets the agent's reason.
 */
export const CNI_STORE_WAIT_MS = 7_000;

export const CNI_SOURCE = 'cni';

function specOf(a: Attachment): EndpointSpec {
  return { id: a.endpointId, name: a.name, pid: 0, netnsPath: a.netns, ifName: a.ifName, zone: a.zone, source: CNI_SOURCE };
}

export class CniService {
  private readonly attachments: AttachmentStore;
  private readonly log: Logger;
  /** (network, container, ifname) of the ADDs running now */
  private readonly adding = new Set<string>();

  constructor(private readonly deps: CniServiceDeps) {
    this.attachments = new AttachmentStore(deps.store);
    this.log = deps.log.child({ op: 'cni' });
  }

  /**
   * Hands the persisted attachments to the controller as the CNI side's first list (the
   * controller adopts them with the other runtimes' lists). Not awaited by the agent: the
   * adopt may wait for Docker's first list.
   */
  async start(): Promise<{ readonly adopted: Promise<void> }> {
    const { attachments, invalid } = await this.attachments.list();
    for (const key of invalid) this.log.error({ event: 'attachment-invalid', key }, `store entry ${key} is not a CNI attachment; ignored`);
    this.log.info({ event: 'adopt', attachments: attachments.length }, `${attachments.length} CNI attachments handed to the controller`);
    return { adopted: this.deps.controller.sync(attachments.map(specOf), CNI_SOURCE) };
  }

  async add(req: CniAddRequest): Promise<CniResult> {
    const started = Date.now();
    const zones = this.deps.zones();
    if (!zones.includes(req.zone)) {
      throw new CniError(CniCode.InvalidConfig, `zone: no pool on this worker serves zone ${quoteExcerpt(req.zone)}`, `zones with pools: ${zones.join(', ') || '(none: add pools to agent.yaml)'}`);
    }
    // Before anything is claimed or allocated: a path that is no network namespace, or the
    // agent's own, changes nothing (CNI spec 1.1.0: code 4, an invalid CNI_* variable).
    const bad = await this.deps.inspector.netnsProblem?.(req.netns);
    if (bad !== undefined && bad !== null) {
      this.log.warn({ event: 'add-refused', network: req.network, container: req.containerId, ifName: req.ifName, err: bad }, `ADD refused: CNI_NETNS ${bad}`);
      throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS: ${bad}`, "pass the container's own network namespace: /proc/PID/ns/net of its process, or a bind mount of it (such as /run/netns/NAME)");
    }
    const endpointId = endpointIdOf(req.network, req.containerId, req.ifName);
    const name = req.podName !== undefined ? `${req.podNamespace ?? 'default'}/${req.podName}` : `${req.network}:${req.containerId.slice(0, 12)}`;
    const a: Attachment = {
      network: req.network,
      containerId: req.containerId,
      ifName: req.ifName,
      endpointId,
      netns: req.netns,
      zone: req.zone,
      name: req.ifName === 'eth0' ? name : `${name}/${req.ifName}`,
      createdAt: new Date().toISOString(),
    };
    // One ADD per (network, container, ifname) until DEL: refused if its record exists or
    // another ADD for it is running here. Then the record is written while the endpoint
    // is set up, not before it: the two durable writes (the record, the allocation) and
    // the plumbing overlap. A record that cannot be written undoes the endpoint.
    const key = `${req.network}\u0000${req.containerId}\u0000${req.ifName}`;
    const exists = (): CniError =>
      new CniError(
        CniCode.AttachmentExists,
        `container ${req.containerId} already has ${req.ifName} on network ${req.network}`,
        'CNI allows one ADD per (container id, ifname) until DEL; delete it first',
      );
    if (this.adding.has(key)) throw exists();
    this.adding.add(key);
    try {
      if ((await this.attachments.get(req.network, req.containerId, req.ifName)) !== undefined) throw exists();
      const [created] = await Promise.allSettled([this.attachments.create(a), this.deps.controller.add(specOf(a))]);
      if (created.status === 'rejected') {
        await this.deps.controller.remove(endpointId);
        throw created.reason;
      }
      // Written by someone else meanwhile (another agent on a shared store): the endpoint
      // is that record's, so it stays.
      if (!created.value) throw exists();
    } finally {
      this.adding.delete(key);
    }
    let v = this.deps.controller.get(endpointId);
    if (v?.state === 'pending' && v.error?.startsWith(WAITING_FOR_STORE) === true) v = await this.waitForStore(endpointId, started);
    if (v?.state === 'pending' && v.error?.startsWith(WAITING_FOR_STORE) === true) {
      // The store (etcd) did not answer within the bound: the runtime retries the ADD (code
      // 11), which finds nothing of this one left behind.
      const reason = v.error;
      await this.deps.controller.remove(endpointId);
      await this.attachments.delete(req.network, req.containerId, req.ifName);
      this.log.warn({ event: 'add-waiting-for-store', network: req.network, container: req.containerId, ifName: req.ifName, err: reason }, `ADD not done: ${reason}`);
      throw new CniError(CniCode.TryAgainLater, reason, `the store did not answer within ${this.storeWaitMs / 1000} s; nothing was changed, try the ADD again (runtimes retry)`);
    }
    if (v === undefined || v.state !== 'ready') {
      // Roll back (CNI ptp's ADD): nothing of a failed ADD stays, not even a retry.
      const reason = v?.error ?? 'the endpoint was removed while it was being set up';
      await this.deps.controller.remove(endpointId);
      await this.attachments.delete(req.network, req.containerId, req.ifName);
      this.log.warn({ event: 'add-failed', network: req.network, container: req.containerId, ifName: req.ifName, err: reason }, `ADD failed: ${reason}`);
      // The veth is created with its container end already named CNI_IFNAME inside the
      // container's namespace (one netlink request), so EEXIST there is that name taken.
      if (/create veth( \S+)?: EEXIST/.test(reason)) {
        throw new CniError(CniCode.InvalidEnvironment, `CNI_IFNAME: ${req.netns} already has an interface named ${req.ifName}; nothing was changed`, `choose another interface name, or DEL the attachment that holds it (${reason})`);
      }
      throw new CniError(reason.startsWith('no address') ? CniCode.NoAddress : CniCode.WiringFailed, reason);
    }
    this.log.info({ event: 'add', network: req.network, container: req.containerId, ifName: req.ifName, ipv4: v.ipv4, ipv6: v.ipv6 }, `ADD ${a.name}: ${[v.ipv4, v.ipv6].filter(Boolean).join(' ')}`);
    return this.resultOf(req.cniVersion, a, v, req.dns);
  }

  private get storeWaitMs(): number {
    return this.deps.storeWaitMs ?? CNI_STORE_WAIT_MS;
  }

  /** Waits, up to the bound counted from the ADD's start, for an endpoint held up by the store. */
  private async waitForStore(endpointId: string, started: number): Promise<EndpointView | undefined> {
    for (;;) {
      const v = this.deps.controller.get(endpointId);
      if (v === undefined || v.state !== 'pending') return v;
      const waited = Date.now() - started;
      // Past the bound: answered at once while it still waits for the store; a setup the
      // store's answer already set going gets a little longer to finish.
      if (waited >= this.storeWaitMs && (v.error?.startsWith(WAITING_FOR_STORE) === true || waited >= this.storeWaitMs + 1_000)) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private resultOf(cniVersion: string, a: Attachment, v: EndpointView, dns: CniAddRequest['dns']): CniResult {
    return buildResult(
      cniVersion,
      {
        hostVeth: v.hostVeth ?? '',
        hostMac: HOST_VETH_MAC,
        ifName: a.ifName,
        mac: v.hwaddr ?? '',
        netns: a.netns,
        ipv4: v.ipv4,
        ipv6: v.ipv6,
        gateway4: v.gateway.ipv4 ?? GATEWAY_V4,
        gateway6: v.gateway.ipv6 ?? HOST_VETH_LINK_LOCAL,
      },
      dns ?? {},
    );
  }

  /** Idempotent: an attachment that is not known (any more) is already deleted. */
  async del(req: CniDelRequest): Promise<void> {
    const a = await this.attachments.get(req.network, req.containerId, req.ifName);
    const endpointId = a?.endpointId ?? endpointIdOf(req.network, req.containerId, req.ifName);
    // Also when the record is missing: an agent that crashed between claim and add may still hold the endpoint.
    await this.deps.controller.remove(endpointId);
    if (a !== undefined) {
      await this.attachments.delete(req.network, req.containerId, req.ifName);
      this.log.info({ event: 'del', network: req.network, container: req.containerId, ifName: req.ifName }, `DEL ${a.name}`);
    }
  }

  async check(req: CniCheckRequest): Promise<void> {
    const a = await this.attachments.get(req.network, req.containerId, req.ifName);
    if (a === undefined) throw new CniError(CniCode.UnknownContainer, `no attachment for container ${req.containerId} ${req.ifName} on network ${req.network}`);
    const v = this.deps.controller.get(a.endpointId);
    if (v === undefined || v.state !== 'ready') throw new CniError(CniCode.CheckFailed, `endpoint ${a.name} is ${v?.state ?? 'unknown'}${v?.error ? `: ${v.error}` : ''}`);
    const problems: string[] = [];
    // 1. prevResult against what the agent holds.
    const prev = req.prevResult;
    const idx = prev.interfaces.findIndex((i) => i.name === req.ifName && i.sandbox !== undefined);
    if (idx < 0) problems.push(`prevResult has no interface ${req.ifName} with a sandbox`);
    else if (prev.interfaces[idx]?.sandbox !== a.netns) problems.push(`prevResult sandbox ${prev.interfaces[idx]?.sandbox} is not ${a.netns}`);
    const want = [v.ipv4, v.ipv6].filter((x): x is string => x !== null).map(hostPrefix);
    const prevIps = prev.ips.filter((ip) => ip.interface === undefined || ip.interface === idx).map((ip) => ip.address);
    for (const w of want) if (!prevIps.includes(w)) problems.push(`prevResult lacks address ${w}`);
    for (const p of prevIps) if (!want.includes(p)) problems.push(`prevResult address ${p} is not this endpoint's (${want.join(', ')})`);
    // 2. The host side: our veth, up, and a host route per address through it.
    const own = await this.deps.dataplane.listOwn();
    const link = own.links.find((l) => l.name === v.hostVeth);
    if (link === undefined) problems.push(`host veth ${v.hostVeth} is missing`);
    else {
      if (!link.up) problems.push(`host veth ${v.hostVeth} is down`);
      for (const w of want) {
        if (!own.routes.some((r) => r.protocol === RTPROT_ROUTECTL && r.dst === w && r.oif === link.index)) problems.push(`host route ${w} dev ${v.hostVeth} is missing`);
      }
    }
    // 3. The container side: interface, addresses, default routes.
    let cv;
    try {
      cv = await this.deps.inspector.inspect(a.netns, a.ifName);
    } catch (err) {
      throw new CniError(CniCode.CheckFailed, `cannot look into ${a.netns}: ${(err as Error).message}`);
    }
    if (cv === null) problems.push(`interface ${a.ifName} is missing in ${a.netns}`);
    else {
      for (const w of want) if (!cv.addresses.includes(w)) problems.push(`address ${w} is missing on ${a.ifName}`);
      if (v.ipv4 !== null && !cv.routes.includes(`0.0.0.0/0 via ${GATEWAY_V4}`)) problems.push(`container route 0.0.0.0/0 via ${GATEWAY_V4} is missing`);
      if (v.ipv6 !== null && !cv.routes.includes(`::/0 via ${HOST_VETH_LINK_LOCAL}`)) problems.push(`container route ::/0 via ${HOST_VETH_LINK_LOCAL} is missing`);
    }
    if (problems.length > 0) throw new CniError(CniCode.CheckFailed, `${a.name}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, problems.join('; '));
  }

  async gc(req: CniGcRequest): Promise<CniGcResult> {
    const valid = new Set(req.validAttachments.map((v) => `${v.containerID}\0${v.ifname}`));
    const { attachments } = await this.attachments.list(req.network);
    const removed: { containerId: string; ifName: string }[] = [];
    for (const a of attachments) {
      if (valid.has(`${a.containerId}\0${a.ifName}`)) continue;
      await this.del({ cniVersion: req.cniVersion, network: a.network, containerId: a.containerId, ifName: a.ifName });
      removed.push({ containerId: a.containerId, ifName: a.ifName });
    }
    if (removed.length) this.log.info({ event: 'gc', network: req.network, removed: removed.length }, `GC on ${req.network}: ${removed.length} stale attachments removed`);
    return { removed };
  }
}
