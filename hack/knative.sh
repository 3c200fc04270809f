#!/usr/bin/env bash
# Knative Serving (core) with Traefik as its KIngress on the cluster of
# hack/cluster.sh, everything built here from the Go module proxy: Knative's
# images by `ko resolve` of its config/core on a local base image (pushed to
# the cluster's registry), Traefik v3 (its experimental Knative provider)
# from a throwaway module carrying Traefik's replace directives.
#
#   hack/knative.sh build   build and cache Traefik (and fetch Knative's modules)
#   hack/knative.sh up      install Knative Serving and Traefik, wait until ready
#   hack/knative.sh check   a Knative Service of the project's image (the
#                           cluster-local one of knative/service.yaml, trimmed)
#                           goes Ready and answers /healthz through Traefik
#
#   CLUSTER_DIR       the cluster's run directory (hack/cluster.sh), default
#                     /tmp/konnector-hooks-cluster
#   KNATIVE_VERSION   knative.dev/serving version, default v0.42.2 (Knative
#                     1.15; v0.51.0 is listed, but the knative.dev/pkg,
#                     networking and caching versions it requires are not served)
#   TRAEFIK_VERSION   github.com/traefik/traefik/v3 version, default v3.6.12
#                     (on Kubernetes 0.34 like us; v3.7 needs
#                     github.com/traefik/traefik/dynamic/ext, a nested module
#                     that is not served)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/konnector-hooks-cluster}
KNATIVE_VERSION=${KNATIVE_VERSION:-v0.42.2}
TRAEFIK_VERSION=${TRAEFIK_VERSION:-v3.6.12}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks
knative_dir=$cache/knative-$KNATIVE_VERSION
traefik_dir=$cache/traefik-$TRAEFIK_VERSION
crane=$cache/tools/crane-${CRANE_VERSION:-v0.22.1}/crane
ko=$cache/tools/ko-${KO_VERSION:-v0.19.1}/ko

log() { echo "knative: $*" >&2; }
die() { log "$*"; exit 1; }
set -E
trap 'log "failed (exit $?): line $LINENO: $BASH_COMMAND"' ERR

# retry SECONDS CMD...: runs CMD every 2 seconds until it succeeds; prints
# its last error if it never does.
retry() {
  local deadline=$((SECONDS + $1)) out
  shift
  until out=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      log "$* kept failing: $out"
      return 1
    fi
    sleep 2
  done
}

# module_dir MODULE: the module cache directory of MODULE as the module in
# the current directory requires it.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# knative_module: a throwaway module requiring knative.dev/serving, which ko
# resolves config/core's ko:// references in. Cached with its go.sum.
knative_module() {
  if [[ ! -f $knative_dir/module/go.sum ]]; then
    mkdir -p "$knative_dir/module"
    (
      cd "$knative_dir/module"
      rm -f go.mod
      go mod init throwaway/knative >/dev/null 2>&1
      go mod edit -require="knative.dev/serving@$KNATIVE_VERSION"
      GOFLAGS=-mod=mod go list -deps knative.dev/serving/cmd/... >/dev/null
    )
  fi
}

# config_core DIR: serving's config/core, with the six files that are
# symlinks into vendor/ in serving's repository (module zips drop them) taken
# from knative.dev/networking and knative.dev/caching at the versions serving
# requires.
config_core() {
  local out=$1 serving networking caching
  cd "$knative_dir/module"
  serving=$(module_dir knative.dev/serving)
  networking=$(module_dir knative.dev/networking)
  caching=$(module_dir knative.dev/caching)
  cp -r "$serving/config/core" "$out"
  chmod -R u+w "$out"
  cp "$networking/config/certificate.yaml" "$out/300-resources/certificate.yaml"
  cp "$networking/config/domain-claim.yaml" "$out/300-resources/domain-claim.yaml"
  cp "$networking/config/ingress.yaml" "$out/300-resources/ingress.yaml"
  cp "$networking/config/serverlessservice.yaml" "$out/300-resources/serverlessservice.yaml"
  cp "$networking/config/config-network.yaml" "$out/configmaps/network.yaml"
  cp "$caching/config/image.yaml" "$out/300-imagecache.yaml"
}

