package kube

import (
	"context"

	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// DeleteReleaseProxies deletes those of releases not being deleted yet.
func DeleteReleaseProxies(ctx context.Context, c client.Client, releases []caaphv1.HelmReleaseProxy) error {
	for i := range releases {
		if releases[i].DeletionTimestamp == nil {
			if err := Delete(ctx, c, &releases[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReleaseFinalizers makes the addon's proxies go for a Cluster whose
// uninstall timed out: each HelmReleaseProxy is deleted before it loses
// CAAPH's finalizer (CAAPH adds it back to one not being deleted), then the
// HelmChartProxy loses its own. Other controllers' finalizers are kept.
func ReleaseFinalizers(ctx context.Context, c client.Client, state konnector.UninstallState) error {
	for i := range state.HelmReleaseProxies {
		hrp := &state.HelmReleaseProxies[i]
		if hrp.DeletionTimestamp == nil {
			if err := Delete(ctx, c, hrp); err != nil {
				return err
			}
			// Read again, so that the finalizer patch's precondition is the
			// deleted object's resourceVersion.
			found, err := Get(ctx, c, client.ObjectKeyFromObject(hrp), hrp)
			if err != nil || !found {
				return err
			}
		}
		if err := RemoveFinalizer(ctx, c, hrp, caaphv1.HelmReleaseProxyFinalizer); err != nil {
			return err
		}
	}
	if hcp := state.HelmChartProxy; hcp != nil {
		return RemoveFinalizer(ctx, c, hcp, caaphv1.HelmChartProxyFinalizer)
	}
	return nil
}
