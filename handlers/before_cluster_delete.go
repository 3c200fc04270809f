package handlers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// beforeClusterDelete uninstalls the Konnector Agent before the cluster goes:
// deleting the HelmChartProxy makes CAAPH run `helm uninstall`, whose
// pre-delete hook unregisters the cluster from Prism Central. CAPI is asked
// to call again (Success with retryAfterSeconds) until CAAPH is done, and
// after the uninstall timeout the CAAPH finalizers are released so that a
// cluster whose workload side is gone is never stuck deleting.
func (s *Server) beforeClusterDelete(ctx context.Context, key types.NamespacedName) result {
	c, err := s.kube.Open()
	if err != nil {
		return failureFrom(err)
	}
	read, err := kube.ReadUninstall(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
	cluster, state, delivery := read.Cluster, read.State, read.Delivery
	switch {
	case cluster == nil:
		return success(fmt.Sprintf("Cluster %s not found: nothing to uninstall", key))
	case cluster.DeletionTimestamp == nil:
		return success(fmt.Sprintf("Cluster %s is not being deleted: the Konnector Agent is left in place", key))
	}

	if step, res := s.uninstallStep(ctx, c, cluster, state); step != konnector.UninstallDone {
		return res
	}

	// UninstallDone: the HelmChartProxy and its HelmReleaseProxies are gone.
	// The credentials delivery stays until the Cluster is (it is owned by
	// it), so it tells whether the agent was ever deployed here: only then
	// is there something removed to tell of.
	if delivery == nil {
		return success(fmt.Sprintf("no HelmChartProxy, HelmReleaseProxy or credentials delivery of the Konnector Agent exists for Cluster %s: nothing left to uninstall", key))
	}
	message := fmt.Sprintf("Konnector Agent removed from Cluster %s: its HelmChartProxy and HelmReleaseProxies are gone", key)
	s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeNormal, Reason: konnector.ReasonRemoved, Message: message, Key: string(delivery.UID)})
	return success(message)
}
