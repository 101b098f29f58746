/**
 * What a container runtime tells the agent: the endpoints it wants wired (one per
 * opted-in container), the containers it refused (with the reason, for
 * `routectl endpoints`), and its own health. Readonly domain types: the runtime builds
 * them once at the edge, from validated Docker data.
 */

/** A container that asked to be routed and is running now. */
export interface WantedEndpoint {
  /** Full container id (64 hex). */
  readonly id: string;
  /** Container name without Docker's leading slash. */
  readonly name: string;
  /** PID of the container's init; its network namespace is /proc/<pid>/ns/net. */
  readonly pid: number;
  /** The `routectl.zone` label: picks the pool the addresses come from. */
  readonly zone: string;
  /** `routectl.ipv4`: a fixed address asked for (canonical text); absent = allocate. */
  readonly ipv4?: string;
  /** `routectl.ipv6`: a fixed address asked for (canonical RFC 5952 text); absent = allocate. */
  readonly ipv6?: string;
  /** Every label of the container (for inspect output and future labels). */
  readonly labels: Readonly<Record<string, string>>;
}

/** A container that carries routectl labels but was left alone, and why. */
export interface InvalidContainer {
  readonly id: string;
  readonly name: string;
  /** Names the label, the value and the fix. */
  readonly error: string;
}

/** Why an endpoint stopped being wanted. */
export type RemoveReason = 'die' | 'destroy' | 'restarted' | 'zones-changed';

/** What changed with a (re)list, relative to what the runtime had emitted before. */
export interface SyncDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Same container, new PID (restarted while the stream was down). */
  readonly changed: readonly string[];
}

export interface RuntimeStatus {
  /** The event stream is open and the last (re)list succeeded. */
  readonly connected: boolean;
  /** ISO time `connected` last changed (the agent's start, until the first attempt ends). */
  readonly since: string;
  readonly lastError: string | null;
  /** ISO time of the next connection attempt, while one is scheduled; else null. */
  readonly retryAt: string | null;
  /** Wanted endpoints now. */
  readonly containers: number;
  readonly invalid: readonly InvalidContainer[];
}

/**
 * The events a runtime emits. A consumer sets its desired state to the list in 'sync'
 * and then applies 'add' / 'remove' as they come; 'sync' follows every (re)connect.
 */
export interface RuntimeEvents {
  sync: [endpoints: readonly WantedEndpoint[], diff: SyncDiff];
  add: [endpoint: WantedEndpoint];
  remove: [endpoint: WantedEndpoint, reason: RemoveReason];
  invalid: [container: InvalidContainer];
  connected: [];
  disconnected: [error: string];
}
