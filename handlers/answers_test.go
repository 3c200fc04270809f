package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// A Cluster whose credentials Secret is missing is not stopped: the hook
// answers Success with a Warning Event, Sync reports it failed at every run
// with the same words and the same Event counted, and deploys the agent at
// its first run after the Secret exists.
func TestSync_MissingSecretIsReportedEachRunAndDeployedAfterTheFix(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	const config = `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"my-pc-credentials"}}}}}`
	createCluster(t, ns, "c", config)
	a := call(t, f.router, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "c"))
	if a.Status != "Success" || !strings.Contains(a.Message, "Secret "+ns+"/my-pc-credentials: not found") {
		t.Fatalf("AfterControlPlaneInitialized: %s", a.Raw)
	}
	for range 2 {
		s := f.sync(t, "/sync", pingBinary)
		s.mustCount(t, SyncCounts{Checked: 1, Failed: 1})
		if got := s.outcomeOf(ns + "/c"); got.Message != a.Message {
			t.Fatalf("sync says %q, the hook said %q", got.Message, a.Message)
		}
	}
	events := clusterEvents(t, ns, "c")
	if len(events) != 1 || events[0].Reason != konnector.ReasonNotDeployed || events[0].Count != 3 || events[0].Message != a.Message {
		t.Fatalf("want one %s Event counted 3 times: %+v", konnector.ReasonNotDeployed, events)
	}

	createCredentials(t, ns, "my-pc-credentials")
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	if reasons := eventsFor(t, ns, "c"); len(reasons) != 2 || reasons[0] != konnector.ReasonNotDeployed && reasons[1] != konnector.ReasonNotDeployed {
		t.Fatalf("events after the fix: %v", reasons)
	}
}

// An object of ours being deleted is not up to date: the hooks say it is
// being deleted (Success under Continue, so that CAPI marks
// AfterControlPlaneInitialized done knowingly; Failure under Block).
func TestAfterControlPlaneInitialized_ObjectBeingDeletedIsNotUpToDate(t *testing.T) {
	for _, mode := range []string{settings.OnInvalidConfigContinue, settings.OnInvalidConfigBlock} {
		h := newServer(t, withSettings(func(s *settings.Settings) { s.OnInvalidConfig = mode }))
		ns, _ := newAddonCluster(t)
		call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
		adoptByCAAPH(t, ns, "c")
		hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
		if err := mgmt.Client.Delete(context.Background(), hcp); err != nil {
			t.Fatal(err)
		}
		a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
		want := map[string]string{settings.OnInvalidConfigContinue: "Success", settings.OnInvalidConfigBlock: "Failure"}[mode]
		if a.Status != want || !strings.Contains(a.Message, "HelmChartProxy "+ns+"/konnector-agent-c: is being deleted") || strings.Contains(a.Message, "up to date") {
			t.Fatalf("%s: %s", mode, a.Raw)
		}
	}
}

// The applied Event tells only of writes that succeeded.
func TestAfterControlPlaneInitialized_FailedApplyRecordsNoAppliedEvent(t *testing.T) {
	refuse := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/clusterresourcesets/") {
				return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
					Body: http.NoBody}, nil
			}
			return rt.RoundTrip(r)
		})
	}
	h := newServer(t, func(p *serverParts) { p.cfg.Wrap(refuse) })
	ns, _ := newAddonCluster(t)
	a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if a.Status != "Failure" {
		t.Fatalf("a failed apply answered %s", a.Raw)
	}
	for _, e := range clusterEvents(t, ns, "c") {
		if e.Reason == konnector.ReasonApplied {
			t.Fatalf("an applied Event was recorded for a failed apply: %q", e.Message)
		}
	}
	// CAPI calls again; the API server is well again: one applied Event.
	call(t, newServer(t), pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if reasons := eventsFor(t, ns, "c"); len(reasons) != 1 || reasons[0] != konnector.ReasonApplied {
		t.Fatalf("events after the retry: %v", reasons)
	}
}
