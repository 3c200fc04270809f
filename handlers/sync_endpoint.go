package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// syncEndpoint serves POST /sync (every served Cluster) and
// POST /sync/<namespace>/<cluster> (one); the Sync function alone serves
// /<namespace>/<cluster> as well. One sync runs at a time (syncGuard).
func (s *Server) syncEndpoint() http.Handler {
	respond := func(res result) any { return konnector.FailedSync(res.Message) }
	return s.endpoint(respond, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if !requirePost(w, r, respond) {
			return
		}
		scope, rerr := syncScopeOf(r.URL.Path)
		var eventID string
		if rerr == nil {
			eventID, rerr = readTrigger(w, r)
		}
		if rerr != nil {
			rerr.write(w, respond)
			return
		}
		ctx, cancel, rerr := s.boundedContext(r, s.settings.SyncTimeout)
		if rerr != nil {
			rerr.write(w, respond)
			return
		}
		defer cancel()
		run, joined, busy := s.syncOnce(ctx, scope, s.syncDeadline(ctx, start), eventID, start)
		if busy != nil {
			s.refuseSync(w, busy, scope, eventID, "a sync of "+busy.scope.Describe()+" is running")
			return
		}
		// The starter's run ends by its deadline, within the answer's margin;
		// a joined call waits as long as its own ?timeout= allows.
		wait := ctx.Done()
		if !joined {
			wait = r.Context().Done()
		}
		select {
		case <-run.done:
		case <-wait:
			if r.Context().Err() != nil {
				return // the caller went away; the run goes on for the others
			}
			// The run goes on; its report is for the calls still waiting.
			s.refuseSync(w, run, scope, eventID, "the running sync of "+run.scope.Describe()+" did not end within this call's ?timeout=")
			return
		}
		status := http.StatusOK
		if run.report.NotServed {
			status = http.StatusNotFound
		}
		writeJSON(w, status, run.report)
		if joined {
			s.log.Info("sync call", "function", FunctionSync, "joined", run.scope.Describe(), "outcome", run.report.Status,
				"cloudEventId", eventID, "durationMs", float64(time.Since(start).Microseconds())/1000)
		}
	})
}

// syncDeadline is when a sync started now must end: the caller's deadline
// (?timeout=), never later than KONNECTOR_SYNC_TIMEOUT less answerMargin
// from start, so that one caller cannot hold the guard longer.
func (s *Server) syncDeadline(ctx context.Context, start time.Time) time.Time {
	limit := s.settings.SyncTimeout
	deadline := start.Add(limit - answerMargin(limit))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		return d
	}
	return deadline
}

// refuseSync answers 429 with Retry-After to a call that running, a sync
// that does not cover it, keeps from starting.
func (s *Server) refuseSync(w http.ResponseWriter, running *syncRun, scope addon.Scope, eventID, why string) {
	retry := running.retryAfterSeconds(time.Now())
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	message := fmt.Sprintf("%s in this konnector-hooks process and one sync runs at a time: the sync of %s was not started; retry after %d seconds", why, scope.Describe(), retry)
	writeJSON(w, http.StatusTooManyRequests, konnector.FailedSync(message))
	s.log.Info("sync call", "function", FunctionSync, "httpStatus", http.StatusTooManyRequests, "outcome", konnector.StatusFailure,
		"cloudEventId", eventID, "message", message)
}

// syncScopeOf reads the scope from the path: /sync or /, else
// [/sync]/<namespace>/<cluster>.
func syncScopeOf(path string) (addon.Scope, *requestError) {
	rest := strings.Trim(strings.TrimPrefix(path, "/sync"), "/")
	if rest == "" {
		return addon.Scope{}, nil
	}
	key, ok := konnector.ParseKey(rest)
	if !ok {
		return addon.Scope{}, &requestError{http.StatusNotFound, fmt.Sprintf("no sync is served at %s: POST /sync for every Cluster, or /sync/<namespace>/<cluster> for one", path)}
	}
	return addon.Scope{Cluster: key}, nil
}

// readTrigger reads and ignores the body, but a CloudEvent, as a Knative
// PingSource sends it (binary or structured mode), must be a valid one. It
// returns the event's id, for the log.
func readTrigger(w http.ResponseWriter, r *http.Request) (string, *requestError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer func() { _ = msg.Finish(nil) }()
	if msg.ReadEncoding() == binding.EncodingUnknown {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return "", bodyError(err, "reading the request body", "a sync needs no body")
		}
		return "", nil
	}
	event, err := binding.ToEvent(r.Context(), msg)
	if err == nil {
		err = event.Validate()
	}
	if err != nil {
		return "", bodyError(err, "the request is not a valid CloudEvent (binary mode with ce-* headers, or structured mode with Content-Type application/cloudevents+json)", "a sync needs no body")
	}
	return event.ID(), nil
}
