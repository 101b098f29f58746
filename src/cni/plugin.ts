/**
 * routectl-cni, the plugin side: CNI spec 1.1.0 input (CNI_* environment, network config
 * on stdin) checked and turned into one request to the agent's unix socket; the agent's
 * answer printed as the CNI result or error. Nothing else: the agent does IPAM, veth,
 * routes and advertisement.
 *
 * Start-up time is ADD latency, so this file imports only ./transport.js (node:net) and
 * ./types.js, and checks its input by hand (loading zod alone costs ~30 ms here; the agent
 * validates the request body with zod again). Every error names the field or variable at fault.
 */
import { unixRequest } from './transport.js';
import { CniCode, CniError, SUPPORTED_VERSIONS, type CniAnswer, type CniDns, type CniResult } from './types.js';

export const DEFAULT_SOCKET = '/run/routectl/routectl.sock';
export const DEFAULT_TIMEOUT_MS = 20_000;
/** Kubernetes pod annotation (passed as args.cni / args.k8s annotations) naming the zone. */
export const ZONE_ANNOTATION = 'routectl.io/zone';

const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
type Command = (typeof COMMANDS)[number];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

export interface PluginInput {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
}

export interface PluginOutput {
  readonly exitCode: number;
  /** What goes to stdout (empty for a successful DEL, GC, STATUS). */
  readonly stdout: string;
}

/** One request to the agent; resolves with the parsed JSON body and HTTP status. */
export type Transport = (method: 'GET' | 'POST', path: string, body: unknown, socket: string, timeoutMs: number) => Promise<{ status: number; json: unknown }>;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalidConfig(field: string, what: string): never {
  throw new CniError(CniCode.InvalidConfig, `network config: ${field}: ${what}`);
}
function invalidEnv(name: string, what: string): never {
  throw new CniError(CniCode.InvalidEnvironment, `${name}: ${what}`);
}

function optString(o: Obj, field: string, path = field): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalidConfig(path, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function strings(v: unknown, path: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) invalidConfig(path, 'must be a list of strings');
  return v as string[];
}

function dnsOf(v: unknown): CniDns | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) invalidConfig('dns', 'must be an object');
  const nameservers = strings(v.nameservers, 'dns.nameservers');
  const domain = optString(v, 'domain', 'dns.domain');
  const search = strings(v.search, 'dns.search');
  const options = strings(v.options, 'dns.options');
  return { ...(nameservers ? { nameservers } : {}), ...(domain !== undefined ? { domain } : {}), ...(search ? { search } : {}), ...(options ? { options } : {}) };
}

/** CNI_ARGS: "K=V;K2=V2" (CNI spec 1.1.0 "Parameters"). */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined || text === '') return out;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) invalidEnv('CNI_ARGS', `"${pair}" is not KEY=VALUE (pairs are separated by ";")`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly zone?: string;
  readonly socket: string;
  readonly timeoutMs: number;
  readonly dns?: CniDns;
  readonly args?: Obj;
  readonly runtimeConfig?: Obj;
  readonly prevResult?: CniResult;
  readonly validAttachments?: { containerID: string; ifname: string }[];
}

