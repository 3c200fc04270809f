package main

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

func adminHTTPClient(env *managementcluster.Env) (*http.Client, error) {
	return rest.HTTPClientFor(env.Config)
}

// analyze checks the budgets and writes the diagnosis.
func analyze(r *Report) {
	budget := func(name, goal, measured string, pass bool) {
		r.Budgets = append(r.Budgets, Budget{Name: name, Goal: goal, Measured: measured, Pass: pass})
	}
	ours, okOurs := r.cold("konnector-hooks → discovery")
	trivial, okTrivial := r.cold("trivial → discovery")
	if okOurs && okTrivial {
		x := ratio(ours.Stats.Median, trivial.Stats.Median)
		budget("cold start to first discovery answer vs trivial server", "median <= 1.5x",
			fmt.Sprintf("%.1f ms vs %.1f ms = %.2fx", ours.Stats.Median, trivial.Stats.Median, x), x <= 1.5)
	}
	if peer, ok := r.cold("peer → discovery"); ok && okOurs {
		x := ratio(peer.Stats.Median, ours.Stats.Median)
		r.Peer.Ratios["coldStartMedian"] = x
		r.Peer.Ratios["coldStartP99"] = ratio(peer.Stats.P99, ours.Stats.P99)
		budget("cold start to first discovery answer vs the peer", "at least 2x faster",
			fmt.Sprintf("%.1f ms vs peer %.1f ms = %.2fx faster", ours.Stats.Median, peer.Stats.Median, x), x >= 2)
	} else if !r.Peer.Built {
		budget("cold start to first discovery answer vs the peer", "at least 2x faster", "peer not measured: "+r.Peer.Error, false)
	}
	for _, c := range []struct {
		name string
		max  float64
	}{{callACPINew, 3}, {callACPINoOp, 2}, {callBCDPoll, 2}} {
		if l, ok := r.latency(c.name, 1); ok {
			budget(c.name+" latency vs plain GET (c1)", fmt.Sprintf("median <= %.0fx", c.max),
				fmt.Sprintf("%.2f ms vs %.2f ms = %.2fx (p99 %.2fx)", l.Stats.Median, l.Floor.Median, l.RatioMedian, l.RatioP99), l.RatioMedian <= c.max)
		}
	}
	discovery := 0
	for _, a := range r.APIRequests {
		discovery += a.Discovery
	}
	budget("discovery requests (GET /api, /apis, /openapi) per call", "0", fmt.Sprintf("%d over all counted calls", discovery), discovery == 0)
	for _, name := range []string{callACPINew, callACPINoOp} {
		if a, ok := r.requests(name); ok {
			budget(name+" API requests", "<= 5", fmt.Sprintf("%d per call (API server metrics: %.2f)", a.PerCallMax, a.MetricsTotal), a.PerCallMax <= 5)
		}
	}
	for _, c := range []struct {
		name   string
		rounds int
		why    string
	}{{callACPINoOp, 1, "one round for a no-op"}, {callACPINew, 2, "a new cluster in at most 2 rounds (the Event with the applies)"}} {
		if a, ok := r.requests(c.name); ok {
			budget(c.name+" sequential rounds: "+c.why, fmt.Sprintf("<= %d", c.rounds), fmt.Sprintf("%d (%s)", a.Rounds, describeRounds(a.Waterfall)), a.Rounds <= c.rounds)
		}
	}
	if m := r.Memory.HooksHookLoad; m.PeakKiB > 0 {
		budget("peak RSS under concurrency-16 load", "<= 64 MiB (the Knative Service's memory request)", fmt.Sprintf("%.1f MiB", m.PeakMiB()), m.PeakMiB() <= 64)
	}
	syncBudgets(r, budget)
	if r.Peer.Built {
		for _, k := range []string{"c1", "c16"} {
			if l, ok := r.latency(callDiscovery, map[string]int{"c1": 1, "c16": 16}[k]); ok {
				r.Peer.Ratios["discovery"+k] = ratio(r.Peer.Discovery[k].Median, l.Stats.Median)
			}
		}
		r.Peer.Ratios["rssIdle"] = ratio(r.Memory.PeerIdle.PeakMiB(), r.Memory.HooksIdle.PeakMiB())
		r.Peer.Ratios["rssDiscoveryLoad"] = ratio(r.Memory.PeerDiscoveryLoad.PeakMiB(), r.Memory.HooksDiscoveryLoad.PeakMiB())
		r.Peer.Ratios["binarySize"] = ratio(sizeOf(r, "peer"), sizeOf(r, "konnector-hooks"))
	}
	diagnose(r)
}

