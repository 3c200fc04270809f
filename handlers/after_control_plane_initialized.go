package handlers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

// afterControlPlaneInitialized deploys the Konnector Agent on a new cluster
// once its control plane is up, as the management cluster reports it.
func (s *Server) afterControlPlaneInitialized(ctx context.Context, cluster types.NamespacedName) result {
	return s.addon.Deploy(ctx, cluster, true)
}
