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
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	konnectorhooks "github.com/konnector-hooks/konnector-hooks"
	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// serve serves the function target at every path on port until SIGTERM, then
// lets the calls in flight finish, as Knative and a Deployment's rollout
// expect of a pod told to stop.
//
// Over TLS when the settings name a certificate (deploy/without-knative,
// where nothing in front terminates TLS): controller-runtime's certwatcher
// re-reads cert-manager's mounted Secret when it changes on disk (and every
// 10s, for the symlink swap), so a rotated certificate is served from the
// next handshake on, with no restart and no failed call.
func serve(port, target string, s settings.Settings) error {
	handler, ok := konnectorhooks.Handler(target)
	if !ok {
		return fmt.Errorf("FUNCTION_TARGET %q is not a function of konnector-hooks: use %s", target, strings.Join(handlers.FunctionNames(), " or "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server := &http.Server{Addr: ":" + port, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	listen := server.ListenAndServe
	watchErr := make(chan error, 1)
	if s.TLSCertFile != "" {
		// certwatcher logs its reloads through controller-runtime's logger:
		// the function's JSON lines (names of files, never their content).
		ctrllog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stdout, nil)))
		watcher, err := certwatcher.New(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("reading the TLS certificate (%s_TLS_CERT_FILE %s, %s_TLS_KEY_FILE %s): %w", settings.Prefix, s.TLSCertFile, settings.Prefix, s.TLSKeyFile, err)
		}
		go func() { watchErr <- watcher.Start(ctx) }()
		server.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate}
		listen = func() error { return server.ListenAndServeTLS("", "") }
	}
	served := make(chan error, 1)
	go func() { served <- listen() }()
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
	// A hook answers within its timeout.
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
