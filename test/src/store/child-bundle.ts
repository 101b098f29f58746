/**
 * Turns a TypeScript entry file into one runnable ESM file, for tests that must run
 * project code in a separate process (killed mid-write, or started inside another
 * network namespace with `ip netns exec`). Node 20 cannot run .ts directly and the
 * project has no TS loader, so the test bundles the entry with rolldown (which vitest's
 * vite already brings) into a temp directory under this checkout's node_modules/.cache.
 * Packages stay external and are imported by absolute path, so the native `netlink`
 * binding loads from this checkout's node_modules; and since the bundle lies inside the
 * checkout, a package resolved by name at run time (the netlink thread's script,
 * src/dataplane/netlink/thread.ts) is found there too.
 */
import { build } from 'rolldown';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

export async function bundleEntry(entry: string, externals: readonly string[] = []): Promise<string> {
  const cache = join(import.meta.dirname, '../../../node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'rtc-bundle-'));
  const file = join(dir, 'entry.mjs');
  const paths: Record<string, string> = {};
  for (const x of externals) paths[x] = pathToFileURL(require.resolve(x)).href;
  await build({
    input: entry,
    platform: 'node',
    external: [...externals, /^node:/],
    resolve: { extensionAlias: { '.js': ['.ts', '.js'] } },
    output: { file, format: 'esm', paths },
    logLevel: 'silent',
  });
  return file;
}
