package handlers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	runtimehooksv1 "sigs.k8s.io/cluster-api/api/runtime/hooks/v1alpha1"
	"sigs.k8s.io/cluster-api/exp/runtime/catalog"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// hook is one row of the table that drives the router and discovery.
type hook struct {
	// name is the handler name CAPI puts in the path, from discovery.
	name string
	hook catalog.Hook
	// handle answers one call for the cluster the request names.
	handle func(s *Server, ctx context.Context, cluster types.NamespacedName) result
	// failurePolicy is what CAPI does when it cannot call the hook at all
	// (unreachable, timeout, non-200), never on a Failure answer, an error
	// whatever the policy (CallExtension in internal/runtime/client/client.go).
	failurePolicy func(settings.Settings) runtimehooksv1.FailurePolicy
}

// ignore: an unreachable konnector-hooks never stops a Cluster; Sync
// deploys the agent once it is back.
func ignore(settings.Settings) runtimehooksv1.FailurePolicy {
	return runtimehooksv1.FailurePolicyIgnore
}

// deleteFailurePolicy is KONNECTOR_DELETE_FAILURE_POLICY: Fail by default,
// because the chart's pre-delete hook can only unregister the cluster from
// Prism Central while the workload cluster exists.
func deleteFailurePolicy(s settings.Settings) runtimehooksv1.FailurePolicy {
	return runtimehooksv1.FailurePolicy(s.DeleteFailurePolicy)
}

// hooks is the one table of the hooks this extension implements.
var hooks = []hook{
	{"after-control-plane-initialized", runtimehooksv1.AfterControlPlaneInitialized, (*Server).afterControlPlaneInitialized, ignore},
	{"before-cluster-upgrade", runtimehooksv1.BeforeClusterUpgrade, (*Server).beforeClusterUpgrade, ignore},
	{"before-cluster-delete", runtimehooksv1.BeforeClusterDelete, (*Server).beforeClusterDelete, deleteFailurePolicy},
}

// hookCatalog is CAPI's catalog of hook types: their kinds and paths.
var hookCatalog = func() *catalog.Catalog {
	c := catalog.New()
	if err := runtimehooksv1.AddToCatalog(c); err != nil {
		panic(err) // CAPI's own registration does not fail
	}
	return c
}()
