#!/usr/bin/env bash
# konnector-hooks installed on the cluster of hack/cluster.sh with the
# Knative Serving and Traefik of hack/knative.sh, the way the README installs
# it, and checked the way CAPI calls it.
#
#   hack/e2e-knative.sh build    only build and cache what the run builds
#                                beyond hack/cluster.sh build and
#                                hack/knative.sh build: cert-manager's
#                                controller
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
#   hack/e2e-knative.sh https    cert-manager (its controller, built here and
#                                cached), then the install again as an overlay
#                                with knative/https, as the README composes
#                                components; the same hook calls over https,
#                                trusting ca.crt of the Secret the
#                                ExtensionConfig names
#   hack/e2e-knative.sh capi     on the https install: the real CAPI core manager
#                                (CAPI_VERSION) and CAAPH as processes in the
#                                node's network namespace against the
#                                cluster's API server, calling the hooks by the
#                                installed ExtensionConfig's https URL
#                                (Traefik, the activator, queue-proxy, the
#                                function's pods); test/e2e in its installed
#                                mode: TestClusterLifecycle and
#                                TestSync_RotatedPasswordReachesTheWorkloadCluster
#                                (its syncs are Jobs of the CronJob). Prints and
#                                keeps the pods, the Knative Service's
#                                conditions, the URL CAPI called and the
#                                calls the pods logged (E2E_KNATIVE_ARTIFACTS)
#   hack/e2e-knative.sh without-knative
#                                after capi: the install switched to
#                                deploy/without-knative (two replicas serving
#                                TLS, the PodDisruptionBudget, cert-manager's
#                                certificate, the ExtensionConfig by service),
#                                then the suite the same way: TestClusterLifecycle
#                                and a rollout restart and a pod deleted with
#                                grace period 0 while CAPI calls
#   hack/e2e-knative.sh all      cluster up, Knative up, install, https, capi,
#                                without-knative, then the cluster down (also
#                                on failure), with
#                                the wall time of each stage (make e2e-knative)
#   hack/e2e-knative.sh bench    on the https install: warm hook latency through
#                                the whole data path and straight to the
#                                container, and cold starts at min-scale 0
#                                (bench/knative.md, bench/report.md)
#
#   CLUSTER_DIR           the cluster's run directory, default /tmp/konnector-hooks-cluster
#   CERT_MANAGER_VERSION  github.com/cert-manager/cert-manager, default v1.21.2
#   CAPI_VERSION          the CAPI manager of capi (a tools module of
#                         test/e2e/tools), default v1.14.2
#   E2E_KNATIVE_ARTIFACTS the artifacts directory of capi, default a new
#                         /tmp/konnector-hooks-e2e-knative.XXXXXX
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
# shellcheck source=hack/lib/security-context.sh
source "$root/hack/lib/security-context.sh"

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

# apply_kustomization WORK DIR: `kubectl kustomize DIR | ko resolve -f - |
# kubectl apply -f -` (DIR relative to the repository's root), the image
# built on the local base and pushed to the cluster's registry.
apply_kustomization() {
  local work=$1 dir=$2
  local_base "$work" "$crane" "$registry" "linux/$(go env GOARCH)"
  log "kubectl kustomize $dir | KO_DOCKER_REPO=$registry/konnector-hooks ko resolve -f - | kubectl apply -f - (base $registry/base)"
  (
    cd "$root"
    kubectl kustomize "$dir" >"$work/install.yaml"
    KO_DOCKER_REPO=$registry/konnector-hooks KO_DEFAULTBASEIMAGE=$registry/base \
      "$ko" resolve --platform="linux/$(go env GOARCH)" --sbom=none -f "$work/install.yaml" >"$work/resolved.yaml" 2>"$work/ko.log"
  ) || { cat "$work/ko.log" >&2; die "ko resolve of $dir failed"; }
  grep -q 'ko://' "$work/resolved.yaml" && die "ko resolve left a ko:// reference: $(grep 'ko://' "$work/resolved.yaml")"
  log "image: $(sed -n 's/^ *image: //p' "$work/resolved.yaml" | sort -u | tr '\n' ' ')"
  kubectl apply -f "$work/resolved.yaml" >&2
}

install() {
  cluster_env
  local work start=$SECONDS
  work=$(mktemp -d)
  "$root/hack/image.sh" --tools-only
  crds
  apply_kustomization "$work" .
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

# --- https ------------------------------------------------------------------

CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.21.2}
cert_manager_dir=$cache/cert-manager-$CERT_MANAGER_VERSION

