// Package hookcall calls konnector-hooks' hook endpoints the way CAPI's
// runtime client does (POST, JSON with apiVersion and kind, no
// Content-Type, ?timeout=), and loads the sample requests of test/testdata,
// for the tests of handlers/ and test/manifests.
package hookcall

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// The paths CAPI calls, as discovery announces them.
const (
	PathDiscovery = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery"
	PathACPI      = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/aftercontrolplaneinitialized/after-control-plane-initialized"
	PathBCU       = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterupgrade/before-cluster-upgrade"
	PathBCD       = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/beforeclusterdelete/before-cluster-delete"
)

// Answer is a decoded hook response, with its HTTP status and raw body.
type Answer struct {
	HTTPStatus        int
	APIVersion        string `json:"apiVersion"`
	Kind              string `json:"kind"`
	Status            string `json:"status"`
	Message           string `json:"message"`
	RetryAfterSeconds *int32 `json:"retryAfterSeconds"`
	Raw               string
}

// Post sends body to path as CAPI's runtime client does, with
// ?timeout=<timeout> (CAPI sends the handler's timeoutSeconds, 10s by
// default), and decodes the answer; a body that is not JSON fails the test.
func Post(t testing.TB, h http.Handler, path, timeout string, body []byte) Answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path+"?timeout="+timeout, bytes.NewReader(body))
	r.Header.Del("Content-Type")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return Decode(t, w.Code, w.Body.Bytes())
}

// Decode reads an answer of HTTP status status; a body that is not JSON
// fails the test.
func Decode(t testing.TB, status int, body []byte) Answer {
	t.Helper()
	a := Answer{HTTPStatus: status, Raw: string(body)}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("the answer is not JSON (HTTP %d): %v\n%s", status, err, body)
	}
	return a
}

// Request loads the sample request file of the testdata directory and
// points its Cluster at namespace/name.
func Request(t testing.TB, testdata, file, namespace, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, file))
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if cluster, ok := req["cluster"].(map[string]any); ok {
		md := cluster["metadata"].(map[string]any)
		md["namespace"], md["name"] = namespace, name
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
