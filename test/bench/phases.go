package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	acpiTemplate = "after-control-plane-initialized.v1beta2.json"
	bcuTemplate  = "before-cluster-upgrade.v1beta2.json"
	bcdTemplate  = "before-cluster-delete.v1beta2.json"
)

// Names of the measured calls, as the report shows them.
// Names of the start-up experiments (binaries under test/bench/startup).
const (
	expNoCAAPH  = "experiment nocaaph"
	expRESTOnly = "experiment restonly"
)

const (
	callDiscovery = "discovery"
	callACPINew   = "AfterControlPlaneInitialized (new cluster)"
	callACPINoOp  = "AfterControlPlaneInitialized (repeated no-op)"
	callBCU       = "BeforeClusterUpgrade (no-op re-apply)"
	callBCDPoll   = "BeforeClusterDelete (pending poll)"
)

// replayName names the replay of a call's API requests by the harness.
func replayName(call string) string {
	return "its API reads alone, replayed by the harness: " + call
}

// initTraces runs each binary with GODEBUG=inittrace=1 until its first
// discovery answer and sums its package init figures.
func (b *bench) initTraces(context.Context) error {
	servers := append([]server{b.hooks, b.trivial}, b.startup...)
	if b.peer != nil {
		servers = append(servers, *b.peer)
	}
	for _, s := range servers {
		var runs [][]initEntry
		for range b.o.initRuns {
			c, _, err := s.startAndWait(b.discovery, "GODEBUG=inittrace=1")
			if err != nil {
				return err
			}
			c.stop()
			entries := parseInitTrace(c.stderr.String())
			if len(entries) == 0 {
				return fmt.Errorf("%s printed no init trace: %s", s.name, c.describe())
			}
			runs = append(runs, entries)
		}
		b.rep.InitTrace = append(b.rep.InitTrace, InitTrace{Name: s.name, Runs: len(runs), Median: medianInit(runs), Top: topInits(runs, 10)})
	}
	return nil
}

// medianInit takes, field by field, the median of the runs' sums.
func medianInit(runs [][]initEntry) initSummary {
	var clock, mainAt, bytes, allocs, pkgs []float64
	for _, r := range runs {
		s := summarizeInit(r)
		clock, mainAt = append(clock, s.ClockMs), append(mainAt, s.MainAtMs)
		bytes, allocs, pkgs = append(bytes, float64(s.Bytes)), append(allocs, float64(s.Allocs)), append(pkgs, float64(s.Packages))
	}
	med := func(v []float64) float64 { slices.Sort(v); return median(v) }
	return initSummary{Packages: int(med(pkgs)), ClockMs: med(clock), MainAtMs: med(mainAt), Bytes: int64(med(bytes)), Allocs: int64(med(allocs))}
}

// coldStarts measures exec to first answer, interleaving the binaries so
// that background load affects each of them alike. Run -1 of each warms the
// page cache and is not counted.
func (b *bench) coldStarts(ctx context.Context) error {
	const ns = "cold"
	if err := b.fx.namespace(ctx, ns); err != nil {
		return err
	}
	type target struct {
		name, call string
		s          server
		runs       int
		path       string
		body       func(i int) ([]byte, error)
	}
	staticDiscovery := func(int) ([]byte, error) { return b.discovery, nil }
	targets := []target{
		{"trivial → discovery", "discovery", b.trivial, b.o.coldRuns, pathDiscovery, staticDiscovery},
		{"konnector-hooks → discovery", "discovery", b.hooks, b.o.coldRuns, pathDiscovery, staticDiscovery},
		{"konnector-hooks → AfterControlPlaneInitialized (new cluster)", "AfterControlPlaneInitialized", b.hooks, b.o.coldRuns, pathACPI, func(i int) ([]byte, error) {
			name := fmt.Sprintf("cold-%d", i+1)
			if _, err := b.fx.cluster(ctx, ns, name); err != nil {
				return nil, err
			}
			return b.fx.request(acpiTemplate, ns, name), nil
		}},
	}
	for _, s := range b.startup {
		targets = append(targets, target{s.name + " → discovery", "discovery", s, b.o.coldRuns / 2, pathDiscovery, staticDiscovery})
	}
	if b.peer != nil {
		targets = append(targets, target{"peer → discovery", "discovery", *b.peer, b.o.peerColdRuns, pathDiscovery, staticDiscovery})
	}
	samples := make([][]time.Duration, len(targets))
	early := make([]int, len(targets))
	maxRuns := 0
	for _, t := range targets {
		maxRuns = max(maxRuns, t.runs)
	}
	for i := -1; i < maxRuns; i++ {
		for ti, t := range targets {
			if i >= t.runs {
				continue
			}
			body, err := t.body(i)
			if err != nil {
				return err
			}
			c, base, err := t.s.start()
			if err != nil {
				return err
			}
			d, n, err := firstAnswer(c, base, t.path, body, t.s.roots, 60*time.Second)
			c.stop()
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if i >= 0 {
				samples[ti] = append(samples[ti], d)
				early[ti] += n
			}
		}
		if i%10 == 9 {
			logf("  cold starts: %d of %d rounds", i+1, maxRuns)
		}
	}
	for ti, t := range targets {
		b.rep.ColdStart = append(b.rep.ColdStart, ColdStart{Name: t.name, Target: t.call, Stats: summarize(samples[ti]), Early: early[ti]})
	}
	return nil
}

