package handlers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

// beforeClusterUpgrade re-applies the desired state so that chart version,
// values and credentials are current before the upgrade; it never asks CAPI
// to wait.
func (s *Server) beforeClusterUpgrade(ctx context.Context, cluster types.NamespacedName) result {
	return s.addon.Deploy(ctx, cluster, false)
}
