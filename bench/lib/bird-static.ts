/**
 * BIRD static protocols holding a benchmark's prefixes, as extraConfig for the lab
 * harness's startBird. The harness's `networks` option builds its static protocol with
 * an argument spread, which overflows the call stack beyond a few hundred thousand
 * routes; these protocols are named net4bulk / net6bulk, so the harness's BGP export
 * filter (`proto ~ "net4*"` / `"net6*"`) exports them like its own.
 */
import { isV6 } from '../../test/lab/harness/daemon.js';

export function birdStaticConfig(prefixes: readonly string[]): string {
  const v4: string[] = ['protocol static net4bulk {', '  ipv4;'];
  const v6: string[] = ['protocol static net6bulk {', '  ipv6;'];
  for (const p of prefixes) (isV6(p) ? v6 : v4).push(`  route ${p} blackhole;`);
  v4.push('}');
  v6.push('}');
  return `${v4.join('\n')}\n${v6.join('\n')}\n`;
}

/** Routes the bulk static protocols have loaded (from `show protocols all net4bulk` / `net6bulk`). */
export const BULK_PROTOCOLS = ['net4bulk', 'net6bulk'] as const;
