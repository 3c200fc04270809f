package addon

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// rolloutRun is what one sync gathers across its pages for a rollout: the
// Clusters whose HelmChartProxy change it held, and those at the desired
// state whose install failed. Nothing of it outlives the sync.
type rolloutRun struct {
	hold bool

	mu       sync.Mutex
	held     []heldCluster
	failures []konnector.RolloutCluster
}

// heldCluster is a held Cluster, with its outcome if it stays held.
type heldCluster struct {
	rollout konnector.RolloutCluster
	outcome konnector.ClusterOutcome
}

// holdCluster keeps a held Cluster with its outcome so far.
func (r *rolloutRun) holdCluster(out konnector.ClusterOutcome, cluster types.NamespacedName, hcp *caaphv1.HelmChartProxy, release konnector.Release) {
	out = konnector.Held(out)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = append(r.held, heldCluster{
		rollout: konnector.NewRolloutCluster(cluster, hcp, true, release),
		outcome: out,
	})
}

// pausedBy keeps a Cluster at the desired state whose install failed.
func (r *rolloutRun) pausedBy(cluster types.NamespacedName, release konnector.Release) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, konnector.RolloutCluster{Cluster: cluster, Release: release})
}

// plan decides which held Clusters move (konnector.PlanRollout).
func (r *rolloutRun) plan(batch int) konnector.Rollout {
	if len(r.held) == 0 {
		return konnector.Rollout{}
	}
	clusters := append([]konnector.RolloutCluster{}, r.failures...)
	for _, h := range r.held {
		clusters = append(clusters, h.rollout)
	}
	return konnector.PlanRollout(clusters, batch)
}

// moveRollout moves the Clusters the plan names, each read again by name,
// in the plan's order, and gives the outcome of every held Cluster.
func (a *Addon) moveRollout(ctx context.Context, c client.Client, r *rolloutRun, plan konnector.Rollout) []konnector.ClusterOutcome {
	outcomes := make([]konnector.ClusterOutcome, len(r.held))
	held := map[types.NamespacedName]int{}
	for i, h := range r.held {
		held[h.rollout.Cluster] = i
		outcomes[i] = plan.Left(h.outcome)
	}
	var g errgroup.Group
	g.SetLimit(a.settings.SyncConcurrency)
	for _, cluster := range plan.Move {
		i := held[cluster]
		g.Go(func() error {
			outcomes[i] = a.moveCluster(ctx, c, cluster)
			return nil
		})
	}
	_ = g.Wait()
	return outcomes
}

// moveCluster deploys one Cluster the rollout moves.
func (a *Addon) moveCluster(ctx context.Context, c client.Client, key types.NamespacedName) konnector.ClusterOutcome {
	if ctx.Err() != nil {
		return konnector.NotReached(key.String())
	}
	in, err := a.readDeployFacts(ctx, c, key)
	if err != nil {
		return konnector.ClusterOutcome{Cluster: key.String(), Outcome: konnector.OutcomeFailed, Message: failureFrom(err).Message}
	}
	out, _ := a.syncConverge(ctx, c, in, false)
	if out.Outcome == konnector.OutcomeFailed && ctx.Err() != nil {
		return konnector.NotReached(key.String())
	}
	return out
}
