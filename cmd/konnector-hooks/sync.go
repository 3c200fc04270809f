package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// runSync is the one-shot mode the CronJob runs: one sync of every served
// Cluster, the JSON report on stdout, the log lines on stderr, and exit
// status 1 when a Cluster failed or was not reached (2 when the sync could
// not start).
func runSync(stdout, stderr io.Writer) int {
	s, err := settings.Load()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := handlers.New(s, kube.FromEnvironment(), slog.New(slog.NewJSONHandler(stderr, nil)))
	report := srv.SyncOnce(ctx)
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks: encoding the sync report:", err)
		return 2
	}
	fmt.Fprintln(stdout, string(out))
	if !report.Succeeded() {
		return 1
	}
	return 0
}
