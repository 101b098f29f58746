/**
 * The repository root and the built `routectl`, as the compiled benches see them
 * (dist/bench/<name>/run.js, like this file at dist/bench/lib/paths.js).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** What `npm run build` makes of src/cli/routectl.ts. */
export const ROUTECTL_JS = join(REPO, 'dist/src/cli/routectl.js');
