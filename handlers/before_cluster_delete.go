package handlers

import (
	"context"

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
	u := konnector.DecideBeforeDelete(key, read.Cluster, read.State, read.Delivery, s.now(), s.settings)
	return s.uninstallStep(ctx, c, read.Cluster, read.State, u)
}