// warm measures latency, API server request counts, memory and throughput
// on one long-running product process.
func (b *bench) warm(ctx context.Context) error {
	c, base, err := b.hooks.startAndWait(b.discovery)
	if err != nil {
		return err
	}
	defer c.stop()
	time.Sleep(500 * time.Millisecond)
	if b.rep.Memory.HooksIdle, err = readMemory(c.pid()); err != nil {
		return err
	}
	h := newCaller(base, nil)
	o := b.o
	b.rep.Memory.ExperimentsIdle = map[string]memory{}
	for _, s := range b.startup {
		if sc, _, err := s.startAndWait(b.discovery); err == nil {
			time.Sleep(500 * time.Millisecond)
			b.rep.Memory.ExperimentsIdle[s.name], _ = readMemory(sc.pid())
			sc.stop()
		}
	}

	// Discovery.
	disc := func(int) error { return checked(h.post(pathDiscovery, b.discovery))(-1) }
	if err := b.latency(callDiscovery, 1, o.latRuns, disc, nil, nil); err != nil {
		return err
	}
	if err := b.latency(callDiscovery, 16, o.lat16Runs, disc, nil, nil); err != nil {
		return err
	}
	if b.rep.Memory.HooksDiscoveryLoad, err = readMemory(c.pid()); err != nil {
		return err
	}

	// The floor at concurrency 16 (at 1 it is paired with each hook's calls).
	const ns = "warm"
	if err := b.fx.namespace(ctx, ns); err != nil {
		return err
	}
	if _, err := b.fx.cluster(ctx, ns, "floor"); err != nil {
		return err
	}
	floor := func() error { return b.fx.getCluster(ctx, b.fx.c, ns, "floor") }
	if _, _, err := load(50, 1, func(int) error { return floor() }); err != nil {
		return err
	}
	lat, _, err := load(o.lat16Runs, 16, func(int) error { return floor() })
	if err != nil {
		return err
	}
	b.rep.Floor["c16"] = summarize(lat)

	// AfterControlPlaneInitialized for new clusters: one cluster per call.
	for _, conc := range []int{1, 16} {
		n := map[int]int{1: o.latRuns, 16: o.lat16Runs}[conc]
		prefix := fmt.Sprintf("new%d", conc)
		if _, err := b.fx.clusters(ctx, ns, prefix, n); err != nil {
			return err
		}
		call := func(i int) error {
			return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, fmt.Sprintf("%s-%d", prefix, i))))(-1)
		}
		if err := b.latency(callACPINew, conc, n, call, floor, nil); err != nil {
			return err
		}
	}

	// Repeated calls for a deployed cluster.
	if _, err := b.fx.cluster(ctx, ns, "deployed"); err != nil {
		return err
	}
	acpiNoOp := b.fx.request(acpiTemplate, ns, "deployed")
	bcu := b.fx.request(bcuTemplate, ns, "deployed")
	noop := func(int) error { return checked(h.post(pathACPI, acpiNoOp))(-1) }
	upgrade := func(int) error { return checked(h.post(pathBCU, bcu))(0) }
	if _, _, err := load(20, 1, noop); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		do   func(int) error
	}{{callACPINoOp, noop}, {callBCU, upgrade}} {
		replay, err := b.replay(c.name, ns)
		if err != nil {
			return err
		}
		if err := b.latency(c.name, 1, o.latRuns, c.do, floor, replay); err != nil {
			return err
		}
		if err := b.latency(c.name, 16, o.lat16Runs, c.do, floor, nil); err != nil {
			return err
		}
	}

	// BeforeClusterDelete while CAAPH uninstalls.
	if err := b.fx.deletingCluster(ctx, h, ns, "deleting"); err != nil {
		return err
	}
	bcd := b.fx.request(bcdTemplate, ns, "deleting")
	poll := func(int) error { return checked(h.post(pathBCD, bcd))(5) }
	replay, err := b.replay(callBCDPoll, ns)
	if err != nil {
		return err
	}
	if err := b.latency(callBCDPoll, 1, o.latRuns, poll, floor, replay); err != nil {
		return err
	}
	if err := b.latency(callBCDPoll, 16, o.lat16Runs, poll, floor, nil); err != nil {
		return err
	}

	// Throughput of repeated no-op calls at concurrency 16.
	if err := b.throughput(c, noop); err != nil {
		return err
	}
	if b.rep.Memory.HooksHookLoad, err = readMemory(c.pid()); err != nil {
		return err
	}

	// The API server's own request counts per call, batch by batch.
	if _, err := b.fx.clusters(ctx, ns, "counted", o.countRuns); err != nil {
		return err
	}
	newCounted := func(i int) error {
		return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, fmt.Sprintf("counted-%d", i))))(-1)
	}
	for _, batch := range []struct {
		name string
		do   func(int) error
	}{{callDiscovery, disc}, {callACPINew, newCounted}, {callACPINoOp, noop}, {callBCU, upgrade}, {callBCDPoll, poll}} {
		counts, err := b.countMetrics(ctx, o.countRuns, batch.do)
		if err != nil {
			return err
		}
		a := b.apiRequests(batch.name)
		a.Metrics, a.MetricsCalls = counts, o.countRuns
		for _, v := range counts {
			a.MetricsTotal += v
		}
	}
	return nil
}

