package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is everything one run measured; report.json is this struct.
type Report struct {
	GeneratedAt string   `json:"generatedAt"`
	Machine     Machine  `json:"machine"`
	Binaries    []Binary `json:"binaries"`
	EnvtestS    float64  `json:"envtestStartSeconds"`

	ColdStart []ColdStart `json:"coldStart"`
	InitTrace []InitTrace `json:"initTrace"`

	// Floor is the plain GET of a Cluster, at concurrency 1 (measured paired
	// with each hook's calls, all pairs pooled) and 16.
	Floor       map[string]Stats `json:"floor"`
	Latency     []Latency        `json:"latency"`
	APIRequests []APIRequests    `json:"apiRequests"`
	Memory      Memory           `json:"memory"`
	Throughput  Throughput       `json:"throughput"`
	Peer        Peer             `json:"peer"`
	Experiments *Experiments     `json:"experiments,omitempty"`
	Profile     *Profile         `json:"profile,omitempty"`
	Micro       []MicroBench     `json:"microBenchmarks"`
	Sync        *SyncBench       `json:"sync,omitempty"`

	Budgets []Budget `json:"budgets"`
	// floorC1 pools the floor GETs paired with every hook call at c1.
	floorC1   []time.Duration
	Diagnosis []string `json:"diagnosis"`
	Notes     []string `json:"notes"`
}

type Machine struct {
	CPUModel  string `json:"cpuModel"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"goVersion"`
	Kernel    string `json:"kernel"`
	GitHead   string `json:"gitHead"`
	GitDirty  bool   `json:"gitDirty"`
	// Load from outside the benchmark while it ran: /proc/stat busy time
	// less the CPU time of the harness and every process it started.
	LoadAvgStart    string   `json:"loadAvgStart"`
	LoadAvgEnd      string   `json:"loadAvgEnd"`
	OtherCPUSeconds float64  `json:"otherCPUSeconds"`
	OtherLoadCores  float64  `json:"otherLoadCores"`
	WallSeconds     float64  `json:"wallSeconds"`
	OtherProcesses  []string `json:"otherBusyProcessesAtStart"`
}

type Binary struct {
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	SizeBytes int64   `json:"sizeBytes"`
	SizeMiB   float64 `json:"sizeMiB"`
	// Packages is the number of packages linked (go list -deps), where known.
	Packages int `json:"packages,omitempty"`
}

type ColdStart struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Stats  Stats  `json:"stats"`
	// Early counts answers before the first Success (for example Failure).
	Early int    `json:"earlyAnswers"`
	Error string `json:"error,omitempty"`
}

type InitTrace struct {
	Name   string        `json:"name"`
	Runs   int           `json:"runs"`
	Median initSummary   `json:"median"`
	Top    []packageInit `json:"top10"`
}

type Latency struct {
	Name        string  `json:"name"`
	Concurrency int     `json:"concurrency"`
	Stats       Stats   `json:"stats"`
	Floor       Stats   `json:"floor"`
	RatioMedian float64 `json:"ratioMedianToFloor"`
	RatioP99    float64 `json:"ratioP99ToFloor"`
}

type APIRequests struct {
	Name string `json:"name"`
	// PerCall is the number of requests per call seen by the counting proxy
	// (the same in every call when min == max).
	PerCallMin int            `json:"perCallMin"`
	PerCallMax int            `json:"perCallMax"`
	ByRequest  map[string]int `json:"byRequestInMedianCall"`
	Discovery  int            `json:"discoveryRequestsAllCalls"`
	Rounds     int            `json:"sequentialRoundsMedianCall"`
	Waterfall  []apiRequest   `json:"waterfallMedianCall"`
	// FirstCall is the first hook call of a fresh process, when it differs
	// from the others (it builds the transport and loads the kubeconfig).
	FirstCall []apiRequest `json:"waterfallFirstCallOfProcess,omitempty"`
	Calls     int          `json:"calls"`
	// Metrics is the API server's own count (apiserver_request_total) per
	// call, by verb and resource, over a separate batch of calls.
	Metrics      map[string]float64 `json:"apiserverMetricsPerCall"`
	MetricsTotal float64            `json:"apiserverMetricsTotalPerCall"`
	MetricsCalls int                `json:"apiserverMetricsCalls"`
}

