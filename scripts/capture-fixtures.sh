#!/usr/bin/env bash
# Regenerates test/fixtures/bgp/ from real FRR, BIRD and gobgpd sessions in lab
# namespaces (see scripts/capture-fixtures.ts). Run by hand, as root; not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/rtc-capture-build.XXXXXX)
trap 'rm -rf "$out"' EXIT
# Type-check and compile the script and the lab harness it uses, then run it.
npx tsc --outDir "$out" --rootDir . --module nodenext --moduleResolution nodenext --target es2022 \
  --strict --noUncheckedIndexedAccess --skipLibCheck --types node scripts/capture-fixtures.ts
echo '{"type":"module"}' > "$out/package.json"
node "$out/scripts/capture-fixtures.js"
