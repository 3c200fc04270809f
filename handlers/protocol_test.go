package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// hookPaths are the three hook endpoints with their request and response kinds.
var hookPaths = []struct {
	path, request, response string
	blocking                bool
}{
	{pathACPI, "after-control-plane-initialized.v1beta2.json", "AfterControlPlaneInitializedResponse", false},
	{pathBCU, "before-cluster-upgrade.v1beta2.json", "BeforeClusterUpgradeResponse", true},
	{pathBCD, "before-cluster-delete.v1beta2.json", "BeforeClusterDeleteResponse", true},
}

func TestDiscovery_ListsTheThreeHandlers(t *testing.T) {
	a := call(t, newServer(t), pathDiscovery, request(t, "discovery.json", "", ""))
	if a.HTTPStatus != http.StatusOK || a.Status != "Success" || a.Kind != "DiscoveryResponse" || a.APIVersion != "hooks.runtime.cluster.x-k8s.io/v1alpha1" {
		t.Fatalf("discovery answer: %s", a.Raw)
	}
	want := `"handlers":[` +
		`{"name":"after-control-plane-initialized","requestHook":{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","hook":"AfterControlPlaneInitialized"},"timeoutSeconds":30,"failurePolicy":"Ignore"},` +
		`{"name":"before-cluster-upgrade","requestHook":{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","hook":"BeforeClusterUpgrade"},"timeoutSeconds":30,"failurePolicy":"Ignore"},` +
		`{"name":"before-cluster-delete","requestHook":{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","hook":"BeforeClusterDelete"},"timeoutSeconds":30,"failurePolicy":"Fail"}]`
	if !strings.Contains(a.Raw, want) {
		t.Fatalf("discovery handlers:\n got %s\nwant %s", a.Raw, want)
	}
}

func TestDiscovery_DeleteFailurePolicyFromSettings(t *testing.T) {
	h := newServer(t, withSettings(func(s *settings.Settings) { s.DeleteFailurePolicy = settings.FailurePolicyIgnore }))
	a := call(t, h, pathDiscovery, request(t, "discovery.json", "", ""))
	want := `{"name":"before-cluster-delete","requestHook":{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","hook":"BeforeClusterDelete"},"timeoutSeconds":30,"failurePolicy":"Ignore"}`
	if !strings.Contains(a.Raw, want) || strings.Contains(a.Raw, `"failurePolicy":"Fail"`) {
		t.Fatalf("discovery with KONNECTOR_DELETE_FAILURE_POLICY=Ignore:\n got %s\nwant %s", a.Raw, want)
	}
}

func TestDiscovery_TimeoutFromSettings(t *testing.T) {
	h := newServer(t, withSettings(func(s *settings.Settings) { s.HandlerTimeoutSeconds = 12 }))
	a := call(t, h, pathDiscovery, request(t, "discovery.json", "", ""))
	if strings.Count(a.Raw, `"timeoutSeconds":12`) != 3 {
		t.Fatalf("handlers do not carry timeoutSeconds 12: %s", a.Raw)
	}
}

func TestDiscovery_EmptyBodyAccepted(t *testing.T) {
	a := call(t, newServer(t), pathDiscovery, nil)
	if a.HTTPStatus != http.StatusOK || a.Status != "Success" {
		t.Fatalf("discovery with an empty body: %s", a.Raw)
	}
}

func TestProtocol_OtherMethodsAre405WithAllowPost(t *testing.T) {
	h := newServer(t)
	for _, path := range []string{pathDiscovery, pathACPI, pathBCU, pathBCD} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("%s %s: HTTP %d Allow %q, want 405 Allow POST", method, path, w.Code, w.Header().Get("Allow"))
				continue
			}
			if a := decodeAnswer(t, w.Code, w.Body.Bytes()); a.Status != "Failure" || a.Message == "" {
				t.Errorf("%s %s: body %s", method, path, a.Raw)
			}
		}
	}
}

