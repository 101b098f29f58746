/**
 * Builds bench/bgp-advertise/gobgp-load (a Go client of gobgpd's gRPC API) on first use,
 * in GOPATH mode against Debian's golang-github-osrg-gobgp-dev, and caches the binary
 * under the OS temp directory keyed by the source's hash. Debian ships the library
 * under github.com/osrg/gobgp while its import path is github.com/osrg/gobgp/v3, so
 * the build uses a private GOPATH whose src/github.com/osrg/gobgp/v3 links to it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../test/lab/harness/index.js';

const DEBIAN_GOPATH = '/usr/share/gocode';
const GOBGP_SRC = `${DEBIAN_GOPATH}/src/github.com/osrg/gobgp`;

export async function gobgpLoader(repoRoot: string): Promise<string> {
  const src = join(repoRoot, 'bench/bgp-advertise/gobgp-load/main.go');
  if (!existsSync(src)) throw new Error(`missing ${src}`);
  if (!existsSync(GOBGP_SRC)) {
    throw new Error('GoBGP library source not found: apt-get install golang-go golang-github-osrg-gobgp-dev');
  }
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'rtc-bench-go');
  const bin = join(dir, `gobgp-load-${hash}`);
  if (existsSync(bin)) return bin;
  const gopath = join(dir, 'gopath');
  const link = join(gopath, 'src/github.com/osrg/gobgp/v3');
  mkdirSync(join(gopath, 'src/github.com/osrg/gobgp'), { recursive: true });
  if (!existsSync(link)) symlinkSync(GOBGP_SRC, link);
  await run(['go', 'build', '-o', bin, src], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${DEBIAN_GOPATH}`, GOCACHE: join(dir, 'cache'), GOFLAGS: '' },
    timeoutMs: 300_000,
  });
  return bin;
}
