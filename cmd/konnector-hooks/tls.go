package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	konnectorhooks "github.com/konnector-hooks/konnector-hooks"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// serveTLS serves the function named target on port over TLS, for the
// install without Knative (deploy/without-knative), where nothing in front
// terminates TLS. The certificate comes from certFile and keyFile, mounted
// from the Secret cert-manager writes; controller-runtime's certwatcher
// re-reads them when they change on disk (and every 10s, for the symlink
// swap of a mounted Secret), so a rotated certificate is served from the
// next TLS handshake on, with no restart and no failed call.
func serveTLS(port, target, certFile, keyFile string) error {
	// certwatcher logs its reloads through controller-runtime's logger: the
	// function's JSON lines (names of files, never their content).
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stdout, nil)))
	watcher, err := certwatcher.New(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("reading the TLS certificate (%s_TLS_CERT_FILE %s, %s_TLS_KEY_FILE %s): %w", settings.Prefix, certFile, settings.Prefix, keyFile, err)
	}
	handler, ok := konnectorhooks.Handler(target)
	if !ok {
		return fmt.Errorf("FUNCTION_TARGET %q is not a function of konnector-hooks", target)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Start(ctx) }()

	server := &http.Server{
		Addr:    ":" + port,
		Handler: handler,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: watcher.GetCertificate,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- server.ListenAndServeTLS("", "") }()
	select {
	case err := <-served:
		return err
	case err := <-watchErr:
		// The watcher ends with nil only when the process is told to stop.
		if err != nil {
			_ = server.Close()
			return fmt.Errorf("watching the TLS certificate: %w", err)
		}
	case <-ctx.Done():
	}
	// Let calls in flight finish (a hook answers within its timeout).
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
