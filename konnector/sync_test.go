package konnector

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
)

func TestSyncView_Next(t *testing.T) {
	cases := []struct {
		name string
		view SyncView
		want SyncStep
	}{
		{"deleting with the addon on is left to BeforeClusterDelete", SyncView{Deleting: true, Initialized: true, Enabled: true, Leftovers: true}, SyncLeaveToDelete},
		{"deleting with the addon off is left to BeforeClusterDelete", SyncView{Deleting: true, Initialized: true, Leftovers: true}, SyncLeaveToDelete},
		{"uninitialized is left to AfterControlPlaneInitialized", SyncView{Enabled: true}, SyncLeaveToInitialize},
		{"uninitialized with leftovers is still left alone", SyncView{Leftovers: true}, SyncLeaveToInitialize},
		{"enabled on a running cluster converges", SyncView{Initialized: true, Enabled: true}, SyncConverge},
		{"enabled with objects converges", SyncView{Initialized: true, Enabled: true, Leftovers: true}, SyncConverge},
		{"disabled with objects uninstalls", SyncView{Initialized: true, Leftovers: true}, SyncUninstall},
		{"disabled without objects does nothing", SyncView{Initialized: true}, SyncNotEnabled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.view.Next(); got != c.want {
				t.Errorf("%+v.Next() = %d, want %d", c.view, got, c.want)
			}
		})
	}
}

// Each outcome is counted under its own name in the report's JSON, and
// named so in the Cluster's entry: an outcome added without its count
// fails here.
func TestSyncTally_EachOutcomeIsCountedUnderItsName(t *testing.T) {
	for o := range outcomeCount {
		var tally SyncTally
		tally.Add(ClusterOutcome{Cluster: "ns/a", Outcome: o})
		r := tally.Report("the namespaces ExtensionConfig x selects")
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Counts   map[string]int `json:"counts"`
			Clusters []struct {
				Outcome string `json:"outcome"`
			} `json:"clusters"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for name, n := range got.Counts {
			if want := map[bool]int{true: 1}[name == o.String() || name == "checked"]; n != want {
				t.Errorf("one Cluster %s: counts[%s] = %d, want %d (counts %v)", o, name, n, want, got.Counts)
			}
		}
		if _, counted := got.Counts[o.String()]; !counted || len(got.Counts) != int(outcomeCount)+1 {
			t.Errorf("outcome %q has no count of its own in %v", o, got.Counts)
		}
		if o.Listed() != (len(got.Clusters) == 1) || (o.Listed() && got.Clusters[0].Outcome != o.String()) {
			t.Errorf("one Cluster %s: listed %+v, want listed=%t", o, got.Clusters, o.Listed())
		}
	}
}

func TestSyncTally_Report(t *testing.T) {
	const served = "the namespaces ExtensionConfig x selects"
	cases := []struct {
		name     string
		outcomes []Outcome
		status   string
		message  string
		listed   int
	}{
		{"nothing served", nil, StatusSuccess, "synced 0 Clusters in " + served, 0},
		{"up to date and left alone: nothing listed", []Outcome{OutcomeUpToDate, OutcomeNotEnabled, OutcomeLeftToHooks}, StatusSuccess,
			"synced 3 Clusters in " + served + ": 1 up to date, 1 left to the lifecycle hooks, 1 without the addon", 0},
		{"changes are listed", []Outcome{OutcomeApplied, OutcomeUninstalling, OutcomeUninstalled}, StatusSuccess,
			"synced 3 Clusters in " + served + ": 1 applied, 1 uninstalling, 1 uninstalled", 3},
		{"a failure fails the sync", []Outcome{OutcomeApplied, OutcomeFailed}, StatusFailure,
			"synced 2 Clusters in " + served + ": 1 applied, 1 failed; the clusters list says what to fix for each failed one", 2},
		{"a stuck uninstall and a Cluster not reached", []Outcome{OutcomeUninstallStuck, OutcomeNotReached}, StatusFailure,
			"synced 2 Clusters in " + served + ": 1 with an uninstall stuck, 1 not reached; an uninstall is stuck: the clusters list gives CAAPH's reason and what to do; the next sync resumes the ones not reached", 2},
		{"a failed install is listed, held ones only counted; the sync itself succeeded", []Outcome{OutcomeUpToDate, OutcomeInstallFailed, OutcomeRolloutHeld}, StatusSuccess,
			"synced 3 Clusters in " + served + ": 1 up to date, 1 with a failed install, 1 held by the rollout; the agent failed to install on some: the clusters list gives CAAPH's message for each", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tally SyncTally
			for i, o := range c.outcomes {
				tally.Add(ClusterOutcome{Cluster: fmt.Sprintf("ns/c%d", i), Outcome: o})
			}
			r := tally.Report(served)
			if r.Status != c.status || r.Message != c.message || len(r.Clusters) != c.listed || r.Clusters == nil || r.Counts.Checked != len(c.outcomes) {
				t.Fatalf("report %+v\nwant status %s, message %q, %d listed", r, c.status, c.message, c.listed)
			}
		})
	}
}

func TestSyncTally_ListsAtMostMaxListed(t *testing.T) {
	var tally SyncTally
	tally.Add(ClusterOutcome{Cluster: "ns/failed", Outcome: OutcomeFailed})
	for i := range MaxListed + 1 {
		tally.Add(ClusterOutcome{Cluster: fmt.Sprintf("ns/c%d", i), Outcome: OutcomeApplied, Message: "applied"})
	}
	r := tally.Report("the namespaces of KONNECTOR_SYNC_NAMESPACES (ns)")
	if len(r.Clusters) != MaxListed || r.Clusters[0].Cluster != "ns/failed" || r.Counts.Applied != MaxListed+1 || r.Counts.Checked != MaxListed+2 ||
		!strings.Contains(r.Message, fmt.Sprintf("the clusters list holds the first %d, 2 more are in konnector-hooks' log", MaxListed)) {
		t.Fatalf("report of %d Clusters: %d listed, counts %+v, message %q", MaxListed+2, len(r.Clusters), r.Counts, r.Message)
	}
}

func TestDeployFacts_SyncStep_LeftoversAreWhatIsNotGoingAlready(t *testing.T) {
	now := metav1.Now()
	cluster := testCluster("c")
	cluster.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
	meta := func(deleted *metav1.Time) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ns1", Name: ObjectName("c"), DeletionTimestamp: deleted}
	}
	cases := []struct {
		name    string
		current Current
		want    SyncStep
	}{
		{"nothing of the addon", Current{}, SyncNotEnabled},
		{"a HelmChartProxy", Current{HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: meta(nil)}}, SyncUninstall},
		{"a HelmChartProxy being deleted: its uninstall is waited for", Current{HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: meta(&now)}}, SyncUninstall},
		{"the credentials delivery", Current{ResourceSetSecret: &corev1.Secret{ObjectMeta: meta(nil)}}, SyncUninstall},
		{"the delivery being deleted is gone for the sync", Current{ClusterResourceSet: &addonsv1.ClusterResourceSet{ObjectMeta: meta(&now)}, ResourceSetSecret: &corev1.Secret{ObjectMeta: meta(&now)}}, SyncNotEnabled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (DeployFacts{Cluster: cluster, Current: c.current}).SyncStep(); got != c.want {
				t.Fatalf("SyncStep = %d, want %d", got, c.want)
			}
		})
	}
}
