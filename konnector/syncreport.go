package konnector

import (
	"fmt"
	"strings"
)

// Outcome is what a sync did for one Cluster, as its report counts it.
type Outcome uint8

// The outcomes, in the order the report's message names them.
const (
	OutcomeUpToDate Outcome = iota
	OutcomeApplied
	OutcomeUninstalling
	OutcomeUninstalled
	// OutcomeUninstallStuck: a live Cluster's uninstall is past its timeout.
	OutcomeUninstallStuck
	OutcomeFailed
	OutcomeNotReached
	OutcomeLeftToHooks
	OutcomeNotEnabled
	// OutcomeInstallFailed: our objects are at the desired state, and CAAPH
	// reports the install or upgrade failed.
	OutcomeInstallFailed
	// OutcomeRolloutHeld: a rollout leaves the change to a later sync.
	OutcomeRolloutHeld
	outcomeCount
)

// outcomes holds, for each Outcome, its name in the report, its words in
// the message, and whether the report lists its Clusters.
var outcomes = [outcomeCount]struct {
	name, words string
	listed      bool
}{
	OutcomeUpToDate:       {"upToDate", "up to date", false},
	OutcomeApplied:        {"applied", "applied", true},
	OutcomeUninstalling:   {"uninstalling", "uninstalling", true},
	OutcomeUninstalled:    {"uninstalled", "uninstalled", true},
	OutcomeUninstallStuck: {"uninstallStuck", "with an uninstall stuck", true},
	OutcomeFailed:         {"failed", "failed", true},
	OutcomeNotReached:     {"notReached", "not reached", true},
	OutcomeLeftToHooks:    {"leftToHooks", "left to the lifecycle hooks", false},
	OutcomeNotEnabled:     {"notEnabled", "without the addon", false},
	OutcomeInstallFailed:  {"installFailed", "with a failed install", true},
	OutcomeRolloutHeld:    {"rolloutHeld", "held by the rollout", false},
}

func (o Outcome) String() string { return outcomes[o].name }

// MarshalText writes the outcome by its name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome by its name, for a client of the report.
func (o *Outcome) UnmarshalText(text []byte) error {
	for i := range outcomeCount {
		if outcomes[i].name == string(text) {
			*o = i
			return nil
		}
	}
	return fmt.Errorf("sync outcome %q is not one of konnector-hooks' outcomes", text)
}

// Statuses of a sync report, as the hooks' answers word them.
const (
	StatusSuccess = "Success"
	StatusFailure = "Failure"
)

// ClusterOutcome is what the sync did for one Cluster, with the hooks'
// answer for the same step.
type ClusterOutcome struct {
	Cluster string  `json:"cluster"`
	Outcome Outcome `json:"outcome"`
	Message string  `json:"message"`
}

// Listed tells whether the report lists a Cluster with this outcome: one
// that changed, failed or was not reached.
func (o Outcome) Listed() bool { return outcomes[o].listed }

// LeftToHooks is the outcome of a Cluster whose step belongs to a hook
// still to come.
func LeftToHooks(cluster string, step SyncStep) ClusterOutcome {
	if step == SyncLeaveToInitialize {
		return ClusterOutcome{cluster, OutcomeLeftToHooks, fmt.Sprintf("the control plane of Cluster %s is not initialized yet: AfterControlPlaneInitialized deploys the Konnector Agent", cluster)}
	}
	return ClusterOutcome{cluster, OutcomeLeftToHooks, fmt.Sprintf("Cluster %s is being deleted: BeforeClusterDelete uninstalls the Konnector Agent", cluster)}
}

// NotReached is the outcome of a Cluster the sync did not start before its
// deadline.
func NotReached(cluster string) ClusterOutcome {
	return ClusterOutcome{cluster, OutcomeNotReached, fmt.Sprintf("Cluster %s was not reached before the sync's deadline (?timeout= or KONNECTOR_SYNC_TIMEOUT): the next sync resumes it", cluster)}
}

