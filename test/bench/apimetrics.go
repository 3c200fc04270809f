package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// requestCounter is a snapshot of the API server's apiserver_request_total,
// summed by verb and resource (or non-resource path).
type requestCounter map[string]float64

// hookResources are the resources the hooks read and write; the API server's
// own background requests (leases, endpoints, ...) are left out of the counts.
var hookResources = map[string]bool{
	"clusters": true, "secrets": true, "clusterresourcesets": true,
	"helmchartproxies": true, "helmreleaseproxies": true, "events": true,
}

// discoveryPaths are the non-resource paths of API discovery, which a hook
// call must never request.
func isDiscoveryPath(path string) bool {
	switch {
	case path == "/api" || path == "/apis" || path == "/version":
		return true
	case strings.HasPrefix(path, "/openapi"):
		return true
	}
	// /api/v1 and /apis/<group>/<version>: a group version's resource list.
	segs := strings.Split(strings.Trim(path, "/"), "/")
	return (segs[0] == "api" && len(segs) == 2) || (segs[0] == "apis" && (len(segs) == 2 || len(segs) == 3))
}

// scrapeRequests reads /metrics from the API server as an administrator.
func scrapeRequests(ctx context.Context, httpClient *http.Client, cfg *rest.Config) (requestCounter, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("reading the API server's /metrics: %s %s", resp.Status, b)
	}
	return parseRequestTotals(resp.Body)
}

// parseRequestTotals sums apiserver_request_total by "VERB resource" for the
// hooks' resources and "VERB /path" for discovery paths, from the Prometheus
// text format.
func parseRequestTotals(r io.Reader) (requestCounter, error) {
	counts := requestCounter{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		labels := parseLabels(labelText)
		verb := labels["verb"]
		switch {
		case hookResources[labels["resource"]]:
			key := verb + " " + labels["resource"]
			if sub := labels["subresource"]; sub != "" {
				key += "/" + sub
			}
			counts[key] += v
		case labels["resource"] == "" && isDiscoveryPath(labels["subresource"]):
			// Non-resource requests carry their path in "subresource".
			counts[verb+" "+labels["subresource"]] += v
		}
	}
	return counts, sc.Err()
}

// parseLabels parses `a="x",b="y"`; values hold no escaped quotes here.
func parseLabels(text string) map[string]string {
	labels := map[string]string{}
	for text != "" {
		name, rest, ok := strings.Cut(text, `="`)
		if !ok {
			break
		}
		value, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			break
		}
		labels[strings.TrimPrefix(name, ",")] = value
		text = strings.TrimPrefix(rest, ",")
	}
	return labels
}

// since returns the counts that grew from before to c, per call.
func (c requestCounter) since(before requestCounter, calls int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range c {
		if d := v - before[k]; d > 0 {
			out[k] = d / float64(calls)
		}
	}
	return out
}
