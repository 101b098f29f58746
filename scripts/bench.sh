#!/usr/bin/env bash
# Runs one benchmark against real peers: `bash scripts/bench.sh NAME [flags]`, where NAME
# is a directory under bench/ (bgp-advertise, bgp-ingest, kernel-routes, convergence, …).
# Installs what it needs first, like the demo and the tests; results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/bench.sh NAME [flags]}"
shift
[ -f "bench/$name/run.ts" ] || { echo "bench: no bench/$name/run.ts" >&2; exit 64; }
bash scripts/setup.sh
exec node "dist/bench/$name/run.js" "$@"
