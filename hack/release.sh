#!/usr/bin/env bash
# Writes a konnector-hooks release for clusterctl into one folder:
#
#   runtime-extension-components.yaml  every object of the default install
#                                      (kustomization.yaml), the image set, the
#                                      settings as clusterctl variables
#   metadata.yaml                      release series and CAPI contract
#   konnector-hooks-image.tar          the image (only when IMAGE is not given)
#
#   VERSION      the release version, default v0.1.0
#   RELEASE_DIR  default out/release
#   IMAGE        an image already pushed (best by digest); unset: the image is
#                built with hack/image.sh into the folder, named
#                $KO_DOCKER_REPO@sha256:<digest>, to be pushed with
#                `crane push <folder>/konnector-hooks-image.tar $KO_DOCKER_REPO:$VERSION`
#                (the digest stays the same)
#   IMAGE_FLAGS  passed to hack/image.sh, e.g. --local-base to build offline
#
# clusterctl reads the folder as a release of the provider konnector-hooks
# (docs/install.md, "Install with clusterctl"); test/manifests reads the same output
# with clusterctl's library.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-v0.1.0}
RELEASE_DIR=${RELEASE_DIR:-out/release}
mkdir -p "$RELEASE_DIR"
RELEASE_DIR=$(cd "$RELEASE_DIR" && pwd)

if [[ -z ${IMAGE:-} ]]; then
  : "${KO_DOCKER_REPO:?set KO_DOCKER_REPO to the repository the image will be pushed to, or IMAGE to an image already pushed}"
  # shellcheck disable=SC2086 # IMAGE_FLAGS is a list of flags
  VERSION=$VERSION IMAGE_TARBALL=$RELEASE_DIR/konnector-hooks-image.tar IMAGE_REF_FILE=$RELEASE_DIR/image-ref hack/image.sh ${IMAGE_FLAGS:-}
  IMAGE=$(cat "$RELEASE_DIR/image-ref")
  rm "$RELEASE_DIR/image-ref"
fi

(cd test/manifests && go run ./cmd/release -root ../.. -image "$IMAGE" -version "$VERSION" -out "$RELEASE_DIR")
echo "release: $VERSION in $RELEASE_DIR with image $IMAGE" >&2
