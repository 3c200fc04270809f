package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimehooksv1 "sigs.k8s.io/cluster-api/api/runtime/hooks/v1alpha1"
	"sigs.k8s.io/cluster-api/exp/runtime/catalog"

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/handlers/hookrequest"
)

// maxBodyBytes bounds a request body; CAPI's requests are a few KiB.
const maxBodyBytes = 5 << 20

// result is a hook's answer before encoding.
type result = addon.Answer

var failure = addon.Failed

func answerStatus(r result) runtimehooksv1.ResponseStatus {
	if r.Failure {
		return runtimehooksv1.ResponseStatusFailure
	}
	return runtimehooksv1.ResponseStatusSuccess
}

// responder builds the JSON body of an endpoint's answer.
type responder func(result) any

// genericResponse answers where no hook, and so no response kind, applies.
func genericResponse(res result) any {
	return struct {
		APIVersion string `json:"apiVersion"`
		runtimehooksv1.CommonResponse
	}{runtimehooksv1.GroupVersion.String(), runtimehooksv1.CommonResponse{Status: answerStatus(res), Message: res.Message}}
}

// hookResponse builds the typed CAPI response of a hook. The two blocking
// hooks' types always carry retryAfterSeconds, 0 when done.
func hookResponse(gvh catalog.GroupVersionHook) responder {
	gvk, err := hookCatalog.Response(gvh)
	if err != nil {
		panic(err) // every hook of the table is in CAPI's catalog
	}
	return func(res result) any {
		obj, err := hookCatalog.NewResponse(gvh)
		if err != nil {
			panic(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		resp := obj.(runtimehooksv1.ResponseObject)
		resp.SetStatus(answerStatus(res))
		resp.SetMessage(res.Message)
		if retry, ok := obj.(runtimehooksv1.RetryResponseObject); ok {
			retry.SetRetryAfterSeconds(res.RetryAfterSeconds)
		}
		return obj
	}
}

func mustGroupVersionHook(h hook) catalog.GroupVersionHook {
	gvh, err := hookCatalog.GroupVersionHook(h.hook)
	if err != nil {
		panic(err) // every hook of the table is in CAPI's catalog
	}
	return gvh
}

// endpoint turns a panic in fn into a Failure answer and a log line, instead
// of a bare 500.
func (s *Server) endpoint(respond responder, fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if message, panicked := s.recovered("the call to "+r.URL.Path, func() { fn(w, r) }); panicked {
			writeJSON(w, http.StatusOK, respond(failure(message)))
		}
	})
}

// recovered runs fn; a panic in it becomes a log line with its stack, and
// the message that tells the caller of it.
func (s *Server) recovered(during string, fn func()) (message string, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic", "during", during, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			message, panicked = "internal error in konnector-hooks during "+during+"; it was logged: report it to the konnector-hooks maintainers", true
		}
	}()
	fn()
	return "", false
}

// requestError is a request that cannot be processed at all.
type requestError struct {
	status  int
	message string
}

func (e *requestError) write(w http.ResponseWriter, respond responder) {
	writeJSON(w, e.status, respond(failure(e.message)))
}

// requirePost answers 405 to anything but POST, the only method CAPI uses.
func requirePost(w http.ResponseWriter, r *http.Request, respond responder) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	writeJSON(w, http.StatusMethodNotAllowed, respond(failure(fmt.Sprintf("method %s is not allowed: CAPI calls hooks with POST", r.Method))))
	return false
}

// decodeRequest reads a request body of the given kind as CAPI sends it, with
// no Content-Type required; an empty one only when it names no Cluster
// (discovery).
func decodeRequest(w http.ResponseWriter, r *http.Request, kind string, cluster bool) (hookrequest.Request, *requestError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return hookrequest.Request{}, bodyError(err, "reading the request body", "send a "+kind)
	}
	req, err := hookrequest.Decode(body, runtimehooksv1.GroupVersion.String(), kind, cluster)
	if err != nil {
		return hookrequest.Request{}, &requestError{http.StatusBadRequest, err.Error()}
	}
	return req, nil
}

// boundedContext bounds a call by the caller's ?timeout= (CAPI sends the
// handler's timeoutSeconds), else by timeout, less answerMargin.
func (s *Server) boundedContext(r *http.Request, timeout time.Duration) (context.Context, context.CancelFunc, *requestError) {
	if q := r.URL.Query().Get("timeout"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d <= 0 {
			return nil, nil, &requestError{http.StatusBadRequest, fmt.Sprintf("query parameter timeout=%q is not a positive duration such as 10s", q)}
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout-answerMargin(timeout))
	return ctx, cancel, nil
}

// answerMargin is the part of a call's timeout kept for the answer to reach
// the caller in time.
func answerMargin(timeout time.Duration) time.Duration { return min(timeout/10, time.Second) }

// bodyError is the answer to a body that could not be read while doing
// what: 413 past maxBodyBytes, with fix, else 400.
func bodyError(err error, doing, fix string) *requestError {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes: %s", maxBodyBytes, fix)}
	}
	return &requestError{http.StatusBadRequest, doing + ": " + err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","status":"Failure","message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// hookEndpoint serves one hook: decode, call its handler, encode, log.
func (s *Server) hookEndpoint(h hook) http.Handler {
	gvh := mustGroupVersionHook(h)
	requestGVK, err := hookCatalog.Request(gvh)
	if err != nil {
		panic(err)
	}
	respond := hookResponse(gvh)
	return s.endpoint(respond, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		logCall := func(status int, cluster string, res result) {
			s.log.Info("hook call", "hook", catalog.HookName(h.hook), "cluster", cluster, "httpStatus", status,
				"outcome", string(answerStatus(res)), "retryAfterSeconds", res.RetryAfterSeconds,
				"message", res.Message, "durationMs", float64(time.Since(start).Microseconds())/1000)
		}
		refuse := func(rerr *requestError, cluster string) {
			rerr.write(w, respond)
			logCall(rerr.status, cluster, failure(rerr.message))
		}
		if !requirePost(w, r, respond) {
			logCall(http.StatusMethodNotAllowed, "", failure("method not allowed"))
			return
		}
		req, rerr := decodeRequest(w, r, requestGVK.Kind, true)
		if rerr != nil {
			refuse(rerr, "")
			return
		}
		key := types.NamespacedName{Namespace: req.Namespace, Name: req.Name}
		ctx, cancel, rerr := s.boundedContext(r, time.Duration(s.settings.HandlerTimeoutSeconds)*time.Second)
		if rerr != nil {
			refuse(rerr, key.String())
			return
		}
		defer cancel()
		res := h.handle(s, ctx, key)
		writeJSON(w, http.StatusOK, respond(res))
		logCall(http.StatusOK, key.String(), res)
	})
}
