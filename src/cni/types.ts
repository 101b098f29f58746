/**
 * The CNI vocabulary shared by the plugin executable and the agent: spec versions, the
 * well-known error codes (CNI spec 1.1.0 "Error codes"), the result shape, and the JSON
 * bodies the plugin sends to the agent's /v1/cni/* routes. No imports: the plugin loads
 * this file on every invocation, and its start-up time is the runtime's ADD latency.
 */

/** CNI spec 1.1.0 "Version": the versions this plugin speaks; results echo the config's. */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/**
 * Error codes. 0-99 are the spec's well-known codes; 100+ are this plugin's own
 * (CNI spec 1.1.0: "Values of 100+ can be freely used for plugin specific errors").
 */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  NotAvailable: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  LimitedConnectivity: 51,
  /** ADD for a (container id, ifname) that already has an attachment on this network. */
  AttachmentExists: 100,
  /** IPAM: the zone's pools have no free address. */
  NoAddress: 101,
  /** veth, addresses or routes could not be set up (everything was rolled back). */
  WiringFailed: 102,
  /** CHECK found the attachment differing from what it should be. */
  CheckFailed: 103,
  /** The agent answered with something the plugin does not understand. */
  AgentProtocol: 104,
} as const;

export interface CniErrorBody {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
  body(cniVersion: string): CniErrorBody {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details !== undefined ? { details: this.details } : {}) };
  }
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly sandbox?: string;
}

export interface CniIp {
  /** 0.4.0 only; 1.0.0 dropped it (the address says its family). */
  readonly version?: '4' | '6';
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
}

export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
}

export interface CniDns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces: readonly CniInterface[];
  readonly ips: readonly CniIp[];
  readonly routes: readonly CniRoute[];
  readonly dns: CniDns;
}

/** One attachment: CNI spec 1.1.0 identifies it by (network, container id, ifname). */
export interface CniAttachmentKey {
  readonly cniVersion: string;
  readonly network: string;
  readonly containerId: string;
  readonly ifName: string;
}

export interface CniAddRequest extends CniAttachmentKey {
  readonly netns: string;
  readonly zone: string;
  /** Kubernetes pod name / namespace from CNI_ARGS, for `routectl endpoints`. */
  readonly podName?: string;
  readonly podNamespace?: string;
  readonly dns?: CniDns;
}

export interface CniDelRequest extends CniAttachmentKey {
  /** May be absent or gone: DEL must still free the addresses. */
  readonly netns?: string;
}

export interface CniCheckRequest extends CniAttachmentKey {
  readonly netns: string;
  readonly prevResult: CniResult;
}

export interface CniGcRequest {
  readonly cniVersion: string;
  readonly network: string;
  /** cni.dev/valid-attachments: everything else on this network goes. */
  readonly validAttachments: readonly { readonly containerID: string; readonly ifname: string }[];
}

export interface CniGcResult {
  readonly removed: readonly { readonly containerId: string; readonly ifName: string }[];
}

/** What every /v1/cni/* route answers (HTTP 200): a result, or a CNI error to print as is. */
export type CniAnswer<T> = { readonly ok: true; readonly result: T } | { readonly ok: false; readonly error: CniErrorBody };
