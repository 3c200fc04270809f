package handlers

import (
	"context"
	"fmt"
	"strings"

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
// Secret go.
//
// The credentials Secret that the ClusterResourceSet created in the workload
// cluster stays there: a ClusterResourceSet never deletes what it applied,
// and the function has no workload-cluster access by design. Overwriting it
// through the ClusterResourceSet before removing it would need a wait for
// CAPI to re-apply it, confirmed only through the ClusterResourceSetBinding's
// internal hash, and would still leave an object behind; so the answer and
// the Event name the Secret and how to delete it.
func (s *Server) syncDisabled(ctx context.Context, c client.Client, t *syncTarget) clusterOutcome {
	key := t.key()
	cluster := t.in.cluster
	releases, err := kube.ListReleaseProxies(ctx, c, key)
	if err != nil {
		return clusterOutcome{key.String(), outcomeFailed, failureFrom(err).message}
	}
	state := konnector.UninstallState{HelmChartProxy: t.in.current.HelmChartProxy, HelmReleaseProxies: releases}
	step, res := s.uninstallStep(ctx, c, cluster, state)
	switch {
	case res.failure:
		return clusterOutcome{key.String(), outcomeFailed, res.message}
	case step == konnector.UninstallStuck:
		// The credentials delivery stays: the chart's pre-delete and
		// post-delete hooks still need the Secret in the workload cluster.
		return clusterOutcome{key.String(), outcomeUninstallStuck, res.message}
	case step != konnector.UninstallDone:
		return clusterOutcome{key.String(), outcomeUninstalling, res.message}
	}

	var deleted []string
	var delivery string
	for _, obj := range []client.Object{konnector.ObjectOrNil(t.in.current.ClusterResourceSet), konnector.ObjectOrNil(t.in.current.ResourceSetSecret)} {
		if !notDeleting(obj) {
			continue
		}
		if err := kube.Delete(ctx, c, obj); err != nil {
			return clusterOutcome{key.String(), outcomeFailed, failureFrom(err).message}
		}
		deleted = append(deleted, kube.KindOf(obj)+" "+objectKey(obj))
		delivery += string(obj.GetUID())
	}
	message := fmt.Sprintf("Konnector Agent uninstalled from Cluster %s, whose clusterConfig no longer enables the addon: its HelmChartProxy and HelmReleaseProxies are gone", key)
	if len(deleted) > 0 {
		message += "; deleted " + strings.Join(deleted, ", ")
	}
	message += ". " + s.workloadSecretLeft(key.Namespace, key.Name)
	s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeWarning, Reason: konnector.ReasonRemoved, Message: message, Key: delivery})
	return clusterOutcome{key.String(), outcomeUninstalled, message}
}

// workloadSecretLeft names the credentials Secret left in the workload
// cluster and how to delete it.
func (s *Server) workloadSecretLeft(namespace, cluster string) string {
	secret := s.settings.ReleaseNamespace + "/" + konnector.WorkloadSecretName
	return fmt.Sprintf("The Secret %s in the workload cluster still holds the Prism Central credentials (a ClusterResourceSet does not delete what it applied): delete it with "+
		"`clusterctl get kubeconfig %s -n %s > %s.kubeconfig && kubectl --kubeconfig %s.kubeconfig delete secret -n %s %s`",
		secret, cluster, namespace, cluster, cluster, s.settings.ReleaseNamespace, konnector.WorkloadSecretName)
}
