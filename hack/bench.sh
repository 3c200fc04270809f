#!/usr/bin/env bash
# Benchmarks konnector-hooks as a serverless hook, side by side with CAPI's
# test extension (a conventional controller-runtime Runtime Extension),
# against envtest, and writes bench/report.md and bench/report.json.
#
#   hack/bench.sh           the full run: the hook sections (about 5-8 minutes
#                           on 2 cores), then the fleet section
#   hack/bench.sh -quick    a few runs of everything, to check the harness
#   hack/bench.sh -fleet    the fleet section alone (Sync at 1,000 to 10,000
#                           Clusters; about 25-40 minutes on 2 cores)
#
# Extra arguments go to the harness (test/bench; `-h` lists its flags).
#   PEER_VERSIONS  versions of sigs.k8s.io/cluster-api/test to try for the
#                  peer, first that builds wins (default: v1.12.5 v1.13.8 v1.13.7)
#   FLEET_SIZES    Clusters per fleet size (default: 1000,5000,10000)
#   BEFORE_REF     the git ref whose code the fleet section measures as
#                  "before" (default: main; empty: not measured)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { echo "bench: $*" >&2; }

KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)
export KUBEBUILDER_ASSETS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fleet_only=false quick=false
for a in "$@"; do
  [[ $a == -fleet ]] && fleet_only=true
  [[ $a == -quick ]] && quick=true
done
args=()
for a in "$@"; do [[ $a == -fleet ]] || args+=("$a"); done
set -- ${args[@]+"${args[@]}"}

# The fleet section: fresh sync processes of this tree and of BEFORE_REF's
# code (built from `git archive`, the work tree untouched), each size on its
# own API server. It writes bench/fleet.md, bench/fleet.json and its section
# of bench/report.md.
fleet() {
  local sizes=${FLEET_SIZES:-1000,5000,10000} before="" ref=${BEFORE_REF-main}
  $quick && sizes=${FLEET_SIZES:-200}
  if [[ -n $ref ]]; then
    log "building the code of $ref as the fleet section's \"before\""
    mkdir -p "$work/before-src"
    git -C "$root" archive "$ref" | tar -x -C "$work/before-src"
    (cd "$work/before-src" && go build -o "$work/konnector-hooks-before" ./cmd/konnector-hooks)
    before="$work/konnector-hooks-before"
  fi
  (cd "$root/test/bench" && "$work/bench" -fleet "$sizes" -hooks "$work/konnector-hooks" -before "$before" -repo "$root" -out "$root/bench" "$@")
}

if $fleet_only; then
  log "building konnector-hooks and the harness"
  go build -o "$work/konnector-hooks" ./cmd/konnector-hooks
  (cd test/bench && go build -o "$work/bench" .)
  fleet "$@"
  exit
fi

log "building konnector-hooks, the trivial server, hooksprobe, the start-up experiments and the harness"
go build -o "$work/konnector-hooks" ./cmd/konnector-hooks
(
  cd test/bench
  go build -o "$work/trivialserver" ./trivialserver
  go build -o "$work/hooksprobe" ./hooksprobe
  go build -o "$work/nocaaph" ./startup/nocaaph
  go build -o "$work/restonly" ./startup/restonly
  go build -o "$work/bench" .
)

# The peer: CAPI's test extension, built from the Go module proxy in a
# throwaway module (its dependency graph is much larger than ours) and
# cached. Dependencies' replace directives do not apply, so the module pins
# sigs.k8s.io/cluster-api at the same version as the test module.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/peer
peer="" peer_version="" peer_error="$work/peer-error.txt"
: >"$peer_error"
build_peer() {
  local version=$1 dir=$cache/capi-test-extension-$1
  if [[ -x $dir/test-extension ]]; then
    echo "$dir/test-extension"
    return 0
  fi
  log "building CAPI's test extension $version (cached in $dir; a few minutes the first time)"
  rm -rf "$dir/module" && mkdir -p "$dir/module"
  (
    cd "$dir/module" &&
      go mod init bench/capi-test-extension >/dev/null 2>&1 &&
      go mod edit -require="sigs.k8s.io/cluster-api/test@$version" -require="sigs.k8s.io/cluster-api@$version" &&
      printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/cluster-api/test/extension"\n' >tools.go &&
      GOFLAGS=-mod=mod go mod tidy &&
      go build -o "$dir/test-extension.tmp" sigs.k8s.io/cluster-api/test/extension &&
      mv "$dir/test-extension.tmp" "$dir/test-extension"
  ) >"$dir/build.log" 2>&1 || { { echo "$version:"; tail -n 15 "$dir/build.log"; } >>"$peer_error"; return 1; }
  echo "$dir/test-extension"
}
peer_versions=${PEER_VERSIONS:-v1.12.5 v1.13.8 v1.13.7}
for v in $peer_versions; do
  if peer=$(build_peer "$v"); then
    peer_version=$v
    break
  fi
  peer=""
  log "the peer $v did not build: see $peer_error"
done
[[ -n $peer ]] || peer_version="none built of: $peer_versions"

cd test/bench
"$work/bench" \
  -hooks "$work/konnector-hooks" -trivial "$work/trivialserver" -probe "$work/hooksprobe" -exp-nocaaph "$work/nocaaph" -exp-restonly "$work/restonly" \
  -peer "$peer" -peer-version "$peer_version" -peer-error "$peer_error" \
  -repo "$root" -out "$root/bench" "$@"
cd "$root"
fleet