type Memory struct {
	HooksIdle          memory `json:"hooksIdle"`
	HooksDiscoveryLoad memory `json:"hooksAfterDiscoveryLoad"`
	HooksHookLoad      memory `json:"hooksAfterHookLoad"`
	// ExperimentsIdle are the start-up experiments, idle.
	ExperimentsIdle   map[string]memory `json:"startupExperimentsIdle"`
	PeerIdle          memory            `json:"peerIdle"`
	PeerDiscoveryLoad memory            `json:"peerAfterDiscoveryLoad"`
}

type Throughput struct {
	Hook        string  `json:"hook"`
	Concurrency int     `json:"concurrency"`
	Calls       int     `json:"calls"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"callsPerSecond"`
	// CPU seconds each process spent during the run, and per call in ms.
	CPUSeconds   map[string]float64 `json:"cpuSeconds"`
	CPUPerCallMs map[string]float64 `json:"cpuMsPerCall"`
	Bottleneck   string             `json:"bottleneck"`
	Explanation  string             `json:"explanation"`
}

type Peer struct {
	Module    string           `json:"module"`
	Version   string           `json:"version"`
	Built     bool             `json:"built"`
	Error     string           `json:"error,omitempty"`
	Discovery map[string]Stats `json:"discoveryLatency"`
	// Ratios are the peer's figure over ours: above 1, ours is better.
	Ratios map[string]float64 `json:"ratiosPeerOverOurs"`
}

// Experiments measure what a recommended change would bring.
type Experiments struct {
	Memory []MemoryExperiment `json:"memory"`
}

// MemoryExperiment is the product binary under a fixed hook load with one
// setting of the Go runtime.
type MemoryExperiment struct {
	Setting      string  `json:"setting"`
	Memory       memory  `json:"memory"`
	CPUPerCallMs float64 `json:"functionCPUMsPerCall"`
}

type Profile struct {
	File string   `json:"file"`
	Flat []string `json:"topFlat"`
	Cum  []string `json:"topCum"`
	// Allocs is the heap profile's allocated bytes, cumulative.
	Allocs []string `json:"topAllocSpaceCum"`
	// Categories sum the samples by what the function was doing.
	Categories []cpuCategory `json:"categories"`
}

type Budget struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

func (r *Report) write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := r.markdown()
	if fleet := fleetSection(dir); fleet != "" {
		md = withFleet(md, fleet)
	}
	if knative := knativeSection(dir); knative != "" {
		md = withKnative(md, knative)
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644)
}

func (r *Report) latency(name string, conc int) (Latency, bool) {
	for _, l := range r.Latency {
		if l.Name == name && l.Concurrency == conc {
			return l, true
		}
	}
	return Latency{}, false
}

func (r *Report) cold(name string) (ColdStart, bool) {
	for _, c := range r.ColdStart {
		if c.Name == name {
			return c, true
		}
	}
	return ColdStart{}, false
}

