/**
 * The machine and software a benchmark ran on, for the header of a results file:
 * date, CPU count and model, memory, kernel, Node and the peer daemons' versions.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, release } from 'node:os';

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return r.error ? 'not installed' : (text.split('\n')[0] ?? '').trim();
}

export interface MachineInfo {
  readonly date: string;
  readonly nproc: number;
  readonly cpu: string;
  readonly memGiB: string;
  readonly kernel: string;
  readonly node: string;
  readonly versions: Readonly<Record<string, string>>;
}

export function machineInfo(daemons: readonly ('frr' | 'bird' | 'gobgpd')[]): MachineInfo {
  const versions: Record<string, string> = {};
  for (const d of daemons) {
    if (d === 'frr') versions.frr = firstLine('/usr/lib/frr/bgpd', ['--version']).replace(/^bgpd version\s*/, '');
    if (d === 'bird') versions.bird = firstLine('bird', ['--version']).replace(/^BIRD version\s*/, '');
    if (d === 'gobgpd') versions.gobgpd = firstLine('gobgpd', ['--version']).replace(/^gobgpd version\s*/, '');
  }
  return {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
    versions,
  };
}

export function machineMarkdown(m: MachineInfo): string {
  const v = Object.entries(m.versions).map(([k, x]) => `${k} ${x}`).join(', ');
  return [
    `- Date: ${m.date}`,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM, Linux ${m.kernel}`,
    `- Software: Node ${m.node}${v ? `, ${v}` : ''}`,
  ].join('\n');
}
