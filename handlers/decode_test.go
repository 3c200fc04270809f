package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeRequest_RefusesRepeatedFieldsItReads(t *testing.T) {
	const head = `"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest"`
	cases := []struct {
		name, body string
		status     int // 0: decoded
		says       string
	}{
		{"plain", `{` + head + `,"cluster":{"metadata":{"name":"c","namespace":"n"}}}`, 0, ""},
		{"repeated cluster name", `{` + head + `,"cluster":{"metadata":{"name":"a","namespace":"n","name":"c"}}}`, http.StatusBadRequest, `duplicate field "cluster.metadata.name"`},
		{"repeated kind", `{` + head + `,"kind":"BeforeClusterDeleteRequest","cluster":{"metadata":{"name":"c","namespace":"n"}}}`, http.StatusBadRequest, `duplicate field "kind"`},
		{"repeated field the function does not read", `{` + head + `,"cluster":{"metadata":{"name":"c","namespace":"n","labels":{"a":"1","a":"2"}},"spec":{},"spec":{}}}`, 0, ""},
		{"field names are case-sensitive, as on the API server", `{` + head + `,"cluster":{"metadata":{"Name":"c","namespace":"n"}}}`, http.StatusBadRequest, "has no cluster.metadata.namespace and cluster.metadata.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			req, rerr := decodeRequest(httptest.NewRecorder(), r, "AfterControlPlaneInitializedRequest", true)
			switch {
			case c.status == 0 && rerr != nil:
				t.Fatalf("refused: %d %s", rerr.status, rerr.message)
			case c.status == 0 && req.cluster().String() != "n/c":
				t.Fatalf("decoded cluster %s, want n/c", req.cluster())
			case c.status != 0 && rerr == nil:
				t.Fatalf("decoded, want HTTP %d", c.status)
			case c.status != 0 && (rerr.status != c.status || !strings.Contains(rerr.message, c.says)):
				t.Fatalf("got %d %q, want %d saying %q", rerr.status, rerr.message, c.status, c.says)
			}
		})
	}
}
