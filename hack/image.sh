#!/usr/bin/env bash
# Builds the konnector-hooks image with ko into an OCI tarball, with no Docker
# daemon, checks that the binary in it starts, and prints the image's size.
#
#   hack/image.sh               base image: $KO_DEFAULTBASEIMAGE, else .ko.yaml's
#                               defaultBaseImage (its registry must be reachable)
#   hack/image.sh --local-base  offline: assembles a minimal base (the machine's
#                               CA certificates, nonroot user 65532) and serves it
#                               from a loopback registry
#
#   IMAGE_TARBALL   output, default bin/konnector-hooks-image.tar
#   IMAGE_PLATFORM  default linux/<go env GOARCH>
#   KO_DOCKER_REPO  the image name in the tarball, default registry.invalid/konnector-hooks;
#                   push the tarball with `crane push <tarball> <registry>/konnector-hooks:<tag>`
#   IMAGE_REF_FILE  when set, the image reference (by digest) is written there too
#   VERSION         what `konnector-hooks version` prints, default dev (make
#                   release passes its VERSION)
#   KO_VERSION, CRANE_VERSION  pinned tools, installed with `go install` into
#                   ~/.cache/konnector-hooks/tools
set -euo pipefail
cd "$(dirname "$0")/.."

KO_VERSION=${KO_VERSION:-v0.19.1}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
IMAGE_TARBALL=${IMAGE_TARBALL:-bin/konnector-hooks-image.tar}
IMAGE_PLATFORM=${IMAGE_PLATFORM:-linux/$(go env GOARCH)}
VERSION=${VERSION:-dev}
export KO_DOCKER_REPO=${KO_DOCKER_REPO:-registry.invalid/konnector-hooks}
tools=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/tools

local_base=false tools_only=false download_only=false
case "${1:-}" in
  --local-base) local_base=true ;;
  # Only install ko and crane (.ci/run does it in the background).
  --tools-only) tools_only=true ;;
  # Only download the modules ko and crane build from (.ci/run's modules stage).
  --download-only) tools_only=true download_only=true ;;
  "") ;;
  *) echo "usage: $0 [--local-base|--tools-only|--download-only]" >&2; exit 2 ;;
esac

log() { echo "image: $*" >&2; }

# tool NAME VERSION PACKAGE: the path of the pinned tool, installed on first use.
# ko and crane are on other versions of the Kubernetes, container and
# golang.org/x libraries than anything else built here, so nearly all their
# packages compile for them alone (a few small leaves aside): they build
# without optimizations (-N -l), which spares about a fifth of that compile
# (132 to 157 s down to 105 s on 2 cores); the standard library keeps the
# default flags and, static like every other build here, compiles once for all.
tool() {
  local dir=$tools/$1-$2
  if $download_only; then
    # -n loads the packages, and so downloads their modules, and builds nothing.
    [[ -x $dir/$1 ]] || (cd / && GOFLAGS=-trimpath CGO_ENABLED=0 go install -n "$3@$2" 2>/dev/null)
  elif [[ ! -x $dir/$1 ]]; then
    log "installing $1 $2 into $dir"
    (cd / && GOBIN=$dir GOFLAGS=-trimpath CGO_ENABLED=0 \
      go install -gcflags='all=-N -l' -gcflags='std=' "$3@$2")
  fi
  echo "$dir/$1"
}
ko=$(tool ko "$KO_VERSION" github.com/google/ko)
crane=$(tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane)
if $tools_only; then
  exit 0
fi

work=$(mktemp -d)
registry_pid=
app_pid=
cleanup() {
  local pid
  for pid in $app_pid $registry_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A registry on a loopback port, in memory, for the local base and the checks.
# Its log exists before it starts: the background job opens it only once it
# runs, which on a busy machine can be after the first read below.
: >"$work/registry.log"
"$crane" registry serve --address 127.0.0.1:0 2>"$work/registry.log" &
registry_pid=$!
for _ in $(seq 50); do
  port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n ${port:-} ]] || { cat "$work/registry.log" >&2; log "the loopback registry did not start"; exit 1; }
