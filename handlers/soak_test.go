package handlers

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// TestSoak_ThousandsOfCallsLeaveExactStateAndNoLeak drives every hook for
// many clusters at once, then checks each cluster's objects and that
// goroutines and heap return to their baseline. `make soak` runs it
// (KONNECTOR_SOAK_CLUSTERS clusters, default 200).
func TestSoak_ThousandsOfCallsLeaveExactStateAndNoLeak(t *testing.T) {
	if os.Getenv("KONNECTOR_SOAK") == "" {
		t.Skip("the soak runs with make soak")
	}
	clusters := 200
	if n, err := strconv.Atoi(os.Getenv("KONNECTOR_SOAK_CLUSTERS")); err == nil && n > 0 {
		clusters = n
	}
	const rounds, concurrency = 5, 16
	ctx := context.Background()
	h := newServer(t)
	ns := newNamespace(t)
	createCredentials(t, ns, defaultSecret)
	names := make([]string, clusters)
	for i := range names {
		names[i] = fmt.Sprintf("soak-%03d", i)
		c := managementcluster.NewCluster(ns, names[i], configBasic)
		c.Finalizers = []string{"test.konnector-hooks/hold"}
		if err := managementcluster.CreateCluster(ctx, mgmt.Client, c); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up, then take the baseline.
	call(t, h, pathDiscovery, request(t, "discovery.json", "", ""))
	baseGoroutines, baseHeap := settle()

	type job struct{ path, file, cluster string }
	var calls, failures atomic.Int64
	run := func(jobs []job) {
		queue := make(chan job)
		var wg sync.WaitGroup
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range queue {
					a := call(t, h, j.path, request(t, j.file, ns, j.cluster))
					calls.Add(1)
					if a.Status != "Success" {
						failures.Add(1)
						t.Errorf("%s %s: %s", j.path, j.cluster, a.Raw)
					}
				}
			}()
		}
		for _, j := range jobs {
			queue <- j
		}
		close(queue)
		wg.Wait()
	}

	start := time.Now()
	var live []job
	for r := range rounds {
		for _, name := range names {
			v := payloadVersions[r%2]
			live = append(live,
				job{pathACPI, "after-control-plane-initialized." + v + ".json", name},
				job{pathBCU, "before-cluster-upgrade." + v + ".json", name},
				job{pathBCD, "before-cluster-delete." + v + ".json", name}, // forged: the cluster is live
			)
		}
	}
	run(live)

	// Every cluster holds exactly its three objects, in the desired state.
	objs := objectsIn(t, ns)
	for kind, items := range objs {
		if len(items) != clusters {
			t.Errorf("%d %s for %d clusters", len(items), kind, clusters)
		}
	}
	for _, name := range names {
		if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, name)); !strings.Contains(a.Message, "up to date") {
			t.Errorf("%s is not in the desired state: %s", name, a.Raw)
		}
		calls.Add(1)
	}

	// Delete them all: start, then done.
	for _, name := range names {
		c := managementcluster.NewCluster(ns, name, "")
		if err := mgmt.Client.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var deletes []job
	for range 2 {
		for _, name := range names {
			deletes = append(deletes, job{pathBCD, "before-cluster-delete.v1beta2.json", name})
		}
	}
	run(deletes)
	if n := len(objectsIn(t, ns)["HelmChartProxy"]); n != 0 {
		t.Errorf("%d HelmChartProxies left after the deletions", n)
	}
	elapsed := time.Since(start)

	goroutines, heap := settle()
	t.Logf("soak: %d clusters, %d hook calls in %s (%.0f calls/s at concurrency %d), %d failures, %d objects checked",
		clusters, calls.Load(), elapsed.Round(time.Millisecond), float64(calls.Load())/elapsed.Seconds(), concurrency, failures.Load(), 3*clusters)
	t.Logf("soak: goroutines %d -> %d, heap in use %.1f -> %.1f MiB, process RSS high-water mark %s",
		baseGoroutines, goroutines, mib(baseHeap), mib(heap), vmHWM())
	if goroutines > baseGoroutines+8 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines did not return to baseline (%d -> %d)\n%s", baseGoroutines, goroutines, buf[:runtime.Stack(buf, true)])
	}
	if heap > baseHeap+16<<20 {
		t.Errorf("heap in use did not return to baseline: %.1f -> %.1f MiB", mib(baseHeap), mib(heap))
	}
}

// settle waits for idle connections and finished requests to wind down and
// returns the goroutine count and the heap in use after a collection.
func settle() (int, uint64) {
	var last int
	for i := 0; i < 50; i++ {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n == last {
			break
		}
		last = n
		time.Sleep(100 * time.Millisecond)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return last, m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
