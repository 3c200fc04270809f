package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// timings records how long each step of each Cluster took, from the
// timestamps of the function's log, the kubelet stand-in, Helm's release
// records and the tests' observations. They are figures for the README,
// not assertions: a step's duration depends on the machine.
type timings struct {
	mu    sync.Mutex
	steps []step
}

type step struct {
	cluster, what string
	took          time.Duration
}

// add records the step from start to end.
func (tm *timings) add(cluster, what string, start, end time.Time) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.steps = append(tm.steps, step{cluster: cluster, what: what, took: end.Sub(start)})
}

// table is the steps as a Markdown table, by cluster, each cluster's steps
// in the order they were recorded.
func (tm *timings) table(capiVersion string) string {
	tm.mu.Lock()
	steps := slices.Clone(tm.steps)
	tm.mu.Unlock()
	slices.SortStableFunc(steps, func(a, b step) int { return strings.Compare(a.cluster, b.cluster) })
	var b strings.Builder
	fmt.Fprintf(&b, "| CAPI %s: cluster | step | seconds |\n|---|---|---|\n", capiVersion)
	for _, s := range steps {
		fmt.Fprintf(&b, "| %s | %s | %.1f |\n", s.cluster, s.what, s.took.Seconds())
	}
	return b.String()
}

// write saves the table into the artifacts directory.
func (tm *timings) write(path, capiVersion string) error {
	return os.WriteFile(path, []byte(tm.table(capiVersion)), 0o644)
}
