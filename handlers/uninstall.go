package handlers

import (
	"context"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// uninstallStep takes the uninstall step u that konnector decided
// (DecideBeforeDelete, DecideDisabled) for cluster, with the objects it
// deletes besides the uninstall's (deletes), records its Event and answers.
func (s *Server) uninstallStep(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, state konnector.UninstallState, u konnector.Uninstall, deletes ...client.Object) result {
	var err error
	switch u.Step {
	case konnector.UninstallDone:
		for _, obj := range deletes {
			if err = kube.Delete(ctx, c, obj); err != nil {
				break
			}
		}
	case konnector.UninstallStart:
		err = kube.Delete(ctx, c, state.HelmChartProxy)
	case konnector.UninstallDeleteOrphans:
		err = kube.DeleteReleaseProxies(ctx, c, state.HelmReleaseProxies)
	case konnector.UninstallForce:
		err = kube.ReleaseFinalizers(ctx, c, state)
	}
	if err != nil {
		return failureFrom(err)
	}
	if u.Event != nil {
		s.recordEvent(ctx, c, cluster, *u.Event)
	}
	if u.Retry {
		return retryAfter(s.settings.RetryAfterSeconds(), u.Message)
	}
	return success(u.Message)
}
