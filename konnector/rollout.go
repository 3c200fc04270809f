package konnector

import (
	"cmp"
	"slices"
	"time"
)

// RolloutCluster is what a rollout decision reads of one Cluster whose
// HelmChartProxy exists: all of it comes from the API server, so that a
// rollout's state lives there and not in the process.
type RolloutCluster struct {
	// Cluster is namespace/name.
	Cluster string
	// Stale: the HelmChartProxy differs from the desired one (chart version,
	// values, repository): moving it makes CAAPH upgrade the agent.
	Stale bool
	// Since is when the HelmChartProxy was last written, the oldest change
	// moving first.
	Since time.Time
	// Release is CAAPH's report of the release.
	Release Release
}

// Rollout is what one Sync moves of a change of the HelmChartProxies.
type Rollout struct {
	// Move are the Clusters whose HelmChartProxy this run updates.
	Move []string
	// Held counts the stale Clusters left for later runs.
	Held int
	// PausedBy are the Clusters already at the desired state whose install
	// failed: while there is one, the rollout moves no other Cluster.
	PausedBy []string
}

// PlanRollout decides which stale HelmChartProxies a Sync updates: at most
// batch of them, oldest first (batch 0: all), and none while a Cluster
// already at the desired state reports a failed install, so that a bad
// chart version or values stop at the first batch. New Clusters and
// credential rotations are not a rollout's to hold: the first has no
// HelmChartProxy yet, the second writes only the resource-set Secret.
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
	slices.Sort(r.PausedBy)
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
	slices.SortFunc(stale, func(a, b RolloutCluster) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Cluster, b.Cluster))
	})
	for _, c := range stale[:min(batch, len(stale))] {
		r.Move = append(r.Move, c.Cluster)
	}
	r.Held = len(stale) - len(r.Move)
	return r
}
