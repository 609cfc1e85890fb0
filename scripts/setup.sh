#!/usr/bin/env bash
# Installs whatever the project needs and is missing, on a Debian machine as root:
#   1. etcd and the Kubernetes control plane, built once from their Go modules (cached) — in the
#      background from the start, since a cold build is the long pole of a first run and needs
#      nothing but Go (the binaries are static: no C toolchain);
#   2. Debian packages for the real servers the tests and the demo run against;
#   3. node_modules, with `npm ci`, when missing or older than package-lock.json (after step 2:
#      better-sqlite3 compiles with its make and g++).
# Idempotent and quick when everything is already there; run by `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
export PATH="$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin"

command -v go >/dev/null || { log "Go is required (expected at /usr/local/go/bin/go)"; exit 1; }
go_pid=""
npm_pid=""
# A failed or interrupted step must not leave the others running behind it. The Go builds run in a
# process group of their own (setsid) so that the go commands under them stop with them.
trap '[[ -n "$go_pid" ]] && kill -- "-$go_pid" 2>/dev/null; [[ -n "$npm_pid" ]] && kill "$npm_pid" 2>/dev/null; true' EXIT
# `--no-helm` (npm start): helm is only for the chart's tests.
setsid bash scripts/env/build-k8s.sh "$@" &
go_pid=$!

APT_PACKAGES=(
  redis-server haproxy mosquitto mosquitto-clients # Redis, load balancer, MQTT broker
  containerd runc busybox-static                   # container runtime and the test image's content
  containernetworking-plugins                      # CNI bridge for CRI pods (edgefleet0, 10.88.x)
  iptables iproute2                                # apiserver DNAT tests in network namespaces
  prometheus                                       # scrapes cloudcore and the simulator in the dashboard tests
  librsvg2-bin                                     # rsvg-convert: load report charts, SVG to PNG
  tar ca-certificates git python3 make g++         # image builds; native addons (better-sqlite3)
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) != 0 ]]; then
    log "missing Debian packages: ${missing[*]}; run this script as root or install them"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # The packages' own services are not used: every test starts private instances on loopback.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# better-sqlite3 compiles against Node's headers; Debian's Node ships them under /usr/include/node,
# and node-gyp would otherwise try to download them.
if [[ -f /usr/include/node/node_version.h && -z "${npm_config_nodedir:-}" ]]; then
  export npm_config_nodedir=/usr
fi
# node_modules install while Go builds.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing node modules (npm ci), beside the Go builds"
  npm ci --no-audit --no-fund &
  npm_pid=$!
fi
wait "$go_pid" || { go_pid=""; log "the Go builds failed (their output is above)"; exit 1; }
go_pid=""
if [[ -n "$npm_pid" ]]; then
  wait "$npm_pid" || { npm_pid=""; log "npm ci failed"; exit 1; }
  npm_pid=""
fi
log "ready"
