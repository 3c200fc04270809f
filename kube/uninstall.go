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

// ReleaseFinalizers makes the addon's proxies of one Cluster go, for a
// Cluster being deleted whose uninstall timed out: each HelmReleaseProxy not
// being deleted yet is deleted first and only then loses CAAPH's finalizer
// (CAAPH adds its finalizer back to a HelmReleaseProxy that is not being
// deleted), then the HelmChartProxy loses its own. Every other controller's
// finalizer is kept.
func ReleaseFinalizers(ctx context.Context, c client.Client, state konnector.UninstallState) error {
	for i := range state.HelmReleaseProxies {
		hrp := &state.HelmReleaseProxies[i]
		if hrp.DeletionTimestamp == nil {
			if err := Delete(ctx, c, hrp); err != nil {
				return err
			}
			// The delete changed it (deletionTimestamp): read it again so
			// that the finalizer's removal is checked against what is there.
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