# build_cert_manager: cert-manager's controller, cached. The module proxy
# serves github.com/cert-manager/cert-manager (the library: every controller,
# issuer and API) but not its nested cmd/controller, cmd/webhook and
# cmd/cainjector modules (404 for every v1.21.x), so the main below starts
# the library's own controllers the way cmd/controller does: those that
# SelfSigned and CA issuers take (Certificates, CertificateRequests with
# their approver, Issuers, ClusterIssuers). No webhook (it only validates
# cert-manager's objects) and no cainjector (nothing here takes an injected
# CA). Not with the pins of hack/pins.sh: cert-manager v1.21 is on
# Kubernetes 0.36, the product on 0.34. The CAPI manager of the suite is on
# 0.36 too: with its pins and flags, a build on the Go build cache a cold
# .ci/run leaves took 62 s (116 CPU-s) instead of 80 s (154 CPU-s), load
# average about 2.
build_cert_manager() {
  [[ ! -x $cert_manager_dir/controller ]] || return 0
  local start=$SECONDS work
  log "building cert-manager $CERT_MANAGER_VERSION's controller (cached in $cert_manager_dir)"
  work=$(mktemp -d)
  cat >"$work/main.go" <<'GO'
// cert-manager's controller for SelfSigned and CA issuers: cert-manager's
// own controllers, started as its cmd/controller starts them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "namespace of the ClusterIssuers' Secrets")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := logf.Log.WithName("controller")
	ctx = logf.NewContext(ctx, log)
	// cert-manager's defaults (its controller configuration's).
	opts := controllerpkg.ContextOptions{KubernetesAPIQPS: 20, KubernetesAPIBurst: 50}
	opts.ClusterResourceNamespace = *clusterResourceNamespace
	opts.CertificateRequestMinimumBackoffDuration = time.Hour
	opts.CertificateRequestMaximumBackoffDuration = 32 * time.Hour
	factory, err := controllerpkg.NewContextFactory(ctx, opts)
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	for name, construct := range controllerpkg.Known() {
		c, err := construct(factory)
		if err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("starting controller", "controller", name)
			if err := c.Run(5, ctx); err != nil {
				log.Error(err, "controller stopped", "controller", name)
				stop()
			}
		}()
	}
	// The informers the controllers asked for, shared by all of them.
	shared, err := factory.Build()
	if err != nil {
		fail(err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	wg.Wait()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
GO
  # Built as hack/e2e.sh builds the CAPI manager that is on the same
  # Kubernetes minor (test/e2e/tools/capi-$CAPI_VERSION): its module's
  # requirements as pins, and its flags (hack/e2e.sh build_tool), so that
  # the packages both take from the module cache compile once for both.
  local capi_tools=$root/test/e2e/tools/capi-${CAPI_VERSION:-v1.14.2} pins flags=(-gcflags='all=-N -l' -gcflags='std=')
  mapfile -t pins < <(go mod edit -json "$capi_tools/go.mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    print("-require=%s@%s" % (r["Path"], r["Version"]))')
  mkdir -p "$cert_manager_dir"
  (
    cd "$work"
    export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    go mod init throwaway/cert-manager >/dev/null 2>&1
    go mod edit -require="github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" "${pins[@]}"
    go build -trimpath "${flags[@]}" -ldflags "-s -w" -o "$cert_manager_dir/controller.tmp" .
    # Kept for cert_manager (below) to find the module's CRDs.
    cp go.mod go.sum "$cert_manager_dir/"
  )
  mv "$cert_manager_dir/controller.tmp" "$cert_manager_dir/controller"
  rm -rf "$work"
  log "built cert-manager's controller in $((SECONDS - start))s"
}

# cert_manager WORK: cert-manager's CRDs (from its module, deploy/crds) and
# its controller in namespace cert-manager, on the local base.
cert_manager() {
  local work=$1 dir image
  build_cert_manager
  dir=$(cd "$cert_manager_dir" && GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/cert-manager" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir/deploy/crds ]] || die "no deploy/crds in cert-manager's module ($dir)"
  kubectl apply --server-side -f "$dir/deploy/crds" >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  mkdir -p "$work/cm"
  cp "$cert_manager_dir/controller" "$work/cm/controller"
  tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/cm.tar" -C "$work/cm" .
  "$crane" append -b "$registry/base" -f "$work/cm.tar" -t "$registry/cert-manager:tmp" >/dev/null 2>>"$work/crane.log"
  "$crane" mutate "$registry/cert-manager:tmp" --entrypoint /controller -t "$registry/cert-manager:$CERT_MANAGER_VERSION" >/dev/null 2>>"$work/crane.log"
  image=$registry/cert-manager@$("$crane" digest "$registry/cert-manager:$CERT_MANAGER_VERSION")
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: cert-manager}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: cert-manager, namespace: cert-manager}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-controller}
rules:
- apiGroups: [cert-manager.io]
  resources: ["*"]
  verbs: ["*"]
- apiGroups: [""]
  resources: [secrets, events]
  verbs: ["*"]
- apiGroups: [""]
  resources: [pods, services, namespaces, configmaps]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io, gateway.networking.k8s.io]
  resources: ["*"]
  verbs: [get, list, watch]