func (r *Report) requests(name string) (APIRequests, bool) {
	for _, a := range r.APIRequests {
		if a.Name == name {
			return a, true
		}
	}
	return APIRequests{}, false
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// table is the summary printed at the end of a run.
func (r *Report) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nkonnector-hooks benchmark (%s, %d cores, %s)\n\n", r.Machine.CPUModel, r.Machine.Cores, r.Machine.GoVersion)
	fmt.Fprintf(&b, "%-66s %10s %10s %8s\n", "measurement", "median ms", "p99 ms", "x floor")
	for _, c := range r.ColdStart {
		fmt.Fprintf(&b, "%-66s %10.2f %10.2f %8s\n", "cold start: "+c.Name, c.Stats.Median, c.Stats.P99, "")
	}
	for _, k := range []string{"c1", "c16"} {
		if f, ok := r.Floor[k]; ok {
			fmt.Fprintf(&b, "%-66s %10.2f %10.2f %8s\n", "floor: GET Cluster "+k, f.Median, f.P99, "1.00")
		}
	}
	for _, l := range r.Latency {
		name := fmt.Sprintf("%s c%d", l.Name, l.Concurrency)
		if strings.HasPrefix(l.Name, replayName("")) {
			name = "  its API reads alone, replayed (no function) c1"
		}
		fmt.Fprintf(&b, "%-66s %10.2f %10.2f %8s\n", name, l.Stats.Median, l.Stats.P99, fmtRatio(l.RatioMedian))
	}
	for _, k := range []string{"c1", "c16"} {
		if s, ok := r.Peer.Discovery[k]; ok {
			fmt.Fprintf(&b, "%-66s %10.2f %10.2f %8s\n", "peer discovery "+k+" (HTTPS)", s.Median, s.P99, "")
		}
	}
	fmt.Fprintf(&b, "\n%-66s %10s %10s\n", "API requests per call", "proxy", "metrics")
	for _, a := range r.APIRequests {
		n := fmt.Sprint(a.PerCallMax)
		if a.PerCallMin != a.PerCallMax {
			n = fmt.Sprintf("%d-%d", a.PerCallMin, a.PerCallMax)
		}
		fmt.Fprintf(&b, "%-66s %10s %10.2f   (discovery: %d)\n", a.Name, n, a.MetricsTotal, a.Discovery)
	}
	m := r.Memory
	fmt.Fprintf(&b, "\nmemory (VmHWM MiB): hooks idle %.1f, after discovery load %.1f, after hook load %.1f",
		m.HooksIdle.PeakMiB(), m.HooksDiscoveryLoad.PeakMiB(), m.HooksHookLoad.PeakMiB())
	if m.PeerIdle.PeakKiB > 0 {
		fmt.Fprintf(&b, "; peer idle %.1f, after discovery load %.1f", m.PeerIdle.PeakMiB(), m.PeerDiscoveryLoad.PeakMiB())
	}
	b.WriteString("\n")
	for _, bin := range r.Binaries {
		fmt.Fprintf(&b, "binary %-12s %7.1f MiB\n", bin.Name, bin.SizeMiB)
	}
	t := r.Throughput
	fmt.Fprintf(&b, "throughput: %.0f calls/s (%s, c%d); bottleneck: %s\n", t.PerSecond, t.Hook, t.Concurrency, t.Bottleneck)
	fmt.Fprintf(&b, "\nbudgets:\n")
	for _, bu := range r.Budgets {
		fmt.Fprintf(&b, "  %-4s %-58s %s\n", passFail(bu.Pass), bu.Name+" ("+bu.Goal+")", bu.Measured)
	}
	return b.String()
}

func fmtRatio(x float64) string {
	if x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", x)
}

