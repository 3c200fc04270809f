package addon

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// syncDisabled uninstalls the agent of a running Cluster whose addon was
// disabled, one step per sync, with BeforeClusterDelete's steps: the
// HelmChartProxy first, so that the chart's pre-delete hook unregisters the
// cluster while the credentials are still there, then the credentials
// delivery.
//
// The credentials Secret the ClusterResourceSet created in the workload
// cluster stays (a ClusterResourceSet never deletes what it applied, and the
// function has no workload-cluster access); blanking it first would need a
// wait confirmed only by the ClusterResourceSetBinding's internal hash, and
// still leave an object. The answer and the Event say how to delete it.
func (a *Addon) syncDisabled(ctx context.Context, c client.Client, in konnector.DeployFacts) konnector.ClusterOutcome {
	key := client.ObjectKeyFromObject(in.Cluster)
	outcome := func(outcome konnector.Outcome, message string) konnector.ClusterOutcome {
		return konnector.ClusterOutcome{Cluster: key.String(), Outcome: outcome, Message: message}
	}
	state, _ := konnector.OursToUninstall(key.Name, in.Current)
	u, o, deletes := konnector.DecideDisabled(key, in.Cluster, state, in.Current, a.now(), a.settings)
	if res := a.uninstallStep(ctx, c, in.Cluster, state, u, deletes...); res.Failure {
		return outcome(konnector.OutcomeFailed, res.Message)
	}
	return outcome(o, u.Message)
}
