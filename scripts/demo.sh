#!/usr/bin/env bash
# `npm run demo [-- --keep | --down]`: installs and builds (scripts/setup.sh), then runs the
# self-contained demo (demo/run.ts, built to dist/demo/run.js): an FRR ToR and two
# workers in network namespaces, dockerd and the routectl agent on each, containers in
# zones, the operator's view and reachability checks. Needs root. Exits non-zero when a
# check fails. `--down` only removes what an earlier `--keep` run left.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates network namespaces and starts dockerd)" >&2
  exit 2
fi
if [ "${1:-}" = "--down" ] && [ -f dist/demo/run.js ]; then
  exec node dist/demo/run.js --down
fi
bash scripts/setup.sh
exec node dist/demo/run.js "$@"
