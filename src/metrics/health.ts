/**
 * /healthz and /readyz as data. Health: the agent's event loop is alive — a timer beats
 * every second, and a beat older than `maxAgeMs` means the loop is stuck (a busy loop, or
 * a synchronous call that never returns). Readiness: every BGP session Established, or
 * the agent started less than the grace period ago (sessions take a few seconds to come
 * up, and a probe failing during them would restart a healthy agent).
 */

export interface HealthAnswer {
  readonly ok: boolean;
  /** Milliseconds since the last heartbeat. */
  readonly heartbeatAgeMs: number;
}

export interface ReadyAnswer {
  readonly ready: boolean;
  /** Why, in words: "all 2 BGP sessions Established", "startup grace: 100 s left", … */
  readonly reason: string;
  /** Peers not Established. */
  readonly notEstablished: readonly string[];
}

export class Heartbeat {
  private last: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now();
  }

  start(): void {
    if (this.timer) return;
    this.last = this.now();
    this.timer = setInterval(() => (this.last = this.now()), this.intervalMs);
    this.timer.unref(); // it must not keep a stopped agent's process alive
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Exposed for tests with a fake clock. */
  beat(): void {
    this.last = this.now();
  }

  health(maxAgeMs = this.intervalMs * 5): HealthAnswer {
    const age = this.now() - this.last;
    return { ok: age <= maxAgeMs, heartbeatAgeMs: age };
  }
}

export function readiness(
  peers: readonly { readonly address: string; readonly state: string }[],
  uptimeSeconds: number,
  graceSeconds: number,
): ReadyAnswer {
  const notEstablished = peers.filter((p) => p.state !== 'Established').map((p) => p.address);
  if (notEstablished.length === 0) {
    return { ready: true, reason: peers.length === 0 ? 'no BGP peers configured' : `all ${peers.length} BGP sessions Established`, notEstablished };
  }
  const left = Math.ceil(graceSeconds - uptimeSeconds);
  const down = `${notEstablished.length} of ${peers.length} BGP sessions not Established (${notEstablished.join(', ')})`;
  if (left > 0) return { ready: true, reason: `startup grace, ${left} s left: ${down}`, notEstablished };
  return { ready: false, reason: down, notEstablished };
}