func TestProtocol_UndecodableRequestsAre400(t *testing.T) {
	h := newServer(t)
	cases := map[string]string{
		"not JSON":             `{"apiVersion":`,
		"wrong kind":           `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"BeforeClusterCreateRequest","cluster":{"metadata":{"name":"a","namespace":"b"}}}`,
		"wrong apiVersion":     `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1beta9","kind":"%s","cluster":{"metadata":{"name":"a","namespace":"b"}}}`,
		"no cluster":           `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"%s"}`,
		"no cluster namespace": `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"%s","cluster":{"metadata":{"name":"a"}}}`,
		"no cluster name":      `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"%s","cluster":{"metadata":{"namespace":"b"}}}`,
		"empty body":           ``,
		"cluster not object":   `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"%s","cluster":"b/a"}`,
	}
	for _, hp := range hookPaths {
		kind := strings.TrimSuffix(hp.response, "Response") + "Request"
		for name, body := range cases {
			body = strings.ReplaceAll(body, "%s", kind)
			a := call(t, h, hp.path, []byte(body))
			if a.HTTPStatus != http.StatusBadRequest || a.Status != "Failure" || a.Kind != hp.response || a.Message == "" {
				t.Errorf("%s, %s: got %s (HTTP %d), want 400 %s Failure", hp.path, name, a.Raw, a.HTTPStatus, hp.response)
			}
			if hp.blocking && !strings.Contains(a.Raw, `"retryAfterSeconds":0`) {
				t.Errorf("%s, %s: a blocking hook's answer lacks retryAfterSeconds: %s", hp.path, name, a.Raw)
			}
		}
	}
}

func TestProtocol_BodyOver5MiBIs413(t *testing.T) {
	h := newServer(t)
	// A valid request made too large by a big annotation on the Cluster.
	big := `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest","cluster":{"metadata":{"name":"a","namespace":"b","annotations":{"x":"` +
		strings.Repeat("x", 5<<20) + `"}}}}`
	a := call(t, h, pathACPI, []byte(big))
	if a.HTTPStatus != http.StatusRequestEntityTooLarge || a.Status != "Failure" || a.Kind != "AfterControlPlaneInitializedResponse" {
		t.Fatalf("got HTTP %d %s", a.HTTPStatus, a.Raw[:min(len(a.Raw), 300)])
	}
	// Just under the limit is read and decoded.
	under := `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest","cluster":{"metadata":{"annotations":{"x":"`
	under += strings.Repeat("x", 5<<20-len(under)-10) + `"}}}}`
	if a := call(t, h, pathACPI, []byte(under)); a.HTTPStatus != http.StatusBadRequest {
		t.Fatalf("a body under 5 MiB: got HTTP %d, want 400 (no cluster name)", a.HTTPStatus)
	}
}

func TestRouter_UnknownPathIs404WithFailureBody(t *testing.T) {
	h := newServer(t)
	for _, path := range []string{"/", "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclustercreate/before-cluster-create", pathACPI + "x"} {
		a := call(t, h, path, request(t, "discovery.json", "", ""))
		if a.HTTPStatus != http.StatusNotFound || a.Status != "Failure" || !strings.Contains(a.Message, "discovery") {
			t.Errorf("%s: got HTTP %d %s", path, a.HTTPStatus, a.Raw)
		}
	}
}

func TestRouter_Healthz(t *testing.T) {
	counter := &requestCounter{}
	h := newServer(t, withCounter(counter))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /healthz: HTTP %d", w.Code)
	}
	if calls := counter.take(); len(calls) != 0 {
		t.Fatalf("/healthz made API requests: %v", calls)
	}
}

// panicOpener panics when a hook opens its client.
type panicOpener struct{}

func (panicOpener) Open() (client.Client, error) { panic("boom") }

