package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/konnector-hooks/konnector-hooks/kube"
)

// fault is what the fault-injecting proxy does to each API request.
type fault int32

const (
	pass    fault = iota
	slow          // answers after a delay longer than the hook's ?timeout=
	reset         // drops the connection without an answer
	tooMany       // answers 429
	broken        // answers 500
	hang          // never answers
)

var faultNames = map[fault]string{slow: "latency beyond the timeout", reset: "connection reset", tooMany: "429", broken: "500", hang: "server hangs"}

// faultProxy stands between the function and the API server: the function
// talks plain HTTP to it, it forwards with the administrator's credentials
// or injects the current fault.
type faultProxy struct {
	mode atomic.Int32
	srv  *httptest.Server
}

func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	target, err := url.Parse(mgmt.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(mgmt.Config)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	forward.Transport = transport
	p := &faultProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch fault(p.mode.Load()) {
		case slow:
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
				return
			}
		case reset:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		case tooMany:
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`, http.StatusTooManyRequests)
			return
		case broken:
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500}`, http.StatusInternalServerError)
			return
		case hang:
			<-r.Context().Done()
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) set(f fault) { p.mode.Store(int32(f)) }

// callWithTimeout calls a hook with CAPI's ?timeout= and fails the test if no
// answer comes at all (a generous bound, not a speed assertion).
func callWithTimeout(t *testing.T, h http.Handler, path, timeout string, body []byte) hookAnswer {
	t.Helper()
	done := make(chan hookAnswer, 1)
	go func() {
		r := httptest.NewRequest(http.MethodPost, path+"?timeout="+timeout, strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- decodeAnswer(t, w.Code, w.Body.Bytes())
	}()
	select {
	case a := <-done:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer 30s after a %s timeout", path, timeout)
		return hookAnswer{}
	}
}

func TestFaults_APIServerFaultsAnswerFailureAndARetryConverges(t *testing.T) {
	proxy := newFaultProxy(t)
	s := New(testSettings(t), kube.NewOpener(func() (*rest.Config, error) { return &rest.Config{Host: proxy.srv.URL}, nil }), slog.New(slog.NewJSONHandler(&logs, nil)))
	h := s.Router()

	before := goroutinesInOurCode()

	for f := slow; f <= hang; f++ {
		t.Run(faultNames[f], func(t *testing.T) {
			ns, cluster := newAddonCluster(t, withFinalizer)
			proxy.set(f)
			a := callWithTimeout(t, h, pathACPI, "1s", request(t, "after-control-plane-initialized.v1beta1.json", ns, "c"))
			// The reads run in parallel: the first to fail names its object.
			if a.HTTPStatus != http.StatusOK || a.Status != "Failure" || !strings.Contains(a.Message, "reading ") || !strings.Contains(a.Message, " "+ns+"/") {
				t.Fatalf("AfterControlPlaneInitialized during the fault: %s", a.Raw)
			}
			t.Logf("fault %s: %s", faultNames[f], a.Message)

			proxy.set(pass)
			if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "c")); a.Status != "Success" || !strings.Contains(a.Message, "applied") {
				t.Fatalf("retry after the fault: %s", a.Raw)
			}
			objs := objectsIn(t, ns)
			for kind, items := range objs {
				if len(items) != 1 {
					t.Fatalf("%d %s after the retry, want 1", len(items), kind)
				}
			}

			// The same for BeforeClusterDelete: a fault mid-uninstall, then a retry.
			if err := mgmt.Client.Delete(context.Background(), cluster); err != nil {
				t.Fatal(err)
			}
			proxy.set(f)
			if a := callWithTimeout(t, h, pathBCD, "1s", request(t, "before-cluster-delete.v1beta2.json", ns, "c")); a.Status != "Failure" || *a.RetryAfterSeconds != 0 {
				t.Fatalf("BeforeClusterDelete during the fault: %s", a.Raw)
			}
			proxy.set(pass)
			expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 5, "started Helm uninstall")
			expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 0, "removed")
		})
	}
	proxy.set(pass)

	// No goroutine outlives its request: every goroutine started during the
	// faults that runs code of ours (a read, a write, an Event) ends.
	var left map[string]string
	_ = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		left = goroutinesInOurCode()
		for id := range before {
			delete(left, id)
		}
		return len(left) == 0, nil
	})
	for _, stack := range left {
		t.Errorf("a goroutine outlived its request:\n%s", stack)
	}
}

// goroutinesInOurCode returns, by goroutine ID, the stacks of the other
// goroutines with a frame in konnector-hooks' product packages.
func goroutinesInOurCode() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ours := map[string]string{}
	for i, stack := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the calling goroutine comes first
		}
		if inProductCode(stack) {
			header, _, _ := strings.Cut(stack, " [")
			ours[header] = stack
		}
	}
	return ours
}

// inProductCode tells whether a goroutine's stack has a frame of a product
// package outside its tests (the fault proxy's own handlers do not count).
func inProductCode(stack string) bool {
	lines := strings.Split(stack, "\n")
	for i := 0; i+1 < len(lines); i++ {
		for _, pkg := range []string{"handlers.", "kube.", "konnector."} {
			if strings.HasPrefix(lines[i], "github.com/konnector-hooks/konnector-hooks/"+pkg) {
				file, _, _ := strings.Cut(strings.TrimSpace(lines[i+1]), ":")
				if !strings.HasSuffix(file, "_test.go") {
					return true
				}
			}
		}
	}
	return false
}
