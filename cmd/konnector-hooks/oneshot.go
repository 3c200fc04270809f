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

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// oneShot prepares a subcommand that runs once: the settings, the addon's
// steps on the management cluster of mgmt logging to stderr, and a context
// that SIGINT and SIGTERM end. ok is false, with the reason on stderr, when
// the settings are bad.
func oneShot(mgmt addon.ClientOpener, stderr io.Writer) (s settings.Settings, a *addon.Addon, ctx context.Context, stop context.CancelFunc, ok bool) {
	s, err := settings.Load()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks:", err)
		return settings.Settings{}, nil, nil, nil, false
	}
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return s, addon.New(s, mgmt, slog.New(slog.NewJSONHandler(stderr, nil)), time.Now), ctx, stop, true
}
