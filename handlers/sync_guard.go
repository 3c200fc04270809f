package handlers

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// syncGuard lets one sync run at a time: a sync costs cluster-wide LISTs
// (one of Secrets) and writes, which a looping caller, or many callers, must
// not multiply. A call that the running sync covers (every served Cluster, or
// the same one) waits for its report; any other answers 429 with Retry-After,
// the seconds left until the running sync's deadline. The run is detached
// from its starter's request, so a starter that goes away does not cancel the
// report others wait for.
type syncGuard struct {
	mu      sync.Mutex
	running *syncRun
}

// syncRun is one sync: done is closed when report is set.
type syncRun struct {
	scope    addon.Scope
	deadline time.Time
	done     chan struct{}
	report   addon.SyncReport
	// calls counts the calls this run answers, its starter's included.
	calls int
}

// retryAfterSeconds is the Retry-After of a call the run does not cover.
func (r *syncRun) retryAfterSeconds(now time.Time) int {
	return max(1, int(math.Ceil(r.deadline.Sub(now).Seconds())))
}

// syncOnce returns the run that answers a call of scope: the running sync
// when it covers scope (joined), else a new sync by deadline with ctx's
// values, logged with eventID, start and its calls once no call can join
// it. When the running sync does not cover scope, it returns that sync as
// busy.
func (s *Server) syncOnce(ctx context.Context, scope addon.Scope, deadline time.Time, eventID string, start time.Time) (r *syncRun, joined bool, busy *syncRun) {
	g := s.syncs
	g.mu.Lock()
	defer g.mu.Unlock()
	if current := g.running; current != nil {
		if !current.scope.One() || current.scope.Cluster == scope.Cluster {
			current.calls++
			return current, true, nil
		}
		return nil, false, current
	}
	r = &syncRun{scope: scope, deadline: deadline, done: make(chan struct{}), calls: 1}
	g.running = r
	runCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	go func() {
		defer cancel()
		// Off the request's goroutine, where the endpoint's recovery does
		// not reach: a panic becomes a Failure report and a log line.
		var report addon.SyncReport
		if message, panicked := s.recovered("the sync of "+scope.Describe(), func() { report = s.addon.Sync(runCtx, scope) }); panicked {
			report = konnector.FailedSync(message)
		}
		g.mu.Lock()
		g.running = nil
		calls := r.calls
		g.mu.Unlock()
		s.addon.LogSync(report, eventID, calls, time.Since(start))
		r.report = report
		close(r.done)
	}()
	return r, false, nil
}
