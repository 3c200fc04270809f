package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Paths CAPI calls, from discovery.
const (
	pathDiscovery = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery"
	pathACPI      = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/aftercontrolplaneinitialized/after-control-plane-initialized"
	pathBCU       = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterupgrade/before-cluster-upgrade"
	pathBCD       = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterdelete/before-cluster-delete"
	// capiQuery is what CAPI's runtime client appends: the handler timeout.
	capiQuery = "?timeout=10s"
)

// caller calls a hook server as CAPI's runtime client does: POST, a JSON
// body, no Content-Type header, ?timeout=, kept-alive connections.
type caller struct {
	base   string
	client *http.Client
}

func newCaller(base string, roots *x509.CertPool) *caller {
	t := &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	if roots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		t.ForceAttemptHTTP2 = false
	}
	return &caller{base: base, client: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

// hookAnswer is the part of a hook response the harness checks.
type hookAnswer struct {
	Status            string `json:"status"`
	Message           string `json:"message"`
	RetryAfterSeconds *int32 `json:"retryAfterSeconds"`
}

// post calls path with body and decodes the answer; any transport error or
// HTTP status other than 200 is an error.
func (c *caller) post(path string, body []byte) (hookAnswer, error) {
	req, err := http.NewRequest(http.MethodPost, c.base+path+capiQuery, bytes.NewReader(body))
	if err != nil {
		return hookAnswer{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return hookAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return hookAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return hookAnswer{}, &httpStatusError{resp.StatusCode, string(b)}
	}
	var a hookAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return hookAnswer{}, fmt.Errorf("answer is not JSON: %v: %s", err, b)
	}
	return a, nil
}

type httpStatusError struct {
	status int
	body   string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// expect checks a hook answer: Success, and the retry when want >= 0.
func expect(a hookAnswer, wantRetry int32) error {
	if a.Status != "Success" {
		return fmt.Errorf("answer %s: %s", a.Status, a.Message)
	}
	if wantRetry >= 0 && (a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != wantRetry) {
		return fmt.Errorf("answer retryAfterSeconds %v, want %d: %s", a.RetryAfterSeconds, wantRetry, a.Message)
	}
	return nil
}

// load runs n calls of do on conc workers and returns each call's latency
// and the wall time of the whole run. The first error stops the run.
func load(n, conc int, do func(i int) error) ([]time.Duration, time.Duration, error) {
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := do(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("call %d: %w", i, err) })
					failed.Store(true)
					return
				}
				latencies[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return latencies, time.Since(start), firstErr
}

// loadFor runs do on conc workers for the given duration (at most max calls)
// and returns the number of calls made and the wall time.
func loadFor(d time.Duration, maxCalls, conc int, do func() error) (int, time.Duration, error) {
	var calls atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && calls.Load() < int64(maxCalls) {
				if err := do(); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(calls.Load()), time.Since(start), firstErr
}
