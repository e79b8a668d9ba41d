#!/usr/bin/env bash
# helm lint and a render of the chart, with the helm binary the harness builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash e2e/scripts/build-binaries.sh 2>/dev/null | tail -1)
"$bin/helm" lint --strict --kube-version 1.36.3 charts/mayfly
"$bin/helm" template mayfly charts/mayfly -n mayfly-system --kube-version 1.36.3 >/dev/null
echo "chart ok"
