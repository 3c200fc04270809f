package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"k8s.io/apimachinery/pkg/types"
)

// syncEndpoint serves POST /sync (every served Cluster) and
// POST /sync/<namespace>/<cluster> (one); the Sync function alone serves
// /<namespace>/<cluster> as well. The body is ignored, but a CloudEvent, as
// a Knative PingSource sends it in binary mode (ce-* headers) or in
// structured mode (Content-Type application/cloudevents+json), must be a
// valid one.
func (s *Server) syncEndpoint() http.Handler {
	respond := func(res result) any { return failedSync(res.message) }
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
		report := s.sync(ctx, scope)
		status := http.StatusOK
		if report.notServed {
			status = http.StatusNotFound
		}
		writeJSON(w, status, report)
		s.logSync(report, eventID, time.Since(start))
	})
}

// syncScopeOf reads the scope from the path: /sync or /, else
// [/sync]/<namespace>/<cluster>.
func syncScopeOf(path string) (syncScope, *requestError) {
	rest := strings.Trim(strings.TrimPrefix(path, "/sync"), "/")
	if rest == "" {
		return syncScope{}, nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return syncScope{}, &requestError{http.StatusNotFound, fmt.Sprintf("no sync is served at %s: POST /sync for every Cluster, or /sync/<namespace>/<cluster> for one", path)}
	}
	return syncScope{cluster: types.NamespacedName{Namespace: parts[0], Name: parts[1]}}, nil
}

// readTrigger reads the body: a CloudEvent must be valid (the PingSource's
// schedule is what triggers the sync, its data carries nothing the sync
// needs); any other body is read and ignored. It returns the event's id, for
// the log.
func readTrigger(w http.ResponseWriter, r *http.Request) (string, *requestError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer func() { _ = msg.Finish(nil) }()
	if msg.ReadEncoding() == binding.EncodingUnknown {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return "", bodyError(err, "reading the request body")
		}
		return "", nil
	}
	event, err := binding.ToEvent(r.Context(), msg)
	if err == nil {
		err = event.Validate()
	}
	if err != nil {
		return "", bodyError(err, "the request is not a valid CloudEvent (binary mode with ce-* headers, or structured mode with Content-Type application/cloudevents+json)")
	}
	return event.ID(), nil
}

func bodyError(err error, doing string) *requestError {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes: a sync needs no body", maxBodyBytes)}
	}
	return &requestError{http.StatusBadRequest, doing + ": " + err.Error()}
}

// logSync writes one line for the sync and one per Cluster it lists.
func (s *Server) logSync(r SyncReport, eventID string, took time.Duration) {
	for _, c := range r.Clusters {
		s.log.Info("sync cluster", "cluster", c.Cluster, "outcome", c.Outcome, "message", c.Message)
	}
	s.log.Info("sync call", "function", FunctionSync, "outcome", r.Status, "cloudEventId", eventID,
		"checked", r.Counts.Checked, "applied", r.Counts.Applied, "uninstalling", r.Counts.Uninstalling,
		"uninstalled", r.Counts.Uninstalled, "failed", r.Counts.Failed, "notReached", r.Counts.NotReached,
		"message", r.Message, "durationMs", float64(took.Microseconds())/1000)
}
