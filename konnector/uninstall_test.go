package konnector

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
)

func TestUninstallState_NextStep(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	timeout := 5 * time.Minute
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	hcp := func(deleted *metav1.Time) *caaphv1.HelmChartProxy {
		return &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "konnector-agent-c", DeletionTimestamp: deleted}}
	}
	hrp := func(name string, deleted *metav1.Time) caaphv1.HelmReleaseProxy {
		return caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, DeletionTimestamp: deleted}}
	}
	cases := []struct {
		name  string
		state UninstallState
		want  UninstallStep
	}{
		{"nothing left", UninstallState{}, UninstallDone},
		{"proxy present", UninstallState{HelmChartProxy: hcp(nil), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, UninstallStart},
		{"proxy deleting, release not yet", UninstallState{HelmChartProxy: hcp(at(time.Second)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, UninstallWait},
		{"proxy deleting, release deleting", UninstallState{HelmChartProxy: hcp(at(time.Minute)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(time.Minute))}}, UninstallWait},
		{"proxy gone, release deleting", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(time.Minute))}}, UninstallWait},
		{"proxy gone, release orphaned", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, UninstallDeleteOrphans},
		{"proxy gone, one release deleting one orphaned", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("a", at(time.Minute)), hrp("b", nil)}}, UninstallDeleteOrphans},
		{"timeout reached exactly", UninstallState{HelmChartProxy: hcp(at(timeout))}, UninstallForce},
		{"timeout passed", UninstallState{HelmChartProxy: hcp(at(time.Hour)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, UninstallForce},
		{"timeout counted from the earliest deletion", UninstallState{HelmChartProxy: hcp(at(time.Minute)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(6*time.Minute))}}, UninstallForce},
		{"just inside the timeout", UninstallState{HelmChartProxy: hcp(at(timeout - time.Second))}, UninstallWait},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.state.NextStep(now, timeout); got != c.want {
				t.Fatalf("NextStep = %d, want %d", got, c.want)
			}
		})
	}
}

func TestUninstallState_RemainingIsSortedAndComplete(t *testing.T) {
	s := UninstallState{
		HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}},
		HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "z"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}},
		},
	}
	if got, want := s.Remaining(), "HelmChartProxy ns/p, HelmReleaseProxy ns/a, HelmReleaseProxy ns/z"; got != want {
		t.Fatalf("Remaining() = %q, want %q", got, want)
	}
}

func TestWithoutFinalizer_KeepsOthers(t *testing.T) {
	in := []string{"other.io/keep", caaphv1.HelmReleaseProxyFinalizer, "another.io/keep"}
	got := WithoutFinalizer(in, caaphv1.HelmReleaseProxyFinalizer)
	if strings.Join(got, ",") != "other.io/keep,another.io/keep" {
		t.Fatalf("WithoutFinalizer = %v", got)
	}
	if len(in) != 3 {
		t.Fatal("WithoutFinalizer changed its input")
	}
}

func TestTimeoutMessage_SaysWhatToCheck(t *testing.T) {
	m := TimeoutMessage("konnector-agent", "ns/c", 5*time.Minute, "HelmReleaseProxy ns/r")
	for _, want := range []string{"did not finish within 5m0s", "HelmReleaseProxy ns/r", "may still be registered in Prism Central", "ns/c"} {
		if !strings.Contains(m, want) {
			t.Fatalf("message %q lacks %q", m, want)
		}
	}
}
