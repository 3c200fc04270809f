#!/usr/bin/env bash
# konnector-hooks installed on the cluster of hack/cluster.sh with the
# Knative Serving and Traefik of hack/knative.sh, the way the README installs
# it, and checked the way CAPI calls it.
#
#   hack/e2e-knative.sh install  the CAPI and CAAPH CRDs (from the Go module
#                                cache, the versions go.mod pins), then
#                                `kubectl kustomize . | ko resolve -f - |
#                                kubectl apply -f -` with the image pushed to
#                                the cluster's registry (on the local base of
#                                hack/image.sh --local-base); waits until the
#                                Knative Service is Ready
#   hack/e2e-knative.sh check    discovery and AfterControlPlaneInitialized
#                                through the ingress, as CAPI calls them
#                                (test/installed, run in the node's network
#                                namespace, names resolved by the cluster's
#                                DNS), then one Sync Job from the CronJob
#
#   CLUSTER_DIR  the cluster's run directory, default /tmp/konnector-hooks-cluster
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/konnector-hooks-cluster}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks
crane=$cache/tools/crane-${CRANE_VERSION:-v0.22.1}/crane
ko=$cache/tools/ko-${KO_VERSION:-v0.19.1}/ko
ns=konnector-hooks
# The URL of deploy/extensionconfig.yaml, over http: the https in front of
# it is hack/e2e-knative.sh https.
url=http://konnector-hooks.konnector-hooks.svc.cluster.local
dns=10.96.0.10:53

log() { echo "e2e-knative: $*" >&2; }
die() { log "$*"; exit 1; }
set -E
trap 'log "failed (exit $?): line $LINENO: $BASH_COMMAND"' ERR

cluster_env() {
  [[ -f $CLUSTER_DIR/env ]] || die "no cluster is up ($CLUSTER_DIR/env; hack/cluster.sh up, then hack/knative.sh up)"
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/env"
  registry=$CLUSTER_REGISTRY
  kubectl get namespace knative-serving >/dev/null 2>&1 || die "Knative Serving is not installed (hack/knative.sh up)"
}

# shellcheck source=hack/lib/local-base.sh
source "$root/hack/lib/local-base.sh"

# crds: CAPI's and CAAPH's CRDs at the versions of go.mod, as clusterctl
# init would install them (the hooks need Cluster, ClusterResourceSet,
# ExtensionConfig, HelmChartProxy and HelmReleaseProxy).
crds() {
  local module dir
  for module in sigs.k8s.io/cluster-api sigs.k8s.io/cluster-api-addon-provider-helm; do
    dir=$(cd "$root" && go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d $dir/config/crd/bases ]] || die "no config/crd/bases in $module ($dir)"
    log "applying the CRDs of $module (${dir##*@})"
    kubectl apply --server-side -f "$dir/config/crd/bases" >/dev/null
  done
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
}

install() {
  cluster_env
  local work start=$SECONDS
  work=$(mktemp -d)
  "$root/hack/image.sh" --tools-only
  crds
  local_base "$work" "$crane" "$registry" "linux/$(go env GOARCH)"
  log "kubectl kustomize . | KO_DOCKER_REPO=$registry/konnector-hooks ko resolve -f - (base $registry/base)"
  (
    cd "$root"
    kubectl kustomize . >"$work/install.yaml"
    KO_DOCKER_REPO=$registry/konnector-hooks KO_DEFAULTBASEIMAGE=$registry/base \
      "$ko" resolve --platform="linux/$(go env GOARCH)" --sbom=none -f "$work/install.yaml" >"$work/resolved.yaml"
  )
  grep -q 'ko://' "$work/resolved.yaml" && die "ko resolve left a ko:// reference: $(grep 'ko://' "$work/resolved.yaml")"
  log "image: $(sed -n 's/^ *image: //p' "$work/resolved.yaml" | sort -u | tr '\n' ' ')"
  kubectl apply -f "$work/resolved.yaml" >&2
  if ! kubectl -n "$ns" wait --for=condition=Ready ksvc/konnector-hooks --timeout=300s >&2; then
    kubectl -n "$ns" get ksvc,route,ingresses.networking.internal.knative.dev,revision,pods -o wide >&2 || true
    kubectl -n "$ns" get ksvc konnector-hooks -o yaml >&2 || true
    die "install: the Knative Service did not become Ready"
  fi
  rm -rf "$work"
  log "installed in $((SECONDS - start))s: $(kubectl -n "$ns" get ksvc konnector-hooks -o jsonpath='{.status.url}')"
}

# hooks URL [CA]: test/installed against URL (and the CA bundle for https),
# from the node's network namespace.
hooks() {
  local work=$1 target=$2 ca=${3:-}
  (cd "$root" && go test -c -o "$work/installed.test" ./test/installed)
  (
    cd "$root/test/installed"
    "$root/hack/cluster.sh" exec env KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig" \
      KONNECTOR_INSTALLED_URL="$target" KONNECTOR_INSTALLED_CA="$ca" KONNECTOR_INSTALLED_DNS=$dns \
      "$work/installed.test" -test.v -test.count=1
  ) >&2
}

# sync_job: one Job from the Sync CronJob, as its schedule would start it;
# its report is the pod's log.
sync_job() {
  local job
  job=sync-check-$(date +%s)
  kubectl -n "$ns" create job --from=cronjob/konnector-hooks-sync "$job" >/dev/null
  if ! kubectl -n "$ns" wait --for=condition=Complete "job/$job" --timeout=180s >&2; then
    kubectl -n "$ns" describe job "$job" >&2 || true
    kubectl -n "$ns" logs "job/$job" >&2 || true
    die "check: the Sync Job $job did not complete"
  fi
  log "Sync Job $job completed; its report:"
  kubectl -n "$ns" logs "job/$job" >&2
}

check() {
  cluster_env
  local work
  work=$(mktemp -d)
  hooks "$work" "$url"
  sync_job
  log "the Knative Service's conditions:"
  kubectl -n "$ns" get ksvc konnector-hooks -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}{"\n"}{end}' >&2
  kubectl get pods -A -o wide >&2
  rm -rf "$work"
  log "check: passed"
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
