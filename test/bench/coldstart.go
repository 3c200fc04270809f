package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// pollInterval is the pause between attempts to reach a process that is
// starting. A refused loopback connection costs microseconds, so polling this
// often takes little CPU from the process being measured.
const pollInterval = 250 * time.Microsecond

// firstAnswer polls a starting process with a hook call until it answers 200
// with status Success, and returns the time from exec to that answer and the
// number of answers that came back before it (other statuses, Failure).
func firstAnswer(c *child, base, path string, body []byte, roots *x509.CertPool, limit time.Duration) (time.Duration, int, error) {
	t := &http.Transport{DisableKeepAlives: true}
	if roots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	cl := &caller{base: base, client: &http.Client{Transport: t, Timeout: limit}}
	early := 0
	for {
		a, err := cl.post(path, body)
		if err == nil && a.Status == "Success" {
			return time.Since(c.started), early, nil
		}
		if err == nil || !isNotListening(err) {
			early++
		}
		if c.exited() {
			return 0, early, fmt.Errorf("process exited before answering: %s", c.describe())
		}
		if time.Since(c.started) > limit {
			return 0, early, fmt.Errorf("no Success answer within %s (last: %v %+v): %s", limit, err, a, c.describe())
		}
		time.Sleep(pollInterval)
	}
}

// isNotListening reports a refused connection: the port is not open yet.
func isNotListening(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
