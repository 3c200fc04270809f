package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// oneShot prepares a subcommand that runs once: the settings, a Server on
// the management cluster of mgmt logging to stderr, and a context that
// SIGINT and SIGTERM end. ok is false, with the reason on stderr, when the
// settings are bad.
func oneShot(mgmt handlers.ClientOpener, stderr io.Writer) (s settings.Settings, srv *handlers.Server, ctx context.Context, stop context.CancelFunc, ok bool) {
	s, err := settings.Load()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks:", err)
		return settings.Settings{}, nil, nil, nil, false
	}
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return s, handlers.New(s, mgmt, slog.New(slog.NewJSONHandler(stderr, nil))), ctx, stop, true
}