// checked turns a hook answer into an error unless it is a Success with the
// expected retry (any retry when wantRetry < 0).
func checked(a hookAnswer, err error) func(wantRetry int32) error {
	return func(wantRetry int32) error {
		if err != nil {
			return err
		}
		return expect(a, wantRetry)
	}
}

// latency measures n calls at concurrency conc. At concurrency 1 with a
// floor, each call is preceded by a floor GET, and the ratio is to those;
// with a replay, each call is also followed by the replay of its API reads,
// recorded as a latency of its own, so that the three share one time window.
func (b *bench) latency(name string, conc, n int, do func(int) error, floor, replay func() error) error {
	l := Latency{Name: name, Concurrency: conc}
	if conc == 1 && floor != nil {
		var hooks, gets, replays []time.Duration
		for i := range n {
			t0 := time.Now()
			if err := floor(); err != nil {
				return err
			}
			t1 := time.Now()
			if err := do(i); err != nil {
				return fmt.Errorf("%s call %d: %w", name, i, err)
			}
			t2 := time.Now()
			if replay != nil {
				if err := replay(); err != nil {
					return fmt.Errorf("replaying the API reads of %s: %w", name, err)
				}
				replays = append(replays, time.Since(t2))
			}
			hooks, gets = append(hooks, t2.Sub(t1)), append(gets, t1.Sub(t0))
		}
		l.Stats, l.Floor = summarize(hooks), summarize(gets)
		b.rep.floorC1 = append(b.rep.floorC1, gets...)
		b.rep.Floor["c1"] = summarize(b.rep.floorC1)
		if replay != nil {
			rl := Latency{Name: replayName(name), Concurrency: 1, Stats: summarize(replays), Floor: l.Floor}
			rl.RatioMedian, rl.RatioP99 = ratio(rl.Stats.Median, rl.Floor.Median), ratio(rl.Stats.P99, rl.Floor.P99)
			defer func() { b.rep.Latency = append(b.rep.Latency, rl) }()
		}
	} else {
		lat, _, err := load(n, conc, do)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		l.Stats = summarize(lat)
		if floor != nil && conc == 16 {
			l.Floor = b.rep.Floor["c16"]
		}
	}
	l.RatioMedian, l.RatioP99 = ratio(l.Stats.Median, l.Floor.Median), ratio(l.Stats.P99, l.Floor.P99)
	b.rep.Latency = append(b.rep.Latency, l)
	logf("  %-48s c%-2d median %7.3f ms  p99 %7.3f ms  x floor %.2f", name, conc, l.Stats.Median, l.Stats.P99, l.RatioMedian)
	return nil
}

