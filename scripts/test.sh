#!/usr/bin/env bash
# Runs the test suite with tap and ends with one plain summary line
# ("N passed, N failed") that CI reads.
#   scripts/test.sh          everything
#   scripts/test.sh --unit   no control plane, no root
#   scripts/test.sh --e2e    only the end-to-end scenarios
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

tsc -b || { echo "0 passed, 1 failed"; exit 1; }
tap build >/dev/null 2>&1 || true

case "${1:-}" in
  --unit) files=$(find crds cli webhook sidecar operator -path '*/test/*' -name '*.test.ts' -not -path '*/node_modules/*' | grep -v -E '/(e2e|netns)[^/]*$' | sort) ;;
  --e2e) files=$(ls e2e/test/*.test.ts) ;;
  *) files="" ;;
esac

log=$(mktemp)
# shellcheck disable=SC2086
tap $files 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -1)
pass=$(sed -n 's/.*pass: \([0-9]*\).*/\1/p' <<<"$summary")
fail=$(sed -n 's/.*fail: \([0-9]*\).*/\1/p' <<<"$summary")
rm -f "$log"
echo "${pass:-0} passed, ${fail:-0} failed"
if [ "$status" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then echo "tap exited with $status"; fi
exit "$status"
