package addon

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// syncDisabled uninstalls the agent from a running Cluster whose addon was
// disabled, with BeforeClusterDelete's steps: the HelmChartProxy goes first,
// so that the chart's pre-delete hook unregisters the cluster from Prism
// Central while the credentials are still in the workload cluster; each
// sync takes the next step. Once the HelmChartProxy and its
// HelmReleaseProxies are gone, the ClusterResourceSet and its resource-set
// Secret go. It decides from the objects the sync's LISTs read, which are
// what BeforeClusterDelete reads by name.
//
// The credentials Secret that the ClusterResourceSet created in the workload
// cluster stays there: a ClusterResourceSet never deletes what it applied,
// and the function has no workload-cluster access by design. Overwriting it
// through the ClusterResourceSet before removing it would need a wait for
// CAPI to re-apply it, confirmed only through the ClusterResourceSetBinding's
// internal hash, and would still leave an object behind; so the answer and
// the Event name the Secret and how to delete it.
func (a *Addon) syncDisabled(ctx context.Context, c client.Client, in konnector.DeployFacts) konnector.ClusterOutcome {
	key := client.ObjectKeyFromObject(in.Cluster)
	outcome := func(outcome konnector.Outcome, message string) konnector.ClusterOutcome {
		return konnector.ClusterOutcome{Cluster: key.String(), Outcome: outcome, Message: message}
	}
	cur := in.Current
	state, _ := konnector.OursToUninstall(key.Name, cur.HelmChartProxy, cur.HelmReleaseProxies, cur.ClusterResourceSet)
	u, o, deletes := konnector.DecideDisabled(key, in.Cluster, state, cur, a.now(), a.settings)
	if res := a.uninstallStep(ctx, c, in.Cluster, state, u, deletes...); res.Failure {
		return outcome(konnector.OutcomeFailed, res.Message)
	}
	return outcome(o, u.Message)
}