build_traefik() {
  [[ ! -x $traefik_dir/traefik ]] || return 0
  local start=$SECONDS work gomod line pins
  log "building Traefik $TRAEFIK_VERSION (cached in $traefik_dir)"
  work=$(mktemp -d)
  mapfile -t pins < <("$root/hack/pins.sh" --print)
  (
    cd "$work"
    export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    go mod init throwaway/traefik >/dev/null 2>&1
    go mod edit -require="github.com/traefik/traefik/v3@$TRAEFIK_VERSION" "${pins[@]}"
    gomod=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    # Traefik's replace directives (forks of go-http-auth, mux, minheap).
    while read -r line; do
      [[ $line =~ ^([^ ]+)\ =\>\ ([^ ]+)\ ([^ ]+)$ ]] || continue
      go mod edit -replace="${BASH_REMATCH[1]}=${BASH_REMATCH[2]}@${BASH_REMATCH[3]}"
    done < <(sed -n -e '/^replace (/,/^)/p' -e 's/^replace \(.* => .*\)/\1/p' "$gomod" | sed 's/^[[:space:]]*//')
    mkdir -p "$traefik_dir"
    go build -trimpath -o "$traefik_dir/traefik.tmp" \
      -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
      github.com/traefik/traefik/v3/cmd/traefik
  )
  mv "$traefik_dir/traefik.tmp" "$traefik_dir/traefik"
  rm -rf "$work"
  log "built Traefik in $((SECONDS - start))s"
}

build() {
  "$root/hack/image.sh" --tools-only
  knative_module
  build_traefik
}

cluster_env() {
  [[ -f $CLUSTER_DIR/env ]] || die "no cluster is up ($CLUSTER_DIR/env; hack/cluster.sh up)"
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/env"
  registry=$CLUSTER_REGISTRY
}

# Knative's images build on the minimal base of hack/image.sh --local-base,
# pushed to the cluster's registry as $registry/base.
# shellcheck source=hack/lib/local-base.sh
source "$root/hack/lib/local-base.sh"
# shellcheck source=hack/lib/security-context.sh
source "$root/hack/lib/security-context.sh"

up() {
  build
  cluster_env
  local work start=$SECONDS
  work=$(mktemp -d)
  local_base "$work" "$crane" "$registry" "linux/$(go env GOARCH)"
  config_core "$work/core"
  log "ko resolve of Knative Serving $KNATIVE_VERSION config/core (pushed to $registry/knative)"
  (
    cd "$knative_dir/module"
    GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 KO_DEFAULTBASEIMAGE=$registry/base \
      KO_DOCKER_REPO=$registry/knative "$ko" resolve --platform="linux/$(go env GOARCH)" --sbom=none \
      -R -f "$work/core" >"$work/serving-core.yaml"
  )
  log "Knative's images built and pushed in $((SECONDS - start))s"
  # The CRDs first, established before the objects of their kinds.
  python3 - "$work/serving-core.yaml" "$work/crds.yaml" "$work/rest.yaml" <<'PY'
import re, sys
docs = re.split(r"^---[ \t]*$", open(sys.argv[1]).read(), flags=re.M)
crd = [d for d in docs if re.search(r"^kind: CustomResourceDefinition$", d, re.M)]
rest = [d for d in docs if d.strip() and d not in crd]
open(sys.argv[2], "w").write("\n---\n".join(crd))
open(sys.argv[3], "w").write("\n---\n".join(rest))
PY
  kubectl apply --server-side --force-conflicts -f "$work/crds.yaml" >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  kubectl apply --server-side --force-conflicts -f "$work/rest.yaml" >/dev/null
  traefik "$work"
  # Traefik is the ingress; pulls from the cluster's registry need no tag
  # resolution (its address is the pods' loopback, not the registry).
  # (Knative's webhook validates the config maps: retried until it serves.)
  retry 120 kubectl -n knative-serving patch configmap config-network --type merge \
    -p '{"data":{"ingress-class":"traefik.ingress.networking.knative.dev"}}'
  retry 120 kubectl -n knative-serving patch configmap config-deployment --type merge \
    -p "{\"data\":{\"registries-skipping-tag-resolving\":\"$registry,kind.local,ko.local,dev.local\"}}"
  kubectl -n knative-serving wait --for=condition=Available deployment --all --timeout=300s >&2
  kubectl -n traefik wait --for=condition=Available deployment/traefik --timeout=120s >&2
  rm -rf "$work"
  log "Knative Serving and Traefik are up in $((SECONDS - start))s"
}

