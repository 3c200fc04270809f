package main

import (
	"strings"
	"testing"
	"time"
)

func TestSummarize_MedianAndNearestRankP99(t *testing.T) {
	var sample []time.Duration
	for i := 1; i <= 100; i++ {
		sample = append(sample, time.Duration(i)*time.Millisecond)
	}
	s := summarize(sample)
	if s.N != 100 || s.Median != 50.5 || s.P99 != 99 || s.Min != 1 || s.Max != 100 || s.Mean != 50.5 {
		t.Fatalf("summarize = %+v", s)
	}
	if s := summarize([]time.Duration{3 * time.Millisecond}); s.Median != 3 || s.P99 != 3 {
		t.Fatalf("one sample: %+v", s)
	}
}

func TestParseStatus_ReadsPeakAndCurrentRSS(t *testing.T) {
	m, err := parseStatus("Name:\tkonnector-hooks\nVmPeak:\t 1300000 kB\nVmHWM:\t   35492 kB\nVmRSS:\t   35000 kB\nRssAnon:\t    6148 kB\nRssFile:\t   28852 kB\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.PeakKiB != 35492 || m.CurrentKiB != 35000 || m.AnonKiB != 6148 || m.FileKiB != 28852 {
		t.Fatalf("parseStatus = %+v", m)
	}
	if _, err := parseStatus("Name:\tx\n"); err == nil {
		t.Fatal("a status without VmHWM parsed")
	}
}

func TestParseProcStat_CountsFieldsFromTheLastParenthesis(t *testing.T) {
	// A command name may hold spaces and parentheses.
	st, err := parseProcStat("4242 (kube (api) server) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 12 0 1000 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.Comm != "kube (api) server" || st.PPID != 17 || st.Ticks != 300 || st.ChildTicks != 10 {
		t.Fatalf("parseProcStat = %+v", st)
	}
}

func TestParseMachineBusy_LeavesOutIdleIowaitAndGuest(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got := parseMachineBusy("cpu  100 10 50 9000 40 5 5 0 30 0\ncpu0 1 2 3 4\n")
	if got != 1.70 {
		t.Fatalf("busy = %v s, want 1.70", got)
	}
}

func TestParseInitTrace_SkipsOtherLines(t *testing.T) {
	out := strings.Join([]string{
		"init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs",
		"I1125 21:41:00.000000 1 main.go:1] a log line of the program",
		"init k8s.io/client-go/kubernetes/scheme @9.2 ms, 2.6 ms clock, 651560 bytes, 5307 allocs",
		"init main @15.5 ms, 0.012 ms clock, 96 bytes, 2 allocs",
	}, "\n")
	entries := parseInitTrace(out)
	if len(entries) != 3 {
		t.Fatalf("entries = %+v", entries)
	}
	if e := entries[1]; e.Package != "k8s.io/client-go/kubernetes/scheme" || e.AtMs != 9.2 || e.ClockMs != 2.6 || e.Bytes != 651560 || e.Allocs != 5307 {
		t.Fatalf("entry = %+v", e)
	}
	s := summarizeInit(entries)
	if s.Packages != 3 || s.ClockMs != 2.612 || s.MainAtMs != 15.512 || s.Bytes != 651656 {
		t.Fatalf("summary = %+v", s)
	}
	top := topInits([][]initEntry{entries, entries}, 1)
	if len(top) != 1 || top[0].Package != "k8s.io/client-go/kubernetes/scheme" {
		t.Fatalf("top = %+v", top)
	}
}

func TestParseRequestTotals_SumsHookResourcesAndDiscoveryPaths(t *testing.T) {
	metrics := `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cluster.x-k8s.io",resource="clusters",scope="resource",subresource="",verb="GET",version="v1beta2"} 7
apiserver_request_total{code="404",component="apiserver",dry_run="",group="cluster.x-k8s.io",resource="clusters",scope="resource",subresource="",verb="GET",version="v1beta2"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="APPLY",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cluster.x-k8s.io",resource="clusters",scope="resource",subresource="status",verb="PUT",version="v1beta2"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 99
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/apis",verb="GET",version=""} 5
`
	c, err := parseRequestTotals(strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"GET clusters": 9, "APPLY secrets": 3, "PUT clusters/status": 4, "GET /apis": 5}
	if len(c) != len(want) {
		t.Fatalf("counts = %v", c)
	}
	for k, v := range want {
		if c[k] != v {
			t.Fatalf("counts[%q] = %v, want %v (all: %v)", k, c[k], v, c)
		}
	}
	after := requestCounter{"GET clusters": 19, "APPLY secrets": 3, "GET /apis": 5}
	if d := after.since(c, 5); len(d) != 1 || d["GET clusters"] != 2 {
		t.Fatalf("since = %v", d)
	}
}