// replay returns what makes the API reads of a call again, in the same
// parallel rounds, as the counting proxy saw them (the namespace of the
// counted calls swapped for ns), with the administrator's HTTP client, each
// answer read and decoded into a map. It is the least the call's request
// pattern costs without the function. Calls that write have no replay.
func (b *bench) replay(call, ns string) (func() error, error) {
	a, ok := b.rep.requests(call)
	if !ok || len(a.Waterfall) == 0 {
		return nil, fmt.Errorf("no counted requests of %s to replay", call)
	}
	var urls [][]string
	for _, rd := range splitRounds(a.Waterfall) {
		var round []string
		for _, q := range rd.requests {
			if q.Method != http.MethodGet {
				return nil, nil
			}
			u := strings.TrimSuffix(b.env.Config.Host, "/") + strings.Replace(q.rawPath, "/namespaces/"+countedNamespace+"/", "/namespaces/"+ns+"/", 1)
			if q.rawQuery != "" {
				u += "?" + q.rawQuery
			}
			round = append(round, u)
		}
		urls = append(urls, round)
	}
	httpClient, err := adminHTTPClient(b.env)
	if err != nil {
		return nil, err
	}
	get := func(ctx context.Context, u string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil
	}
	return func() error {
		for _, round := range urls {
			g, gctx := errgroup.WithContext(context.Background())
			for _, u := range round {
				g.Go(func() error { return get(gctx, u) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// throughput runs repeated calls at concurrency 16 and compares the CPU
// the function and the API server (with etcd) spent.
func (b *bench) throughput(fn *child, do func(int) error) error {
	pids := map[string]int{"konnector-hooks": fn.pid(), "kube-apiserver": b.apiserverPID, "etcd": b.etcdPID, "harness (load generator)": os.Getpid()}
	before := map[string]float64{}
	for k, pid := range pids {
		before[k] = cpuSeconds(pid)
	}
	busy0 := machineBusySeconds()
	calls, wall, err := loadFor(b.o.throughputFor, 1_000_000, 16, func() error { return do(0) })
	if err != nil {
		return err
	}
	busy := machineBusySeconds() - busy0
	t := Throughput{Hook: callACPINoOp, Concurrency: 16, Calls: calls, Seconds: wall.Seconds(), PerSecond: float64(calls) / wall.Seconds(),
		CPUSeconds: map[string]float64{}, CPUPerCallMs: map[string]float64{}}
	sum := 0.0
	for k, pid := range pids {
		t.CPUSeconds[k] = cpuSeconds(pid) - before[k]
		t.CPUPerCallMs[k] = 1000 * t.CPUSeconds[k] / float64(calls)
		sum += t.CPUSeconds[k]
	}
	t.CPUSeconds["other processes"] = max(0, busy-sum)
	t.CPUPerCallMs["other processes"] = 1000 * t.CPUSeconds["other processes"] / float64(calls)
	cores := float64(b.rep.Machine.Cores)
	used := busy / wall.Seconds()
	fnCPU, apiCPU := t.CPUSeconds["konnector-hooks"], t.CPUSeconds["kube-apiserver"]+t.CPUSeconds["etcd"]
	switch {
	case used < 0.85*cores:
		t.Bottleneck = "neither saturates the CPU: latency-bound"
	case apiCPU > fnCPU:
		t.Bottleneck = "the API server (kube-apiserver + etcd)"
	default:
		t.Bottleneck = "the function"
	}
	t.Explanation = fmt.Sprintf("The machine was %.0f%% busy (%.2f of %.0f cores) during the run. Per call, the function used %.3f ms of CPU and the API server %.3f ms (kube-apiserver %.3f, etcd %.3f), the load generator %.3f ms: the API server side costs %.1fx the function's CPU.",
		100*used/cores, used, cores, t.CPUPerCallMs["konnector-hooks"], t.CPUPerCallMs["kube-apiserver"]+t.CPUPerCallMs["etcd"],
		t.CPUPerCallMs["kube-apiserver"], t.CPUPerCallMs["etcd"], t.CPUPerCallMs["harness (load generator)"], ratio(apiCPU, fnCPU))
	b.rep.Throughput = t
	logf("  throughput %.0f calls/s; bottleneck: %s", t.PerSecond, t.Bottleneck)
	return nil
}

// countMetrics runs n calls at concurrency 1 between two reads of the API
// server's request counters.
func (b *bench) countMetrics(ctx context.Context, n int, do func(int) error) (map[string]float64, error) {
	httpClient, err := adminHTTPClient(b.env)
	if err != nil {
		return nil, err
	}
	before, err := scrapeRequests(ctx, httpClient, b.env.Config)
	if err != nil {
		return nil, err
	}
	if _, _, err := load(n, 1, do); err != nil {
		return nil, err
	}
	after, err := scrapeRequests(ctx, httpClient, b.env.Config)
	if err != nil {
		return nil, err
	}
	return after.since(before, n), nil
}

func (b *bench) apiRequests(name string) *APIRequests {
	for i := range b.rep.APIRequests {
		if b.rep.APIRequests[i].Name == name {
			return &b.rep.APIRequests[i]
		}
	}
	b.rep.APIRequests = append(b.rep.APIRequests, APIRequests{Name: name})
	return &b.rep.APIRequests[len(b.rep.APIRequests)-1]
}

// countedNamespace holds the clusters of the counted calls.
const countedNamespace = "counted"

// countRequests runs a second product process whose kubeconfig points at
// the counting proxy, and records every API request of each call.
func (b *bench) countRequests(ctx context.Context) error {
	proxy, err := startCountingProxy(b.env.Config)
	if err != nil {
		return err
	}
	defer proxy.close()
	kubeconfig := filepath.Join(b.dir, "kubeconfig-counted")
	if err := proxy.writeKubeconfig(kubeconfig); err != nil {
		return err
	}
	s := server{name: "konnector-hooks (counted)", binary: b.o.hooks, env: []string{"KUBECONFIG=" + kubeconfig}}
	c, base, err := s.startAndWait(b.discovery)
	if err != nil {
		return err
	}
	defer c.stop()
	h := newCaller(base, nil)
	const ns = countedNamespace
	if err := b.fx.namespace(ctx, ns); err != nil {
		return err
	}
	calls := max(3, min(9, b.o.countRuns))
	if _, err := b.fx.clusters(ctx, ns, "new", calls); err != nil {
		return err
	}
	if _, err := b.fx.cluster(ctx, ns, "deployed"); err != nil {
		return err
	}
	type call struct {
		name, path, cluster string
		body                func(i int) []byte
		retry               int32
		setup               func() error
	}
	cases := []call{
		{name: callDiscovery, path: pathDiscovery, body: func(int) []byte { return b.discovery }, retry: -1},
		{name: callACPINew, path: pathACPI, body: func(i int) []byte { return b.fx.request(acpiTemplate, ns, fmt.Sprintf("new-%d", i)) }, retry: -1},
		{name: callACPINoOp, path: pathACPI, cluster: "deployed", body: func(int) []byte { return b.fx.request(acpiTemplate, ns, "deployed") }, retry: -1,
			setup: func() error { return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, "deployed")))(-1) }},
		{name: callBCU, path: pathBCU, cluster: "deployed", body: func(int) []byte { return b.fx.request(bcuTemplate, ns, "deployed") }, retry: 0},
		{name: callBCDPoll, path: pathBCD, cluster: "deleting", body: func(int) []byte { return b.fx.request(bcdTemplate, ns, "deleting") }, retry: 5,
			setup: func() error { return b.fx.deletingCluster(ctx, h, ns, "deleting") }},
	}
	for _, cs := range cases {
		if cs.setup != nil {
			if err := cs.setup(); err != nil {
				return err
			}
		}
		a := b.apiRequests(cs.name)
		a.PerCallMin = -1
		var all [][]apiRequest
		for i := range calls {
			proxy.reset()
			if err := checked(h.post(cs.path, cs.body(i)))(cs.retry); err != nil {
				return fmt.Errorf("%s through the counting proxy: %w", cs.name, err)
			}
			time.Sleep(5 * time.Millisecond) // the proxy records a request after relaying its answer
			reqs := proxy.take()
			cluster := cs.cluster
			if cluster == "" {
				cluster = fmt.Sprintf("new-%d", i)
			}
			for j := range reqs {
				if isDiscoveryPath(reqs[j].Path) {
					a.Discovery++
				}
				reqs[j].Path = genericPath(reqs[j].Path, ns, cluster)
			}
			slices.SortFunc(reqs, func(x, y apiRequest) int { return cmp.Compare(x.StartMs, y.StartMs) })
			if a.PerCallMin < 0 || len(reqs) < a.PerCallMin {
				a.PerCallMin = len(reqs)
			}
			a.PerCallMax = max(a.PerCallMax, len(reqs))
			a.Calls = i + 1
			if cs.name == callACPINew && i == 0 {
				a.FirstCall = reqs // the process's first hook call
				continue
			}
			all = append(all, reqs)
		}
		// Show the call of median length: single calls vary with the load.
		slices.SortFunc(all, func(x, y []apiRequest) int { return cmp.Compare(span(x), span(y)) })
		med := all[len(all)/2]
		a.Waterfall, a.Rounds = med, rounds(med)
		a.ByRequest = map[string]int{}
		for _, q := range med {
			a.ByRequest[q.Method+" "+q.Path]++
		}
	}
	return nil
}

// profile runs hooksprobe as the product with a CPU profile over the hook
// loads, and keeps pprof's top lists.
func (b *bench) profile(ctx context.Context) error {
	profile := filepath.Join(b.dir, "hooks.cpu.pprof")
	heap := filepath.Join(b.dir, "hooks.heap.pprof")
	c, base, err := b.probe.startAndWait(b.discovery, "BENCH_CPUPROFILE="+profile, "BENCH_HEAPPROFILE="+heap)
	if err != nil {
		return err
	}
	h := newCaller(base, nil)
	const ns = "profiled"
	if err := b.fx.namespace(ctx, ns); err != nil {
		c.stop()
		return err
	}
	n := max(20, b.o.latRuns/3)
	if _, err := b.fx.clusters(ctx, ns, "new", n); err != nil {
		c.stop()
		return err
	}
	if _, err := b.fx.cluster(ctx, ns, "deployed"); err != nil {
		c.stop()
		return err
	}
	noop := func(int) error { return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, "deployed")))(-1) }
	steps := []func() error{
		func() error {
			_, _, err := load(n, 1, func(i int) error {
				return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, fmt.Sprintf("new-%d", i))))(-1)
			})
			return err
		},
		func() error {
			_, _, err := loadFor(b.o.throughputFor/2, 1_000_000, 16, func() error { return noop(0) })
			return err
		},
		func() error { return b.fx.deletingCluster(ctx, h, ns, "deleting") },
		func() error {
			body := b.fx.request(bcdTemplate, ns, "deleting")
			_, _, err := load(n, 1, func(int) error { return checked(h.post(pathBCD, body))(5) })
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			c.stop()
			return err
		}
	}
	c.stop()
	flat, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", b.o.probe, profile).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, flat)
	}
	cum, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", b.o.probe, profile).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, cum)
	}
	traces, err := exec.Command("go", "tool", "pprof", "-traces", b.o.probe, profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -traces: %v", err)
	}
	allocs, err := exec.Command("go", "tool", "pprof", "-sample_index=alloc_space", "-top", "-cum", "-nodecount=30", b.o.probe, heap).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof (heap): %v: %s", err, allocs)
	}
	text := filepath.Join(b.o.out, "profile-hooks.txt")
	all := strings.Join([]string{string(flat), string(cum), "Allocations (alloc_space, cumulative) over the whole run:\n" + string(allocs)}, "\n")
	if err := os.WriteFile(text, []byte(all), 0o644); err != nil {
		return err
	}
	b.rep.Profile = &Profile{File: "bench/profile-hooks.txt", Flat: pprofLines(string(flat)), Cum: pprofLines(string(cum)),
		Allocs: pprofLines(string(allocs)), Categories: categorize(parseTraces(string(traces)))}
	return nil
}