- apiGroups: [cert-manager.io]
  resources: [signers]
  verbs: [approve]
  resourceNames: ["issuers.cert-manager.io/*", "clusterissuers.cert-manager.io/*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cert-manager-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cert-manager-controller}
subjects:
- {kind: ServiceAccount, name: cert-manager, namespace: cert-manager}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cert-manager, namespace: cert-manager}
spec:
  replicas: 1
  selector: {matchLabels: {app: cert-manager}}
  template:
    metadata: {labels: {app: cert-manager}}
    spec:
      serviceAccountName: cert-manager
      containers:
      - name: controller
        image: $image
$(restricted_security_context 8)
YAML
  kubectl -n cert-manager wait --for=condition=Available deployment/cert-manager --timeout=120s >&2
}

# https_overlay WORK: writes an overlay of the repository with knative/https,
# as a user's (README: resources and components), and prints its directory.
https_overlay() {
  local dir=$1/overlay rel
  mkdir -p "$dir"
  # (kustomize takes only relative paths to other kustomizations.)
  rel=$(realpath --relative-to="$dir" "$root")
  printf 'resources: [%s]\ncomponents: [%s/knative/https]\n' "$rel" "$rel" >"$dir/kustomization.yaml"
  echo "$dir"
}

# default_autoscaling: Knative's default windows in config-autoscaler.
default_autoscaling() {
  local key
  for key in stable-window scale-to-zero-grace-period; do
    if [[ -n $(kubectl -n knative-serving get configmap config-autoscaler -o jsonpath="{.data.$key}") ]]; then
      kubectl -n knative-serving patch configmap config-autoscaler --type json -p "[{\"op\":\"remove\",\"path\":\"/data/$key\"}]" >/dev/null
    fi
  done
}

# https: the install as an overlay of the repository with knative/https (the
# README's way of adding a component), and the hook calls over https.
https() {
  cluster_env
  local work start=$SECONDS
  work=$(mktemp -d)
  cert_manager "$work"
  apply_kustomization "$work" "$(https_overlay "$work")"
  if ! kubectl -n "$ns" wait --for=condition=Ready certificate/konnector-hooks-tls --timeout=120s >&2; then
    kubectl -n "$ns" describe certificate,certificaterequest,issuer >&2 || true
    kubectl -n cert-manager logs deployment/cert-manager --tail=50 >&2 || true
    die "https: cert-manager did not issue konnector-hooks-tls"
  fi
  kubectl -n "$ns" wait --for=condition=Ready ksvc/konnector-hooks --timeout=300s >&2
  kubectl -n "$ns" get secret konnector-hooks-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$work/ca.crt"
  log "the serving certificate: $(kubectl -n "$ns" get secret konnector-hooks-tls -o jsonpath='{.data.tls\.crt}' | base64 -d |
    openssl x509 -noout -subject -issuer -ext subjectAltName 2>/dev/null | tr '\n' ' ')"
  hooks "$work" "${url/http:/https:}" "$work/ca.crt"
  rm -rf "$work"
  log "https: passed in $((SECONDS - start))s"
}

# --- bench ------------------------------------------------------------------

