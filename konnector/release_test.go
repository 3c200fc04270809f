package konnector

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// hrp is a HelmReleaseProxy as CAAPH's controller leaves it (see ReleaseOf).
func hrp(name string, generation, observed int64, status string, revision int, conditions ...metav1.Condition) caaphv1.HelmReleaseProxy {
	r := caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: name, Generation: generation}}
	r.Spec.Version = "1.4.0"
	r.Status = caaphv1.HelmReleaseProxyStatus{ObservedGeneration: observed, Status: status, Revision: revision, Conditions: conditions}
	return r
}

func condition(t string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: message}
}

func TestReleaseOf_ReadsTheReleaseAsCAAPHReportsIt(t *testing.T) {
	ready := condition(caaphv1.HelmReleaseReadyCondition, metav1.ConditionTrue, clusterv1.ReadyReason, "")
	failed := condition(caaphv1.HelmReleaseReadyCondition, metav1.ConditionFalse, caaphv1.HelmInstallOrUpgradeFailedReason,
		"failed to install chart: chart \"konnector-agent\" version \"1.3.0-rc.0\" not found\n\tin https://charts.example.com")
	pendingHelm := condition(caaphv1.HelmReleaseReadyCondition, metav1.ConditionFalse, caaphv1.HelmReleasePendingReason, "Helm release is in a pending state: pending-upgrade")
	noKubeconfig := condition(caaphv1.ClusterAvailableCondition, metav1.ConditionFalse, caaphv1.GetKubeconfigFailedReason, "secret ns1/c-kubeconfig not found")
	deleting := hrp("konnector-agent-old", 1, 1, "deployed", 3, ready)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}

	cases := []struct {
		name     string
		releases []caaphv1.HelmReleaseProxy
		want     Release
	}{
		{"no HelmReleaseProxy yet", nil, Release{Phase: ReleasePending, Message: "CAAPH has not created the HelmReleaseProxy yet"}},
		{"deployed", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 2, 2, "deployed", 2, ready)},
			Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns1/konnector-agent-x", Revision: 2, ChartVersion: "1.4.0"}},
		{"install failed: CAAPH's message on one line", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 1, 1, "", 0, failed)},
			Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns1/konnector-agent-x", ChartVersion: "1.4.0",
				Message: `failed to install chart: chart "konnector-agent" version "1.3.0-rc.0" not found in https://charts.example.com`}},
		{"upgrade failed over a deployed revision", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 3, 3, "deployed", 2, failed)},
			Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns1/konnector-agent-x", Revision: 2, ChartVersion: "1.4.0",
				Message: `failed to install chart: chart "konnector-agent" version "1.3.0-rc.0" not found in https://charts.example.com`}},
		{"Helm says failed without an error", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 1, 1, "failed", 1)},
			Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns1/konnector-agent-x", Revision: 1, ChartVersion: "1.4.0", Message: "Helm reports the release failed"}},
		{"a new spec CAAPH has not acted on: pending, whatever the old status", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 4, 3, "deployed", 2, failed)},
			Release{Phase: ReleasePending, HelmReleaseProxy: "ns1/konnector-agent-x", ChartVersion: "1.4.0", Message: "CAAPH has not acted on chart version 1.4.0 yet"}},
		{"Helm operation under way", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 1, 1, "pending-upgrade", 2, pendingHelm)},
			Release{Phase: ReleasePending, HelmReleaseProxy: "ns1/konnector-agent-x", Revision: 2, ChartVersion: "1.4.0", Message: "HelmReleasePending: Helm release is in a pending state: pending-upgrade"}},
		{"workload cluster not reachable yet", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-x", 1, 1, "", 0, noKubeconfig)},
			Release{Phase: ReleasePending, HelmReleaseProxy: "ns1/konnector-agent-x", ChartVersion: "1.4.0", Message: "GetKubeconfigFailed: secret ns1/c-kubeconfig not found"}},
		{"an old one being deleted does not count", []caaphv1.HelmReleaseProxy{deleting, hrp("konnector-agent-y", 1, 1, "", 0, failed)},
			Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns1/konnector-agent-y", ChartVersion: "1.4.0",
				Message: `failed to install chart: chart "konnector-agent" version "1.3.0-rc.0" not found in https://charts.example.com`}},
		{"two live: the lowest name reports, listed last", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-b", 1, 1, "", 0, failed), hrp("konnector-agent-a", 2, 2, "deployed", 2, ready)},
			Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns1/konnector-agent-a", Revision: 2, ChartVersion: "1.4.0"}},
		{"two live: the lowest name reports, listed first", []caaphv1.HelmReleaseProxy{hrp("konnector-agent-a", 2, 2, "deployed", 2, ready), hrp("konnector-agent-b", 1, 1, "", 0, failed)},
			Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns1/konnector-agent-a", Revision: 2, ChartVersion: "1.4.0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ReleaseOf(c.releases); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ReleaseOf:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
