package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// exchange is one request CAPI's runtime client sent to the function and
// the answer it got, as seen by the TLS proxy: the facts of the wire
// protocol that the function relies on.
type exchange struct {
	Time        time.Time `json:"time"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Query       string    `json:"query"`
	ContentType string    `json:"contentType"`
	UserAgent   string    `json:"userAgent"`
	// Kind is the request body's kind; ClusterAPIVersion the apiVersion the
	// Cluster in it declares (if any) and ClusterShape the API version its
	// fields have: v1beta1 (spec.topology.class) or v1beta2
	// (spec.topology.classRef).
	Kind              string `json:"kind"`
	ClusterAPIVersion string `json:"clusterAPIVersion"`
	ClusterShape      string `json:"clusterShape"`
	Cluster           string `json:"cluster"`
	// What the function answered.
	HTTPStatus        int    `json:"httpStatus"`
	ResponseKind      string `json:"responseKind"`
	Status            string `json:"status"`
	RetryAfterSeconds *int32 `json:"retryAfterSeconds"`
	// The bodies, kept for the artifacts: CAPI's requests carry the Cluster,
	// the function's answers never carry a credential.
	Request  json.RawMessage `json:"request,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

// wireRecorder keeps the exchanges and appends each to a JSON-lines file.
type wireRecorder struct {
	path      string
	mu        sync.Mutex
	exchanges []exchange
}

func (w *wireRecorder) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			Kind    string `json:"kind"`
			Cluster struct {
				APIVersion string `json:"apiVersion"`
				Metadata   struct{ Namespace, Name string }
				Spec       struct {
					Topology map[string]json.RawMessage `json:"topology"`
				} `json:"spec"`
			} `json:"cluster"`
		}
		_ = json.Unmarshal(body, &req)
		capture := &capturingWriter{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(capture, r)
		var resp struct {
			Kind              string `json:"kind"`
			Status            string `json:"status"`
			RetryAfterSeconds *int32 `json:"retryAfterSeconds"`
		}
		_ = json.Unmarshal(capture.body.Bytes(), &resp)
		e := exchange{
			Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
			Kind: req.Kind, ClusterAPIVersion: req.Cluster.APIVersion,
			HTTPStatus: capture.status, ResponseKind: resp.Kind, Status: resp.Status, RetryAfterSeconds: resp.RetryAfterSeconds,
		}
		if req.Cluster.Metadata.Name != "" {
			e.Cluster = req.Cluster.Metadata.Namespace + "/" + req.Cluster.Metadata.Name
		}
		switch topology := req.Cluster.Spec.Topology; {
		case topology["class"] != nil:
			e.ClusterShape = "cluster.x-k8s.io/v1beta1"
		case topology["classRef"] != nil:
			e.ClusterShape = "cluster.x-k8s.io/v1beta2"
		}
		if json.Valid(body) {
			e.Request = body
		}
		if json.Valid(capture.body.Bytes()) {
			e.Response = bytes.TrimSpace(capture.body.Bytes())
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if line, err := json.Marshal(e); err == nil {
			if f, err := os.OpenFile(w.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				_, _ = f.Write(append(line, '\n'))
				_ = f.Close()
			}
		}
		e.Request, e.Response = nil, nil
		w.exchanges = append(w.exchanges, e)
	})
}

// where returns the recorded exchanges that match.
func (w *wireRecorder) where(match func(exchange) bool) []exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []exchange
	for _, e := range w.exchanges {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

type capturingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capturingWriter) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *capturingWriter) Write(b []byte) (int, error) {
	if c.body.Len() < 1<<20 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

// expectedClusterAPIVersion is the apiVersion of the Cluster that the CAPI
// release under test puts in hook requests.
func expectedClusterAPIVersion(t *testing.T) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(cfg.capiVersion, "v"), ".")
	if len(parts) < 2 {
		t.Fatalf("CAPI version %q is not vMAJOR.MINOR.PATCH", cfg.capiVersion)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if parts[0] == "1" && minor <= 12 {
		return "cluster.x-k8s.io/v1beta1"
	}
	return "cluster.x-k8s.io/v1beta2"
}

// checkWire checks the requests CAPI sent for a cluster as they crossed the
// wire: POST to the path discovery announced, with the timeout query, the
// Cluster of the API version this CAPI release sends, and a 200 answer of
// the matching response kind that CAPI accepted.
func checkWire(t *testing.T, fn *function, cluster string) {
	t.Helper()
	if fn.wire == nil {
		// The installed mode: no proxy of the suite's in the data path, so
		// CAPI's own log says whether a call failed (under failurePolicy
		// Ignore, a failed call is not retried and the pods never see it).
		if failed := capiCallFailures(t, cluster); len(failed) > 0 {
			t.Errorf("CAPI failed %d hook calls for %s (capi-manager.log):%s", len(failed), cluster, indent(failed))
		}
		t.Logf("CAPI %s logged no failed hook call for %s", cfg.capiVersion, cluster)
		return
	}
	paths := map[string]string{
		"AfterControlPlaneInitializedRequest": "/hooks.runtime.cluster.x-k8s.io/v1alpha1/aftercontrolplaneinitialized/after-control-plane-initialized",
		"BeforeClusterUpgradeRequest":         "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterupgrade/before-cluster-upgrade",
		"BeforeClusterDeleteRequest":          "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterdelete/before-cluster-delete",
	}
	want := expectedClusterAPIVersion(t)
	exchanges := fn.wire.where(func(e exchange) bool { return e.Cluster == cluster })
	if len(exchanges) == 0 {
		t.Fatalf("no hook request for %s crossed the TLS proxy", cluster)
	}
	for _, e := range exchanges {
		wantPath, ok := paths[e.Kind]
		switch {
		case !ok:
			t.Errorf("unexpected request kind %q at %s", e.Kind, e.Path)
		case e.Method != http.MethodPost || e.Path != wantPath:
			t.Errorf("%s sent as %s %s, want POST %s", e.Kind, e.Method, e.Path, wantPath)
		}
		if e.Query != "timeout=30s" {
			t.Errorf("%s query %q, want timeout=30s (the handler's timeoutSeconds)", e.Kind, e.Query)
		}
		if e.ClusterShape != want {
			t.Errorf("CAPI %s sent %s with a Cluster shaped as %q, want %s", cfg.capiVersion, e.Kind, e.ClusterShape, want)
		}
		if e.HTTPStatus != http.StatusOK || e.ResponseKind != strings.TrimSuffix(e.Kind, "Request")+"Response" || e.Status != "Success" {
			t.Errorf("%s answered HTTP %d kind %q status %q", e.Kind, e.HTTPStatus, e.ResponseKind, e.Status)
		}
		if e.Kind != "AfterControlPlaneInitializedRequest" && e.RetryAfterSeconds == nil {
			t.Errorf("%s answer has no retryAfterSeconds", e.Kind)
		}
	}
	first := exchanges[0]
	t.Logf("CAPI %s wire: %d requests for %s, Cluster shaped %s declaring apiVersion %q, Content-Type %q, User-Agent %q",
		cfg.capiVersion, len(exchanges), cluster, first.ClusterShape, first.ClusterAPIVersion, first.ContentType, first.UserAgent)
}