# bench: on the https install (hack/e2e-knative.sh https), times hook calls
# made as CAPI makes them (test/hookbench, from the node's network
# namespace): warm, through the whole data path (Traefik's TLS entry point,
# Traefik's Knative route, the activator, queue-proxy, the container), over
# http through Traefik's Knative route alone, and straight to the
# container's port; then cold, with the install of
# test/bench/knative-scale-to-zero (min-scale 0): each call is made once the
# revision has no pod at all (not even a terminating one). Writes the tables
# to $BENCH_OUT (default bench/knative.md) and into bench/report.md, then
# puts the https install (min-scale 1) back.
#
#   COLD_STARTS  cold starts per hook, default 6
#   WARM_CALLS   timed warm calls per hook and path, default 300
bench() {
  cluster_env
  kubectl -n "$ns" get ingress konnector-hooks-tls >/dev/null 2>&1 || die "bench runs on the https install (hack/e2e-knative.sh https first)"
  local work out=${BENCH_OUT:-$root/bench/knative.md} cold=${COLD_STARTS:-6} warm=${WARM_CALLS:-300}
  local https_url=${url/http:/https:} results hook
  work=$(mktemp -d)
  results=$work/results
  kubectl -n "$ns" get secret konnector-hooks-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$work/ca.crt"
  (cd "$root" && go build -o "$work/hookbench" ./test/hookbench)
  hookbench() { "$root/hack/cluster.sh" exec "$work/hookbench" -testdata "$root/test/testdata" -dns "$dns" "$@"; }
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results"

  # The https install (min-scale 1), whatever an interrupted run left.
  default_autoscaling
  apply_kustomization "$work" "$(https_overlay "$work")"
  kubectl -n "$ns" wait --for=condition=Ready ksvc/konnector-hooks --timeout=300s >/dev/null
  # The pod of the latest revision, once the pods of earlier ones are gone
  # (an earlier run leaves a revision that is scaling down).
  local revision pod deadline
  revision=$(kubectl -n "$ns" get ksvc konnector-hooks -o jsonpath='{.status.latestReadyRevisionName}')
  deadline=$((SECONDS + 240))
  until [[ -z $(kubectl -n "$ns" get pods -l "serving.knative.dev/service=konnector-hooks,serving.knative.dev/revision!=$revision" -o name) ]]; do
    ((SECONDS < deadline)) || die "bench: pods of revisions before $revision stayed for 240 s"
    sleep 2
  done
  pod=$(kubectl -n "$ns" get pods -l "serving.knative.dev/revision=$revision" --field-selector=status.phase=Running -o jsonpath='{.items[0].status.podIP}')
  [[ -n $pod ]] || die "bench: no running pod of revision $revision"
  # Proxy: the activator is in the data path (Knative keeps it there while
  # the revision's spare capacity is under target-burst-capacity).
  echo "sks $revision $(kubectl -n "$ns" get serverlessservice "$revision" -o jsonpath='{.spec.mode}')" >>"$results"
  local path target summary
  for hook in discovery acpi; do
    log "warm $hook: $warm calls each through https, http and straight to the container ($pod:8080)"
    for path in https http direct; do
      case $path in
        https) target=(-url "$https_url" -ca "$work/ca.crt") ;;
        http) target=(-url "$url") ;;
        direct) target=(-url "http://$pod:8080") ;;
      esac
      summary=$(hookbench "${target[@]}" -hook "$hook" -n "$warm" -warmup 30 | tail -1)
      [[ $summary == summary* ]] || die "bench: warm $hook over $path: $summary"
      echo "warm $path $summary" >>"$results"
    done
  done

  # How soon an idle revision goes to zero: the shortest Knative allows,
  # so that the cold starts do not wait 90 s each. It does not change how a
  # revision scales up from zero.
  kubectl -n knative-serving patch configmap config-autoscaler --type merge \
    -p '{"data":{"stable-window":"6s","scale-to-zero-grace-period":"6s"}}' >/dev/null
  apply_kustomization "$work" test/bench/knative-scale-to-zero
  kubectl -n "$ns" wait --for=condition=Ready ksvc/konnector-hooks --timeout=300s >/dev/null
  local i line
  for i in $(seq "$cold"); do
    for hook in acpi discovery; do
      deadline=$((SECONDS + 240))
      until [[ -z $(kubectl -n "$ns" get pods -l serving.knative.dev/service=konnector-hooks -o name) ]]; do
        ((SECONDS < deadline)) || die "bench: the revision kept a pod for 240 s at min-scale 0"
        sleep 1
      done
      # (The whole output, then its first line: `| head -1` may close the
      # pipe before hookbench writes its summary, which then dies of SIGPIPE.)
      line=$(hookbench -url "$https_url" -ca "$work/ca.crt" -hook "$hook" -n 1)
      line=${line%%$'\n'*}
      [[ $line == call* ]] || die "bench: cold $hook: $line"
      log "cold start $i, $hook: $line ($(pod_timeline))"
      echo "cold $hook $line $(pod_timeline)" >>"$results"
    done
  done
  bench_report "$results" "$out" "$cold" "$warm"

  # Back to the https install and Knative's default autoscaling windows.
  default_autoscaling
  apply_kustomization "$work" "$(https_overlay "$work")"
  rm -rf "$work"
  log "bench: written to $out and bench/report.md"
}

# pod_timeline: the started pod's creation, container start and readiness,
# in seconds from its creation (the API's timestamps have 1 s resolution).
pod_timeline() {
  kubectl -n "$ns" get pods -l serving.knative.dev/service=konnector-hooks -o json | python3 -c '
import json, sys
from datetime import datetime
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
pods = json.load(sys.stdin)["items"]
if not pods: print("pod=none"); sys.exit()
p = pods[0]; c = t(p["metadata"]["creationTimestamp"])
ready = [x["lastTransitionTime"] for x in p["status"].get("conditions", []) if x["type"] == "Ready" and x["status"] == "True"]
started = [s["state"]["running"]["startedAt"] for s in p["status"].get("containerStatuses", []) if s["name"] == "hooks" and "running" in s["state"]]
print("pod=%s started=%s ready=%s" % (p["metadata"]["name"],
  "%ds" % (t(started[0]) - c).total_seconds() if started else "-",
  "%ds" % (t(ready[0]) - c).total_seconds() if ready else "-"))'
}

