# Sourced by hack/image.sh and hack/knative.sh: the minimal base image that
# `hack/image.sh --local-base` and Knative's images build on, assembled
# offline. From scratch: the machine's CA certificates for TLS to any API
# server, and the nonroot user 65532 the Knative Service and Knative's own
# deployments run as. No shell, no package manager.

# local_base WORK CRANE REGISTRY PLATFORM: assembles the base in WORK and
# pushes it to REGISTRY/base for PLATFORM (os/arch), with crane CRANE.
local_base() {
  local work=$1 crane=$2 registry=$3 platform=$4 fs=$1/base
  mkdir -p "$fs/etc/ssl/certs" "$fs/home/nonroot" "$fs/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$fs/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$fs/etc/group"
  chmod 1777 "$fs/tmp"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/base.tar" -C "$fs" .
  "$crane" append --oci-empty-base -f "$work/base.tar" -t "$registry/base:scratch" >/dev/null 2>>"$work/crane.log"
  "$crane" mutate "$registry/base:scratch" --set-platform "$platform" --user 65532:65532 \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt -t "$registry/base" >/dev/null 2>>"$work/crane.log"
}
