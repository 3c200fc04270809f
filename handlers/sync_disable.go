package handlers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// syncDisabled uninstalls the agent from a running Cluster whose addon was
// disabled, with BeforeClusterDelete's steps: the HelmChartProxy goes first,
// so that the chart's pre-delete hook unregisters the cluster from Prism
// Central while the credentials are still in the workload cluster; each
// sync takes the next step. Once the HelmChartProxy and its
// HelmReleaseProxies are gone, the ClusterResourceSet and its resource-set
// Secret go. The uninstall is read by name (kube.ReadUninstall), as
// BeforeClusterDelete reads it: CAAPH's reasons are in the objects' status,
// which the sync's LISTs of metadata do not carry.
//
// The credentials Secret that the ClusterResourceSet created in the workload
// cluster stays there: a ClusterResourceSet never deletes what it applied,
// and the function has no workload-cluster access by design. Overwriting it
// through the ClusterResourceSet before removing it would need a wait for
// CAPI to re-apply it, confirmed only through the ClusterResourceSetBinding's
// internal hash, and would still leave an object behind; so the answer and
// the Event name the Secret and how to delete it.
func (s *Server) syncDisabled(ctx context.Context, c client.Client, in *deployInputs) konnector.ClusterOutcome {
	key := client.ObjectKeyFromObject(in.cluster)
	outcome := func(outcome konnector.Outcome, message string) konnector.ClusterOutcome {
		return konnector.ClusterOutcome{Cluster: key.String(), Outcome: outcome, Message: message}
	}
	read, err := kube.ReadUninstall(ctx, c, key)
	switch {
	case err != nil:
		return outcome(konnector.OutcomeFailed, failureFrom(err).message)
	case read.Cluster == nil || read.Cluster.DeletionTimestamp != nil:
		return konnector.LeftToHooks(key.String(), konnector.SyncLeaveToDelete)
	}
	step, res := s.uninstallStep(ctx, c, read.Cluster, read.State)
	switch {
	case res.failure:
		return outcome(konnector.OutcomeFailed, res.message)
	case step == konnector.UninstallStuck:
		// The credentials delivery stays: the chart's pre-delete and
		// post-delete hooks still need the Secret in the workload cluster.
		return outcome(konnector.OutcomeUninstallStuck, res.message)
	case step != konnector.UninstallDone:
		return outcome(konnector.OutcomeUninstalling, res.message)
	}

	var deleted []string
	var delivery string
	for _, obj := range []client.Object{konnector.ObjectOrNil(in.current.ClusterResourceSet), konnector.ObjectOrNil(in.current.ResourceSetSecret)} {
		if !notDeleting(obj) {
			continue
		}
		if err := kube.Delete(ctx, c, obj); err != nil {
			return outcome(konnector.OutcomeFailed, failureFrom(err).message)
		}
		deleted = append(deleted, konnector.KindOf(obj)+" "+objectKey(obj))
		delivery += string(obj.GetUID())
	}
	message := konnector.UninstalledMessage(key.Namespace, key.Name, deleted, s.settings.ReleaseNamespace)
	s.recordEvent(ctx, c, read.Cluster, kube.Event{Type: corev1.EventTypeWarning, Reason: konnector.ReasonRemoved, Message: message, Key: delivery})
	return outcome(konnector.OutcomeUninstalled, message)
}