# traefik WORK: Traefik in namespace traefik: entry point web (public, Service
# traefik) and web-private (cluster-local, Service traefik-private), both port
# 80 in their Services; and websecure-private, TLS, port 443 of
# traefik-private, for the Ingresses of IngressClass traefik (its
# kubernetesIngress provider, ExternalName backends allowed): the https in
# front of a cluster-local Knative Service of knative/https.
traefik() {
  local work=$1 fs=$1/traefik
  mkdir -p "$fs"
  cp "$traefik_dir/traefik" "$fs/traefik"
  tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/traefik.tar" -C "$fs" .
  "$crane" append -b "$registry/base" -f "$work/traefik.tar" -t "$registry/traefik:tmp" >/dev/null 2>>"$work/crane.log"
  "$crane" mutate "$registry/traefik:tmp" --entrypoint /traefik -t "$registry/traefik:$TRAEFIK_VERSION" >/dev/null 2>>"$work/crane.log"
  local image
  image=$registry/traefik@$("$crane" digest "$registry/traefik:$TRAEFIK_VERSION")
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: traefik}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik, namespace: traefik}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: traefik-knative}
rules:
- apiGroups: [""]
  resources: [services, secrets, endpoints, nodes]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.internal.knative.dev]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [networking.internal.knative.dev]
  resources: [ingresses/status]
  verbs: [update, patch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: traefik}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: traefik-knative}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik-knative}
subjects:
- {kind: ServiceAccount, name: traefik, namespace: traefik}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: traefik, namespace: traefik}
spec:
  replicas: 1
  selector: {matchLabels: {app: traefik}}
  template:
    metadata: {labels: {app: traefik}}
    spec:
      serviceAccountName: traefik
      containers:
      - name: traefik
        image: $image
        args:
        - --entrypoints.web.address=:8080
        - --entrypoints.web-private.address=:8081
        - --entrypoints.websecure-private.address=:8443
        - --entrypoints.websecure-private.http.tls=true
        - --entrypoints.traefik.address=:9000
        - --ping=true
        # Nothing outside the cluster is called (Traefik's defaults check
        # for a new version at start).
        - --global.checkNewVersion=false
        - --global.sendAnonymousUsage=false
        - --log.level=INFO
        - --experimental.knative=true
        - --providers.knative=true
        - --providers.knative.publicEntrypoints=web
        - --providers.knative.privateEntrypoints=web-private
        - --providers.knative.publicService.name=traefik
        - --providers.knative.publicService.namespace=traefik
        - --providers.knative.privateService.name=traefik-private
        - --providers.knative.privateService.namespace=traefik
        # Traefik marks a KIngress ready as soon as it has handed the new
        # routes to its own configuration watcher, after sleeping this long
        # (Provide in pkg/provider/kubernetes/knative/kubernetes.go, v3.6.12;
        # default 0). It does not probe the data path as Knative's other
        # ingresses do, so with 0 the Route is Ready, and the old revision
        # unrouted, while Traefik may still apply the routes (its
        # providersThrottleDuration, 2 s) and kube-proxy may still program
        # the new revision's ClusterIP: calls then end in a 502 from
        # Traefik's Knative router. Seen in a cold .ci/run (CAPI's
        # BeforeClusterUpgrade, 4 s after the revision's Service was made);
        # made every time with kube-proxy's iptables minSyncPeriod at 10s,
        # and gone with 15s. Here kube-proxy programs a Service within 3 s
        # (kubeproxy_network_programming_duration_seconds), and each wait
        # is paid again per new revision (about 10 s per rollout at 5s), so
        # 5s: the routes are applied and the Service programmed before
        # Knative moves the route (docs/install.md).
        - --providers.knative.throttleDuration=5s
        # One JSON line per request, for the run's artifacts (traefik.log).
        - --accesslog=true
        - --accesslog.format=json
        - --providers.kubernetesingress=true
        - --providers.kubernetesingress.allowExternalNameServices=true
        ports:
        - {name: web, containerPort: 8080}
        - {name: web-private, containerPort: 8081}
        - {name: websecure-priv, containerPort: 8443}
        readinessProbe: {httpGet: {path: /ping, port: 9000}}