# bench_report RESULTS OUT COLD WARM: the tables, in OUT and in
# bench/report.md between its markers (test/bench keeps them there).
bench_report() {
  python3 - "$@" "$root/bench/report.md" <<'PY'
import re, statistics, sys
results, out, cold, warm, report = sys.argv[1:6]
lines = open(results).read().splitlines()
load = lines[0].split(" ", 1)[1]
warm_rows, cold_ms, cold_rows = [], {"acpi": [], "discovery": []}, []
names = {"acpi": "AfterControlPlaneInitialized", "discovery": "discovery"}
paths = {"https": "https: Traefik TLS → Traefik Knative route → activator → queue-proxy → container",
         "http": "http: Traefik Knative route → activator → queue-proxy → container",
         "direct": "straight to the container (pod IP, port 8080)"}
sks = ""
for l in lines[1:]:
    f = l.split()
    if f[0] == "sks":
        sks = "revision %s, its ServerlessService in mode %s%s" % (f[1], f[2], " (the activator in the data path)" if f[2] == "Proxy" else "")
    elif f[0] == "warm":
        m = re.search(r"summary (\S+) n=(\d+) p50=([\d.]+) ms p99=([\d.]+) ms max=([\d.]+) ms", l)
        warm_rows.append((names[m[1]], paths[f[1]], m[3], m[4], m[5]))
    elif f[0] == "cold":
        m = re.search(r"call 1 (\S+) ([\d.]+) ms (.*)", l)
        cold_ms[m[1]].append(float(m[2]))
        cold_rows.append((names[m[1]], m[2], m[3]))
md = ["## Knative: cold starts and the whole data path on a real node", "",
      "Written by `hack/e2e-knative.sh bench` (`make cluster-bench`) on the cluster of `hack/cluster.sh` "
      "(one node, containerd 1.6.20, Kubernetes v1.34.3) with Knative Serving v0.42.2, Traefik v3.6.12 as its "
      "ingress and the https of `knative/https` (cert-manager's certificate): the calls are CAPI's (POST, no "
      "Content-Type, `?timeout=10s`, one keep-alive connection, names resolved by the cluster's DNS; "
      "`test/hookbench`), made from the node's network namespace. Load average when it started: %s "
      "(2 cores, shared with other builds)." % load, "",
      "**Cold starts** (`test/bench/knative-scale-to-zero`: min-scale 0; `config-autoscaler` stable-window and "
      "scale-to-zero-grace-period 6s, so that the revision goes to zero quickly; neither changes the way up). "
      "Each call is made once the revision has no pod at all; the call waits in the activator while the pod "
      "is created, its image already on the node. CAPI's default hook timeout is 10 s; our discovery "
      "announces 30 s.", "",
      "| hook | cold starts | p50 ms | max ms |", "|---|---|---|---|"]
for k in ("acpi", "discovery"):
    v = sorted(cold_ms[k])
    if v:
        md.append("| %s | %d | %.0f | %.0f |" % (names[k], len(v), statistics.median(v), v[-1]))
md += ["", "Each cold start (pod times in seconds from the pod's creation, 1 s resolution):", "",
       "| hook | call ms | pod |", "|---|---|---|"]
md += ["| %s | %s | %s |" % r for r in cold_rows]
md += ["", "**Warm** (min-scale 1, the pod ready, %s; %s timed calls each after 30 untimed):" % (sks, warm), "",
       "| hook | path | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
md += ["| %s | %s | %s | %s | %s |" % r for r in warm_rows]
text = "\n".join(md) + "\n"
open(out, "w").write(text)
begin = "<!-- knative section: written by `hack/e2e-knative.sh bench` (bench/knative.md) -->"
end = "<!-- end of the knative section -->"
r = open(report).read()
block = begin + "\n\n" + text + "\n" + end + "\n"
i, j = r.find(begin), r.find(end)
r = r[:i] + block + r[j + len(end) + 1:] if i >= 0 and j > i else r.rstrip("\n") + "\n\n" + block
open(report, "w").write(r)
print(text)
PY
}


# --- capi -------------------------------------------------------------------

# capi: the real CAPI and CAAPH managers against the cluster, calling the
# installed konnector-hooks by its ExtensionConfig (see the header).
capi() {
  cluster_env
  kubectl -n "$ns" get ingress konnector-hooks-tls >/dev/null 2>&1 || die "capi runs on the https install (hack/e2e-knative.sh https first): CAPI calls https URLs only"
  installed_suite capi ksvc/konnector-hooks serving.knative.dev/service=konnector-hooks \
    '^(TestClusterLifecycle|TestSync_RotatedPasswordReachesTheWorkloadCluster)$'
}

# without_knative: the install switched to deploy/without-knative (an
# overlay of the repository with that component, as the README composes it:
# a Deployment of two replicas serving TLS itself, its PodDisruptionBudget,
# cert-manager's certificate, the ExtensionConfig by service), then the
# suite as in capi: the lifecycle, and a rollout restart and a pod deleted
# with grace period 0 while CAPI calls.
without_knative() {
  cluster_env
  kubectl -n cert-manager get deployment cert-manager >/dev/null 2>&1 || die "without-knative needs cert-manager (hack/e2e-knative.sh https first)"
  local work start=$SECONDS rel
  work=$(mktemp -d)
  # The Knative Service's Route owns the Service named konnector-hooks that
  # the install without Knative brings, and the https component's Ingress
  # and certificate name only the Knative Service's host: they go first.
  kubectl -n "$ns" delete ksvc konnector-hooks --ignore-not-found --wait=true --timeout=120s >&2
  kubectl -n "$ns" delete ingress konnector-hooks-tls --ignore-not-found >&2
  kubectl -n "$ns" delete certificate konnector-hooks-tls --ignore-not-found >&2
  kubectl -n "$ns" delete secret konnector-hooks-tls --ignore-not-found >&2
  kubectl -n "$ns" wait --for=delete service/konnector-hooks --timeout=120s >&2 2>/dev/null || true
  mkdir -p "$work/overlay"
  rel=$(realpath --relative-to="$work/overlay" "$root")
  printf 'resources: [%s]\ncomponents: [%s/deploy/without-knative]\n' "$rel" "$rel" >"$work/overlay/kustomization.yaml"
  apply_kustomization "$work" "$work/overlay"
  if ! kubectl -n "$ns" wait --for=condition=Ready certificate/konnector-hooks-tls --timeout=120s >&2 ||
    ! kubectl -n "$ns" rollout status deployment/konnector-hooks --timeout=300s >&2; then
    kubectl -n "$ns" describe certificate,deployment,pods >&2 || true
    die "without-knative: the Deployment konnector-hooks or its certificate konnector-hooks-tls did not become ready"
  fi
  rm -rf "$work"
  log "without-knative: installed in $((SECONDS - start))s"
  installed_suite without-knative deployment/konnector-hooks app.kubernetes.io/name=konnector-hooks,app.kubernetes.io/component=hooks \
    '^(TestClusterLifecycle|TestInstalledDeployment_RolloutAndAKilledPodWhileCAPICallsLoseNothing)$'
}

# installed_suite NAME WORKLOAD PODS RUN: test/e2e in its installed mode
# (the tests matching RUN, one at a time) against the install served by
# WORKLOAD (kind/name) and its PODS (a label selector), with the real CAPI
# (CAPI_VERSION) and CAAPH managers in the node's network namespace.
installed_suite() {
  local name=$1 workload=$2 pods=$3 run=$4
  local start=$SECONDS work artifacts version=${CAPI_VERSION:-v1.14.2} rc=0
  work=$(mktemp -d)
  artifacts=${E2E_KNATIVE_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/konnector-hooks-e2e-knative.XXXXXX")}
  [[ -z ${E2E_KNATIVE_ARTIFACTS:-} ]] || artifacts=$artifacts/$name
  mkdir -p "$artifacts"
  log "$name: CAPI $version and CAAPH against the cluster; artifacts in $artifacts"
  # The managers (cached by hack/e2e.sh) and their manifests, and the suite.
  local settings
  mapfile -t settings < <(E2E_CAPI_VERSIONS=$version "$root/hack/e2e.sh" --env)
  ((${#settings[@]})) || die "$name: hack/e2e.sh --env printed no settings for CAPI $version"
  local assets
  assets=$("$root/hack/envtest-assets.sh")
  (cd "$root/test/e2e" && CGO_ENABLED=0 go test -trimpath -c -o "$work/e2e.test" .)
  # The demo Cluster of check and https: Sync serves every namespace, and
  # the rotation test counts the Clusters a sync checks. Deleted before
  # CAPI and CAAPH run, so no finalizer holds it.
  kubectl delete namespace konnector-installed --ignore-not-found --wait=true --timeout=120s >&2
  # Processes of the node's network namespace resolve names with the
  # machine's resolver; CAPI must resolve the ExtensionConfig's host
  # (<service>.<namespace>.svc or its .cluster.local name) with the
  # cluster's DNS and a pod's search list: the suite runs in a mount
  # namespace of its own whose /etc/resolv.conf says so.
  printf 'nameserver %s\nsearch svc.cluster.local cluster.local\noptions ndots:5\n' "${dns%:*}" >"$work/resolv.conf"
  snapshots "$artifacts" &
  local snapshotter=$!
  (
    cd "$root/test/e2e"
    "$root/hack/cluster.sh" exec unshare --mount --propagation private \
      sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$work/resolv.conf" \
      env "${settings[@]}" KUBEBUILDER_ASSETS="$assets" \
      E2E_MANAGEMENT_KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig" \
      E2E_INSTALLED_EXTENSION_CONFIG=konnector-agent E2E_INSTALLED_NAMESPACE="$ns" \
      E2E_INSTALLED_WORKLOAD="$workload" E2E_INSTALLED_PODS="$pods" \
      E2E_ARTIFACTS="$artifacts" \
      "$work/e2e.test" -test.v -test.count=1 -test.parallel=1 -test.timeout=20m -test.run "$run"
  ) 2>&1 | tee "$artifacts/suite.log" >&2 || rc=$?
  kill "$snapshotter" 2>/dev/null || true
  wait "$snapshotter" 2>/dev/null || true
  grep -q '^--- FAIL\|^FAIL' "$artifacts/suite.log" && rc=1
  grep -q '^ok\|^PASS' "$artifacts/suite.log" || rc=1
  snapshot "$artifacts" after
  # Traefik's access log: every request of the Knative data path.
  kubectl -n traefik logs deployment/traefik >"$artifacts/traefik.log" 2>&1 || true
  report "$artifacts"
  rm -rf "$work"
  ((rc == 0)) || die "$name: FAILED after $((SECONDS - start))s; the suite's log, the managers' logs, the pods' logs and the objects are in $artifacts"
  log "$name: passed in $((SECONDS - start))s; artifacts in $artifacts"
}

# snapshots DIR: while the suite runs, every 10 s: the pods, the Knative
# Service, the ExtensionConfig and queue-proxy's metrics of each pod of the
# Knative Service (a pod's counters are lost with it, so each is kept).
snapshots() {
  while sleep 10; do
    snapshot "$1" during
  done
}

# snapshot DIR WHEN: pods-WHEN.txt, ksvc-WHEN.yaml, extensionconfig-WHEN.yaml,
# and queue-proxy-<pod>.metrics.
snapshot() {
  local dir=$1 when=$2 pod ip
  kubectl get pods -A -o wide >"$dir/pods-$when.txt.tmp" 2>&1 && mv "$dir/pods-$when.txt.tmp" "$dir/pods-$when.txt"
  kubectl -n "$ns" get ksvc konnector-hooks -o yaml >"$dir/ksvc-$when.yaml" 2>/dev/null || rm -f "$dir/ksvc-$when.yaml"
  kubectl -n "$ns" get deployment,replicaset,pdb,endpointslice -o wide >"$dir/workload-$when.txt" 2>&1 || true
  kubectl get extensionconfig konnector-agent -o yaml >"$dir/extensionconfig-$when.yaml" 2>&1 || true
  while read -r pod ip; do
    [[ -n $ip ]] || continue
    # queue-proxy's Prometheus metrics (port 9091, named http-usermetric).
    "$root/hack/cluster.sh" exec curl -sf --max-time 3 "http://$ip:9091/metrics" >"$dir/queue-proxy-$pod.metrics.tmp" 2>/dev/null &&
      mv "$dir/queue-proxy-$pod.metrics.tmp" "$dir/queue-proxy-$pod.metrics" || rm -f "$dir/queue-proxy-$pod.metrics.tmp"
  done < <(kubectl -n "$ns" get pods -l serving.knative.dev/service=konnector-hooks --field-selector=status.phase=Running \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}' 2>/dev/null)
}

# report DIR: what the run showed, from its artifacts.
report() {
  local dir=$1
  log "pods during the run (kubectl get pods -A -o wide, the last snapshot while CAPI called):"
  cat "$dir/pods-during.txt" >&2 2>/dev/null || cat "$dir/pods-after.txt" >&2
  if [[ -f $dir/ksvc-during.yaml ]]; then
    log "the Knative Service's conditions:"
    kubectl -n "$ns" get ksvc konnector-hooks -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}{"\n"}{end}' | tee "$dir/ksvc-conditions.txt" >&2
  else
    log "no Knative Service; the Deployment, its ReplicaSets, the PodDisruptionBudget and the endpoints:"
    cat "$dir/workload-after.txt" >&2
  fi
  log "the URL CAPI called (ExtensionConfig konnector-agent spec.clientConfig) and what CAPI discovered there:"
  python3 - "$dir/extensionconfig-during.yaml" <<'PY' | tee "$dir/extensionconfig-url.txt" >&2
import sys, yaml
ec = yaml.safe_load(open(sys.argv[1]))
cc = ec["spec"]["clientConfig"]
url = cc.get("url") or "https://%(name)s.%(namespace)s.svc:%(port)s (clientConfig.service)" % cc["service"]
print("url:", url, "caBundle:", "%d bytes (injected from %s)" % (len(cc.get("caBundle", "")), ec["metadata"].get("annotations", {}).get("runtime.cluster.x-k8s.io/inject-ca-from-secret")))
for c in ec.get("status", {}).get("conditions", []):
    if c["type"] == "Discovered":
        print("Discovered=%s %s" % (c["status"], c.get("reason", "")))
for h in ec.get("status", {}).get("handlers", []):
    print("handler %s (%s, failurePolicy %s, timeoutSeconds %s)" % (h["name"], h["requestHook"]["hook"], h.get("failurePolicy"), h.get("timeoutSeconds")))
PY
  log "the calls the function's containers logged (every line in $dir/konnector-hooks-pods.log):"
  python3 - "$dir" <<'PY' | tee "$dir/calls-summary.txt" >&2
import collections, glob, json, os, re, sys
d = sys.argv[1]
calls = collections.Counter()
clusters = collections.defaultdict(collections.Counter)
pods = collections.defaultdict(collections.Counter)
with open(os.path.join(d, "konnector-hooks-pods.log")) as f, open(os.path.join(d, "calls.log"), "w") as out:
    for line in f:
        pod, _, rest = line.partition(" ")
        try:
            rec = json.loads(rest)
        except ValueError:
            continue
        if rec.get("msg") != "hook call":
            continue
        out.write(line)
        calls[(rec.get("hook"), rec.get("httpStatus"), rec.get("outcome"))] += 1
        clusters[rec.get("cluster")]["%s HTTP %s %s" % (rec.get("hook"), rec.get("httpStatus"), rec.get("outcome"))] += 1
        pods[pod][rec.get("hook")] += 1
print("%d hook calls in calls.log (discovery is not logged per call)" % sum(calls.values()))
for (hook, status, outcome), n in sorted(calls.items(), key=lambda kv: str(kv[0])):
    print("  %-30s HTTP %s %-8s x%d" % (hook, status, outcome, n))
print("by Cluster (konnector-installed/my-cluster: the calls of check and https, made by test/installed, not by CAPI):")
for cluster in sorted(clusters):
    print("  %s: %s" % (cluster, ", ".join("%s x%d" % kv for kv in sorted(clusters[cluster].items()))))
# queue-proxy's count of the requests it passed to the container, by code.
qp = {}
for path in glob.glob(os.path.join(d, "queue-proxy-*.metrics")):
    counts = collections.Counter()
    for line in open(path):
        m = re.match(r'^revision_app_request_count\{(.*)\} (\S+)', line)
        if m:
            code = re.search(r'response_code="(\d+)"', m[1])
            counts[code[1] if code else "?"] += float(m[2])
    qp[os.path.basename(path)[len("queue-proxy-"):-len(".metrics")]] = counts
print("by pod (with Knative a pod per revision: the suite rolls one out per change of settings), next to the")
print("requests its queue-proxy passed to the container (revision_app_request_count; discovery calls are not logged):")
for pod in sorted(set(pods) | set(qp)):
    counts = qp.get(pod)
    print("  %s: %s; queue-proxy: %s" % (pod, ", ".join("%s x%d" % kv for kv in sorted(pods[pod].items())) or "no hook call",
        ", ".join("HTTP %s x%d" % kv for kv in sorted(counts.items())) if counts else "no counters read"))
PY
  log "requests Traefik answered with anything but 2xx (its access log, $dir/traefik.log):"
  python3 - "$dir/traefik.log" <<'PY' | tee "$dir/traefik-not-2xx.txt" >&2
import json, sys
n = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    status = rec.get("DownstreamStatus")
    if not isinstance(status, int) or 200 <= status < 300:
        continue
    n += 1
    print("  %s %s %s -> %s %s (%s, %.0f ms)" % (rec.get("time"), rec.get("entryPointName"), rec.get("RequestPath", "")[:60],
        status, rec.get("ServiceURL"), rec.get("RouterName"), rec.get("Duration", 0) / 1e6))
print("  %d such requests" % n)
PY
}

# all: the whole run on a new cluster, which goes down at the end, failed or
# not; prints the wall time of each stage.
all_stages=()
all() {
  run_stage() {
    local name=$1 t=$SECONDS rc=0
    shift
    "$@" || rc=$?
    all_stages+=("$name $((SECONDS - t))")
    if ((rc != 0)); then
      log "stage $name failed (exit $rc)"
    fi
    return "$rc"
  }
  print_stages() {
    local row
    echo "stage            seconds" >&2
    for row in "${all_stages[@]}"; do
      # shellcheck disable=SC2086 # NAME SECONDS
      printf '%-16s %7s\n' ${row} >&2
    done
  }
  # The cluster goes down whatever happened; the exit status is the run's.
  trap 'status=$?; trap - ERR; run_stage down "$root/hack/cluster.sh" down || true; print_stages; exit $status' EXIT
  run_stage cluster-up "$root/hack/cluster.sh" up
  run_stage knative-up "$root/hack/knative.sh" up
  run_stage install "$root/hack/e2e-knative.sh" install
  run_stage https "$root/hack/e2e-knative.sh" https
  run_stage capi "$root/hack/e2e-knative.sh" capi
  run_stage without-knative "$root/hack/e2e-knative.sh" without-knative
}

case "${1:-}" in
  all) all ;;
  capi) capi ;;
  without-knative) without_knative ;;
  build) build_cert_manager ;;
  install) install ;;
  check) check ;;
  https) https ;;
  bench) bench ;;
  *) echo "usage: $0 all|build|install|check|https|capi|without-knative|bench" >&2; exit 2 ;;
esac