func TestIsDiscoveryPath_APIDiscoveryButNotObjects(t *testing.T) {
	for path, want := range map[string]bool{
		"/api": true, "/apis": true, "/api/v1": true, "/apis/cluster.x-k8s.io": true, "/apis/cluster.x-k8s.io/v1beta2": true,
		"/openapi/v3": true, "/openapi/v3/apis/cluster.x-k8s.io/v1beta2": true, "/version": true,
		"/api/v1/namespaces/ns/secrets/s":                                         false,
		"/apis/cluster.x-k8s.io/v1beta2/namespaces/ns/clusters/c":                 false,
		"/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/ns/helmreleaseproxies": false,
	} {
		if got := isDiscoveryPath(path); got != want {
			t.Errorf("isDiscoveryPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestRounds_GroupsParallelRequests(t *testing.T) {
	reqs := []apiRequest{
		{Method: "POST", Path: "/api/v1/namespaces/ns/events", StartMs: 7.9, DurationMs: 1},
		{Method: "GET", Path: "/c", StartMs: 0.4, DurationMs: 1.6},
		{Method: "GET", Path: "/h", StartMs: 0.5, DurationMs: 1.1},
		{Method: "GET", Path: "/s", StartMs: 2.4, DurationMs: 0.9},
		{Method: "PATCH", Path: "/a", StartMs: 3.6, DurationMs: 3.2},
		{Method: "PATCH", Path: "/b", StartMs: 3.7, DurationMs: 2.2},
	}
	if n := rounds(reqs); n != 4 {
		t.Fatalf("rounds = %d, want 4", n)
	}
	rds := splitRounds(reqs)
	if len(rds) != 4 || len(rds[0].requests) != 2 || rds[0].longest != 1.6 || len(rds[2].requests) != 2 || rds[2].longest != 3.2 {
		t.Fatalf("splitRounds = %+v", rds)
	}
}

func TestGenericPath_HidesTheCallsNames(t *testing.T) {
	got := genericPath("/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/counted/helmchartproxies/konnector-agent-new-1", "counted", "new-1")
	if got != "/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/{ns}/helmchartproxies/{konnector-agent-cluster}" {
		t.Fatalf("genericPath = %s", got)
	}
	if got := genericPath("/apis/cluster.x-k8s.io/v1beta2/namespaces/counted/clusters/new-1", "counted", "new-1"); got != "/apis/cluster.x-k8s.io/v1beta2/namespaces/{ns}/clusters/{cluster}" {
		t.Fatalf("genericPath = %s", got)
	}
}

func TestParseTracesAndCategorize(t *testing.T) {
	traces := `File: hooksprobe
Type: cpu
-----------+-------------------------------------------------------
      30ms   runtime.scanobject
             runtime.gcDrain
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      20ms   encoding/json.checkValid
             k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode
             k8s.io/client-go/rest.Result.Into
             sigs.k8s.io/controller-runtime/pkg/client.(*typedClient).Get
             github.com/konnector-hooks/konnector-hooks/handlers.get
-----------+-------------------------------------------------------
      50ms   internal/runtime/syscall/linux.Syscall6
             syscall.write
             net.(*conn).Write
-----------+-------------------------------------------------------
`
	samples := parseTraces(traces)
	if len(samples) != 3 || samples[1].cpu != 20*time.Millisecond || len(samples[1].frames) != 5 {
		t.Fatalf("samples = %+v", samples)
	}
	cats := categorize(samples)
	got := map[string]float64{}
	for _, c := range cats {
		got[c.Name] = c.Percent
	}
	if got["garbage collection"] != 30 || got["decoding API responses into typed objects"] != 20 || got["network system calls and scheduling"] != 50 {
		t.Fatalf("categories = %+v", cats)
	}
	if cats[0].Name != "network system calls and scheduling" {
		t.Fatalf("not sorted by CPU: %+v", cats)
	}
}
