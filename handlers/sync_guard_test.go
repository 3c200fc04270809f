package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// apiGate holds every API request while it is shut, as an API server too
// slow for the sync would, so that calls can arrive while a sync runs.
type apiGate struct {
	shut    atomic.Bool
	held    atomic.Int32
	mu      sync.Mutex
	release chan struct{}
}

func (g *apiGate) option(p *serverParts) {
	p.cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if g.shut.Load() {
				g.mu.Lock()
				release := g.release
				g.mu.Unlock()
				g.held.Add(1)
				select {
				case <-release:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return rt.RoundTrip(r)
		})
	})
}

func (g *apiGate) close() {
	g.mu.Lock()
	g.release = make(chan struct{})
	g.mu.Unlock()
	g.held.Store(0)
	g.shut.Store(true)
}

// open lets the held requests and every later one through; it does
// nothing when the gate is open.
func (g *apiGate) open() {
	if !g.shut.CompareAndSwap(true, false) {
		return
	}
	g.mu.Lock()
	close(g.release)
	g.mu.Unlock()
}

// waitUntil polls check for up to ten seconds.
func waitUntil(t *testing.T, what string, check func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) { return check(), nil })
	if err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

// runningCalls is how many calls the running sync answers, 0 when none runs.
func runningCalls(s *Server) int {
	g := s.syncs
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running == nil {
		return 0
	}
	return g.running.calls
}

func TestSync_CallsWhileASyncRunsGetItsReportAndStartNothing(t *testing.T) {
	var srv *Server
	gate := &apiGate{}
	counter := &requestCounter{}
	f := newSyncFixture(t, captured(&srv), withCounter(counter), gate.option)
	ns := f.servedNamespace(t)
	for _, name := range []string{"c0", "c1", "c2"} {
		createCluster(t, ns, name, configBasic)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 3, Applied: 3})
	// What one sync of these Clusters costs when nothing changes.
	counter.take()
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 3, UpToDate: 3})
	oneSync := counter.take()
	slices.Sort(oneSync)

	// A PingSource's sync starts and is held at its first API request;
	// three more calls arrive, one of them for a single Cluster, which the
	// sync of every Cluster covers.
	gate.close()
	paths := []string{"/sync", "/sync", "/sync", "/sync/" + ns + "/c0"}
	answers := make([]syncAnswer, len(paths))
	var wg sync.WaitGroup
	// A failing check must not leave the calls held.
	t.Cleanup(func() { gate.open(); wg.Wait() })
	wg.Go(func() { answers[0] = f.sync(t, paths[0], pingBinary) })
	waitUntil(t, "the first sync is held at the API server", func() bool { return gate.held.Load() > 0 })
	for i := 1; i < len(paths); i++ {
		wg.Go(func() { answers[i] = f.sync(t, paths[i], triggers2[i%2]) })
	}
	waitUntil(t, "the three calls joined the running sync", func() bool { return runningCalls(srv) == len(paths) })
	gate.open()
	wg.Wait()

	for i, a := range answers {
		if a.HTTPStatus != http.StatusOK || a.Raw != answers[0].Raw {
			t.Fatalf("call %d (POST %s): HTTP %d %s, want the running sync's report %s", i, paths[i], a.HTTPStatus, a.Raw, answers[0].Raw)
		}
	}
	answers[0].mustCount(t, SyncCounts{Checked: 3, UpToDate: 3})
	calls := counter.take()
	slices.Sort(calls)
	if !slices.Equal(calls, oneSync) {
		t.Fatalf("%d calls at once made the API requests\n  %v\nwant those of one sync\n  %v", len(paths), calls, oneSync)
	}
	if runningCalls(srv) != 0 {
		t.Fatal("the sync is still marked running after its report")
	}
}

func TestSync_ACallTheRunningSyncDoesNotCoverAnswers429(t *testing.T) {
	var srv *Server
	gate := &apiGate{}
	counter := &requestCounter{}
	f := newSyncFixture(t, captured(&srv), withCounter(counter), gate.option)
	ns := f.servedNamespace(t)
	for _, name := range []string{"c0", "c1"} {
		createCluster(t, ns, name, configBasic)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 2, Applied: 2})
	// What one sync of c0 costs when nothing changes.
	counter.take()
	f.sync(t, "/sync/"+ns+"/c0", plainPOST).mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})
	oneSync := counter.take()
	slices.Sort(oneSync)

	gate.close()
	var wg sync.WaitGroup
	t.Cleanup(func() { gate.open(); wg.Wait() })
	var first syncAnswer
	var firstDone atomic.Bool
	wg.Go(func() { first = f.sync(t, "/sync/"+ns+"/c0", plainPOST); firstDone.Store(true) })
	waitUntil(t, "the sync of c0 is held at the API server", func() bool { return gate.held.Load() > 0 })

	for _, path := range []string{"/sync", "/sync/" + ns + "/c1"} {
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, syncRequest(path, pingBinary))
		a := serveSyncRecorded(t, w)
		retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
		if a.HTTPStatus != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 30 ||
			a.Status != "Failure" || !strings.Contains(a.Message, "a sync of Cluster "+ns+"/c0 is running") || !strings.Contains(a.Message, "retry after "+strconv.Itoa(retry)+" seconds") {
			t.Fatalf("POST %s while c0's sync runs: HTTP %d, Retry-After %q: %s", path, a.HTTPStatus, w.Header().Get("Retry-After"), a.Raw)
		}
	}
	if n := runningCalls(srv); n != 1 {
		t.Fatalf("the running sync answers %d calls, want only its starter's: refused calls join nothing", n)
	}

	// A call the run covers, whose own ?timeout= ends before the run: 429,
	// and the run goes on. The gate still holds the run, so this answer
	// came from the call's own timeout, however long the machine took.
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, syncRequest("/sync/"+ns+"/c0?timeout=1s", plainPOST))
	a := serveSyncRecorded(t, w)
	if a.HTTPStatus != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(a.Message, "did not end within this call's ?timeout=") {
		t.Fatalf("a joined call past its own timeout: HTTP %d, Retry-After %q: %s", a.HTTPStatus, w.Header().Get("Retry-After"), a.Raw)
	}
	if firstDone.Load() {
		t.Fatal("the joined call answered only once the sync of c0 had ended, not at its own ?timeout=")
	}

	gate.open()
	wg.Wait()
	if first.HTTPStatus != http.StatusOK {
		t.Fatalf("the sync of c0: HTTP %d %s", first.HTTPStatus, first.Raw)
	}
	first.mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})
	calls := counter.take()
	slices.Sort(calls)
	if !slices.Equal(calls, oneSync) {
		t.Fatalf("the refused and the joined calls made API requests: all of them made\n  %v\nwant those of the one sync of c0\n  %v", calls, oneSync)
	}
	// And once it ended, the call refused before runs.
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 2, UpToDate: 2})
}