func (r *Report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	w("# konnector-hooks benchmark\n\n")
	w("Generated by `make bench` (hack/bench.sh, harness in test/bench) at %s, in %.0f s.\n\n", r.GeneratedAt, m.WallSeconds)
	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| CPU | %s |\n| cores | %d |\n| Go | %s |\n| kernel | %s |\n", m.CPUModel, m.Cores, m.GoVersion, m.Kernel)
	dirty := ""
	if m.GitDirty {
		dirty = " (work tree has uncommitted changes)"
	}
	w("| commit | %s%s |\n", m.GitHead, dirty)
	w("| load average at start / end | %s / %s |\n", m.LoadAvgStart, m.LoadAvgEnd)
	w("| CPU used by other processes during the run | %.1f CPU-seconds, %.2f cores on average |\n", m.OtherCPUSeconds, m.OtherLoadCores)
	if len(m.OtherProcesses) > 0 {
		w("| busy processes outside the benchmark at start | %s |\n", strings.Join(m.OtherProcesses, ", "))
	}
	w("| API server | envtest: kube-apiserver v1.34.3 + etcd v3.7.3 on loopback, started in %.1f s |\n\n", r.EnvtestS)
	w("Other work (tests, builds) may run on this machine at the same time; the line above says how much CPU it took. ")
	w("Every ratio below compares figures taken in the same run, interleaved where possible, so that such load affects both sides.\n\n")

	w("## Budgets\n\n| | budget | goal | measured |\n|---|---|---|---|\n")
	for _, bu := range r.Budgets {
		w("| %s | %s | %s | %s |\n", passFail(bu.Pass), bu.Name, bu.Goal, bu.Measured)
	}
	w("\n")
	if len(r.Diagnosis) > 0 {
		w("## Diagnosis\n\n")
		for _, d := range r.Diagnosis {
			w("%s\n\n", d)
		}
	}

	w("## 1. Cold start\n\n")
	w("From `exec` of the binary to the first HTTP 200 (with status Success) of the named call, polling every %s with a new connection. ", pollInterval)
	w("The page cache is warm (one discarded run first), as on a node that already holds the image; runs of the binaries are interleaved.\n\n")
	w("| process → call | runs | median ms | p99 ms | min ms | max ms |\n|---|---|---|---|---|---|\n")
	for _, c := range r.ColdStart {
		if c.Error != "" {
			w("| %s | | error: %s | | | |\n", c.Name, c.Error)
			continue
		}
		w("| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", c.Name, c.Stats.N, c.Stats.Median, c.Stats.P99, c.Stats.Min, c.Stats.Max)
	}
	w("\n### Package initialisation (GODEBUG=inittrace=1)\n\n")
	w("| binary | runs | packages | sum of init clock ms (median) | main starts at ms | init allocations |\n|---|---|---|---|---|---|\n")
	for _, it := range r.InitTrace {
		w("| %s | %d | %d | %.2f | %.2f | %.1f MiB in %d allocs |\n", it.Name, it.Runs, it.Median.Packages, it.Median.ClockMs, it.Median.MainAtMs, float64(it.Median.Bytes)/(1<<20), it.Median.Allocs)
	}
	for _, it := range r.InitTrace {
		if len(it.Top) == 0 || it.Name == "trivial" || strings.HasPrefix(it.Name, "experiment ") {
			continue
		}
		w("\nThe 10 most expensive package inits of **%s** (median over runs):\n\n| package | clock ms | bytes | allocs |\n|---|---|---|---|\n", it.Name)
		for _, p := range it.Top {
			w("| %s | %.3f | %d | %d |\n", p.Package, p.ClockMs, p.Bytes, p.Allocs)
		}
	}

	w("\n## 2–3. Hook latency over loopback, and the floor\n\n")
	w("Calls as CAPI makes them: POST, no Content-Type, `?timeout=10s`, kept-alive connections. ")
	w("The floor is one typed GET of a Cluster with controller-runtime's client from the same API server. ")
	w("At concurrency 1 every hook call is paired with a floor GET right before it, and its ratio is to those GETs; at concurrency 16 the ratio is to a separate run of 16 concurrent GETs.\n\n")
	w("| call | concurrency | calls | median ms | p99 ms | floor median ms | x floor (median) | x floor (p99) |\n|---|---|---|---|---|---|---|---|\n")
	for _, k := range []string{"c1", "c16"} {
		if f, ok := r.Floor[k]; ok {
			w("| floor: GET Cluster | %s | %d | %.3f | %.3f | | 1 | 1 |\n", strings.TrimPrefix(k, "c"), f.N, f.Median, f.P99)
		}
	}
	for _, l := range r.Latency {
		floor := ""
		if l.Floor.N > 0 {
			floor = fmt.Sprintf("%.3f", l.Floor.Median)
		}
		w("| %s | %d | %d | %.3f | %.3f | %s | %s | %s |\n", l.Name, l.Concurrency, l.Stats.N, l.Stats.Median, l.Stats.P99, floor, fmtRatio(l.RatioMedian), fmtRatio(l.RatioP99))
	}

	w("\n## 4. API requests per hook call\n\n")
	w("Counted twice: by a counting reverse proxy between a second function process and the API server (exact, per call; also gives each request's timing), ")
	w("and by the API server's `apiserver_request_total` before and after a batch of calls to the product process directly (per call, by verb and resource; the API server's own background requests are left out).\n\n")
	w("| call | requests per call (proxy) | discovery requests (all calls) | sequential rounds | API server metrics per call |\n|---|---|---|---|---|\n")
	for _, a := range r.APIRequests {
		n := fmt.Sprint(a.PerCallMax)
		if a.PerCallMin != a.PerCallMax {
			n = fmt.Sprintf("%d–%d", a.PerCallMin, a.PerCallMax)
		}
		w("| %s | %s | %d | %d | %s |\n", a.Name, n, a.Discovery, a.Rounds, fmtCounts(a.Metrics))
	}
	w("\nRequest waterfalls (the call of median length through the proxy; times in ms from when the harness sent the hook call, proxy overhead included):\n")
	for _, a := range r.APIRequests {
		if len(a.Waterfall) == 0 {
			continue
		}
		w("\n**%s**\n\n| start | duration | request | status |\n|---|---|---|---|\n", a.Name)
		for _, q := range a.Waterfall {
			w("| %.2f | %.2f | %s %s | %d |\n", q.StartMs, q.DurationMs, q.Method, q.Path, q.Status)
		}
		if len(a.FirstCall) > 0 {
			w("\nThe first hook call of the process (it loads the kubeconfig and builds the transport before its first request):\n\n| start | duration | request | status |\n|---|---|---|---|\n")
			for _, q := range a.FirstCall {
				w("| %.2f | %.2f | %s %s | %d |\n", q.StartMs, q.DurationMs, q.Method, q.Path, q.Status)
			}
		}
	}

	mem := r.Memory
	w("\n## 5. Memory and size\n\n")
	w("VmHWM is the peak resident set; VmRSS the current one, split into anonymous memory (Go heap, stacks) and file-backed pages of the binary that the process touched (shared, reclaimable, but charged to the container's memory cgroup).\n\n")
	w("| process | state | VmHWM (peak RSS) MiB | VmRSS MiB | RssAnon MiB | RssFile MiB |\n|---|---|---|---|---|---|\n")
	row := func(p, state string, x memory) {
		if x.PeakKiB > 0 {
			w("| %s | %s | %.1f | %.1f | %.1f | %.1f |\n", p, state, x.PeakMiB(), kib(x.CurrentKiB), kib(x.AnonKiB), kib(x.FileKiB))
		}
	}
	row("konnector-hooks", "idle, after the first discovery call", mem.HooksIdle)
	row("konnector-hooks", "after discovery at concurrency 16", mem.HooksDiscoveryLoad)
	row("konnector-hooks", "after every hook load, concurrency 16 included", mem.HooksHookLoad)
	for _, name := range sortedKeys(mem.ExperimentsIdle) {
		row(name, "idle, after the first discovery call", mem.ExperimentsIdle[name])
	}
	row("peer (CAPI test extension)", "idle, after the first discovery call", mem.PeerIdle)
	row("peer (CAPI test extension)", "after discovery at concurrency 16", mem.PeerDiscoveryLoad)
	w("\n| binary | size MiB | packages linked |\n|---|---|---|\n")
	for _, bin := range r.Binaries {
		pk := ""
		if bin.Packages > 0 {
			pk = fmt.Sprint(bin.Packages)
		}
		w("| %s | %.1f | %s |\n", bin.Name, bin.SizeMiB, pk)
	}

	t := r.Throughput
	w("\n## 6. Throughput\n\n")
	w("%s at concurrency %d for %.1f s: **%d calls, %.0f calls/s**.\n\n", t.Hook, t.Concurrency, t.Seconds, t.Calls, t.PerSecond)
	w("| process | CPU seconds | CPU ms per call | cores busy |\n|---|---|---|---|\n")
	for _, p := range sortedKeys(t.CPUSeconds) {
		w("| %s | %.2f | %.3f | %.2f |\n", p, t.CPUSeconds[p], t.CPUPerCallMs[p], ratio(t.CPUSeconds[p], t.Seconds))
	}
	w("\nBottleneck: **%s**. %s\n", t.Bottleneck, t.Explanation)

	p := r.Peer
	w("\n## 7. The peer: CAPI's test extension\n\n")
	w("`%s` at %s, a conventional controller-runtime Runtime Extension (manager, webhook server over HTTPS, diagnostics and health endpoints), run against the same envtest with a self-signed serving certificate.\n\n", p.Module, p.Version)
	if !p.Built {
		w("It could not be built or run: %s\n\n", p.Error)
	} else {
		w("| | konnector-hooks | peer | peer / ours |\n|---|---|---|---|\n")
		if ours, ok := r.cold("konnector-hooks → discovery"); ok {
			if peer, ok := r.cold("peer → discovery"); ok {
				w("| cold start to first discovery answer, median ms | %.1f | %.1f | %.2f |\n", ours.Stats.Median, peer.Stats.Median, p.Ratios["coldStartMedian"])
				w("| cold start to first discovery answer, p99 ms | %.1f | %.1f | %.2f |\n", ours.Stats.P99, peer.Stats.P99, p.Ratios["coldStartP99"])
			}
		}
		for _, k := range []string{"c1", "c16"} {
			if l, ok := r.latency("discovery", map[string]int{"c1": 1, "c16": 16}[k]); ok {
				w("| discovery latency %s, median ms | %.3f | %.3f | %.2f |\n", k, l.Stats.Median, p.Discovery[k].Median, p.Ratios["discovery"+k])
			}
		}
		w("| peak RSS idle, MiB | %.1f | %.1f | %.2f |\n", mem.HooksIdle.PeakMiB(), mem.PeerIdle.PeakMiB(), p.Ratios["rssIdle"])
		w("| peak RSS after discovery load, MiB | %.1f | %.1f | %.2f |\n", mem.HooksDiscoveryLoad.PeakMiB(), mem.PeerDiscoveryLoad.PeakMiB(), p.Ratios["rssDiscoveryLoad"])
		w("| binary size, MiB | %.1f | %.1f | %.2f |\n\n", sizeOf(r, "konnector-hooks"), sizeOf(r, "peer"), p.Ratios["binarySize"])
		w("The peer serves HTTPS itself; konnector-hooks serves plain HTTP behind Knative's ingress, which terminates TLS. The peer's discovery figures include TLS on a kept-alive connection (the handshake only in the cold start).\n")
	}

	if e := r.Experiments; e != nil {
		w("\n## Experiments: what a change would bring\n\n")
		w("**Memory.** The product binary under the same load at concurrency 16 (new clusters, repeated no-op calls, pending polls), with Go's defaults and with a soft memory limit.\n\n")
		w("| setting | VmHWM MiB | RssAnon MiB (at end) | RssFile MiB (at end) | function CPU ms per call |\n|---|---|---|---|---|\n")
		for _, m := range e.Memory {
			w("| %s | %.1f | %.1f | %.1f | %.3f |\n", m.Setting, m.Memory.PeakMiB(), kib(m.Memory.AnonKiB), kib(m.Memory.FileKiB), m.CPUPerCallMs)
		}
	}
	if pr := r.Profile; pr != nil {
		w("\n## CPU profile of the function under hook load\n\n`%s` (hooksprobe, started as the product; AfterControlPlaneInitialized new and no-op, BeforeClusterDelete poll).\n\n", pr.File)
		if len(pr.Categories) > 0 {
			w("The samples by what the function was doing (each stack counted once, under the first matching activity):\n\n| activity | CPU ms | share |\n|---|---|---|\n")
			for _, c := range pr.Categories {
				w("| %s | %.0f | %.1f%% |\n", c.Name, c.Ms, c.Percent)
			}
			w("\n")
		}
		w("`go tool pprof -top`:\n\n")
		w("Flat:\n\n```\n%s\n```\n\nCumulative:\n\n```\n%s\n```\n", strings.Join(pr.Flat, "\n"), strings.Join(pr.Cum, "\n"))
		if len(pr.Allocs) > 0 {
			w("\nAllocated bytes over the run (heap profile, `-sample_index=alloc_space -top -cum`):\n\n```\n%s\n```\n", strings.Join(pr.Allocs, "\n"))
		}
	}
	if len(r.Micro) > 0 {
		w("\n## In-process micro-benchmarks of the function's pure code\n\n`testing.Benchmark` in the harness process, one operation per hook call.\n\n| operation | µs per op | KiB allocated per op | allocations per op |\n|---|---|---|---|\n")
		for _, m := range r.Micro {
			w("| %s | %.1f | %.1f | %d |\n", m.Name, m.MicrosPerOp, m.KiBPerOp, m.AllocsPerOp)
		}
	}
	if r.Sync != nil {
		w("%s", r.Sync.markdown())
	}
	if len(r.Notes) > 0 {
		w("\n## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
	}
	return b.String()
}

func kib(n int64) float64 { return float64(n) / 1024 }

func sizeOf(r *Report, name string) float64 {
	for _, b := range r.Binaries {
		if b.Name == name {
			return b.SizeMiB
		}
	}
	return 0
}

func fmtCounts(c map[string]float64) string {
	if len(c) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(c) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
