package konnector

import (
	"fmt"
	"strings"
)

// Outcomes of one Cluster in a sync, as the report counts them.
const (
	OutcomeUpToDate     = "upToDate"
	OutcomeApplied      = "applied"
	OutcomeUninstalling = "uninstalling"
	OutcomeUninstalled  = "uninstalled"
	// OutcomeUninstallStuck: the uninstall of a live Cluster's agent is past
	// KONNECTOR_UNINSTALL_TIMEOUT; nothing is forced and the sync waits.
	OutcomeUninstallStuck = "uninstallStuck"
	OutcomeFailed         = "failed"
	OutcomeNotReached     = "notReached"
	OutcomeLeftToHooks    = "leftToHooks"
	OutcomeNotEnabled     = "notEnabled"
	// OutcomeInstallFailed: our objects are at the desired state, and CAAPH
	// reports the install or upgrade of the agent failed.
	OutcomeInstallFailed = "installFailed"
	// OutcomeRolloutHeld: the HelmChartProxy changes, and a rollout
	// (KONNECTOR_ROLLOUT_BATCH) leaves it to a later sync.
	OutcomeRolloutHeld = "rolloutHeld"
)

// Statuses of a sync report, as the hooks' answers word them.
const (
	StatusSuccess = "Success"
	StatusFailure = "Failure"
)

// ClusterOutcome is what the sync did for one Cluster; Message is the
// answer the hooks give for the same step.
type ClusterOutcome struct {
	Cluster string `json:"cluster"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// Listed tells whether the report lists a Cluster with this outcome: the
// ones that changed, failed or were not reached.
func Listed(outcome string) bool {
	switch outcome {
	case OutcomeApplied, OutcomeUninstalling, OutcomeUninstalled, OutcomeUninstallStuck, OutcomeFailed, OutcomeNotReached, OutcomeInstallFailed:
		return true
	}
	return false
}

// LeftToHooks is the outcome of a Cluster whose step belongs to a hook
// still to come (SyncLeaveToDelete, SyncLeaveToInitialize); NotEnabled the
// one of a Cluster without the addon.
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

// SyncReport is Sync's answer: counts by outcome and, for each Cluster that
// changed, failed or was not reached, the hooks' message.
type SyncReport struct {
	Status   string           `json:"status"`
	Message  string           `json:"message"`
	Counts   SyncCounts       `json:"counts"`
	Clusters []ClusterOutcome `json:"clusters"`
	// Rollout is the rollout of a HelmChartProxy change, nil when none was
	// held or moved by one.
	Rollout *RolloutReport `json:"rollout,omitempty"`

	// NotServed marks a sync of one Cluster that Sync does not serve.
	NotServed bool `json:"-"`
}

// SyncCounts counts the Clusters a sync checked, by outcome.
type SyncCounts struct {
	Checked      int `json:"checked"`
	UpToDate     int `json:"upToDate"`
	Applied      int `json:"applied"`
	Uninstalling int `json:"uninstalling"`
	Uninstalled  int `json:"uninstalled"`
	// UninstallStuck counts live Clusters whose uninstall is past its timeout.
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

// MaxListed is how many Clusters a report lists at most. A sync keeps the
// listed outcomes until it answers, and a rotation across 10,000 Clusters
// would list every one of them with its message (hundreds of bytes each):
// past MaxListed they are counted, and the log has a line for each.
const MaxListed = 1000

// SyncTally adds up a sync's outcomes page by page: it counts every
// Cluster and keeps only the ones the report lists, MaxListed at most.
type SyncTally struct {
	counts   SyncCounts
	listed   []ClusterOutcome
	unlisted int
}

// Add counts one Cluster's outcome. An outcome the report does not know is
// a bug of ours: it is counted as a failure of that Cluster, never a panic.
func (t *SyncTally) Add(o ClusterOutcome) {
	n := &t.counts
	counters := map[string]*int{
		OutcomeUpToDate: &n.UpToDate, OutcomeApplied: &n.Applied, OutcomeUninstalling: &n.Uninstalling,
		OutcomeUninstalled: &n.Uninstalled, OutcomeUninstallStuck: &n.UninstallStuck, OutcomeFailed: &n.Failed,
		OutcomeNotReached: &n.NotReached, OutcomeLeftToHooks: &n.LeftToHooks, OutcomeNotEnabled: &n.NotEnabled,
		OutcomeInstallFailed: &n.InstallFailed, OutcomeRolloutHeld: &n.RolloutHeld,
	}
	counter, known := counters[o.Outcome]
	if !known {
		o = ClusterOutcome{o.Cluster, OutcomeFailed, fmt.Sprintf("internal error: sync outcome %q is not known to the report (%s)", o.Outcome, o.Message)}
		counter = counters[OutcomeFailed]
	}
	n.Checked++
	*counter++
	switch {
	case !Listed(o.Outcome):
	case len(t.listed) < MaxListed:
		t.listed = append(t.listed, o)
	default:
		t.unlisted++
	}
}

// Report is the sync's answer; served says which namespaces it served, for
// the message ("the namespaces ExtensionConfig x selects").
func (t *SyncTally) Report(served string) SyncReport {
	n := t.counts
	r := SyncReport{Status: StatusSuccess, Counts: n, Clusters: t.listed}
	if r.Clusters == nil {
		r.Clusters = []ClusterOutcome{}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{
		{n.UpToDate, "up to date"}, {n.Applied, "applied"}, {n.Uninstalling, "uninstalling"}, {n.Uninstalled, "uninstalled"}, {n.UninstallStuck, "with an uninstall stuck"},
		{n.Failed, "failed"}, {n.NotReached, "not reached"}, {n.LeftToHooks, "left to the lifecycle hooks"}, {n.NotEnabled, "without the addon"},
		{n.InstallFailed, "with a failed install"}, {n.RolloutHeld, "held by the rollout"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	r.Message = fmt.Sprintf("synced %d Clusters in %s", n.Checked, served)
	if len(parts) > 0 {
		r.Message += ": " + strings.Join(parts, ", ")
	}
	if n.InstallFailed > 0 {
		r.Message += "; the agent failed to install on some: the clusters list gives CAAPH's message for each"
	}
	if t.unlisted > 0 {
		r.Message += fmt.Sprintf("; the clusters list holds the first %d, %d more are in konnector-hooks' log, one line each", MaxListed, t.unlisted)
	}
	for _, why := range []struct {
		n    int
		what string
	}{
		{n.UninstallStuck, "; an uninstall is stuck: the clusters list gives CAAPH's reason and what to do"},
		{n.Failed, "; the clusters list says what to fix for each failed one"},
		{n.NotReached, "; the next sync resumes the ones not reached"},
	} {
		if why.n > 0 {
			r.Status = StatusFailure
			r.Message += why.what
		}
	}
	return r
}

// AddRollout adds a rollout to the report, said in its message.
func (r *SyncReport) AddRollout(rollout *RolloutReport) {
	if rollout == nil {
		return
	}
	r.Rollout = rollout
	r.Message += "; " + rollout.Message()
}