func TestSync_TimeoutIsCappedAtKONNECTOR_SYNC_TIMEOUT(t *testing.T) {
	// Every write waits for the sync's deadline, which it must carry: the
	// time it has left is at most the bound of the call under test (with
	// the cap missing it would be an hour). A write past the bound fails at
	// once and is counted, so that the test never waits for it.
	var bound atomic.Int64
	var past atomic.Int32
	slowWrites := func(p *serverParts) {
		p.cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripper(func(r *http.Request) (*http.Response, error) {
				if r.Method != http.MethodPatch {
					return rt.RoundTrip(r)
				}
				if deadline, ok := r.Context().Deadline(); !ok || time.Until(deadline) > time.Duration(bound.Load()) {
					past.Add(1)
					return nil, errors.New("a write with no deadline, or one past the bound under test")
				}
				<-r.Context().Done()
				return nil, r.Context().Err()
			})
		})
	}
	const limit = 2 * time.Second
	f := newSyncFixture(t, slowWrites, withSettings(func(s *settings.Settings) { s.SyncTimeout = limit; s.SyncConcurrency = 1 }))
	ns := f.servedNamespace(t)
	createCluster(t, ns, "c0", configBasic)
	createCluster(t, ns, "c1", configBasic)

	for _, tc := range []struct {
		path  string
		bound time.Duration
		// reaches: the sync has time to reach its writes (a sync of 500ms
		// on a slow machine may run out before it lists the Clusters).
		reaches bool
	}{
		// ?timeout= does not lengthen a sync past KONNECTOR_SYNC_TIMEOUT...
		{"/sync?timeout=1h", limit, true},
		{"/sync/" + ns + "/c0?timeout=10m", limit, true},
		// ...and a shorter one still shortens it.
		{"/sync?timeout=500ms", 500 * time.Millisecond, false},
	} {
		bound.Store(int64(tc.bound))
		a := f.sync(t, tc.path, plainPOST)
		if n := past.Swap(0); n != 0 {
			t.Fatalf("POST %s: %d writes carried no deadline or more than %s left: the sync's deadline must be the shorter of ?timeout= and KONNECTOR_SYNC_TIMEOUT (%s)", tc.path, n, tc.bound, limit)
		}
		if a.Status != "Failure" || a.Counts.Failed+a.Counts.NotReached != a.Counts.Checked || (tc.reaches && a.Counts.Checked == 0) {
			t.Fatalf("POST %s: every write was held until the deadline, so every cluster failed or was not reached: %s", tc.path, a.Raw)
		}
	}
}

func TestSyncDeadline_IsTheCallersButNeverPastTheSetting(t *testing.T) {
	s := New(settings.Settings{SyncTimeout: 30 * time.Second}, nil, nil)
	start := time.Now()
	for _, tc := range []struct {
		callers time.Duration
		want    time.Duration
	}{
		{time.Hour, 29 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{0, 29 * time.Second},
	} {
		ctx := context.Background()
		if tc.callers > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, start.Add(tc.callers))
			defer cancel()
		}
		if got := s.syncDeadline(ctx, start).Sub(start); got != tc.want {
			t.Errorf("caller's deadline in %s: the sync's is in %s, want %s", tc.callers, got, tc.want)
		}
	}
}

// serveSyncRecorded decodes a recorded sync answer, as serveSync does.
func serveSyncRecorded(t testing.TB, w *httptest.ResponseRecorder) syncAnswer {
	t.Helper()
	return serveSync(t, http.HandlerFunc(func(out http.ResponseWriter, _ *http.Request) {
		for k, v := range w.Header() {
			out.Header()[k] = v
		}
		out.WriteHeader(w.Code)
		_, _ = out.Write(w.Body.Bytes())
	}), httptest.NewRequest(http.MethodGet, "/", nil))
}
