# Sourced by hack/envtest-assets.sh and hack/cluster.sh: builds Kubernetes
# commands from k8s.io/kubernetes on the Go module proxy.
#
# k8s.io/kubernetes replaces its staging modules with local paths, which a
# module zip does not carry, so a throwaway module points each of them at the
# published k8s.io/<name> v0.<minor>.<patch> module instead, and takes the
# pins of hack/pins.sh, so that the packages it shares with the other static
# builds compile once (Go keeps the higher of Kubernetes' own requirement and
# the pin).

# kube_build VERSION WORKDIR OUTDIR CMD...: builds k8s.io/kubernetes/cmd/<CMD>
# for each CMD in one `go build` into OUTDIR/<CMD>, in a throwaway module made
# in WORKDIR, reporting gitVersion vVERSION (Knative and kubectl read it).
kube_build() {
  local version=$1 work=$2 out=$3
  shift 3
  local minor_patch=${version#*.} root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  local pins
  mapfile -t pins < <("$root/hack/pins.sh" --print)
  (
    export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    mkdir -p "$work" && cd "$work"
    go mod init "throwaway/kube-$version" >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$version"
    local gomod name
    gomod=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    for name in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit -replace="$name=$name@v0.$minor_patch"
    done
    go mod edit "${pins[@]}"
    local pkg=k8s.io/component-base/version cmd pkgs=()
    for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
    mkdir -p "$out/.tmp"
    go build -trimpath -o "$out/.tmp/" \
      -ldflags "-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=${version%%.*} -X $pkg.gitMinor=${minor_patch%%.*}" \
      "${pkgs[@]}"
    for cmd in "$@"; do mv "$out/.tmp/$cmd" "$out/$cmd"; done
    rmdir "$out/.tmp"
  )
}