// round is one set of API requests a call made in parallel.
type round struct {
	requests []apiRequest
	longest  float64
}

// splitRounds groups a call's requests into its sequential rounds.
func splitRounds(reqs []apiRequest) []round {
	sorted := slices.Clone(reqs)
	slices.SortFunc(sorted, func(a, b apiRequest) int { return cmp.Compare(a.StartMs, b.StartMs) })
	var out []round
	end := -1.0
	for _, q := range sorted {
		if q.StartMs >= end {
			out = append(out, round{})
		}
		cur := &out[len(out)-1]
		cur.requests = append(cur.requests, q)
		cur.longest = max(cur.longest, q.DurationMs)
		end = max(end, q.StartMs+q.DurationMs)
	}
	return out
}

// describeRounds reads a waterfall as text: "1) GET clusters, GET secrets
// (longest 1.2 ms); 2) ...".
func describeRounds(reqs []apiRequest) string {
	var parts []string
	for i, rd := range splitRounds(reqs) {
		var names []string
		for _, q := range rd.requests {
			names = append(names, q.Method+" "+resourceOf(q.Path))
		}
		parts = append(parts, fmt.Sprintf("(%d) %s, longest %.2f ms", i+1, strings.Join(names, " + "), rd.longest))
	}
	return strings.Join(parts, "; ")
}

// resourceOf names the resource and object of an API path, for prose.
func resourceOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if s == "namespaces" && i+2 < len(segs) {
			return strings.Join(segs[i+2:], "/")
		}
	}
	return path
}

func (r *Report) initTrace(name string) (InitTrace, bool) {
	for _, it := range r.InitTrace {
		if it.Name == name {
			return it, true
		}
	}
	return InitTrace{}, false
}

func (r *Report) binary(name string) Binary {
	for _, b := range r.Binaries {
		if b.Name == name {
			return b
		}
	}
	return Binary{}
}

