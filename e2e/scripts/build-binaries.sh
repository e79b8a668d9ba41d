#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl) and helm from the Go module proxy into a
# cache outside the repository, and reuses them when they are already there.
#
#   e2e/scripts/build-binaries.sh            # prints the bin directory on the last line
#
# Versions are pinned here and nowhere else.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

CACHE="${MAYFLY_CACHE:-$HOME/.cache/mayfly}"
BIN="$CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
WORK="$CACHE/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOCACHE="${GOCACHE:-$CACHE/go-build}"

mkdir -p "$BIN" "$WORK"
log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have() { [ -x "$BIN/$1" ]; }

# A heartbeat so a cold build (15-35 minutes on two cores) is visibly alive.
heartbeat() {
  local what=$1 start=$SECONDS
  while sleep 30; do log "still building $what ($((SECONDS - start))s)"; done
}
with_heartbeat() {
  local what=$1; shift
  heartbeat "$what" & local hb=$!
  local rc=0
  "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}

build_kube() {
  local dir="$WORK/kube-$KUBE_VERSION"
  mkdir -p "$dir"
  log "resolving k8s.io/kubernetes@$KUBE_VERSION"
  local info; info=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION")
  local gomod; gomod=$(printf '%s' "$info" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local staging="v0.${KUBE_VERSION#v1.}"
  {
    echo "module mayfly.local/kubebuild"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    grep -E '=> \./staging/src/' "$gomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "downloading modules for kubernetes $KUBE_VERSION"
  (cd "$dir" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION")
  local ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    have "$cmd" && continue
    log "compiling $cmd (cold: several minutes)"
    (cd "$dir" && with_heartbeat "$cmd" go build -trimpath -ldflags "-s -w $ld" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
}

build_etcd() {
  local dir="$WORK/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  cat > "$dir/go.mod" <<GOMOD
module mayfly.local/etcdbuild

go 1.24
GOMOD
  cat > "$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "downloading etcd $ETCD_VERSION"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy)
  log "compiling etcd"
  (cd "$dir" && with_heartbeat etcd go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" .)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_helm() {
  local dir="$WORK/helm-$HELM_VERSION"
  mkdir -p "$dir"
  log "compiling helm $HELM_VERSION"
  (cd "$dir" && GOBIN="$dir/bin" with_heartbeat helm go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  mv "$dir/bin/helm" "$BIN/helm"
}

start=$SECONDS
have etcd || build_etcd
{ have kube-apiserver && have kube-controller-manager && have kubectl; } || build_kube
have helm || build_helm
log "binaries ready in $((SECONDS - start))s: $BIN"
echo "$BIN"
