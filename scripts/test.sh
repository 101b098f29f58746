#!/usr/bin/env bash
# The README's test command: install everything, then lint, type-check and run every
# test — the pure unit tests, then the lab tests against real FRR, BIRD, dockerd,
# podman, iptables in network namespaces that the tests create and delete. Ends with one
# line counting every test of both projects.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run lint
npm run typecheck

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json" || status=1
RTC_REQUIRE_CNITOOL=1 npx vitest run --project lab --reporter=default --reporter=json --outputFile.json="$results/lab.json" || status=1

node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  const failures = [];
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; console.error(`no results in ${f}: the run did not finish`); continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests ?? 0);
    // A file that failed without a failed test (it did not load, or a hook threw) counts once.
    for (const t of r.testResults ?? []) {
      if (t.status === "failed" && !(t.assertionResults ?? []).some((a) => a.status === "failed")) {
        failed++;
        failures.push(`${t.name}: ${(t.message ?? "failed to run").split("\n")[0]}`);
      }
      for (const a of t.assertionResults ?? []) {
        if (a.status === "failed") failures.push(`${t.name} > ${a.fullName}: ${(a.failureMessages?.[0] ?? "").split("\n")[0]}`);
      }
    }
  }
  // The failures again, last, so that the tail of a long log names them.
  for (const f of failures) console.log(`FAILED ${f}`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results/unit.json" "$results/lab.json"
exit $status
