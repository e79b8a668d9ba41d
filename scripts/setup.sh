#!/usr/bin/env bash
# Everything the project needs on a fresh machine, idempotent and quick when done:
# Debian packages, npm dependencies (which bring Node 24), the control-plane binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

npm_deps() {
  # Reinstall when the lockfile changed since the last install.
  local stamp=node_modules/.mayfly-lock-stamp
  if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    log "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
  local v; v=$(node_modules/.bin/node --version)
  case "$v" in v24.*) ;; *) log "expected Node 24 in node_modules/.bin, got $v"; exit 1 ;; esac
}

os_packages() {
  # iptables: capture rules in pod network namespaces; nginx and wrk: benchmark baselines;
  # curl and python3: the unmodified apps in end-to-end tests; libjemalloc2: the
  # allocator the image runs the sidecar on, so the benchmark measures the same.
  local missing=()
  command -v iptables >/dev/null || missing+=(iptables)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v ip >/dev/null || missing+=(iproute2)
  ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 ' || missing+=(libjemalloc2)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

if [ "${1:-}" = "--npm-only" ]; then npm_deps; exit 0; fi
os_packages
npm_deps
log "control-plane binaries (cold build: 15-35 minutes on two cores; cached under \$HOME/.cache/mayfly)"
bash e2e/scripts/build-binaries.sh >/dev/null
log "ready"