registry=127.0.0.1:$port

if $local_base; then
  # shellcheck source=hack/lib/local-base.sh
  source hack/lib/local-base.sh
  local_base "$work" "$crane" "$registry" "$IMAGE_PLATFORM"
  export KO_DEFAULTBASEIMAGE=$registry/base
fi

log "ko $KO_VERSION building ./cmd/konnector-hooks $VERSION on ${KO_DEFAULTBASEIMAGE:-the base of .ko.yaml} for $IMAGE_PLATFORM"
mkdir -p "$(dirname "$IMAGE_TARBALL")"
# .ko.yaml's build, with the version stamped: ko's ldflags templates see only
# the build's own env, so the stamped copy is written for this build.
mkdir "$work/ko"
sed "s|^\(\s*\)- -w$|&\n\1- -X main.version=$VERSION|" .ko.yaml >"$work/ko/.ko.yaml"
grep -q -- "- -X main.version=$VERSION" "$work/ko/.ko.yaml" || { log ".ko.yaml has no '- -w' ldflag to stamp the version after"; exit 1; }
KO_CONFIG_PATH=$work/ko "$ko" build ./cmd/konnector-hooks --bare --push=false --tarball="$IMAGE_TARBALL" --platform="$IMAGE_PLATFORM" \
  --sbom=none --image-refs="$work/ref" >&2

# Check the image: push the tarball to the loopback registry, read its
# config, and start its binary and ask /healthz (no API server needed).
image=$registry/konnector-hooks:check
"$crane" push "$IMAGE_TARBALL" "$image" >/dev/null 2>>"$work/crane.log"
config=$("$crane" config "$image")
grep -q '"User":"65532' <<<"$config" || { log "the image does not run as user 65532: $config"; exit 1; }
entrypoint=$(sed -n 's/.*"Entrypoint":\["\([^"]*\)".*/\1/p' <<<"$config")
mkdir "$work/fs"
"$crane" export "$image" - | tar -x -C "$work/fs" 2> >(grep -v "Removing leading" >&2)
if [[ $IMAGE_PLATFORM == "linux/$(go env GOHOSTARCH)" ]]; then
  # A port below Linux's ephemeral range (32768 up), where outgoing
  # connections take theirs; another one if something holds it.
  ok=false
  for _ in 1 2 3 4 5; do
    app_port=$((20000 + RANDOM % 10000))
    PORT=$app_port "$work/fs$entrypoint" >"$work/app.log" 2>&1 &
    app_pid=$!
    for _ in $(seq 50); do
      if curl -fsS "http://127.0.0.1:$app_port/healthz" >/dev/null 2>&1; then ok=true; break; fi
      kill -0 "$app_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=
    if $ok || ! grep -q 'address already in use' "$work/app.log"; then break; fi
  done
  $ok || { cat "$work/app.log" >&2; log "$entrypoint from the image did not answer /healthz"; exit 1; }
  stamped=$("$work/fs$entrypoint" version)
  [[ $stamped == "konnector-hooks $VERSION" ]] || { log "$entrypoint version says '$stamped', want konnector-hooks $VERSION"; exit 1; }
  log "$entrypoint from the image answers GET /healthz and is $stamped"
fi

size=$("$crane" manifest "$image" | grep -o '"size":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
[[ -z ${IMAGE_REF_FILE:-} ]] || cp "$work/ref" "$IMAGE_REF_FILE"
log "built $IMAGE_TARBALL ($(du -h "$IMAGE_TARBALL" | cut -f1)), image $(cat "$work/ref")"
echo "image size (compressed layers and config): $size bytes ($((size / 1024)) KiB); tarball: $(stat -c %s "$IMAGE_TARBALL") bytes"
