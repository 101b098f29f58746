/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function, hottest
 * first, as "ms  %  function  file:line". Sampled time is attributed to the function
 * on top of the stack, so this is where the CPU actually went.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/**
 * `window`: only the samples taken between these two points of the monotonic clock, in µs
 * (V8's profile clock; `process.hrtime` reads the same clock), e.g. a burst of work
 * without the process's start-up.
 */
export function hotFunctions(json: string, top = 20, window?: { fromUs: number; toUs: number }): string {
  const p = JSON.parse(json) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  let total = 0;
  let at = p.startTime;
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]!);
    const dt = deltas[i] ?? 0;
    at += dt;
    if (!n) continue;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const f = n.callFrame;
    const file = f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'}  ${file || '(native)'}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  if (window) self.set('(total in the window)', total);
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / (total || 1)).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
}
