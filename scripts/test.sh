#!/usr/bin/env bash
# The README's test command: install everything, then lint, type-check and run every
# test — the pure unit tests, then the lab tests against real FRR, BIRD, dockerd,
# iptables in network namespaces that the tests create and delete.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run lint
npm run typecheck
npx vitest run --project unit
RTC_REQUIRE_CNITOOL=1 npx vitest run --project lab
