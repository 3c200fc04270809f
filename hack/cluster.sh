#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for tests that need
# pods: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# containerd (runc, the CNI bridge), kubelet, kube-proxy (iptables) and
# CoreDNS (a Deployment on the node), everything built here: the Kubernetes
# commands from k8s.io/kubernetes and CoreDNS from the Go module proxy (as
# hack/envtest-assets.sh builds kube-apiserver; cached, see hack/lib/kube-module.sh),
# containerd, runc and the CNI plugins from Debian packages.
#
# The whole node lives in a network namespace that `up` creates and `down`
# deletes: its bridge, the pod and Service addresses and kube-proxy's iptables
# rules never touch the machine's own network. Two loopback ports of the
# machine, bridged into the namespace through Unix sockets (socat), are the
# only way in: the API server, and an image registry (`crane registry serve`)
# that containerd in the namespace pulls from at the same 127.0.0.1:<port>,
# so that an image reference pushed from outside pulls inside too.
#
#   hack/cluster.sh up      build (once) and start the cluster, wait until the
#                           node is Ready and CoreDNS answers; write
#                           $CLUSTER_DIR/env (KUBECONFIG, CLUSTER_REGISTRY,
#                           CLUSTER_NETNS, ...) for `source`
#   hack/cluster.sh down    stop everything, unmount, delete the namespace, and
#                           check that nothing of the run is left (exit 1 if so)
#   hack/cluster.sh smoke   on a running cluster: the project's image
#                           (hack/image.sh --local-base) as a Pod with the Knative
#                           Service's security context answers /healthz, and a
#                           Pod resolves kubernetes.default.svc.cluster.local
#   hack/cluster.sh build   only build and cache the binaries
#   hack/cluster.sh exec CMD...  run CMD in the node's network namespace
#
#   CLUSTER_DIR      run directory (state, logs, kubeconfig), default
#                    /tmp/konnector-hooks-cluster
#   CLUSTER_NETNS    network namespace name, default konnector-hooks
#   KUBE_VERSION     Kubernetes version, default 1.34.3 (the envtest one)
#   ETCD_VERSION     etcd version, default 3.7.3 (the envtest one)
#   COREDNS_VERSION  default v1.14.7
#   KUBECTL          a kubectl to use rather than build, if it is within one
#                    minor of KUBE_VERSION (else the machine's is looked for)
#
# Needs root (namespaces, mounts, cgroups). Binaries are cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/node. Measured on 2 cores:
# kubelet, kube-controller-manager, kube-scheduler and kube-proxy in one
# build 252 s on the Go build cache a cold .ci/run leaves (kube-apiserver's
# packages compile once for both; load average 2 rising to 11 with a bench
# alongside), 1226 s with an empty Go build cache and other builds alongside
# (load 5 to 12); kubectl 338 s (not built where the machine has one within
# a minor: machine_kubectl); CoreDNS 35 s on that cache (load about 2; 1116 s
# alongside other builds at load about 20). A warm `up` takes 17 to 29 s, `down` 10 to 33 s (about 80 s
# after a crash of the kubelet and containerd).
#
# CoreDNS runs as a Deployment on the node (user 65532, port 1053 behind the
# kube-dns Service's 53), not as a process in the namespace: it then reaches
# the API server the way pods do, and the first pod on the node checks the
# node's pod networking, Service IPs and ServiceAccount tokens. It has no
# forward plugin: nothing outside the namespace is reachable.
#
# Besides the run directory and the namespace, containerd 1.6, the CNI
# library and the kubelet write under fixed paths: /run/containerd/s (shim
# sockets), /var/lib/cni/results, /var/log/containers. `down` removes the
# run's entries there (and the directories if the run made them) and checks.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/konnector-hooks-cluster}
CLUSTER_NETNS=${CLUSTER_NETNS:-konnector-hooks}
KUBE_VERSION=${KUBE_VERSION:-1.34.3}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}
export KUBE_VERSION ETCD_VERSION
cache=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/node
dir=$CLUSTER_DIR
netns=$CLUSTER_NETNS

