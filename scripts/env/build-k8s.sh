#!/usr/bin/env bash
# Builds etcd, the Kubernetes control plane (kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl) and helm (for the chart's tests; `--no-helm` skips it) from
# their Go modules at pinned versions and caches the binaries outside the repo. A second run with
# the same pins only checks that they exist.
#
# Why a generated module: `go install k8s.io/kubernetes/cmd/...@v` cannot work, because the
# kubernetes go.mod maps its k8s.io/* staging modules to ./staging/... and module zips leave
# nested modules out. We require k8s.io/kubernetes and replace each staging module with the
# published v0.x.y of the same release.
set -euo pipefail

K8S_VERSION="${EDGEFLEET_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${EDGEFLEET_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${EDGEFLEET_HELM_VERSION:-v3.22.0}"
CACHE="${EDGEFLEET_CACHE:-$HOME/.cache/edgefleet}"
K8S_OUT="$CACHE/k8s/$K8S_VERSION"
ETCD_OUT="$CACHE/etcd/$ETCD_VERSION"
HELM_OUT="$CACHE/helm/$HELM_VERSION"

log() { printf '[build-k8s] %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go not found on PATH (expected /usr/local/go/bin/go)"; exit 1; }

build_etcd() {
  if [[ -x "$ETCD_OUT/etcd" ]]; then log "etcd $ETCD_VERSION cached at $ETCD_OUT"; return; fi
  local work; work=$(mktemp -d)
  log "building etcd $ETCD_VERSION in $work"
  mkdir -p "$work"
  cat >"$work/main.go" <<'GO'
// Command etcd is etcd's own main, built from the go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" && go mod init edgefleet.local/etcd >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    && go mod tidy \
    && mkdir -p "$ETCD_OUT.tmp" && go build -trimpath -o "$ETCD_OUT.tmp/etcd" .)
  mv "$ETCD_OUT.tmp" "$ETCD_OUT"
  rm -rf "$work"
}

build_k8s() {
  local bins=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
  local missing=0
  for b in "${bins[@]}"; do [[ -x "$K8S_OUT/$b" ]] || missing=1; done
  if [[ $missing == 0 ]]; then log "kubernetes $K8S_VERSION cached at $K8S_OUT"; return; fi
  local work; work=$(mktemp -d)
  log "building kubernetes $K8S_VERSION in $work (cold: ~10 min on 2 cores)"
  local minor="${K8S_VERSION#v1.}"           # 36.3
  local staging="v0.${minor}"                # v0.36.3
  (cd "$work" && go mod init edgefleet.local/k8s >/dev/null 2>&1)
  # Read the staging module list from the release's own go.mod.
  local gomod
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >>"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  (cd "$work" && go mod tidy)
  local major="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  local ld="-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$major"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$K8S_VERSION"
  ld+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) -s -w"
  mkdir -p "$K8S_OUT.tmp"
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$K8S_OUT.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$K8S_OUT"; mv "$K8S_OUT.tmp" "$K8S_OUT"
  rm -rf "$work"
}

# helm's module has no replace directives, so a plain `go install` of its command works.
build_helm() {
  if [[ -x "$HELM_OUT/helm" ]]; then log "helm $HELM_VERSION cached at $HELM_OUT"; return; fi
  log "building helm $HELM_VERSION (cold: ~4 min on 2 cores)"
  rm -rf "$HELM_OUT.tmp"; mkdir -p "$HELM_OUT.tmp"
  GOBIN="$HELM_OUT.tmp" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$HELM_OUT"; mv "$HELM_OUT.tmp" "$HELM_OUT"
}

build_etcd
build_k8s
if [[ "${1:-}" == "--no-helm" ]]; then
  log "done: etcd=$ETCD_OUT kubernetes=$K8S_OUT (helm skipped)"
else
  build_helm
  log "done: etcd=$ETCD_OUT kubernetes=$K8S_OUT helm=$HELM_OUT"
fi