/** The network config, checked field by field (CNI spec 1.1.0 "Network configuration format"). */
export function parseNetConf(stdin: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
  if (!isObj(raw)) throw new CniError(CniCode.DecodeFailure, 'network config on stdin must be a JSON object');
  const cniVersion = optString(raw, 'cniVersion');
  if (cniVersion === undefined) invalidConfig('cniVersion', 'missing');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CniCode.IncompatibleVersion, `network config: cniVersion ${cniVersion} is not supported`, `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const name = optString(raw, 'name');
  if (name === undefined) invalidConfig('name', 'missing');
  if (!NAME_RE.test(name)) invalidConfig('name', `"${name}" must start alphanumeric, then only [A-Za-z0-9_.-]`);
  const zone = optString(raw, 'zone');
  if (zone === '') invalidConfig('zone', 'must not be empty');
  const socket = optString(raw, 'socket') ?? DEFAULT_SOCKET;
  if (!socket.startsWith('/')) invalidConfig('socket', `"${socket}" must be an absolute path`);
  const t = raw.timeoutMs;
  if (t !== undefined && !(typeof t === 'number' && Number.isInteger(t) && t >= 100 && t <= 600_000)) invalidConfig('timeoutMs', 'must be an integer number of milliseconds, 100-600000');
  const dns = dnsOf(raw.dns);
  if (raw.args !== undefined && !isObj(raw.args)) invalidConfig('args', 'must be an object');
  if (raw.runtimeConfig !== undefined && !isObj(raw.runtimeConfig)) invalidConfig('runtimeConfig', 'must be an object');
  let prevResult: CniResult | undefined;
  if (raw.prevResult !== undefined) {
    const p = raw.prevResult;
    if (!isObj(p)) invalidConfig('prevResult', 'must be an object');
    if (p.interfaces !== undefined && !Array.isArray(p.interfaces)) invalidConfig('prevResult.interfaces', 'must be a list');
    if (p.ips !== undefined && !Array.isArray(p.ips)) invalidConfig('prevResult.ips', 'must be a list');
    prevResult = p as unknown as CniResult;
  }
  const va = raw['cni.dev/valid-attachments'];
  let validAttachments: { containerID: string; ifname: string }[] | undefined;
  if (va !== undefined) {
    if (!Array.isArray(va) || va.some((x) => !isObj(x) || typeof x.containerID !== 'string' || typeof x.ifname !== 'string')) {
      invalidConfig('cni.dev/valid-attachments', 'must be a list of {"containerID": string, "ifname": string}');
    }
    validAttachments = (va as Obj[]).map((x) => ({ containerID: x.containerID as string, ifname: x.ifname as string }));
  }
  return {
    cniVersion,
    name,
    socket,
    timeoutMs: (t as number | undefined) ?? DEFAULT_TIMEOUT_MS,
    ...(zone !== undefined ? { zone } : {}),
    ...(dns ? { dns } : {}),
    ...(isObj(raw.args) ? { args: raw.args } : {}),
    ...(isObj(raw.runtimeConfig) ? { runtimeConfig: raw.runtimeConfig } : {}),
    ...(prevResult ? { prevResult } : {}),
    ...(validAttachments ? { validAttachments } : {}),
  };
}

function annotationZone(o: unknown): string | undefined {
  if (!isObj(o)) return undefined;
  if (typeof o.zone === 'string') return o.zone;
  for (const k of ['annotations', 'labels']) {
    const m = o[k];
    if (isObj(m) && typeof m[ZONE_ANNOTATION] === 'string') return m[ZONE_ANNOTATION];
  }
  return undefined;
}

/**
 * The container's zone, most specific first: CNI_ARGS ROUTECTL_ZONE, runtimeConfig.zone,
 * args.cni / args.k8s (zone, or the routectl.io/zone annotation or label), then the
 * network's own "zone".
 */
export function resolveZone(conf: NetConf, cniArgs: ReadonlyMap<string, string>): string {
  const z = cniArgs.get('ROUTECTL_ZONE') ?? (typeof conf.runtimeConfig?.zone === 'string' ? conf.runtimeConfig.zone : undefined) ?? annotationZone(conf.args?.cni) ?? annotationZone(conf.args?.k8s) ?? conf.zone;
  if (z === undefined || z === '') {
    invalidConfig('zone', `no zone for this container: set "zone" in the network config, or ${ZONE_ANNOTATION} (args), or ROUTECTL_ZONE in CNI_ARGS`);
  }
  return z;
}

function need(env: PluginInput['env'], name: string, re?: RegExp, what?: string): string {
  const v = env[name];
  if (v === undefined || v === '') invalidEnv(name, 'missing');
  if (re && !re.test(v)) invalidEnv(name, `"${v}" is not ${what}`);
  return v;
}

/** Unreachable agent: a clear message, and a code the runtime may retry on. */
function unreachable(socket: string, err: NodeJS.ErrnoException, code: number): CniError {
  const why =
    err.code === 'ENOENT' ? `not running (no socket at ${socket})`
    : err.code === 'ECONNREFUSED' ? `not running (nothing listens on ${socket})`
    : err.code === 'EACCES' ? `not reachable: permission denied on ${socket} (the plugin must run as root)`
    : err.code === 'ETIMEDOUT' ? `not answering on ${socket} (timed out)`
    : err.code === 'EPIPE' || err.code === 'ECONNRESET' ? `closing the connection on ${socket} (stopping or restarting?)`
    : `not reachable on ${socket}: ${err.message}`;
  return new CniError(code, `routectl agent is ${why}`, 'start it (systemctl start routectl, or the routectl DaemonSet) and retry');
}

/** The plugin's default transport: one HTTP/1.1 exchange on node:net (./transport.ts says why not node:http). */
export const httpTransport: Transport = (method, path, body, socket, timeoutMs) => unixRequest(socket, method, path, body, timeoutMs);

async function ask<T>(t: Transport, conf: NetConf, method: 'GET' | 'POST', path: string, body: unknown, downCode: number): Promise<T> {
  let r: { status: number; json: unknown };
  try {
    r = await t(method, path, body, conf.socket, conf.timeoutMs);
  } catch (err) {
    throw unreachable(conf.socket, err as NodeJS.ErrnoException, downCode);
  }
  const j = r.json;
  if (r.status === 200 && isObj(j) && j.ok === true) return j.result as T;
  if (r.status === 200 && isObj(j) && j.ok === false && isObj(j.error) && typeof j.error.code === 'number') {
    const e = j.error;
    throw new CniError(e.code as number, String(e.msg), typeof e.details === 'string' ? e.details : undefined);
  }
  const msg = isObj(j) && isObj(j.error) && typeof j.error.message === 'string' ? j.error.message : `HTTP ${r.status}`;
  throw new CniError(CniCode.AgentProtocol, `routectl agent refused the request: ${msg}`, 'plugin and agent versions may differ');
}

function versionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as Obj).cniVersion;
    return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v) ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

export async function runPlugin(input: PluginInput, transport: Transport = httpTransport): Promise<PluginOutput> {
  const env = input.env;
  const version = versionOf(input.stdin);
  try {
    const command = env.CNI_COMMAND;
    if (command === undefined || command === '') invalidEnv('CNI_COMMAND', 'missing');
    if (!(COMMANDS as readonly string[]).includes(command)) invalidEnv('CNI_COMMAND', `"${command}" is not one of ${COMMANDS.join(', ')}`);
    const cmd = command as Command;
    if (cmd === 'VERSION') {
      // CNI spec 1.1.0 VERSION: needs no config beyond an optional cniVersion.
      return { exitCode: 0, stdout: JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }) };
    }
    const conf = parseNetConf(input.stdin);
    if (cmd === 'STATUS') {
      await ask(transport, conf, 'GET', '/v1/cni/status', undefined, CniCode.NotAvailable);
      return { exitCode: 0, stdout: '' };
    }
    if (cmd === 'GC') {
      const body = { cniVersion: conf.cniVersion, network: conf.name, validAttachments: conf.validAttachments ?? [] };
      await ask(transport, conf, 'POST', '/v1/cni/gc', body, CniCode.TryAgainLater);
      return { exitCode: 0, stdout: '' };
    }
    const containerId = need(env, 'CNI_CONTAINERID', NAME_RE, 'a container id (alphanumeric first, then [A-Za-z0-9_.-])');
    const ifName = need(env, 'CNI_IFNAME', IFNAME_RE, 'an interface name (1-15 of [A-Za-z0-9_.-])');
    const key = { cniVersion: conf.cniVersion, network: conf.name, containerId, ifName };
    const cniArgs = parseCniArgs(env.CNI_ARGS);
    if (cmd === 'DEL') {
      const netns = env.CNI_NETNS;
      await ask(transport, conf, 'POST', '/v1/cni/del', { ...key, ...(netns ? { netns } : {}) }, CniCode.TryAgainLater);
      return { exitCode: 0, stdout: '' };
    }
    const netns = need(env, 'CNI_NETNS', /^\//, 'an absolute path to a network namespace');
    if (cmd === 'CHECK') {
      if (conf.prevResult === undefined) invalidConfig('prevResult', 'CHECK needs the result of the ADD (prevResult)');
      await ask(transport, conf, 'POST', '/v1/cni/check', { ...key, netns, prevResult: conf.prevResult }, CniCode.TryAgainLater);
      return { exitCode: 0, stdout: '' };
    }
    const zone = resolveZone(conf, cniArgs);
    const podName = cniArgs.get('K8S_POD_NAME');
    const podNamespace = cniArgs.get('K8S_POD_NAMESPACE');
    const body = { ...key, netns, zone, ...(podName ? { podName } : {}), ...(podNamespace ? { podNamespace } : {}), ...(conf.dns ? { dns: conf.dns } : {}) };
    const result = await ask<CniResult>(transport, conf, 'POST', '/v1/cni/add', body, CniCode.TryAgainLater);
    return { exitCode: 0, stdout: JSON.stringify(result) };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CniCode.IoFailure, `routectl-cni: ${(err as Error).message}`);
    return { exitCode: 1, stdout: JSON.stringify(e.body(version)) };
  }
}
