#!/usr/bin/env bash
# End-to-end: konnector-hooks called by the real Cluster API core controller
# manager, its objects acted on by CAPI's ClusterResourceSet controller and
# the real CAAPH controller manager. It builds (once, then cached) CAAPH
# pinned in test/e2e/tools/caaph-<version> and, for each CAPI version, the
# manager pinned in test/e2e/tools/capi-<version>, builds the function, and
# runs the suite in test/e2e against a local management cluster and one
# workload API server per Cluster (envtest).
#
#   E2E_CAPI_VERSIONS   CAPI versions to test (default: every tools module,
#                       i.e. "v1.12.5 v1.14.2")
#   E2E_CHART           the Konnector Agent fixture chart (default
#                       test/chart/konnector-agent)
#   E2E_KEEP_ARTIFACTS  set to keep the logs of passing runs too
#   GO_TEST_FLAGS       extra `go test` flags, e.g. -run TestClusterLifecycle
#
# hack/e2e.sh --env prints the suite's E2E_* settings of each version (the
# managers built or taken from the cache), one NAME=value a line, and runs
# nothing.
#
# hack/e2e.sh --build-only builds and caches the managers, compiles the
# function and the suite, and runs nothing:
# .ci/run starts it in the background, so that they build in the gaps the
# earlier stages leave.
#
# Logs of a failing run (the function's JSON logs, the CAPI manager's log,
# the objects left) stay in the directory the run prints.
set -euo pipefail

# Everything here is built as ko builds the image (CGO_ENABLED=0, -trimpath),
# so that a CI run compiles each shared package once for all of them.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"

root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/test/e2e/tools
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks

log() { echo "e2e: $*" >&2; }

