#!/usr/bin/env bash
# One version per dependency across the builds of the static flavour, so that
# a cold CI run compiles each shared package (client-go, apimachinery, api,
# controller-runtime, CAPI's API, Helm, gRPC, ...) once for all of them.
#
# Go caches a compiled package under a key made of its sources and the keys
# of everything it imports: one module at another version anywhere below
# client-go (golang.org/x/time, say) and client-go, and everything built on
# it, compiles again. The product module's tests build with the race
# detector, a flavour of their own; everything else builds static (see the
# Makefile): the image, the test modules, the e2e suite's managers, and the
# envtest kube-apiserver, whose throwaway module takes these pins too
# (hack/envtest-assets.sh).
#
#   hack/pins.sh           raise each module below to the highest version any
#                          of them (or the product module) selects, then tidy
#   hack/pins.sh --check   list the modules at another version; exit 1 if any
#   hack/pins.sh --print   print the pins as `go mod edit` -require flags
#
# Modules left out, because they cannot share: test/knative (Knative v0.42
# builds on Kubernetes 0.29) and the CAPI v1.14.2 tools module (that release
# builds on Kubernetes 0.36). The CAAPH tools module keeps its own CAPI,
# controller-runtime and Helm: those are CAAPH's code paths under test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# DIR [MODULE...]: a module that takes the pins, and the modules it keeps at
# its own versions.
aligned=(
  "test/manifests"
  "test/helmrender"
  "test/bench"
  "test/e2e"
  "test/e2e/tools/capi-v1.12.5"
  "test/e2e/tools/caaph-v0.5.3 sigs.k8s.io/cluster-api sigs.k8s.io/controller-runtime helm.sh/helm/v3"
)

# selection DIR: "module version" for each module that provides a package to
# DIR's build: its tool, or its packages and their tests (the main module and
# replaced modules left out). Modules in the build list that provide no
# package compile nothing, so they may differ.
selection() {
  local tool packages=(-test ./...)
  tool=$(sed -n 's/^tool \(.*\)$/\1/p' "$1/go.mod")
  [[ -z $tool ]] || packages=("$tool")
  (cd "$1" && GOFLAGS=-mod=$listmod CGO_ENABLED=0 go list -deps \
    -f '{{with .Module}}{{if not .Main}}{{if not .Replace}}{{.Path}} {{.Version}}{{end}}{{end}}{{end}}' "${packages[@]}") | sort -u
}

# newer A B: whether semantic version A is above B (a pre-release, and so a
# pseudo-version, is below its release).
newer() {
  local a=${1%+incompatible} b=${2%+incompatible}
  [[ $a == "$b" ]] && return 1
  local abase=${a%%-*} bbase=${b%%-*}
  if [[ $abase != "$bbase" ]]; then
    [[ $(printf '%s\n%s\n' "$abase" "$bbase" | sort -V | tail -1) == "$abase" ]]
    return
  fi
  [[ $a == "$abase" ]] && return 0
  [[ $b == "$bbase" ]] && return 1
  [[ $(printf '%s\n%s\n' "${a#*-}" "${b#*-}" | sort -V | tail -1) == "${a#*-}" ]]
}

# Only raising the pins writes go.mod and go.sum; --check (make lint) and
# --print (hack/envtest-assets.sh) read them as they are.
listmod=readonly
[[ -n ${1:-} ]] || listmod=mod

declare -A pin
declare -A selected # "dir module" -> version
exempt() { # exempt DIR MODULE
  local entry
  for entry in "${aligned[@]}"; do
    [[ ${entry%% *} == "$1" ]] || continue
    [[ " ${entry#* } " == *" $2 "* && $entry == *" "* ]] && return 0
  done
  return 1
}

# collect: the pins, the highest version of each module over the product
# module and the aligned ones.
collect() {
  pin=() selected=()
  local entry dir module version list
  for entry in . "${aligned[@]}"; do
    dir=${entry%% *}
    list=$(selection "$dir")
    while read -r module version; do
      selected["$dir $module"]=$version
      exempt "$dir" "$module" && continue
      if [[ -z ${pin[$module]:-} ]] || newer "$version" "${pin[$module]}"; then
        pin[$module]=$version
      fi
    done <<<"$list"
  done
}

# behind DIR: the modules DIR selects below their pin.
behind() {
  local key module
  for key in "${!selected[@]}"; do
    [[ ${key%% *} == "$1" ]] || continue
    module=${key#* }
    exempt "$1" "$module" && continue
    if [[ ${selected[$key]} != "${pin[$module]}" ]]; then
      echo "$module"
    fi
  done | sort
}

case ${1:-} in
--print)
  collect
  for module in "${!pin[@]}"; do
    echo "-require=$module@${pin[$module]}"
  done | sort
  ;;
--check)
  collect
  off=0
  for entry in "${aligned[@]}"; do
    dir=${entry%% *}
    for module in $(behind "$dir"); do
      echo "$dir: $module ${selected["$dir $module"]}, pinned at ${pin[$module]}" >&2
      off=1
    done
  done
  if ((off)); then
    echo "pins: the modules above compile twice in a cold run; run hack/pins.sh" >&2
    exit 1
  fi
  ;;
'')
  for round in 1 2 3 4; do
    collect
    moved=0
    for entry in "${aligned[@]}"; do
      dir=${entry%% *}
      args=()
      for module in $(behind "$dir"); do
        args+=("-require=$module@${pin[$module]}")
      done
      ((${#args[@]})) || continue
      echo "pins: $dir: raising ${#args[@]} modules" >&2
      (cd "$dir" && go mod edit "${args[@]}" && go mod tidy)
      moved=1
    done
    ((moved)) || exit 0
  done
  echo "pins: still moving after $round rounds" >&2
  exit 1
  ;;
*)
  echo "usage: hack/pins.sh [--check|--print]" >&2
  exit 2
  ;;
esac
