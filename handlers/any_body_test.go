package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// unreachable is a management cluster that cannot be reached: valid
// requests then answer a Failure without any API server.
type unreachable struct{}

func (unreachable) Open() (client.Client, error) {
	return nil, errors.New("management cluster unreachable")
}

var fuzzPaths = []struct{ path, kind string }{
	{pathDiscovery, "DiscoveryResponse"},
	{pathACPI, "AfterControlPlaneInitializedResponse"},
	{pathBCU, "BeforeClusterUpgradeResponse"},
	{pathBCD, "BeforeClusterDeleteResponse"},
}

// Whatever the body, every endpoint answers a hook response of its kind, with
// a status CAPI knows, retryAfterSeconds on the blocking hooks, and no panic.
// The bodies are the sample requests sent to every endpoint and a few broken
// ones; the fuzzing runs on the decoder (FuzzDecode in handlers/hookrequest),
// which is all of a body the answer depends on before the Cluster is read.
func TestHookEndpoints_AnyBodyGetsAnAnswerOfTheEndpointsKind(t *testing.T) {
	type input struct {
		which uint8
		body  []byte
	}
	var inputs []input
	files, _ := filepath.Glob(filepath.Join("..", "test", "testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fuzzPaths {
			inputs = append(inputs, input{uint8(i), b})
		}
	}
	inputs = append(inputs,
		input{1, []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest","cluster":{"metadata":{"name":"a","namespace":"b","name":"c"}}}`)},
		input{3, []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"BeforeClusterDeleteRequest","cluster":null}`)},
		input{2, []byte(`[]`)}, input{1, nil}, input{0, []byte(`{`)})
	var logOut bytes.Buffer
	s := New(testSettings(t), unreachable{}, slog.New(slog.NewJSONHandler(&logOut, nil)))
	router := s.Router()
	for _, in := range inputs {
		which, body := in.which, in.body
		target := fuzzPaths[int(which)%len(fuzzPaths)]
		w := httptest.NewRecorder()
		router.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target.path+"?timeout=10s", bytes.NewReader(body)))
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("HTTP %d for %q", w.Code, body)
		}
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, w.Body)
		}
		var apiVersion, kind, status, message string
		_ = json.Unmarshal(answer["apiVersion"], &apiVersion)
		_ = json.Unmarshal(answer["kind"], &kind)
		_ = json.Unmarshal(answer["status"], &status)
		_ = json.Unmarshal(answer["message"], &message)
		if apiVersion != "hooks.runtime.cluster.x-k8s.io/v1alpha1" || kind != target.kind {
			t.Fatalf("answer %s is not a %s", w.Body, target.kind)
		}
		if status != "Success" && status != "Failure" || (status == "Failure" && message == "") {
			t.Fatalf("answer status %q message %q", status, message)
		}
		if _, ok := answer["retryAfterSeconds"]; ok != (target.path == pathBCU || target.path == pathBCD) {
			t.Fatalf("retryAfterSeconds present=%v in %s", ok, w.Body)
		}
		if bytes.Contains(logOut.Bytes(), []byte(`"panic"`)) {
			t.Fatalf("a panic was recovered for %q: %s", body, logOut.String())
		}
		logOut.Reset()
	}
}
