package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// runSync is the one-shot mode the CronJob runs: one sync of every served
// Cluster, the JSON report on stdout, the log lines on stderr, and exit
// status 1 when a Cluster failed or was not reached (2 when the sync could
// not start).
func runSync(stdout, stderr io.Writer) int {
	_, srv, ctx, stop, ok := oneShot(stderr)
	if !ok {
		return 2
	}
	defer stop()
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