// pprofLines keeps the table of `go tool pprof -top` output.
func pprofLines(out string) []string {
	var lines []string
	table := false
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "flat%") {
			table = true
		}
		if table && strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// experiment measures the product's peak memory under the same hook load
// with Go's default GC settings, a more frequent GC and a soft memory limit.
func (b *bench) experiment(ctx context.Context) error {
	const ns = "experiment"
	if err := b.fx.namespace(ctx, ns); err != nil {
		return err
	}
	e := &Experiments{}
	for _, setting := range memorySettings {
		me, err := b.memoryExperiment(ctx, ns, setting)
		if err != nil {
			return err
		}
		e.Memory = append(e.Memory, me)
		logf("  memory with %s: VmHWM %.1f MiB, %.3f ms CPU per call", me.Setting, me.Memory.PeakMiB(), me.CPUPerCallMs)
	}
	b.rep.Experiments = e
	return nil
}

// memorySettings are the Go runtime settings tried in the memory
// experiment: the defaults, a more frequent GC, and a soft memory limit.
var memorySettings = []string{"", "GOGC=50", "GOMEMLIMIT=16MiB"}

// memoryExperiment runs the product under a fixed hook load at concurrency
// 16 (new clusters, repeated no-op calls, pending polls) and reads its peak
// RSS, with the given extra environment setting.
func (b *bench) memoryExperiment(ctx context.Context, ns, setting string) (MemoryExperiment, error) {
	me := MemoryExperiment{Setting: setting}
	var env []string
	if setting == "" {
		me.Setting = "Go defaults (GOGC=100, no memory limit)"
	} else {
		env = append(env, setting)
	}
	c, base, err := b.hooks.startAndWait(b.discovery, env...)
	if err != nil {
		return me, err
	}
	defer c.stop()
	h := newCaller(base, nil)
	tag := "mem-default"
	if setting != "" {
		tag = "mem-" + strings.ToLower(strings.NewReplacer("=", "-").Replace(setting))
	}
	n := max(32, b.o.lat16Runs/2)
	if _, err := b.fx.clusters(ctx, ns, tag, n); err != nil {
		return me, err
	}
	if _, err := b.fx.cluster(ctx, ns, tag+"-deployed"); err != nil {
		return me, err
	}
	if err := b.fx.deletingCluster(ctx, h, ns, tag+"-deleting"); err != nil {
		return me, err
	}
	noop := b.fx.request(acpiTemplate, ns, tag+"-deployed")
	poll := b.fx.request(bcdTemplate, ns, tag+"-deleting")
	cpu0 := cpuSeconds(c.pid())
	calls := 0
	_, _, err = load(n, 16, func(i int) error {
		return checked(h.post(pathACPI, b.fx.request(acpiTemplate, ns, fmt.Sprintf("%s-%d", tag, i))))(-1)
	})
	if err != nil {
		return me, err
	}
	calls += n
	k, _, err := loadFor(b.o.throughputFor/3, 1_000_000, 16, func() error { return checked(h.post(pathACPI, noop))(-1) })
	if err != nil {
		return me, err
	}
	calls += k
	if _, _, err = load(n, 16, func(int) error { return checked(h.post(pathBCD, poll))(5) }); err != nil {
		return me, err
	}
	calls += n
	me.CPUPerCallMs = 1000 * (cpuSeconds(c.pid()) - cpu0) / float64(calls)
	me.Memory, err = readMemory(c.pid())
	return me, err
}

// peerWarm measures the peer's discovery latency and memory.
func (b *bench) peerWarm(context.Context) error {
	if b.peer == nil {
		return nil
	}
	c, base, err := b.peer.startAndWait(b.discovery)
	if err != nil {
		b.rep.Peer.Error = err.Error()
		return nil
	}
	defer c.stop()
	time.Sleep(500 * time.Millisecond)
	if b.rep.Memory.PeerIdle, err = readMemory(c.pid()); err != nil {
		return err
	}
	h := newCaller(base, b.peer.roots)
	disc := func(int) error { return checked(h.post(pathDiscovery, b.discovery))(-1) }
	if _, _, err := load(20, 1, disc); err != nil {
		return err
	}
	for _, conc := range []int{1, 16} {
		n := map[int]int{1: b.o.latRuns, 16: b.o.lat16Runs}[conc]
		lat, _, err := load(n, conc, disc)
		if err != nil {
			return fmt.Errorf("peer discovery: %w", err)
		}
		b.rep.Peer.Discovery[fmt.Sprintf("c%d", conc)] = summarize(lat)
	}
	if b.rep.Memory.PeerDiscoveryLoad, err = readMemory(c.pid()); err != nil {
		return err
	}
	return nil
}
