package main

import (
	"bufio"
	"cmp"
	"slices"
	"strings"
	"time"
)

// profileSample is one stack of `go tool pprof -traces` output.
type profileSample struct {
	cpu    time.Duration
	frames []string // leaf first
}

// parseTraces reads `go tool pprof -traces`: blocks separated by lines of
// dashes, each starting with the sample's value before its leaf frame.
func parseTraces(text string) []profileSample {
	var out []profileSample
	var cur *profileSample
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			cur = nil
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if cur == nil {
			d, err := time.ParseDuration(fields[0])
			if err != nil || len(fields) < 2 {
				continue // the header
			}
			out = append(out, profileSample{cpu: d, frames: []string{fields[1]}})
			cur = &out[len(out)-1]
			continue
		}
		cur.frames = append(cur.frames, fields[0])
	}
	return out
}

// cpuCategory is a share of the function's CPU, by what it was doing.
type cpuCategory struct {
	Name    string  `json:"name"`
	Ms      float64 `json:"ms"`
	Percent float64 `json:"percent"`
}

// categories name what a stack is doing by the frames it contains; the first
// rule that matches wins, so the order goes from specific to general.
var categories = []struct {
	name    string
	matches []string
}{
	{"garbage collection", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcAssistAlloc", "runtime.markroot"}},
	{"opening the client (kube.Opener.Open, client.New, REST clients)", []string{"sigs.k8s.io/controller-runtime/pkg/client.New", "sigs.k8s.io/controller-runtime/pkg/client.newClient", "apiutil.RESTClientForGVK", "(*clientRestResources).getResource", "(*Opener).Open"}},
	{"decoding API responses into typed objects", []string{"k8s.io/apimachinery/pkg/runtime/serializer", "k8s.io/client-go/rest.Result.Into", "(*Result).Into", "sigs.k8s.io/json."}},
	{"encoding API requests (apply configurations, patches)", []string{"(*Request).Body", "client.applyPatch", "(*applyPatch).Data", "(*mergeFromPatch).Data"}},
	{"comparing desired and existing objects (UpToDate)", []string{"konnector-hooks/kube.UpToDate", "DefaultUnstructuredConverter"}},
	{"computing the desired objects (konnector)", []string{"konnector-hooks/konnector."}},
	{"HTTP/2 and TLS to the API server", []string{"golang.org/x/net/http2", "net/http.(*http2", "crypto/tls", "crypto/"}},
	{"client-go request path (rate limiter, URL, headers, metrics)", []string{"k8s.io/client-go/rest.(*Request)"}},
	{"serving the hook call (decode, encode, log, HTTP/1.1)", []string{"konnector-hooks/handlers.", "log/slog", "net/http.(*conn).serve", "net/http.(*response)"}},
	{"network system calls and scheduling", []string{"internal/runtime/syscall", "syscall.", "runtime.netpoll", "runtime.futex", "runtime.schedule", "runtime.findRunnable", "runtime.mcall"}},
}

// categorize sums samples into categories, the rest under "other".
func categorize(samples []profileSample) []cpuCategory {
	sums := map[string]time.Duration{}
	var total time.Duration
	for _, s := range samples {
		total += s.cpu
		name := "other"
	rules:
		for _, c := range categories {
			for _, f := range s.frames {
				for _, m := range c.matches {
					if strings.Contains(f, m) {
						name = c.name
						break rules
					}
				}
			}
		}
		sums[name] += s.cpu
	}
	var out []cpuCategory
	for name, d := range sums {
		out = append(out, cpuCategory{Name: name, Ms: ms(d), Percent: 100 * float64(d) / float64(total)})
	}
	slices.SortFunc(out, func(a, b cpuCategory) int { return cmp.Compare(b.Ms, a.Ms) })
	return out
}
