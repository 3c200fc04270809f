package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
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
	s, err := settings.Load()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.HandlerTimeoutSeconds)*time.Second)
	defer cancel()
	srv := handlers.New(s, kube.FromEnvironment(), slog.New(slog.NewJSONHandler(stderr, nil)))
	out, err := srv.Render(ctx, target)
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks render:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}