// SyncReport is Sync's answer: counts by outcome, and the listed Clusters.
type SyncReport struct {
	Status   string           `json:"status"`
	Message  string           `json:"message"`
	Counts   SyncCounts       `json:"counts"`
	Clusters []ClusterOutcome `json:"clusters"`
	// Rollout is nil when no rollout held or moved a Cluster.
	Rollout *RolloutReport `json:"rollout,omitempty"`

	// NotServed marks a sync of one Cluster that Sync does not serve.
	NotServed bool `json:"-"`
}

// SyncCounts counts the Clusters a sync checked, by outcome.
type SyncCounts struct {
	Checked        int `json:"checked"`
	UpToDate       int `json:"upToDate"`
	Applied        int `json:"applied"`
	Uninstalling   int `json:"uninstalling"`
	Uninstalled    int `json:"uninstalled"`
	UninstallStuck int `json:"uninstallStuck"`
	Failed         int `json:"failed"`
	NotReached     int `json:"notReached"`
	LeftToHooks    int `json:"leftToHooks"`
	NotEnabled     int `json:"notEnabled"`
	InstallFailed  int `json:"installFailed"`
	RolloutHeld    int `json:"rolloutHeld"`
}

// Succeeded reports whether every Cluster was reached and none failed.
func (r SyncReport) Succeeded() bool { return r.Status == StatusSuccess }

// FailedSync is the report of a sync that could not read what it serves.
func FailedSync(message string) SyncReport {
	return SyncReport{Status: StatusFailure, Message: message, Clusters: []ClusterOutcome{}}
}

// MaxListed bounds the Clusters a report lists, which a sync holds until
// it answers (a rotation of 10,000 would list them all); the rest are
// counted, and logged one line each.
const MaxListed = 1000

// SyncTally adds up a sync's outcomes page by page.
type SyncTally struct {
	checked  int
	counts   [outcomeCount]int
	listed   []ClusterOutcome
	unlisted int
}

// Add counts one Cluster's outcome.
func (t *SyncTally) Add(o ClusterOutcome) {
	t.checked++
	t.counts[o.Outcome]++
	switch {
	case !o.Outcome.Listed():
	case len(t.listed) < MaxListed:
		t.listed = append(t.listed, o)
	default:
		t.unlisted++
	}
}

// Report is the sync's answer; served words the namespaces it served.
func (t *SyncTally) Report(served string) SyncReport {
	n := &t.counts
	r := SyncReport{Status: StatusSuccess, Clusters: t.listed, Counts: SyncCounts{
		Checked: t.checked, UpToDate: n[OutcomeUpToDate], Applied: n[OutcomeApplied], Uninstalling: n[OutcomeUninstalling],
		Uninstalled: n[OutcomeUninstalled], UninstallStuck: n[OutcomeUninstallStuck], Failed: n[OutcomeFailed],
		NotReached: n[OutcomeNotReached], LeftToHooks: n[OutcomeLeftToHooks], NotEnabled: n[OutcomeNotEnabled],
		InstallFailed: n[OutcomeInstallFailed], RolloutHeld: n[OutcomeRolloutHeld],
	}}
	if r.Clusters == nil {
		r.Clusters = []ClusterOutcome{}
	}
	var parts []string
	for o, count := range n {
		if count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count, outcomes[o].words))
		}
	}
	r.Message = fmt.Sprintf("synced %d Clusters in %s", t.checked, served)
	if len(parts) > 0 {
		r.Message += ": " + strings.Join(parts, ", ")
	}
	if n[OutcomeInstallFailed] > 0 {
		r.Message += "; the agent failed to install on some: the clusters list gives CAAPH's message for each"
	}
	if t.unlisted > 0 {
		r.Message += fmt.Sprintf("; the clusters list holds the first %d, %d more are in konnector-hooks' log, one line each", MaxListed, t.unlisted)
	}
	for _, why := range []struct {
		o    Outcome
		what string
	}{
		{OutcomeUninstallStuck, "; an uninstall is stuck: the clusters list gives CAAPH's reason and what to do"},
		{OutcomeFailed, "; the clusters list says what to fix for each failed one"},
		{OutcomeNotReached, "; the next sync resumes the ones not reached"},
	} {
		if n[why.o] > 0 {
			r.Status = StatusFailure
			r.Message += why.what
		}
	}
	return r
}
