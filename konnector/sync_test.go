package konnector

import (
	"fmt"
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

func TestSyncTally_Report(t *testing.T) {
	const served = "the namespaces ExtensionConfig x selects"
	cases := []struct {
		name     string
		outcomes []string
		status   string
		message  string
		listed   int
	}{
		{"nothing served", nil, StatusSuccess, "synced 0 Clusters in " + served, 0},
		{"up to date and left alone: nothing listed", []string{OutcomeUpToDate, OutcomeNotEnabled, OutcomeLeftToHooks}, StatusSuccess,
			"synced 3 Clusters in " + served + ": 1 up to date, 1 left to the lifecycle hooks, 1 without the addon", 0},
		{"changes are listed", []string{OutcomeApplied, OutcomeUninstalling, OutcomeUninstalled}, StatusSuccess,
			"synced 3 Clusters in " + served + ": 1 applied, 1 uninstalling, 1 uninstalled", 3},
		{"a failure fails the sync", []string{OutcomeApplied, OutcomeFailed}, StatusFailure,
			"synced 2 Clusters in " + served + ": 1 applied, 1 failed; the clusters list says what to fix for each failed one", 2},
		{"a stuck uninstall and a Cluster not reached", []string{OutcomeUninstallStuck, OutcomeNotReached}, StatusFailure,
			"synced 2 Clusters in " + served + ": 1 with an uninstall stuck, 1 not reached; an uninstall is stuck: the clusters list gives CAAPH's reason and what to do; the next sync resumes the ones not reached", 2},
		{"a failed install is listed, held ones only counted; the sync itself succeeded", []string{OutcomeUpToDate, OutcomeInstallFailed, OutcomeRolloutHeld}, StatusSuccess,
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
