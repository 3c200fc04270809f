package addon

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// uninstallStep takes the uninstall step u that konnector decided
// (DecideBeforeDelete, DecideDisabled) for cluster, with the objects it
// deletes besides the uninstall's (deletes), records its Event and answers.
func (a *Addon) uninstallStep(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, state konnector.UninstallState, u konnector.Uninstall, deletes ...client.Object) Answer {
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
		a.recordEvent(ctx, c, cluster, *u.Event)
	}
	if u.Retry {
		return Answer{Message: u.Message, RetryAfterSeconds: a.settings.RetryAfterSeconds()}
	}
	return Answer{Message: u.Message}
}

// BeforeDelete uninstalls the Konnector Agent before the cluster goes:
// deleting the HelmChartProxy makes CAAPH run `helm uninstall`, whose
// pre-delete hook unregisters the cluster from Prism Central. CAPI is asked
// to call again (Success with retryAfterSeconds) until CAAPH is done, and
// after the uninstall timeout the CAAPH finalizers are released so that a
// cluster whose workload side is gone is never stuck deleting.
func (a *Addon) BeforeDelete(ctx context.Context, key types.NamespacedName) Answer {
	c, err := a.kube.Open()
	if err != nil {
		return failureFrom(err)
	}
	cluster, read, err := kube.ReadUninstall(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
	state, delivery := konnector.OursToUninstall(key.Name, read)
	u := konnector.DecideBeforeDelete(key, cluster, state, delivery, a.now(), a.settings)
	return a.uninstallStep(ctx, c, cluster, state, u)
}
