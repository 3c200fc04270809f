package konnector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// RolloutCluster is what a rollout decides from of one Cluster whose
// HelmChartProxy exists, all of it read from the API server: a rollout
// keeps no state of its own.
type RolloutCluster struct {
	Cluster types.NamespacedName
	// Stale: the HelmChartProxy differs from the desired one.
	Stale bool
	// Generation counts the HelmChartProxy's spec writes: a Cluster not
	// moved yet has fewer and goes first.
	Generation int64
	// Since is our last apply (managedFields, to the second).
	Since   time.Time
	Release Release
}

// NewRolloutCluster is the RolloutCluster of cluster, whose HelmChartProxy is hcp.
func NewRolloutCluster(cluster types.NamespacedName, hcp *caaphv1.HelmChartProxy, stale bool, release Release) RolloutCluster {
	return RolloutCluster{Cluster: cluster, Stale: stale, Generation: hcp.Generation, Since: LastApplied(hcp.ManagedFields), Release: release}
}

// Rollout is what one Sync moves of a change of the HelmChartProxies.
type Rollout struct {
	Move []types.NamespacedName
	// Held counts the stale Clusters left for later syncs.
	Held int
	// PausedBy are Clusters at the desired state whose install failed:
	// while there is one, nothing moves.
	PausedBy []types.NamespacedName
}

// PlanRollout decides which stale HelmChartProxies a Sync updates: at most
// batch (0: all) in rolloutOrder, and none while a Cluster already moved
// reports a failed install, so a bad chart version or values stop at the
// first batch. New Clusters and credential rotations are never held.
func PlanRollout(clusters []RolloutCluster, batch int) Rollout {
	var stale []RolloutCluster
	var r Rollout
	for _, c := range clusters {
		switch {
		case c.Stale:
			stale = append(stale, c)
		case c.Release.Phase == ReleaseFailed:
			r.PausedBy = append(r.PausedBy, c.Cluster)
		}
	}
	slices.SortFunc(r.PausedBy, compareKeys)
	if len(stale) == 0 {
		return Rollout{}
	}
	if batch == 0 {
		r.PausedBy = nil
		batch = len(stale)
	}
	if len(r.PausedBy) > 0 {
		r.Held = len(stale)
		return r
	}
	slices.SortFunc(stale, rolloutOrder)
	for _, c := range stale[:min(batch, len(stale))] {
		r.Move = append(r.Move, c.Cluster)
	}
	r.Held = len(stale) - len(r.Move)
	return r
}

// rolloutOrder: fewest writes first (not moved yet before moved), then the
// oldest write, then the name. The generation, not the one-second write
// time, carries the order; the name makes it total.
func rolloutOrder(a, b RolloutCluster) int {
	return cmp.Or(cmp.Compare(a.Generation, b.Generation), a.Since.Compare(b.Since), compareKeys(a.Cluster, b.Cluster))
}

// compareKeys orders Clusters by namespace, then name.
func compareKeys(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// keyStrings names Clusters as <namespace>/<name>.
func keyStrings(keys []types.NamespacedName) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	return names
}

// RolloutReport is what a sync's report says of a rollout; Batch is
// KONNECTOR_ROLLOUT_BATCH.
type RolloutReport struct {
	Batch    int      `json:"batch"`
	Moved    []string `json:"moved"`
	Held     int      `json:"held"`
	Paused   bool     `json:"paused"`
	PausedBy []string `json:"pausedBy,omitempty"`
}

// Report is the rollout as a sync reports it, nil when it moved and held
// nothing.
func (r Rollout) Report(batch int) *RolloutReport {
	if len(r.Move) == 0 && r.Held == 0 {
		return nil
	}
	report := &RolloutReport{Batch: batch, Moved: keyStrings(r.Move), Held: r.Held, Paused: len(r.PausedBy) > 0}
	if report.Paused {
		report.PausedBy = keyStrings(r.PausedBy)
	}
	return report
}

// Message is the rollout's part of a sync's message.
func (r *RolloutReport) Message() string {
	if r.Paused {
		return fmt.Sprintf("the rollout of a HelmChartProxy change is paused: the agent failed to install on %s, already moved to it, and %d Clusters wait; "+
			"fix the chart version or values (the clusters list gives CAAPH's message): the rollout resumes once no moved Cluster reports a failed install; %s_ROLLOUT_BATCH=0 moves every Cluster at once",
			nameSome(r.PausedBy), r.Held, settings.Prefix)
	}
	return fmt.Sprintf("rollout of a HelmChartProxy change: %d Clusters moved by this sync (%s_ROLLOUT_BATCH=%d), %d wait for the next syncs", len(r.Moved), settings.Prefix, r.Batch, r.Held)
}

// nameSome names the first few of names and counts the rest.
func nameSome(names []string) string {
	const some = 5
	if len(names) <= some {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:some], ", "), len(names)-some)
}

// Held is the outcome of a Cluster whose HelmChartProxy change a rollout
// holds: a failed install of the previous chart stays, else it waits.
func Held(out ClusterOutcome) ClusterOutcome {
	if out.Outcome == OutcomeInstallFailed {
		return out
	}
	return RolloutHeld(out.Cluster)
}

// Left is the outcome of a held Cluster that r does not move.
func (r Rollout) Left(held ClusterOutcome) ClusterOutcome {
	if len(r.PausedBy) > 0 && held.Outcome == OutcomeRolloutHeld {
		return ClusterOutcome{held.Cluster, OutcomeRolloutHeld, fmt.Sprintf("the HelmChartProxy of Cluster %s changes (chart version or values) and waits: "+
			"the rollout is paused while a Cluster already moved reports a failed install (see the report's rollout)", held.Cluster)}
	}
	return held
}

// RolloutHeld is the outcome of a Cluster left to a later sync.
func RolloutHeld(cluster string) ClusterOutcome {
	return ClusterOutcome{cluster, OutcomeRolloutHeld, fmt.Sprintf("the HelmChartProxy of Cluster %s changes (chart version or values) and waits for the rollout: "+
		"each sync moves %s_ROLLOUT_BATCH Clusters, those moved least often first", cluster, settings.Prefix)}
}
