#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from the Go module
# proxy, because release binaries cannot be downloaded here, and caches them.
# Prints the directory to use as KUBEBUILDER_ASSETS.
#
#   KUBE_VERSION   kube-apiserver version (k8s.io/kubernetes), default 1.34.3
#   ETCD_VERSION   etcd version (go.etcd.io/etcd/server/v3), default 3.7.3
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.34.3}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/envtest
dir=$cache/kube-$KUBE_VERSION-etcd-$ETCD_VERSION

if [[ -x $dir/kube-apiserver && -x $dir/etcd ]]; then
  echo "$dir"
  exit 0
fi

log() { echo "envtest-assets: $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"
# Static, as the Kubernetes and etcd releases are, and as the image and the
# e2e binaries are built; and with the modules both share with them at the
# versions those select (hack/pins.sh), so that their packages compile once.
# Kubernetes and etcd only ever move up: Go keeps the higher of their own
# requirement and the pin.
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
root=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t pins < <("$root/hack/pins.sh" --print)

# kube-apiserver: see hack/lib/kube-module.sh.
# shellcheck source=hack/lib/kube-module.sh
source "$root/hack/lib/kube-module.sh"
build_kube_apiserver() {
  kube_build "$KUBE_VERSION" "$work/kube" "$dir" kube-apiserver
}

# etcd: the module root of go.etcd.io/etcd/server/v3 is etcd's main package.
build_etcd() {
  mkdir "$work/etcd" && cd "$work/etcd"
  go mod init envtest/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION" "${pins[@]}"
  go build -trimpath -o "$dir/etcd.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  mv "$dir/etcd.tmp" "$dir/etcd"
}

if [[ ! -x $dir/etcd ]]; then
  log "building etcd v$ETCD_VERSION (cached in $dir)"
  (build_etcd)
fi
if [[ ! -x $dir/kube-apiserver ]]; then
  log "building kube-apiserver v$KUBE_VERSION (cached in $dir; about 10 minutes cold)"
  (build_kube_apiserver)
fi
echo "$dir"
