package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// runRender is the preview, `konnector-hooks render <namespace>/<cluster>`:
// it prints the objects the hooks would write for the Cluster as YAML, the
// warnings as leading comments and every credential redacted, and writes
// nothing. It reads with the caller's own KUBECONFIG (else the in-cluster
// configuration), so it shows only what the caller may read, and with the
// KONNECTOR_* settings of the caller's environment. Exit status 1 when the
// Cluster cannot be previewed (the message says why), 2 when the settings
// are bad.
func runRender(target string, stdout, stderr io.Writer) int {
	s, srv, ctx, stop, ok := oneShot(stderr)
	if !ok {
		return 2
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.HandlerTimeoutSeconds)*time.Second)
	defer cancel()
	out, err := srv.Render(ctx, target)
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks render:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}