// diagnose explains, with this run's figures, why budgets are missed and
// what each recommended change is measured or estimated to bring.
func diagnose(r *Report) {
	say := func(format string, args ...any) { r.Diagnosis = append(r.Diagnosis, fmt.Sprintf(format, args...)) }
	ours, _ := r.cold("konnector-hooks → discovery")
	trivial, _ := r.cold("trivial → discovery")
	noCAAPH, haveNoCAAPH := r.cold(expNoCAAPH + " → discovery")
	restOnly, haveRESTOnly := r.cold(expRESTOnly + " → discovery")
	acpiCold, _ := r.cold("konnector-hooks → AfterControlPlaneInitialized (new cluster)")
	hooksInit, _ := r.initTrace("konnector-hooks")
	trivialInit, _ := r.initTrace("trivial")
	hb := r.binary("konnector-hooks")

	// Cold start.
	if ours.Stats.N > 0 {
		var top []string
		for _, p := range hooksInit.Top[:min(6, len(hooksInit.Top))] {
			top = append(top, fmt.Sprintf("%s %.2f ms", p.Package, p.ClockMs))
		}
		say("**Cold start.** konnector-hooks answers discovery %.1f ms after exec (median), the trivial server %.1f ms (%.2fx). "+
			"Almost all of it passes before main: under inittrace main starts %.1f ms after the process (trivial: %.1f ms), and %d packages run init work summing to %.1f ms of clock (trivial: %d packages, %.2f ms). "+
			"The rest of the time before main is the runtime's own start and the page faults of a %.1f MiB binary (%d packages linked). "+
			"Init allocates %.1f MiB, so the garbage collector runs during init already, and the package it lands in looks expensive. The most expensive inits: %s.",
			ours.Stats.Median, trivial.Stats.Median, ratio(ours.Stats.Median, trivial.Stats.Median),
			hooksInit.Median.MainAtMs, trivialInit.Median.MainAtMs, hooksInit.Median.Packages, hooksInit.Median.ClockMs, trivialInit.Median.Packages, trivialInit.Median.ClockMs,
			hb.SizeMiB, hb.Packages, float64(hooksInit.Median.Bytes)/(1<<20), strings.Join(top, ", "))
		if haveNoCAAPH && haveRESTOnly {
			nb, rb := r.binary(expNoCAAPH), r.binary(expRESTOnly)
			ni, _ := r.initTrace(expNoCAAPH)
			ri, _ := r.initTrace(expRESTOnly)
			say("**What the imports cost at start.** Two experiment binaries link part of what the function links and answer discovery with a fixed body. "+
				"*nocaaph* links every library package the function imports except `sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1`, which the function needs only for the HelmChartProxy and HelmReleaseProxy types but which also holds CAAPH's webhooks and so imports all of controller-runtime (manager, informers, leader election, webhook and metrics servers, Prometheus: the `controller-runtime/pkg/metrics` and `internal/controller/metrics` inits above): "+
				"%d packages instead of %d, %.1f MiB, init %.1f ms, cold start **%.1f ms** (%.2fx the trivial server). "+
				"*restonly* links client-go's REST client, clientcmd, core/v1, unstructured, functions-framework, envconfig and the YAML library, but no controller-runtime and no CAPI or CAAPH API package, so not client-go's scheme of every built-in API group either: "+
				"%d packages, %.1f MiB, init %.1f ms, cold start **%.1f ms** (%.2fx the trivial server). "+
				"Dropping CAAPH's API package is worth %.1f ms; building on client-go's REST client with small local types for the hook messages and the CAPI/CAAPH objects would be worth %.1f ms.",
				nb.Packages, hb.Packages, nb.SizeMiB, ni.Median.ClockMs, noCAAPH.Stats.Median, ratio(noCAAPH.Stats.Median, trivial.Stats.Median),
				rb.Packages, rb.SizeMiB, ri.Median.ClockMs, restOnly.Stats.Median, ratio(restOnly.Stats.Median, trivial.Stats.Median),
				ours.Stats.Median-noCAAPH.Stats.Median, ours.Stats.Median-restOnly.Stats.Median)
		}
		if peer, ok := r.cold("peer → discovery"); ok {
			pi, _ := r.initTrace("peer")
			pb := r.binary("peer")
			var alt []string
			if haveNoCAAPH {
				alt = append(alt, fmt.Sprintf("%.1fx without CAAPH's API package", ratio(peer.Stats.Median, noCAAPH.Stats.Median)))
			}
			if haveRESTOnly {
				alt = append(alt, fmt.Sprintf("%.1fx on client-go's REST client alone", ratio(peer.Stats.Median, restOnly.Stats.Median)))
			}
			say("**Against the peer.** CAPI's test extension answers its first discovery call %.1f ms after exec (median): main starts at %.1f ms (init %.1f ms over %d packages, %d linked, %.1f MiB binary), then it builds a controller-runtime manager and starts its HTTPS webhook server. "+
				"Both are conventional Go programs whose start is dominated by what they link, so ours is only %.2fx faster: it links %d packages to the peer's %d. The experiments put ours at %s.",
				peer.Stats.Median, pi.Median.MainAtMs, pi.Median.ClockMs, pi.Median.Packages, pb.Packages, pb.SizeMiB,
				ratio(peer.Stats.Median, ours.Stats.Median), hb.Packages, pb.Packages, strings.Join(alt, " and "))
		}
		if acpiCold.Stats.N > 0 {
			acpi, _ := r.latency(callACPINew, 1)
			var setup string
			if a, ok := r.requests(callACPINew); ok && len(a.FirstCall) > 0 && len(a.Waterfall) > 0 {
				first, later := splitRounds(a.FirstCall)[0].requests[0].StartMs, splitRounds(a.Waterfall)[0].requests[0].StartMs
				setup = fmt.Sprintf(" Through the counting proxy (plain HTTP, so without the TLS handshake), the first call of a process makes its first API request %.2f ms after the call arrives, later calls after %.2f ms: %.2f ms of it is loading the kubeconfig and building the transport and clients; the rest of the first-call penalty is the TLS handshake and HTTP/2 set-up with the API server and cold caches (JSON type caches, first allocations of the heap).",
					first, later, first-later)
			}
			say("**First hook call after a cold start.** exec to the first Success of AfterControlPlaneInitialized for a new cluster takes %.1f ms (median), %.1f ms more than to the first discovery answer, "+
				"where a warm call for a new cluster takes %.1f ms: the first call of a process costs %.1f ms more than a warm one.%s "+
				"Opening the connection in the background right after Setup would overlap this with Knative's hand-off of the first request; how much that saves depends on Knative's timing and is not measured here.",
				acpiCold.Stats.Median, acpiCold.Stats.Median-ours.Stats.Median, acpi.Stats.Median, acpiCold.Stats.Median-ours.Stats.Median-acpi.Stats.Median, setup)
		}
	}

	// Latency, by the rounds of API requests.
	discoveryC1, _ := r.latency(callDiscovery, 1)
	for _, name := range []string{callACPINew, callACPINoOp, callBCDPoll} {
		l, ok := r.latency(name, 1)
		a, okA := r.requests(name)
		if !ok || !okA {
			continue
		}
		var alone string
		if p, ok := r.latency(replayName(name), 1); ok {
			alone = fmt.Sprintf(" The same reads in the same rounds, replayed by the harness right after each call (decoded into maps, not typed objects), take %.2f ms (%.2fx the floor): the least this request pattern costs; the function adds %.2f ms (%.0f%% of the call) for its HTTP hop (discovery, which makes no API request, answers in %.2f ms), decoding and validating the call, typed decoding, comparing and computing objects, and encoding and logging the answer.",
				p.Stats.Median, p.RatioMedian, l.Stats.Median-p.Stats.Median, 100*ratio(l.Stats.Median-p.Stats.Median, l.Stats.Median), discoveryC1.Stats.Median)
		}
		say("**%s: %.2f ms, %.2fx the floor (%.2f ms).** %d API requests in %d sequential rounds (the median call through the counting proxy): %s. "+
			"Each round costs at least one API round trip, about the floor, and the requests of a round slow each other down on 2 cores.%s",
			name, l.Stats.Median, l.RatioMedian, l.Floor.Median, a.PerCallMax, a.Rounds, describeRounds(a.Waterfall), alone)
	}
	if a, ok := r.requests(callACPINew); ok {
		var apply, get []float64
		for _, q := range a.Waterfall {
			switch q.Method {
			case "PATCH":
				apply = append(apply, q.DurationMs)
			case "GET":
				get = append(get, q.DurationMs)
			}
		}
		rds := splitRounds(a.Waterfall)
		if len(apply) > 0 && len(get) > 0 && len(rds) > 0 {
			slices.Sort(apply)
			slices.Sort(get)
			l, _ := r.latency(callACPINew, 1)
			best := l.Stats.Median
			if last := rds[len(rds)-1]; len(rds) > 2 && len(last.requests) == 1 && last.requests[0].Method == "POST" {
				best -= last.longest
			}
			say("**Why a new cluster is far from 3x the floor.** Its three server-side applies run in parallel and take %.2f ms (median of the three, through the proxy) against %.2f ms for its GETs: the API server merges each apply against the object's schema, records managed fields and writes to etcd. "+
				"At best the call is 2 rounds, its reads and then its writes with the Event alongside the applies: about %.1f ms (%.1fx the floor) at this API server's speed. 3x the floor (%.1f ms) is out of reach while the hook writes three objects with server-side apply; the budget would fit a first call that only reads.",
				median(apply), median(get), best, ratio(best, l.Floor.Median), 3*l.Floor.Median)
		}
		var gets, writes int
		for _, q := range a.Waterfall {
			if q.Method == "GET" {
				gets++
			} else {
				writes++
			}
		}
		if a.PerCallMax > 5 {
			noop, _ := r.requests(callACPINoOp)
			say("**API requests of AfterControlPlaneInitialized for a new cluster: %d** (the repeated call: %d): %d reads (the Cluster, the credentials Secret, and the three objects it owns, to compare) and %d writes (three server-side applies and one Event). "+
				"While the hook writes three objects and an Event, a first call needs at least 6 requests (Cluster, credentials, 3 applies, Event), reached only by applying without reading the objects first; "+
				"every repeated call would then make 3 server-side apply PATCHes instead of 3 GETs, which cost the API server more CPU. The budget of 5 can hold for the repeated call, not for the first.",
				a.PerCallMax, noop.PerCallMax, gets, writes)
		}
	}

	// Memory.
	m := r.Memory
	if m.HooksHookLoad.PeakKiB > 0 {
		var exp []string
		if r.Experiments != nil {
			for _, me := range r.Experiments.Memory {
				exp = append(exp, fmt.Sprintf("%s: peak %.1f MiB, %.3f ms of function CPU per call", me.Setting, me.Memory.PeakMiB(), me.CPUPerCallMs))
			}
		}
		var idle []string
		for _, name := range sortedKeys(m.ExperimentsIdle) {
			x := m.ExperimentsIdle[name]
			idle = append(idle, fmt.Sprintf("%s %.1f MiB (%.1f MiB file-backed)", name, x.PeakMiB(), kib(x.FileKiB)))
		}
		say("**Memory.** Peak RSS is %.1f MiB idle and %.1f MiB after the hook loads (budget 40 MiB). Idle, %.1f MiB of it is file-backed, pages of the %.1f MiB binary touched by the runtime and the package inits, and only %.1f MiB anonymous (heap, stacks). "+
			"Under load the anonymous part grows (%.1f MiB anonymous at the end of the load): 16 concurrent calls each decode their objects and encode their writes, and with GOGC=100 the heap grows to twice its live size before a collection. "+
			"Idle, the start-up experiments take: %s. Under one fixed concurrency-16 hook load: %s.",
			m.HooksIdle.PeakMiB(), m.HooksHookLoad.PeakMiB(), kib(m.HooksIdle.FileKiB), hb.SizeMiB, kib(m.HooksIdle.AnonKiB), kib(m.HooksHookLoad.AnonKiB),
			strings.Join(idle, "; "), strings.Join(exp, "; "))
	}

	// The pure code's share of each call.
	if desired, ok := r.micro(microDesired); ok {
		manifests, _ := r.micro(microManifests)
		asJSON, _ := r.micro(microJSON)
		upToDate, _ := r.micro(microUpToDate)
		var share string
		if r.Profile != nil {
			if p, ok := cumPercent(r.Profile.Allocs, "konnector.DesiredObjects"); ok {
				share = fmt.Sprintf(" In the heap profile over the hook loads, konnector.DesiredObjects accounts for %.0f%% of all bytes allocated, most of it in sigs.k8s.io/yaml.", p)
			}
		}
		say("**Computing the desired objects.** Every deploy call, no-op included, runs konnector.DesiredObjects: %.0f µs and %.0f KiB in %d allocations per call, of which the two workload manifests (Namespace and credentials Secret) rendered with sigs.k8s.io/yaml take %.0f µs and %.0f KiB. "+
			"sigs.k8s.io/yaml marshals to JSON, decodes that into YAML nodes and encodes them again; encoding/json alone takes %.0f µs and %.0f KiB for the same manifests. Comparing the three objects with kube.UpToDate (two unstructured conversions each) takes %.0f µs and %.0f KiB.%s "+
			"These allocations drive the garbage collector's work and the heap's growth under concurrency.",
			desired.MicrosPerOp, desired.KiBPerOp, desired.AllocsPerOp, manifests.MicrosPerOp, manifests.KiBPerOp,
			asJSON.MicrosPerOp, asJSON.KiBPerOp, upToDate.MicrosPerOp, upToDate.KiBPerOp, share)
	}

	// Throughput.
	if t := r.Throughput; t.Calls > 0 {
		say("**Throughput.** %.0f no-op AfterControlPlaneInitialized calls per second at concurrency 16; bottleneck: %s. %s", t.PerSecond, t.Bottleneck, t.Explanation)
	}

	// Where the function's CPU goes.
	if pr := r.Profile; pr != nil && len(pr.Categories) > 0 {
		var parts []string
		for _, c := range pr.Categories[:min(6, len(pr.Categories))] {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", c.Name, c.Percent))
		}
		say("**Where the function's CPU goes** (CPU profile over the hook loads): %s.", strings.Join(parts, ", "))
	}

	recommend(r)
}