# module_dir MODULE [DIR]: the module cache directory of MODULE at the version
# that the go.mod in DIR (default: the repository root) requires.
module_dir() {
  (cd "${2:-$root}" && go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# build_tool DIR CACHE VERSION_PKG: builds the main package named by the `tool`
# line of the tools module in DIR, caches it under CACHE/<module dir>-<key of
# its pins, the Go version and the flags>, and prints its path. VERSION_PKG is the
# package whose gitVersion the binary reports.
build_tool() {
  local dir=$1 cache=$2 version_pkg=$3
  local name=${dir##*/} version=${dir##*-}
  local flags=()
  if ! shares_kubernetes "$dir"; then
    flags=(-gcflags='all=-N -l' -gcflags='std=')
  fi
  local key
  key=$(cat "$dir/go.mod" "$dir/go.sum" <(go env GOVERSION) <(echo "${flags[*]}") | sha256sum | cut -c1-12)
  local bin=$cache/$name-$key/manager
  if [[ -x $bin ]]; then
    echo "$bin"
    return
  fi
  local pkg start=$SECONDS
  pkg=$(sed -n 's/^tool \(.*\)$/\1/p' "$dir/go.mod")
  log "building $name ($pkg; a few minutes cold, cached in ${bin%/*})"
  mkdir -p "${bin%/*}"
  (cd "$dir" && go build -o "$bin.tmp" "${flags[@]}" \
    -ldflags "-s -w -X $version_pkg.gitVersion=$version" "$pkg")
  mv "$bin.tmp" "$bin"
  log "built $name in $((SECONDS - start))s"
  echo "$bin"
}

# shares_kubernetes DIR: whether the tools module in DIR is on the product's
# Kubernetes version. A manager that is not shares hardly any package with the
# rest of a run (hack/pins.sh aligns the others), so its packages are compiled
# for it alone: build_tool compiles them without optimizations (-N -l), which
# spares about a fifth of that compile (189 s to 151 s on 2 cores for CAPI
# v1.14.2); it is a test fixture. The standard library keeps the default
# flags, as every other build has it, so that it still compiles once.
our_kubernetes=$(cd "$root" && go list -m -f '{{.Version}}' k8s.io/apimachinery)
shares_kubernetes() {
  [[ $(cd "$1" && go list -m -f '{{.Version}}' k8s.io/apimachinery) == "$our_kubernetes" ]]
}

# manager VERSION: the CAPI core manager of that tools module. The main
# package is the module's `tool` line: sigs.k8s.io/cluster-api up to v1.13,
# sigs.k8s.io/cluster-api/core from v1.14.
manager() {
  build_tool "$tools/capi-$1" "$cache/capi" sigs.k8s.io/cluster-api/version
}

versions=${E2E_CAPI_VERSIONS:-$(cd "$tools" && ls -d capi-v* | sed 's/^capi-//' | sort -V | tr '\n' ' ')}

if [[ ${1:-} == --build-only ]]; then
  # Newest CAPI first: it shares no package with the other builds (it is on
  # another Kubernetes minor), while CAAPH and the older CAPI share most of
  # theirs with the test modules (hack/pins.sh), which the stages running
  # beside this build compile by then.
  for version in $(tr ' ' '\n' <<<"$versions" | sort -rV); do
    manager "$version" >/dev/null
  done
  build_tool "$(ls -d "$tools"/caaph-v* | sort -V | tail -1)" "$cache/caaph" sigs.k8s.io/cluster-api-addon-provider-helm/version >/dev/null
  # The function and the suite too, into Go's build cache: a run then only
  # links them.
  (cd "$root" && go build -o /dev/null ./cmd/konnector-hooks)
  (cd "$root/test/e2e" && go test -c -o /dev/null .)
  exit 0
fi

if [[ ${1:-} != --env ]]; then
  KUBEBUILDER_ASSETS=$("$root/hack/envtest-assets.sh")
  export KUBEBUILDER_ASSETS
fi
# CAAPH: the manager, its CRDs and webhooks from its own tools module.
caaph_tools=$(ls -d "$tools"/caaph-v* | sort -V | tail -1)
caaph_manager=$(build_tool "$caaph_tools" "$cache/caaph" sigs.k8s.io/cluster-api-addon-provider-helm/version)
caaph=$(module_dir sigs.k8s.io/cluster-api-addon-provider-helm "$caaph_tools")
chart=${E2E_CHART:-$root/test/chart/konnector-agent}

# suite_env VERSION: the suite's E2E_* settings for that CAPI version, one
# NAME=value a line (hack/e2e-knative.sh capi runs the suite with them, in
# its installed mode, through --env).
suite_env() {
  local version=$1 bin pkg capi config
  bin=$(manager "$version")
  pkg=$(sed -n 's/^tool \(.*\)$/\1/p' "$tools/capi-$version/go.mod")
  capi=$(module_dir sigs.k8s.io/cluster-api "$tools/capi-$version")
  # config/ sits next to the main package: config/ (<= v1.13), core/config/ (v1.14+)
  config=$capi/${pkg#sigs.k8s.io/cluster-api}/config
  config=${config/\/\/config//config}
  printf '%s\n' "E2E_CAPI_VERSION=$version" "E2E_CAPI_MANAGER=$bin" \
    "E2E_CAPI_CRDS=$config/crd/bases" "E2E_CAPI_WEBHOOKS=$config/webhook/manifests.yaml" \
    "E2E_CAAPH_MANAGER=$caaph_manager" "E2E_CAAPH_CRDS=$caaph/config/crd/bases" \
    "E2E_CAAPH_WEBHOOKS=$caaph/config/webhook/manifests.yaml" "E2E_CHART=$chart"
}

if [[ ${1:-} == --env ]]; then
  for version in $versions; do
    suite_env "$version"
  done
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/konnector-hooks-e2e.XXXXXX")
log "building the function"
(cd "$root" && go build -o "$work/konnector-hooks" ./cmd/konnector-hooks)

failed=()
for version in $versions; do
  start=$SECONDS
  artifacts=$work/capi-$version
  mkdir -p "$artifacts"
  log "CAPI $version: running the suite (logs in $artifacts)"
  mapfile -t settings < <(suite_env "$version")
  # shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
  if (cd "$root/test/e2e" && \
      env "${settings[@]}" E2E_FUNCTION="$work/konnector-hooks" E2E_ARTIFACTS="$artifacts" \
      go test -count=1 -v -timeout 20m ${GO_TEST_FLAGS:-} ./...); then
    log "CAPI $version: passed in $((SECONDS - start))s"
    [[ -n ${E2E_KEEP_ARTIFACTS:-} ]] || rm -rf "$artifacts"
  else
    log "CAPI $version: FAILED after $((SECONDS - start))s; logs and objects in $artifacts"
    failed+=("$version")
  fi
done

rm -f "$work/konnector-hooks"
rmdir "$work" 2>/dev/null || true
if ((${#failed[@]})); then
  log "failed against CAPI ${failed[*]}"
  exit 1
fi
log "passed against CAPI $versions"
