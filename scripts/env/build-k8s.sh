#!/usr/bin/env bash
# Builds etcd, the Kubernetes control plane (kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl) and helm (for the chart's tests; `--no-helm` skips it) from
# their Go modules at pinned versions and caches the binaries outside the repo. A second run with
# the same pins only checks that they exist.
#
# Why a generated module: `go install k8s.io/kubernetes/cmd/...@v` cannot work, because the
# kubernetes go.mod maps its k8s.io/* staging modules to ./staging/... and module zips leave
# nested modules out. We require k8s.io/kubernetes and replace each staging module with the
# published v0.x.y of the same release; etcd's server module is required beside it.
set -euo pipefail

K8S_VERSION="${EDGEFLEET_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${EDGEFLEET_ETCD_VERSION:-v3.6.8}" # what Kubernetes v1.36.3 is released with
HELM_VERSION="${EDGEFLEET_HELM_VERSION:-v3.22.0}"
CACHE="${EDGEFLEET_CACHE:-$HOME/.cache/edgefleet}"
K8S_OUT="$CACHE/k8s/$K8S_VERSION"
ETCD_OUT="$CACHE/etcd/$ETCD_VERSION"
HELM_OUT="$CACHE/helm/$HELM_VERSION"

log() { printf '[build-k8s] %s\n' "$*" >&2; }
# Static binaries, as Kubernetes' own build makes these (hack/lib/golang.sh, KUBE_STATIC_BINARIES)
# and etcd's and helm's releases are: no C toolchain work in a cold build.
export CGO_ENABLED=0

# Reads `go build -v` output: counts the package lines (import paths), says how far the build is
# every 30 s, and passes every other line (compile errors) through.
compile_progress() {
  local total=$1 n=0 start=$SECONDS last=$SECONDS line
  while IFS= read -r line; do
    if [[ $line =~ ^[A-Za-z0-9._~/+-]+$ ]]; then
      n=$((n + 1))
      if ((SECONDS - last >= 30)); then
        last=$SECONDS
        log "compiled $n of $total packages ($(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s)"
      fi
    else
      printf '%s\n' "$line" >&2
    fi
  done
  ((n == 0)) || log "compiled $n packages in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
}
command -v go >/dev/null || { log "go not found on PATH (expected /usr/local/go/bin/go)"; exit 1; }

# etcd and the Kubernetes commands build in one module: they share most of their dependencies
# (gRPC, protobuf, OpenTelemetry, etcd's client), which a cold build then compiles once, not twice.
# The default etcd is the one this Kubernetes release is made with (build/dependencies.yaml), so
# requiring its server adds no upgrade to what Kubernetes builds against.
build_control_plane() {
  local k8s_bins=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
  local targets=()
  [[ -x "$ETCD_OUT/etcd" ]] && log "etcd $ETCD_VERSION cached at $ETCD_OUT" || targets+=(./etcd)
  local k8s_missing=0
  for b in "${k8s_bins[@]}"; do [[ -x "$K8S_OUT/$b" ]] || k8s_missing=1; done
  if [[ $k8s_missing == 0 ]]; then
    log "kubernetes $K8S_VERSION cached at $K8S_OUT"
  else
    for b in "${k8s_bins[@]}"; do targets+=("k8s.io/kubernetes/cmd/$b"); done
  fi
  ((${#targets[@]} > 0)) || return 0
  local work; work=$(mktemp -d)
  log "building ${targets[*]} (kubernetes $K8S_VERSION, etcd $ETCD_VERSION) in $work (cold: ~9 min on 2 cores)"
  local minor="${K8S_VERSION#v1.}"           # 36.3
  local staging="v0.${minor}"                # v0.36.3
  (cd "$work" && go mod init edgefleet.local/control-plane >/dev/null 2>&1)
  # Read the staging module list from the release's own go.mod.
  local gomod
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >>"$work/go.mod"
  mkdir -p "$work/etcd"
  cat >"$work/etcd/main.go" <<'GO'
// Command etcd is etcd's own main, built from the go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
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
  rm -rf "$work/out"; mkdir -p "$work/out"
  # At most this many packages compile (fewer when the build cache has some).
  local total; total=$(cd "$work" && go list -deps "${targets[@]}" | wc -l)
  # -dwarf=false: the binaries are stripped (-s -w) anyway, so the compiler need not make the
  # debug information the linker would throw away (go build only skips it for `go run`).
  (cd "$work" && go build -v -trimpath -gcflags=all=-dwarf=false -ldflags "$ld" -o "$work/out/" "${targets[@]}" 2>&1) |
    compile_progress "$total"
  if [[ -x "$work/out/etcd" ]]; then
    rm -rf "$ETCD_OUT" "$ETCD_OUT.tmp"; mkdir -p "$ETCD_OUT.tmp"
    mv "$work/out/etcd" "$ETCD_OUT.tmp/etcd"; mv "$ETCD_OUT.tmp" "$ETCD_OUT"
  fi
  if [[ $k8s_missing == 1 ]]; then
    rm -rf "$K8S_OUT"; mkdir -p "$(dirname "$K8S_OUT")"; mv "$work/out" "$K8S_OUT"
  fi
  rm -rf "$work"
}

# helm's module has no replace directives, so a plain `go install` of its command works.
build_helm() {
  if [[ -x "$HELM_OUT/helm" ]]; then log "helm $HELM_VERSION cached at $HELM_OUT"; return; fi
  log "building helm $HELM_VERSION (cold: ~4 min on 2 cores)"
  rm -rf "$HELM_OUT.tmp"; mkdir -p "$HELM_OUT.tmp"
  GOBIN="$HELM_OUT.tmp" go install -trimpath -gcflags=all=-dwarf=false -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$HELM_OUT"; mv "$HELM_OUT.tmp" "$HELM_OUT"
}

build_control_plane
if [[ "${1:-}" == "--no-helm" ]]; then
  log "done: etcd=$ETCD_OUT kubernetes=$K8S_OUT (helm skipped)"
else
  build_helm
  log "done: etcd=$ETCD_OUT kubernetes=$K8S_OUT helm=$HELM_OUT"
fi
