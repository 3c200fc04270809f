package handlers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

// beforeClusterDelete uninstalls the Konnector Agent before the cluster goes
// (addon.BeforeDelete), asking CAPI to call again until CAAPH is done.
func (s *Server) beforeClusterDelete(ctx context.Context, key types.NamespacedName) result {
	return s.addon.BeforeDelete(ctx, key)
}
