/**
 * Turns a TypeScript entry file into one runnable ESM file, for tests that must run
 * project code in a separate process (killed mid-write, or started inside another
 * network namespace with `ip netns exec`). Node 20 cannot run .ts directly and the
 * project has no TS loader, so the test bundles the entry with rolldown (which vitest's
 * vite already brings) into a temp directory under this checkout's node_modules/.cache.
 * Packages stay external and are imported by absolute path, so the native `netlink`
 * binding loads from this checkout's node_modules; and since the bundle lies inside the
 * checkout, a package resolved by name at run time (the netlink thread's program) is
 * found there too.
 *
 * The programs that threads and the launcher run (the .js files under src/) are resolved
 * from their starting module's `import.meta.url`, each next to that module; in a bundle
 * that is the bundle itself, so they are copied next to it (their names are unique), with
 * a package.json that makes .js an ES module there as in the checkout.
 */
import { build } from 'rolldown';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
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
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  const programs = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
  if (programs.length === 0) throw new Error(`no programs (.js) found under ${SRC}`);
  for (const f of programs) copyFileSync(join(SRC, f), join(dir, basename(f)));
  return file;
}

const SRC = join(import.meta.dirname, '../../../src');
