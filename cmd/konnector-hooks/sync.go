package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/konnector-hooks/konnector-hooks/kube"
)

// runSync is the one-shot mode the CronJob runs: one sync of every served
// Cluster, the JSON report on stdout, the log lines on stderr, and exit
// status 1 when a Cluster failed or was not reached (2 when the sync could
// not start).
func runSync(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("sync", stdout, stderr)
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		return badArgs(fs, stderr, fmt.Errorf("unexpected arguments %q: a sync covers every served Cluster", fs.Args()))
	}
	_, srv, ctx, stop, ok := oneShot(kube.FromEnvironment(), stderr)
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