# The node's network, all of it inside the namespace.
node_name=node
node_ip=172.30.0.2
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
dns_ip=10.96.0.10
# The cgroup (under each v1 hierarchy) that the kubelet puts the pods under.
cgroup_root=konnector-hooks-node

log() { echo "cluster: $*" >&2; }
set -E
trap 'log "failed (exit $?): line $LINENO: $BASH_COMMAND"' ERR
die() { log "$*"; exit 1; }
in_ns() { nsenter --net="/var/run/netns/$netns" "$@"; }
# shellcheck source=hack/lib/security-context.sh
source "$root/hack/lib/security-context.sh"

# --- building -------------------------------------------------------------

packages() {
  local missing=() cmd pkg
  for pkg in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
    iptables:iptables conntrack:conntrack socat:socat openssl:openssl; do
    cmd=${pkg%%:*}
    if [[ $cmd == /* ]]; then [[ -x $cmd ]] && continue; else command -v "$cmd" >/dev/null && continue; fi
    missing+=("${pkg#*:}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

kube_dir=$cache/kube-$KUBE_VERSION
coredns_dir=$cache/coredns-$COREDNS_VERSION
# pause and probe, whose sources are in this script: rebuilt (seconds) when it
# changes.
tools_dir=$cache/tools-$(cat "$0" <(go env GOVERSION) | sha256sum | cut -c1-12)
# hack/image.sh installs it.
crane=${XDG_CACHE_HOME:-$HOME/.cache}/konnector-hooks/tools/crane-${CRANE_VERSION:-v0.22.1}/crane
kube_cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy)

# machine_kubectl: a kubectl of the machine's within one minor version of
# the cluster (Kubernetes' supported skew), if there is one: $KUBECTL, the
# versioned builds of the Google Cloud CLI's kubectl package (this machine
# kind has kubectl.1.27 to kubectl.1.33; its /usr/bin/kubectl is 1.32, two
# minors from 1.34), or the one on PATH. It spares building kubectl (338 s
# on 2 busy cores, after the other commands).
machine_kubectl() {
  local minor=${KUBE_VERSION#*.} candidate client
  minor=${minor%%.*}
  for candidate in "${KUBECTL:-}" "/usr/lib/google-cloud-sdk/bin/kubectl.1.$minor" \
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.$((minor - 1))" "$(command -v kubectl || true)"; do
    [[ -n $candidate && -x $candidate ]] || continue
    client=$("$candidate" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)
    if [[ -n $client ]] && ((client >= minor - 1 && client <= minor + 1)); then
      echo "$candidate"
      return
    fi
  done
}
kubectl=$(machine_kubectl)
if [[ -z $kubectl ]]; then
  kube_cmds+=(kubectl)
  kubectl=$kube_dir/kubectl
fi

build() {
  envtest=$("$root/hack/envtest-assets.sh")
  "$root/hack/image.sh" --tools-only
  local cmd missing=()
  for cmd in "${kube_cmds[@]}"; do [[ -x $kube_dir/$cmd ]] || missing+=("$cmd"); done
  if ((${#missing[@]})); then
    local start=$SECONDS work
    log "building ${missing[*]} v$KUBE_VERSION (cached in $kube_dir; about 20 to 25 min cold on 2 busy cores)"
    work=$(mktemp -d)
    # shellcheck source=hack/lib/kube-module.sh
    source "$root/hack/lib/kube-module.sh"
    kube_build "$KUBE_VERSION" "$work" "$kube_dir" "${missing[@]}"
    rm -rf "$work"
    log "built ${missing[*]} in $((SECONDS - start))s"
  fi
  if [[ ! -x $coredns_dir/coredns ]]; then
    local start=$SECONDS
    log "building CoreDNS $COREDNS_VERSION (cached in $coredns_dir)"
    # Every CoreDNS release the module proxy serves is on Kubernetes 0.35 (the
    # node on 0.34, CAPI v1.14 and cert-manager on 0.36), with gRPC, quic-go
    # and OpenTelemetry above the pins: it shares hardly a package with the
    # other builds, so it compiles without optimizations, as hack/e2e.sh
    # compiles such a manager (the standard library keeps the default
    # flags, as every other build has it). It serves one node's DNS.
    build_go "$coredns_dir" coredns "github.com/coredns/coredns@$COREDNS_VERSION" -gcflags='all=-N -l' -gcflags='std=' <<'EOF'
// CoreDNS with only the plugins a cluster's DNS needs.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
EOF
    log "built CoreDNS in $((SECONDS - start))s"
  fi
  # The pod sandbox ("pause") process: sleeps until it is stopped.
  if [[ ! -x $tools_dir/pause ]]; then
    build_go "$tools_dir" pause "" <<'EOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
EOF
  fi
  # probe [-server ADDR] NAME: resolves NAME (through the DNS server ADDR,
  # else the system's resolver: in a pod the cluster DNS) and prints the
  # addresses; probe -get URL: prints the body of GET URL, fails unless 200.
  if [[ ! -x $tools_dir/probe ]]; then
    build_go "$tools_dir" probe "" <<'EOF'
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	server := flag.String("server", "", "DNS server address (host:port); default: the system's")
	get := flag.Bool("get", false, "GET the URL argument and print the body")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if *get {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, flag.Arg(0), nil)
		if err != nil {
			fail(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			fail(fmt.Errorf("GET %s: %s: %s", flag.Arg(0), resp.Status, body))
		}
		fmt.Printf("%s", body)
		return
	}
	r := net.DefaultResolver
	if *server != "" {
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, *server)
		}}
	}
	addrs, err := r.LookupHost(ctx, flag.Arg(0))
	if err != nil {
		fail(err)
	}
	fmt.Println(flag.Arg(0), addrs)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
EOF
  fi
}

# build_go OUTDIR NAME [MODULE@VERSION [GO BUILD FLAGS...]] < main.go: builds
# a main package, static like every build here, into OUTDIR/NAME; with a
# required module, with the pins of hack/pins.sh too.
build_go() {
  local out=$1 name=$2 require=${3:-} work pins=()
  shift $(($# < 3 ? $# : 3))
  local flags=("$@")
  work=$(mktemp -d)
  [[ -z $require ]] || mapfile -t pins < <("$root/hack/pins.sh" --print)
  cat >"$work/main.go"
  mkdir -p "$out"
  (
    cd "$work"
    export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    go mod init "throwaway/$name" >/dev/null 2>&1
    if [[ -n $require ]]; then go mod edit -require="$require" "${pins[@]}"; fi
    go build -trimpath "${flags[@]}" -ldflags "-s -w" -o "$out/$name.tmp" .
  )
  mv "$out/$name.tmp" "$out/$name"
  rm -rf "$work"
}

# --- running --------------------------------------------------------------

# start NAME CMD...: starts CMD in the node's namespace in the background, its
# output in logs/NAME.log, its pid in pids/NAME.
start() {
  local name=$1
  shift
  nsenter --net="/var/run/netns/$netns" "$@" >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name"
}

# start_host NAME CMD...: the same in the machine's namespace (loopback only).
start_host() {
  local name=$1
  shift
  "$@" >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name"
}

# wait_for WHAT SECONDS CMD...: polls CMD every half second.
wait_for() {
  local what=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# free_port: a loopback port no TCP socket holds, below Linux's ephemeral
# range (32768 up) and the NodePorts (30000 up), so that no outgoing
# connection takes it meanwhile.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 10000))
    [[ -z $(ss -Htan "sport = :$port") ]] && { echo "$port"; return; }
  done
}

# cert NAME CN [O] [SANS]: a key and a certificate signed by the run's CA.
cert() {
  local name=$1 cn=$2 o=${3:-} sans=${4:-} subj
  subj="/CN=$cn"
  [[ -z $o ]] || subj="/O=$o$subj"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n%s\n' \
    "${sans:+subjectAltName=$sans}" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 7 -out "$pki/$name.crt" -extfile "$pki/$name.ext" 2>/dev/null
  rm "$pki/$name.csr" "$pki/$name.ext"
}

# kubeconfig FILE SERVER CERT: a kubeconfig for the client certificate CERT.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: konnector-hooks
  cluster:
    server: $2
    certificate-authority: $pki/ca.crt
users:
- name: $3
  user:
    client-certificate: $pki/$3.crt
    client-key: $pki/$3.key
contexts:
- name: konnector-hooks
  context: {cluster: konnector-hooks, user: $3}
current-context: konnector-hooks
EOF
}

k() { "$kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }

up() {
  [[ ! -e $dir ]] || die "$dir exists: a cluster is up or was not torn down (hack/cluster.sh down)"
  ! ip netns list | grep -qw "^$netns" || die "network namespace $netns exists (hack/cluster.sh down)"
  packages
  build
  local start_time=$SECONDS
  mkdir -p "$dir"/{logs,pids,pki,etcd,cni/net.d,cni/ipam,containerd,kubelet,registry}
  # Directories outside the run directory that the run makes (their paths are
  # fixed in containerd 1.6, the CNI library and the kubelet): `down` removes
  # those that were not there before, once empty.
  local fixed
  for fixed in "${fixed_dirs[@]}"; do [[ -e $fixed ]] || echo "$fixed"; done >"$dir/fixed-dirs"
  trap 'log "up failed; logs in $dir/logs are copied to ${dir}.failed-logs"; rm -rf "${dir}.failed-logs"; cp -r "$dir/logs" "${dir}.failed-logs"; down' EXIT
  pki=$dir/pki

  # The namespace: a bridge with the node's address, and a default route
  # through it (the kubelet wants one); nothing routed there leaves.
  ip netns add "$netns"
  in_ns ip link set lo up
  in_ns ip link add node0 type bridge
  in_ns ip addr add "$node_ip/24" dev node0
  in_ns ip link set node0 up
  in_ns ip route add default dev node0
  in_ns sysctl -qw net.ipv4.ip_forward=1
  in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true

  # Certificates: one CA; the API server's serving certificate for every name
  # it is reached by; a client certificate for each component.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 7 \
    -subj /CN=konnector-hooks-cluster-ca 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$node_ip,IP:$service_ip,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin admin system:masters
  cert node "system:node:$node_name" system:nodes
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert proxy system:kube-proxy
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  local server=https://$node_ip:6443 name
  for name in admin node controller-manager scheduler proxy; do
    kubeconfig "$dir/$name.kubeconfig" "$server" "$name"
  done

  # Loopback ports of the machine, bridged into the namespace.
  local api_port registry_port
  api_port=$(free_port)
  start_host registry "$crane" registry serve --address 127.0.0.1:0 --disk "$dir/registry"
  wait_for "the registry" 10 grep -q "serving on port" "$dir/logs/registry.log"
  registry_port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$dir/logs/registry.log")
  local registry=127.0.0.1:$registry_port
  start_host registry-bridge socat "UNIX-LISTEN:$dir/registry.sock,fork" "TCP:$registry"
  start registry-proxy socat "TCP-LISTEN:$registry_port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$dir/registry.sock"
  start apiserver-bridge socat "UNIX-LISTEN:$dir/apiserver.sock,fork" "TCP:$node_ip:6443"
  start_host apiserver-proxy socat "TCP-LISTEN:$api_port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$dir/apiserver.sock"
  kubeconfig "$dir/kubeconfig" "https://127.0.0.1:$api_port" admin
  mkdir "$dir/bin"
  ln -s "$kubectl" "$dir/bin/kubectl"
  cat >"$dir/env" <<EOF
export KUBECONFIG=$dir/kubeconfig
export PATH=$dir/bin:\$PATH
export KUBECACHEDIR=$dir/kube-cache
export CLUSTER_DIR=$dir
export CLUSTER_NETNS=$netns
export CLUSTER_REGISTRY=$registry
export CLUSTER_NODE_IP=$node_ip
EOF

  # The control plane.
  start etcd "$envtest/etcd" --data-dir "$dir/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --unsafe-no-fsync --quota-backend-bytes 2147483648
  start kube-apiserver "$envtest/kube-apiserver" \
    --etcd-servers http://127.0.0.1:2379 --bind-address 0.0.0.0 --advertise-address "$node_ip" --secure-port 6443 \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-cluster-ip-range "$service_cidr" --allow-privileged \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
    --kubelet-preferred-address-types InternalIP
  wait_for "the API server" 90 k get --raw /readyz
  start kube-controller-manager "$kube_dir/kube-controller-manager" \
    --kubeconfig "$dir/controller-manager.kubeconfig" --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range "$service_cidr"
  start kube-scheduler "$kube_dir/kube-scheduler" \
    --kubeconfig "$dir/scheduler.kubeconfig" --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/scheduler.kubeconfig" --bind-address 127.0.0.1 --leader-elect=false

  # containerd, its state under the run directory (pod network namespaces
  # too), the CNI bridge for the pods.
  local sock=$dir/containerd/containerd.sock
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$registry/pause:latest"
  stream_server_address = "127.0.0.1"
  # The VM refuses the sandbox's oom_score_adj of -998 (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
  cat >"$dir/cni/net.d/10-pods.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "konnector-hooks-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam", "ranges": [[{"subnet": "$pod_cidr"}]],
               "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  start containerd containerd --config "$dir/containerd/config.toml"
  wait_for containerd 30 ctr --address "$sock" version

  # The node's own images: the sandbox, and CoreDNS on a minimal base with the
  # nonroot user 65532.
  push_images "$registry"

  # The kubelet, in its own cgroup subtree so that `down` can find every pod.
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -w $hierarchy ]] && mkdir -p "$hierarchy$cgroup_root" 2>/dev/null || true
  done
  printf 'nameserver %s\n' "$node_ip" >"$dir/resolv.conf"
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $pki/apiserver.crt
tlsPrivateKeyFile: $pki/apiserver.key
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
EOF
  start kubelet "$kube_dir/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$dir/node.kubeconfig" \
    --root-dir "$dir/kubelet" --node-ip "$node_ip" --hostname-override "$node_name" --v 1
  cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/proxy.kubeconfig}
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy "$kube_dir/kube-proxy" --config "$dir/kube-proxy.yaml"
  wait_for "the node to be Ready" 120 k wait --for=condition=Ready "node/$node_name" --timeout=5s

  coredns "$registry"
  wait_for "CoreDNS to be available" 120 k -n kube-system wait --for=condition=Available deployment/coredns --timeout=5s
  wait_for "CoreDNS to answer at $dns_ip" 60 in_ns "$tools_dir/probe" -server "$dns_ip:53" kubernetes.default.svc.cluster.local
  trap - EXIT
  log "up in $((SECONDS - start_time))s (after the builds); source $dir/env"
  k get nodes -o wide >&2
}

# push_images REGISTRY: the pause, probe and CoreDNS images.
push_images() {
  local registry=$1 work
  work=$(mktemp -d)
  mkdir -p "$work/pause" "$work/coredns/etc" "$work/coredns/tmp"
  cp "$tools_dir/pause" "$work/pause/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/pause.tar" -C "$work/pause" .
  "$crane" append --oci-empty-base -f "$work/pause.tar" -t "$registry/pause:base" >/dev/null 2>>"$dir/logs/crane.log"
  "$crane" mutate "$registry/pause:base" --set-platform "linux/$(go env GOARCH)" --entrypoint /pause \
    --user 65535:65535 -t "$registry/pause:latest" >/dev/null 2>>"$dir/logs/crane.log"
  # probe (smoke, hack/knative.sh check), on an empty base too.
  mkdir "$work/probe"
  cp "$tools_dir/probe" "$work/probe/probe"
  tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/probe.tar" -C "$work/probe" .
  "$crane" append --oci-empty-base -f "$work/probe.tar" -t "$registry/probe:base" >/dev/null 2>>"$dir/logs/crane.log"
  "$crane" mutate "$registry/probe:base" --set-platform "linux/$(go env GOARCH)" --entrypoint /probe \
    --user 65532:65532 -t "$registry/probe:latest" >/dev/null 2>>"$dir/logs/crane.log"
  cp "$coredns_dir/coredns" "$work/coredns/coredns"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/coredns/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/coredns/etc/group"
  chmod 1777 "$work/coredns/tmp"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/coredns.tar" -C "$work/coredns" .
  "$crane" append --oci-empty-base -f "$work/coredns.tar" -t "$registry/coredns:base" >/dev/null 2>>"$dir/logs/crane.log"
  "$crane" mutate "$registry/coredns:base" --set-platform "linux/$(go env GOARCH)" --entrypoint /coredns \
    --user 65532:65532 -t "$registry/coredns:$COREDNS_VERSION" >/dev/null 2>>"$dir/logs/crane.log"
  rm -rf "$work"
}

# coredns REGISTRY: CoreDNS as the cluster's DNS, a Deployment behind the
# kube-dns Service at $dns_ip. It listens on 1053 (no capability needed as
# user 65532); the Service maps 53 to it. No forward plugin: there is no
# upstream to forward to inside the namespace.
coredns() {
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {kind: ServiceAccount, name: coredns, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      priorityClassName: system-cluster-critical
      containers:
      - name: coredns
        image: $1/coredns:$COREDNS_VERSION
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
$(restricted_security_context 8 65532)
        volumeMounts:
        - {name: config, mountPath: /etc/coredns, readOnly: true}
      volumes:
      - name: config
        configMap: {name: coredns}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $dns_ip
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
}

# containerd's shim sockets, the CNI library's cache, the kubelet's links to
# the container logs.
fixed_dirs=(/run/containerd/s /run/containerd /var/lib/cni/results /var/lib/cni /var/log/containers)

# --- tearing down ---------------------------------------------------------

# stop NAME...: SIGTERM, then SIGKILL after 10 seconds.
stop() {
  local name pid started=()
  for name in "$@"; do
    [[ -f $dir/pids/$name ]] || continue
    pid=$(cat "$dir/pids/$name")
    kill "$pid" 2>/dev/null && started+=("$name:$pid")
  done
  local deadline=$((SECONDS + 10)) entry
  for entry in "${started[@]}"; do
    pid=${entry#*:}
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    ! kill -9 "$pid" 2>/dev/null || log "killed ${entry%%:*} ($pid), which did not stop within 10s of SIGTERM"
  done
  for name in "$@"; do rm -f "$dir/pids/$name"; done
}

# run_pids: the processes of the run: started from or holding files under
# the run directory (the shims have it in their arguments), in the node's
# namespace, or in the pods' cgroups.
run_pids() {
  {
    # "[/]": grep's own arguments do not match.
    grep -alF -e "$dir" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 |
      while read -r pid; do tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "^.*$dir[/]" && echo "$pid"; done
    ! ip netns list | grep -qw "^$netns" || ip netns pids "$netns" 2>/dev/null
    find /sys/fs/cgroup/*/"$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null
  } | sort -un
}

# shim_sockets: the sockets of containerd's shims for the run's containers,
# which sit in a fixed directory (/run/containerd/s) under the sha256 of
# "<containerd's address>/<namespace>/<id>" (containerd 1.6,
# runtime/v2/shim.SocketAddress); a killed shim leaves its socket.
shim_sockets() {
  local bundle ns id socket
  for bundle in "$dir"/containerd/state/io.containerd.runtime.v2.task/*/*/; do
    [[ -d $bundle ]] || continue
    bundle=${bundle%/}
    id=${bundle##*/}
    ns=${bundle%/*}
    ns=${ns##*/}
    socket=/run/containerd/s/$(printf '%s' "$dir/containerd/containerd.sock/$ns/$id" | sha256sum | cut -c1-64)
    [[ ! -S $socket ]] || echo "$socket"
  done
}

# cni_results: the CNI library's cache entries (fixed in /var/lib/cni) of
# the pods' networks.
cni_results() {
  find /var/lib/cni/results -maxdepth 1 -name 'konnector-hooks-pods-*' 2>/dev/null
  # containerd's own loopback network, named cni-loopback-<sandbox id>-lo.
  local bundle
  for bundle in "$dir"/containerd/state/io.containerd.runtime.v2.task/*/*/; do
    bundle=${bundle%/}
    [[ ! -f /var/lib/cni/results/cni-loopback-${bundle##*/}-lo ]] || echo "/var/lib/cni/results/cni-loopback-${bundle##*/}-lo"
  done
}

run_mounts() {
  awk -v d="$dir" 'index($5, d"/") == 1 || $5 == d { print $5 }' /proc/self/mountinfo | sort -r
}

down() {
  set +e
  trap - ERR
  if [[ -f $dir/kubeconfig && -f $dir/pids/kubelet && -f $dir/pids/containerd ]] &&
    kill -0 "$(cat "$dir/pids/kubelet")" "$(cat "$dir/pids/containerd")" 2>/dev/null; then
    # Pods first, while the kubelet runs, so that their sandboxes are
    # stopped the ordinary way (CNI DEL, network namespace unmounted).
    stop kube-controller-manager kube-scheduler
    timeout 20 "$kubectl" --kubeconfig "$dir/kubeconfig" delete pods -A --all --grace-period=0 --force \
      --wait=false >/dev/null 2>&1
    # containerd 1.6 stops a sandbox's task before it tears its network
    # down (CNI DEL): the pods are gone once neither is left. Stopping the
    # kubelet earlier cancels the CNI DEL midway ("netplugin failed with no
    # error message: signal: killed").
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
      [[ -z $(ctr --address "$dir/containerd/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null) &&
        -z $(cni_results) ]] && break
      sleep 1
    done
  fi
  stop kubelet kube-proxy kube-controller-manager kube-scheduler
  # What is left of the pods (the kubelet did not get to them): their
  # processes, then the shims, then containerd.
  local pid
  for pid in $(find /sys/fs/cgroup/*/"$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
    kill -9 "$pid" 2>/dev/null
  done
  stop containerd
  for pid in $(run_pids); do
    [[ -f $dir/pids/kube-apiserver && $pid == "$(cat "$dir/pids/kube-apiserver")" ]] && continue
    [[ -f $dir/pids/etcd && $pid == "$(cat "$dir/pids/etcd")" ]] && continue
    grep -qF containerd-shim "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  stop kube-apiserver etcd apiserver-proxy apiserver-bridge registry-proxy registry-bridge registry
  local left
  left=$(run_pids)
  if [[ -n $left ]]; then
    log "killing the processes left: $(echo $left)"
    # shellcheck disable=SC2086 # a list of pids
    kill -9 $left 2>/dev/null
    sleep 1
  fi
  # Mounts (overlay roots, shm, pod volumes, pod network namespaces, the
  # kubelet's own bind mount of its root), the innermost first.
  local mount
  for mount in $(run_mounts); do
    umount "$mount" 2>/dev/null || umount -l "$mount"
  done
  local socket
  for socket in $(shim_sockets); do
    log "removing $socket (a shim was killed)"
    rm -f "$socket"
  done
  # The CNI library's cache of the pods it did not get to delete (their
  # network namespaces went with the mounts above).
  local result
  for result in $(cni_results); do
    log "removing $result (a pod's network was not torn down)"
    rm -f "$result"
  done
  # The kubelet's links to the container logs (/var/log/containers is fixed).
  find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete 2>/dev/null
  # The pods' cgroups, the innermost first.
  find /sys/fs/cgroup/*/"$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null
  if ip netns list | grep -qw "^$netns"; then
    ip netns delete "$netns"
  fi
  local fixed
  if [[ -f $dir/fixed-dirs ]]; then
    while read -r fixed; do rmdir "$fixed" 2>/dev/null; done <"$dir/fixed-dirs"
  fi
  check
  local ok=$?
  [[ $ok -ne 0 ]] || rm -rf "$dir"
  set -e
  return $ok
}

# check: fails loudly if a process, mount, cgroup or network namespace of the
# run is left.
check() {
  local failed=0 x fixed
  x=$(run_pids)
  if [[ -n $x ]]; then
    log "LEFT: processes:"
    # shellcheck disable=SC2086
    ps -o pid,args -p "$(echo $x | tr ' ' ,)" >&2
    failed=1
  fi
  x=$(run_mounts)
  [[ -z $x ]] || { log "LEFT: mounts: $x"; failed=1; }
  x=$(ls -d /sys/fs/cgroup/*/"$cgroup_root" 2>/dev/null)
  [[ -z $x ]] || { log "LEFT: cgroups: $x"; failed=1; }
  if ip netns list | grep -qw "^$netns"; then log "LEFT: network namespace $netns"; failed=1; fi
  x=$(find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" 2>/dev/null)
  [[ -z $x ]] || { log "LEFT: links in /var/log/containers: $x"; failed=1; }
  x=$(shim_sockets)
  [[ -z $x ]] || { log "LEFT: shim sockets: $x"; failed=1; }
  if [[ -f $dir/fixed-dirs ]]; then
    x=$(while read -r fixed; do [[ ! -e $fixed ]] || echo "$fixed"; done <"$dir/fixed-dirs")
    [[ -z $x ]] || { log "LEFT: directories the run made: $x"; failed=1; }
  fi
  x=$(cni_results)
  [[ -z $x ]] || { log "LEFT: CNI results in /var/lib/cni/results: $x"; failed=1; }
  if ((failed)); then
    log "down: something of the run is left (above)"
    return 1
  fi
  log "down: no process, mount, cgroup or network namespace of the run is left"
}

# --- smoke ----------------------------------------------------------------

smoke() {
  [[ -f $dir/env ]] || die "no cluster is up ($dir/env)"
  # shellcheck disable=SC1091
  source "$dir/env"
  local registry=$CLUSTER_REGISTRY work ref
  work=$(mktemp -d)
  IMAGE_TARBALL=$work/image.tar "$root/hack/image.sh" --local-base >&2
  "$crane" push "$work/image.tar" "$registry/konnector-hooks:smoke" >/dev/null 2>"$work/crane.log"
  ref=$registry/konnector-hooks@$("$crane" digest "$registry/konnector-hooks:smoke")
  rm -rf "$work"
  k delete namespace smoke --ignore-not-found --wait >/dev/null
  k create namespace smoke >/dev/null
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: hooks, namespace: smoke}
spec:
  containers:
  - name: hooks
    image: $ref
    env:
    - {name: PORT, value: "8080"}
    - {name: FUNCTION_TARGET, value: Hooks}
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}}
$(service_security_context 4)
---
apiVersion: v1
kind: Pod
metadata: {name: lookup, namespace: smoke}
spec:
  restartPolicy: Never
  containers:
  - name: lookup
    image: $registry/probe:latest
    args: [kubernetes.default.svc.cluster.local]
$(restricted_security_context 4)
EOF
  k -n smoke wait --for=condition=Ready pod/hooks --timeout=120s >&2
  local ip answer
  ip=$(k -n smoke get pod hooks -o jsonpath='{.status.podIP}')
  answer=$(in_ns curl -fsS "http://$ip:8080/healthz")
  log "GET http://$ip:8080/healthz (pod smoke/hooks, from the node's namespace): $answer"
  [[ $answer == ok ]] || die "smoke: /healthz answered $answer"
  k -n smoke wait --for=jsonpath='{.status.phase}'=Succeeded pod/lookup --timeout=120s >&2 ||
    { k -n smoke logs lookup >&2; die "smoke: the lookup pod did not succeed"; }
  log "from pod smoke/lookup: $(k -n smoke logs lookup)"
  k delete namespace smoke --wait=false >/dev/null
  log "smoke: passed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  smoke) smoke ;;
  build) packages; build ;;
  exec) shift; in_ns "$@" ;;
  *) echo "usage: $0 up|down|smoke|build|exec CMD..." >&2; exit 2 ;;
esac
