package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// GET /render is gone: the preview is `konnector-hooks render`, with the
// caller's own rights. The router answers the path as any unknown one,
// before reading anything.
func TestRouter_ServesNoRender(t *testing.T) {
	counter := &requestCounter{}
	ns, _ := newAddonCluster(t)
	router := newServer(t, withCounter(counter))
	for _, path := range []string{"/render/" + ns + "/c", "/render/"} {
		w := httptest.NewRecorder()
		router.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusNotFound {
			t.Fatalf("GET %s: HTTP %d, want 404: %s", path, w.Code, w.Body)
		}
	}
	if calls := counter.take(); len(calls) != 0 {
		t.Fatalf("GET /render made API requests: %v", calls)
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
	var srv *Server
	h := newServer(t, withPullCredentials, captured(&srv))
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

	out, err := srv.addon.Render(t.Context(), ns+"/c")
	body := string(out)
	if err != nil {
		t.Fatalf("render: %v", err)
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
