/**
 * The demo's reachability checks and their PASS/FAIL/SKIP lines. A probe runs either in
 * a namespace (the ToR) or inside a container (`docker exec`), with busybox's ping and
 * nc (docs/lab.md: no ping binary on the host; busybox's wget crashes in its resolver here, so
 * HTTP is spoken over `nc`).
 */
import type { Netns } from '../test/lab/harness/index.js';
import type { Dockerd } from '../test/lab/harness/docker.js';

type Result = 'PASS' | 'FAIL' | 'SKIP';

export class Checks {
  private readonly results: { name: string; result: Result }[] = [];

  constructor(private readonly out: (line: string) => void) {}

  record(name: string, ok: boolean, detail?: string): void {
    this.results.push({ name, result: ok ? 'PASS' : 'FAIL' });
    this.out(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `  (${detail})` : ''}`);
  }

  /** A check that is not run, and says why; it neither passes nor fails the demo. */
  skip(name: string, why: string): void {
    this.results.push({ name, result: 'SKIP' });
    this.out(`SKIP  ${name}  (${why})`);
  }

  get failed(): number {
    return this.results.filter((r) => r.result === 'FAIL').length;
  }

  summary(): string {
    const n = (r: Result): number => this.results.filter((x) => x.result === r).length;
    return `${this.failed === 0 ? 'ALL CHECKS PASSED' : 'SOME CHECKS FAILED'}: ${n('PASS')} passed, ${n('FAIL')} failed, ${n('SKIP')} skipped`;
  }
}

type Where = Netns | Dockerd;

async function sh(where: Where, script: string, container?: string): Promise<{ code: number; stdout: string }> {
  if (container === undefined) {
    const r = await (where as Netns).exec(['sh', '-c', script], { timeoutMs: 15_000 });
    return { code: r.code, stdout: r.stdout };
  }
  const r = await (where as Dockerd).exec(['exec', container, 'sh', '-c', script], { timeoutMs: 15_000 });
  return { code: r.code, stdout: r.stdout };
}

/** One echo reply from `addr` (up to `tries` pings, 2 s each), from a namespace or from inside `container`. */
export async function pingFrom(where: Where, addr: string, container?: string, tries = 3): Promise<boolean> {
  const cmd = addr.includes(':') ? 'ping6' : 'ping';
  // Inside a container the applets are on PATH; in a namespace, busybox is called by name.
  const prog = container === undefined ? `busybox ${cmd}` : cmd;
  return (await sh(where, `for i in ${Array.from({ length: tries }, (_, i) => i + 1).join(' ')}; do ${prog} -c 1 -W 2 ${addr} >/dev/null && exit 0; done; exit 1`, container)).code === 0;
}

/** An HTTP/1.0 GET of / over TCP port 80; true when a 200 answer with the demo page came back. */
export async function httpGet(where: Where, addr: string, container?: string): Promise<boolean> {
  const nc = container === undefined ? 'busybox nc' : 'nc';
  const r = await sh(where, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | ${nc} -w 3 ${addr} 80`, container);
  return r.code === 0 && /^HTTP\/1\.[01] 200/.test(r.stdout) && r.stdout.includes('rtc');
}
