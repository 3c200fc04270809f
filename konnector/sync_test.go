package konnector

import (
	"strings"
	"testing"
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

func TestSyncTally_AnUnknownOutcomeIsAFailureNotAPanic(t *testing.T) {
	var tally SyncTally
	tally.Add(ClusterOutcome{"ns/a", OutcomeUpToDate, ""})
	tally.Add(ClusterOutcome{"ns/b", "somethingNew", "details"})
	r := tally.Report("the namespaces ExtensionConfig x selects")
	if r.Status != StatusFailure || r.Counts.Failed != 1 || r.Counts.UpToDate != 1 || len(r.Clusters) != 1 ||
		!strings.Contains(r.Clusters[0].Message, `"somethingNew"`) || r.Clusters[0].Outcome != OutcomeFailed {
		t.Fatalf("report: %+v", r)
	}
}
