// Command bench measures what matters for konnector-hooks as a serverless
// hook, side by side with a conventional Runtime Extension (CAPI's test
// extension), against a real API server (envtest), and writes
// bench/report.md and bench/report.json. hack/bench.sh builds the binaries
// and runs it; see there for the flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

type options struct {
	hooks, trivial, probe, nocaaph, restonly, peer string
	peerVersion, peerError                         string
	repo, out                                      string

	coldRuns, peerColdRuns, initRuns int
	latRuns, lat16Runs, countRuns    int
	throughputFor                    time.Duration
	syncClusters                     int
	phases                           string
	quick                            bool
}

func main() {
	var o options
	var fo fleetOptions
	var fleetSizes string
	flag.StringVar(&fleetSizes, "fleet", "", "run only the fleet section, at these comma-separated numbers of Clusters (e.g. 1000,5000,10000), and put it into report.md")
	flag.StringVar(&fo.before, "before", "", "fleet: konnector-hooks binary of the code before (the base branch); empty: not measured")
	flag.StringVar(&fo.afterMemLimit, "after-memlimit", "50MiB", "fleet: GOMEMLIMIT of our Sync Service (knative/sync-pingsource/sync-service.yaml)")
	flag.StringVar(&fo.afterGOGC, "after-gogc", "25", "fleet: GOGC of our Sync Service")
	flag.StringVar(&fo.beforeMemLimit, "before-memlimit", "100MiB", "fleet: GOMEMLIMIT of the Service the code before ran Sync in")
	flag.IntVar(&fo.pageSize, "page-size", 500, "fleet: KONNECTOR_SYNC_PAGE_SIZE")
	flag.IntVar(&fo.namespaces, "fleet-namespaces", 5, "fleet: namespaces the Clusters are spread over")
	flag.IntVar(&fo.skipBeforeAbove, "before-up-to", 10000, "fleet: measure the code before only up to this many Clusters")
	flag.IntVar(&fo.skipNaiveAbove, "naive-up-to", 10000, "fleet: measure the naive sync only up to this many Clusters")
	flag.IntVar(&fo.hooksCallsPerSize, "fleet-hook-calls", 200, "fleet: hook calls timed without a sync")
	flag.StringVar(&o.hooks, "hooks", "", "konnector-hooks binary (go build ./cmd/konnector-hooks)")
	flag.StringVar(&o.trivial, "trivial", "", "trivial net/http server binary (./trivialserver)")
	flag.StringVar(&o.probe, "probe", "", "hooksprobe binary (./hooksprobe), for profiles and the shared-client experiment")
	flag.StringVar(&o.nocaaph, "exp-nocaaph", "", "start-up experiment binary ./startup/nocaaph (the function's imports without CAAPH's API package)")
	flag.StringVar(&o.restonly, "exp-restonly", "", "start-up experiment binary ./startup/restonly (client-go's REST client without controller-runtime or CAPI packages)")
	flag.StringVar(&o.peer, "peer", "", "CAPI test extension binary; empty when it could not be built")
	flag.StringVar(&o.peerVersion, "peer-version", "", "module version the peer was built from")
	flag.StringVar(&o.peerError, "peer-error", "", "file holding the peer's build error, reported when -peer is empty")
	flag.StringVar(&o.repo, "repo", "../..", "root of the konnector-hooks repository (for test/testdata)")
	flag.StringVar(&o.out, "out", "../../bench", "directory for report.md, report.json and profiles")
	flag.IntVar(&o.coldRuns, "cold-runs", 50, "cold starts per binary")
	flag.IntVar(&o.peerColdRuns, "peer-cold-runs", 40, "cold starts of the peer")
	flag.IntVar(&o.initRuns, "init-runs", 10, "GODEBUG=inittrace=1 runs per binary")
	flag.IntVar(&o.latRuns, "lat-runs", 300, "calls per latency measurement at concurrency 1")
	flag.IntVar(&o.lat16Runs, "lat16-runs", 400, "calls per latency measurement at concurrency 16")
	flag.IntVar(&o.countRuns, "count-runs", 50, "calls per API request count (API server metrics)")
	flag.DurationVar(&o.throughputFor, "throughput-for", 8*time.Second, "length of the throughput run")
	flag.IntVar(&o.syncClusters, "sync-clusters", 1000, "addon-enabled Clusters in the sync section")
	flag.StringVar(&o.phases, "phases", "", "run only the phases whose names contain one of these comma-separated words (e.g. sync); all when empty")
	flag.BoolVar(&o.quick, "quick", false, "few runs of everything: checks that the harness works, figures mean little")
	var fleetRender bool
	flag.BoolVar(&fleetRender, "fleet-render", false, "write the fleet section again from -out's fleet.json, measuring nothing")
	flag.Parse()
	if fleetRender {
		var rep FleetReport
		b, err := os.ReadFile(filepath.Join(o.out, "fleet.json"))
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err == nil {
			err = rep.write(o.out)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if fleetSizes != "" {
		ctrllog.SetLogger(logr.Discard())
		fo.after, fo.repo, fo.out = o.hooks, o.repo, o.out
		if err := os.MkdirAll(fo.out, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		for _, f := range strings.Split(fleetSizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 20 {
				fmt.Fprintln(os.Stderr, "bench: -fleet takes numbers of Clusters of at least 20:", f)
				os.Exit(2)
			}
			fo.sizes = append(fo.sizes, n)
		}
		rep, err := runFleet(context.Background(), fo)
		if rep != nil {
			if werr := rep.write(fo.out); werr != nil {
				fmt.Fprintln(os.Stderr, "bench: writing the report:", werr)
			}
			fmt.Print(rep.markdown())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if o.quick {
		o.coldRuns, o.peerColdRuns, o.initRuns = 3, 2, 2
		o.latRuns, o.lat16Runs, o.countRuns = 20, 32, 5
		o.throughputFor = 2 * time.Second
		o.syncClusters = 100
	}
	if o.hooks == "" || o.trivial == "" || o.probe == "" || o.nocaaph == "" || o.restonly == "" {
		fmt.Fprintln(os.Stderr, "bench: -hooks, -trivial, -probe, -exp-nocaaph and -exp-restonly are required; run hack/bench.sh")
		os.Exit(2)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	// The harness's own controller-runtime client logs nothing.
	ctrllog.SetLogger(logr.Discard())
	start := time.Now()
	rep, err := run(context.Background(), o)
	if rep != nil {
		rep.Machine.WallSeconds = time.Since(start).Seconds()
		if werr := rep.write(o.out); werr != nil {
			fmt.Fprintln(os.Stderr, "bench: writing the report:", werr)
		}
		fmt.Print(rep.table())
		fmt.Printf("\nreport: %s, %s\n", filepath.Join(o.out, "report.md"), filepath.Join(o.out, "report.json"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr, with the time since start.
var began = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}
