/**
 * The agent's view into a container's namespace. CHECK: the addresses and routes on its
 * interface, read with `nsenter --net=<netns> ip -j …` (the same tool the dataplane
 * configures it with); a missing netns is an error, a missing interface is `null`, so
 * CHECK can say which. ADD: whether CNI_NETNS is a network namespace at all, and not the
 * agent's own (netns.ts).
 */
import { execFile } from 'node:child_process';
import { hostPrefix } from '../net.js';
import { netnsProblem } from './netns.js';

export interface ContainerView {
  /** "198.51.100.2/32", "2001:db8::2/128" (global scope only) */
  readonly addresses: readonly string[];
  /** "0.0.0.0/0 via 169.254.1.1", "::/0 via fe80::…", "169.254.1.1/32" */
  readonly routes: readonly string[];
}

export interface ContainerInspector {
  inspect(netns: string, ifName: string): Promise<ContainerView | null>;
  /**
   * What is wrong with `netns` as a container's network namespace, or null (netns.ts).
   * Stand-ins over a fake kernel, whose namespaces are names only, leave it out.
   */
  netnsProblem?(netns: string): Promise<string | null>;
}

export class InspectError extends Error {
  override readonly name = 'InspectError';
}

function run(netns: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=${netns}`, '--', 'ip', '-j', ...args], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(new InspectError(`${args.join(' ')} in ${netns}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

interface IpAddr {
  readonly addr_info?: readonly { readonly local?: string; readonly prefixlen?: number; readonly scope?: string }[];
}
interface IpRoute {
  readonly dst?: string;
  readonly gateway?: string;
}

function routeText(r: IpRoute, family: 4 | 6): string {
  const dst = r.dst === undefined || r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst.includes('/') ? r.dst : hostPrefix(r.dst);
  return r.gateway !== undefined ? `${dst} via ${r.gateway}` : dst;
}

export const nsenterInspector: ContainerInspector = {
  netnsProblem: (netns) => netnsProblem(netns),
  async inspect(netns, ifName) {
    let addrs: IpAddr[];
    try {
      addrs = JSON.parse((await run(netns, ['addr', 'show', 'dev', ifName])) || '[]') as IpAddr[];
    } catch (err) {
      if (/does not exist|Cannot find device/.test((err as Error).message)) return null;
      throw err;
    }
    const addresses = (addrs[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
    const v4 = JSON.parse((await run(netns, ['-4', 'route', 'show', 'dev', ifName])) || '[]') as IpRoute[];
    const v6 = JSON.parse((await run(netns, ['-6', 'route', 'show', 'dev', ifName])) || '[]') as IpRoute[];
    return { addresses, routes: [...v4.map((r) => routeText(r, 4)), ...v6.map((r) => routeText(r, 6))] };
  },
};