func TestProtocol_PanicBecomesFailureAnswer(t *testing.T) {
	var out bytes.Buffer
	s := New(testSettings(t), panicOpener{}, slog.New(slog.NewJSONHandler(&out, nil)))
	for _, hp := range hookPaths {
		a := call(t, s.Router(), hp.path, request(t, hp.request, "default", "my-cluster"))
		if a.HTTPStatus != http.StatusOK || a.Status != "Failure" || a.Kind != hp.response || !strings.Contains(a.Message, "internal error") {
			t.Errorf("%s: got HTTP %d %s", hp.path, a.HTTPStatus, a.Raw)
		}
	}
	if !strings.Contains(out.String(), `"panic":"boom"`) {
		t.Fatalf("the panic was not logged: %s", out.String())
	}
}

// TestProtocol_TimeoutQueryBoundsTheCall sends a hook whose management
// cluster never answers: the ?timeout= query must end the call with a
// Failure instead of leaving CAPI's request hanging.
func TestProtocol_TimeoutQueryBoundsTheCall(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	s := New(testSettings(t), kube.NewOpener(func() (*rest.Config, error) { return &rest.Config{Host: hung.URL}, nil }), slog.New(slog.NewJSONHandler(&logs, nil)))

	for _, hp := range hookPaths {
		done := make(chan hookAnswer, 1)
		go func() {
			r := httptest.NewRequest(http.MethodPost, hp.path+"?timeout=1s", bytes.NewReader(request(t, hp.request, "default", "my-cluster")))
			w := httptest.NewRecorder()
			s.Router().ServeHTTP(w, r)
			done <- decodeAnswer(t, w.Code, w.Body.Bytes())
		}()
		select {
		case a := <-done:
			if a.HTTPStatus != http.StatusOK || a.Status != "Failure" || !strings.Contains(a.Message, "context deadline exceeded") {
				t.Errorf("%s: got HTTP %d %s", hp.path, a.HTTPStatus, a.Raw)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no answer 20s after a 1s timeout", hp.path)
		}
	}
}

func TestProtocol_BadTimeoutQueryIs400(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, pathACPI+"?timeout=soon", bytes.NewReader(request(t, "after-control-plane-initialized.v1beta2.json", "a", "b")))
	w := httptest.NewRecorder()
	newServer(t).ServeHTTP(w, r)
	if a := decodeAnswer(t, w.Code, w.Body.Bytes()); a.HTTPStatus != http.StatusBadRequest || !strings.Contains(a.Message, "timeout") {
		t.Fatalf("got HTTP %d %s", a.HTTPStatus, a.Raw)
	}
}

// TestFunctions_EachServesAtAnyPath checks the functions registered with
// functions-framework, which serve one function at every path.
// Only the functions the manifests deploy are registered: Hooks, the router,
// and Sync, the sync endpoint at any path.
func TestFunctions_OnlyThoseTheManifestsDeploy(t *testing.T) {
	s := New(testSettings(t), nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	if names := FunctionNames(); !slices.Equal(names, []string{"Hooks", "Sync"}) {
		t.Fatalf("FunctionNames() = %v, want Hooks and Sync", names)
	}
	for _, name := range []string{"Discovery", "Render", "AfterControlPlaneInitialized", "BeforeClusterUpgrade", "BeforeClusterDelete"} {
		if _, ok := s.Function(name); ok {
			t.Errorf("function %s is served: no manifest deploys it", name)
		}
	}
	hooks, _ := s.Function("Hooks")
	if a := call(t, hooks, pathDiscovery, request(t, "discovery.json", "nowhere", "none")); a.HTTPStatus != http.StatusOK || a.Kind != "DiscoveryResponse" {
		t.Errorf("Hooks at %s: HTTP %d %s", pathDiscovery, a.HTTPStatus, a.Raw)
	}
	// Sync answers at any path; a GET starts no sync.
	sync, _ := s.Function("Sync")
	w := httptest.NewRecorder()
	sync.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/anywhere", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost || !strings.Contains(w.Body.String(), `"status":"Failure"`) {
		t.Errorf("Sync, GET /anywhere: HTTP %d, Allow %q: %s", w.Code, w.Header().Get("Allow"), w.Body)
	}
}
