// Command release writes a konnector-hooks release for clusterctl: the
// runtime-extension-components.yaml and metadata.yaml of package release,
// into one folder. `make release` runs it (hack/release.sh).
//
//	go run ./cmd/release -root ../.. -image <registry>/konnector-hooks@sha256:... -version v0.1.0 -out <dir>
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/konnector-hooks/konnector-hooks/test/manifests/release"
)

func main() {
	root := flag.String("root", "../..", "the repository, whose top-level kustomization is the default install")
	image := flag.String("image", "", "the function's image reference, best by digest")
	version := flag.String("version", "", "the release version, e.g. v0.1.0")
	out := flag.String("out", "", "the folder the release files are written to")
	flag.Parse()
	if *image == "" || *version == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "release: -image, -version and -out are required")
		os.Exit(2)
	}
	if err := release.Write(*out, *root, *image, *version); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}