$(restricted_security_context 8 65532)
---
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: traefik}
spec:
  selector: {app: traefik}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: traefik-private, namespace: traefik}
spec:
  selector: {app: traefik}
  ports:
  - {name: http, port: 80, targetPort: 8081}
  - {name: https, port: 443, targetPort: 8443}
EOF
}

check() {
  cluster_env
  local work ref
  work=$(mktemp -d)
  IMAGE_TARBALL=$work/image.tar "$root/hack/image.sh" --local-base >&2
  "$crane" push "$work/image.tar" "$registry/konnector-hooks:check" >/dev/null 2>"$work/crane.log"
  ref=$registry/konnector-hooks@$("$crane" digest "$registry/konnector-hooks:check")
  rm -rf "$work"
  kubectl delete namespace knative-check --ignore-not-found --wait >/dev/null
  kubectl create namespace knative-check >/dev/null
  kubectl apply -f - >/dev/null <<EOF
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hooks
  namespace: knative-check
  labels: {networking.knative.dev/visibility: cluster-local}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/min-scale: "1"}
    spec:
      containers:
      - image: $ref
        ports: [{name: http1, containerPort: 8080}]
        env: [{name: FUNCTION_TARGET, value: Hooks}]
        readinessProbe: {httpGet: {path: /healthz}}
$(service_security_context 8)
EOF
  if ! kubectl -n knative-check wait --for=condition=Ready ksvc/hooks --timeout=300s >&2; then
    kubectl -n knative-check get ksvc,route,ingresses.networking.internal.knative.dev,revision,pods -o wide >&2 || true
    kubectl -n knative-check get ksvc hooks -o yaml >&2 || true
    die "check: the Knative Service did not become Ready"
  fi
  local url host ip answer
  url=$(kubectl -n knative-check get ksvc hooks -o jsonpath='{.status.url}')
  host=${url#http://}
  ip=$(kubectl -n traefik get service traefik-private -o jsonpath='{.spec.clusterIP}')
  answer=$("$root/hack/cluster.sh" exec curl -fsS -H "Host: $host" "http://$ip/healthz")
  log "GET $url/healthz through Traefik (traefik-private $ip, from the node's namespace): $answer"
  [[ $answer == ok ]] || die "check: /healthz answered $answer"
  # And from a pod, by the Service's name, as CAPI calls it: the cluster DNS
  # answers the Route's ExternalName (traefik-private's name), Traefik routes
  # by the Host header.
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: knative-check}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: $registry/probe:latest
    args: [-get, $url/healthz]
$(restricted_security_context 4)
EOF
  if ! kubectl -n knative-check wait --for=jsonpath='{.status.phase}'=Succeeded pod/probe --timeout=120s >&2; then
    kubectl -n knative-check logs probe >&2 || true
    die "check: GET $url/healthz from a pod failed"
  fi
  log "GET $url/healthz from pod knative-check/probe: $(kubectl -n knative-check logs probe)"
  log "check: passed"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  check) check ;;
  *) echo "usage: $0 build|up|check" >&2; exit 2 ;;
esac
