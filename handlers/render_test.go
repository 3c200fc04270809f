package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// serveRender turns GET /render on, as KONNECTOR_SERVE_RENDER=true does.
var serveRender = withSettings(func(s *settings.Settings) { s.ServeRender = true })

func TestRender_NotServedUnlessTurnedOn(t *testing.T) {
	counter := &requestCounter{}
	ns, _ := newAddonCluster(t)
	router := newServer(t, withCounter(counter))
	s := New(testSettings(t), nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	function, _ := s.Function(FunctionRender)
	for name, h := range map[string]http.Handler{"the router": router, "the Render function": function} {
		for _, path := range []string{"/render/" + ns + "/c", "/" + ns + "/c", "/render/"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusNotFound {
				t.Fatalf("%s, GET %s without KONNECTOR_SERVE_RENDER: HTTP %d, want 404: %s", name, path, w.Code, w.Body)
			}
			a := decodeAnswer(t, w.Code, w.Body.Bytes())
			if name == "the router" && path == "/"+ns+"/c" {
				continue // not a render path of the router: its own 404
			}
			for _, want := range []string{"KONNECTOR_SERVE_RENDER=true", "konnector-hooks render <namespace>/<cluster>"} {
				if !strings.Contains(a.Message, want) {
					t.Errorf("%s, GET %s: the 404 should say %q: %s", name, path, want, a.Message)
				}
			}
		}
	}
	if calls := counter.take(); len(calls) != 0 {
		t.Fatalf("an unserved render made API requests: %v", calls)
	}
}

// sentinelDockerconfig is image pull credentials as an operator's values
// file gives them: base64 of a .dockerconfigjson holding the sentinel
// password.
var sentinelDockerconfig = base64Std(`{"auths":{"registry.example.com":{"auth":"` + base64Std("puller:"+sentinelPassword) + `"}}}`)

// withPullCredentials is an operator's values file that pulls the agent from
// a private registry, with credentials.
var withPullCredentials = withSettings(func(s *settings.Settings) {
	s.Values = map[string]any{"agent": map[string]any{"image": map[string]any{
		"privateRegistry":  true,
		"imageCredentials": map[string]any{"dockerconfig": sentinelDockerconfig},
	}}}
})

func TestRender_RedactsImageCredentialsOfTheValuesFile(t *testing.T) {
	h := newServer(t, serveRender, withPullCredentials)
	ns, _ := newAddonCluster(t)

	a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if a.Status != "Success" || strings.Contains(a.Raw, sentinelDockerconfig) {
		t.Fatalf("answer: %s", a.Raw)
	}
	// The chart needs them: the HelmChartProxy carries them (README: who can
	// read them there).
	if values := readDeployed(t, ns, "c").hcp.Spec.ValuesTemplate; !strings.Contains(values, sentinelDockerconfig) {
		t.Fatalf("the HelmChartProxy's values lack the pull credentials:\n%s", values)
	}

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/render/"+ns+"/c", nil))
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, body)
	}
	for _, leak := range []string{sentinelDockerconfig, sentinelPassword, base64Std(sentinelPassword)} {
		if strings.Contains(body, leak) {
			t.Fatalf("the render shows a credential (%.12s...):\n%s", leak, body)
		}
	}
	for _, want := range []string{"privateRegistry: true", "dockerconfig: " + konnector.Redacted, encodedPassword(konnector.Redacted)} {
		if !strings.Contains(body, want) {
			t.Errorf("the render lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(logs.String(), sentinelDockerconfig) {
		t.Fatal("a log line shows the pull credentials")
	}
}