// recommend lists the changes to the product, with the gain this run
// measured or estimates for each.
func recommend(r *Report) {
	var recs []string
	add := func(format string, args ...any) { recs = append(recs, fmt.Sprintf(format, args...)) }
	ours, _ := r.cold("konnector-hooks → discovery")
	hb := r.binary("konnector-hooks")
	if noCAAPH, ok := r.cold(expNoCAAPH + " → discovery"); ok {
		nb := r.binary(expNoCAAPH)
		add("Stop importing `sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1` from kube/, konnector/ and handlers/: declare the two CAAPH kinds the hooks use (HelmChartProxy with the spec fields the hooks write and read; HelmReleaseProxy, of which only metadata is listed and patched) as small local types with hand-written DeepCopyObject under addons.cluster.x-k8s.io/v1alpha1, or use unstructured.Unstructured. "+
			"Measured with the nocaaph experiment: cold start %.1f → %.1f ms, binary %.1f → %.1f MiB, %d → %d packages, idle RSS %.1f → %.1f MiB.",
			ours.Stats.Median, noCAAPH.Stats.Median, hb.SizeMiB, nb.SizeMiB, hb.Packages, nb.Packages, r.Memory.HooksIdle.PeakMiB(), r.Memory.ExperimentsIdle[expNoCAAPH].PeakMiB())
	}
	if restOnly, ok := r.cold(expRESTOnly + " → discovery"); ok {
		trivial, _ := r.cold("trivial → discovery")
		rb := r.binary(expRESTOnly)
		add("To come near the cold-start budget (1.5x the trivial server, %.1f ms here), go further: talk to the API server with client-go's REST client (`rest.RESTClientFor` per group version, JSON, no scheme of built-in types) instead of controller-runtime's client, and replace the CAPI API packages (hooks/v1alpha1, catalog, core/v1beta2, addons/v1beta2) with small local types for the few fields the hooks read and write. "+
			"Measured with the restonly experiment: cold start %.1f → %.1f ms (%.2fx the trivial server), binary %.1f MiB, %d packages, idle RSS %.1f MiB. This is a larger change; the rest of the design (one table of hooks, server-side apply, the API requests) stays.",
			1.5*trivial.Stats.Median, ours.Stats.Median, restOnly.Stats.Median, ratio(restOnly.Stats.Median, trivial.Stats.Median), rb.SizeMiB, rb.Packages, r.Memory.ExperimentsIdle[expRESTOnly].PeakMiB())
	}
	if a, ok := r.requests(callACPINoOp); ok && a.Rounds > 1 {
		rds := splitRounds(a.Waterfall)
		l, _ := r.latency(callACPINoOp, 1)
		add("addon/deploy.go: read the credentials Secret in the first round, in parallel with the Cluster and the three objects, under the default name (`KONNECTOR_DEFAULT_CREDENTIALS_SECRET`, which the documented examples use), and read it again by name only when the Cluster's variables name another Secret. "+
			"Repeated AfterControlPlaneInitialized and BeforeClusterUpgrade calls go from %d rounds to %d, about %.2f ms less (that round's time through the proxy) on today's %.2f ms (%.2fx the floor).",
			a.Rounds, a.Rounds-1, rds[len(rds)-1].longest, l.Stats.Median, l.RatioMedian)
	}
	if a, ok := r.requests(callACPINew); ok && a.Rounds >= 2 {
		rds := splitRounds(a.Waterfall)
		if last := rds[len(rds)-1]; len(last.requests) == 1 && last.requests[0].Method == "POST" && strings.HasSuffix(last.requests[0].Path, "/events") {
			add("addon/deploy.go: record the KonnectorAgentApplied Event in parallel with the applies instead of after them (its message follows from `stale`, known before writing; on a failed apply, record nothing or a correcting message). "+
				"AfterControlPlaneInitialized for a new cluster loses its last round: %d rounds instead of %d, about %.2f ms less.", a.Rounds-1, a.Rounds, last.longest)
		}
	}
	if noop, ok := r.latency(callACPINoOp, 1); ok && noop.RatioMedian > 2 {
		five, ok5 := r.latency(replayName(callACPINoOp), 1)
		three, ok3 := r.latency(replayName(callBCDPoll), 1)
		if a, ok := r.requests(callACPINoOp); ok && ok5 && ok3 && a.PerCallMax > 3 {
			est := noop.Stats.Median - five.Stats.Median + three.RatioMedian*five.Floor.Median
			add("Repeated deploy calls (the no-op budget, 2x the floor): their %d parallel reads alone take %.2fx the floor here, so the budget needs fewer reads as well as less time in the function. "+
				"One way: write a hash of the desired state of all three objects (credentials included) into an annotation of the HelmChartProxy when applying, and on a repeated call read only the Cluster, the credentials Secret and the HelmChartProxy; read and compare the ClusterResourceSet and its Secret only when the hash differs. "+
				"Three parallel reads take %.2fx the floor here (the pending poll's replay), so a repeated call would come to about %.2f ms (%.2fx) instead of %.2f ms (%.2fx); the rest of the gap is the function's own time per call (see the CPU profile). The price: a hand edit of the ClusterResourceSet or its Secret is no longer undone by BeforeClusterUpgrade unless the desired state changes.",
				a.PerCallMax, five.RatioMedian, three.RatioMedian, est, ratio(est, noop.Floor.Median), noop.Stats.Median, noop.RatioMedian)
		}
	}
	if manifests, ok := r.micro(microManifests); ok {
		asJSON, _ := r.micro(microJSON)
		desired, _ := r.micro(microDesired)
		if manifests.KiBPerOp > 2*asJSON.KiBPerOp {
			add("konnector/objects.go: render the resource-set manifests with encoding/json instead of sigs.k8s.io/yaml: CAPI's ClusterResourceSet controller reads a JSON list, JSON or YAML documents from the Secret (objsFromYamlData in internal/controllers/clusterresourceset). "+
				"Measured in process: %.0f → %.0f µs and %.0f → %.0f KiB per deploy call, of the %.0f µs and %.0f KiB that konnector.DesiredObjects costs. The resource-set Secret's bytes change once, so every cluster gets one re-apply after the upgrade.",
				manifests.MicrosPerOp, asJSON.MicrosPerOp, manifests.KiBPerOp, asJSON.KiBPerOp, desired.MicrosPerOp, desired.KiBPerOp)
		}
	}
	if r.Experiments != nil && len(r.Experiments.Memory) > 1 {
		var parts []string
		for _, me := range r.Experiments.Memory {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB at %.3f ms CPU per call", me.Setting, me.Memory.PeakMiB(), me.CPUPerCallMs))
		}
		var est string
		if ro, ok := r.Memory.ExperimentsIdle[expRESTOnly]; ok && r.Memory.HooksHookLoad.FileKiB > 0 {
			peak := r.Memory.HooksHookLoad.PeakKiB - (r.Memory.HooksHookLoad.FileKiB - ro.FileKiB)
			est = fmt.Sprintf(" With restonly's %.1f MiB of file-backed pages in place of today's %.1f MiB, today's peak of %.1f MiB would be about %.1f MiB.", kib(ro.FileKiB), kib(r.Memory.HooksHookLoad.FileKiB), r.Memory.HooksHookLoad.PeakMiB(), kib(peak))
		}
		add("Memory: the runtime settings alone do not bring the peak under 40 MiB at an acceptable CPU cost (%s), because most of the RSS is the binary's file-backed pages, outside any Go memory limit. Shrink what the binary links (the import changes above) first; then a GOMEMLIMIT a little above the live heap in the Knative Service's container env trims the anonymous peak.%s",
			strings.Join(parts, "; "), est)
	}
	if len(recs) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("**Recommended changes to the product** (the benchmark changes none):\n")
	for i, rec := range recs {
		fmt.Fprintf(&b, "\n%d. %s", i+1, rec)
	}
	r.Diagnosis = append(r.Diagnosis, b.String())
}

// maxLongest is the longest request of the given method in any round.
func maxLongest(rds []round, method string) float64 {
	longest := 0.0
	for _, rd := range rds {
		for _, q := range rd.requests {
			if q.Method == method {
				longest = max(longest, q.DurationMs)
			}
		}
	}
	return longest
}

func (r *Report) micro(name string) (MicroBench, bool) {
	for _, m := range r.Micro {
		if m.Name == name {
			return m, true
		}
	}
	return MicroBench{}, false
}

// cumPercent reads the cum%% column of the `go tool pprof -top` line of the
// first function whose name contains fn.
func cumPercent(lines []string, fn string) (float64, bool) {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.Contains(f[len(f)-1], fn) {
			var p float64
			if _, err := fmt.Sscanf(f[4], "%f%%", &p); err == nil {
				return p, true
			}
		}
	}
	return 0, false
}
