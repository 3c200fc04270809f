package handlers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

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
	cluster, state, delivery, err := s.readUninstallState(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
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
	s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeNormal, Reason: reasonRemoved, Message: message, Key: string(delivery.UID)})
	return success(message)
}

// readUninstallState reads, in one round of parallel requests, the Cluster
// (nil when absent), this addon's HelmChartProxy for it, the
// HelmReleaseProxies CAAPH made from that proxy for that cluster, and this
// addon's ClusterResourceSet (nil when absent).
func (s *Server) readUninstallState(ctx context.Context, c client.Client, key types.NamespacedName) (*clusterv1.Cluster, konnector.UninstallState, *addonsv1.ClusterResourceSet, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	cluster := &clusterv1.Cluster{}
	hcp := &caaphv1.HelmChartProxy{}
	crs := &addonsv1.ClusterResourceSet{}
	releases := &caaphv1.HelmReleaseProxyList{}
	var clusterFound, hcpFound, crsFound bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		clusterFound, err = get(gctx, c, key, cluster)
		return err
	})
	g.Go(func() (err error) {
		hcpFound, err = get(gctx, c, name, hcp)
		return err
	})
	g.Go(func() (err error) {
		crsFound, err = get(gctx, c, name, crs)
		return err
	})
	g.Go(func() error { return listReleaseProxies(gctx, c, key, releases) })
	if err := g.Wait(); err != nil {
		return nil, konnector.UninstallState{}, nil, err
	}
	if !clusterFound {
		cluster = nil
	}
	if !crsFound || !konnector.IsOurs(crs.Labels, key.Name) {
		crs = nil
	}
	// A proxy of that name without our labels belongs to someone else, and so
	// do the release proxies made from it: never touch them.
	if hcpFound && !konnector.IsOurs(hcp.Labels, key.Name) {
		return cluster, konnector.UninstallState{}, crs, nil
	}
	state := konnector.UninstallState{HelmReleaseProxies: releases.Items}
	if hcpFound {
		state.HelmChartProxy = hcp
	}
	return cluster, state, crs, nil
}

func (s *Server) deleteReleaseProxies(ctx context.Context, c client.Client, releases []caaphv1.HelmReleaseProxy) error {
	for i := range releases {
		if releases[i].DeletionTimestamp == nil {
			if err := deleteObject(ctx, c, &releases[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseFinalizers makes this addon's proxies for this cluster go, on a
// Cluster being deleted whose uninstall timed out: each HelmReleaseProxy not
// being deleted yet is deleted first and only then loses CAAPH's finalizer
// (CAAPH adds its finalizer back to a HelmReleaseProxy that is not being
// deleted), then the HelmChartProxy loses its own. Every other controller's
// finalizer is kept.
func (s *Server) releaseFinalizers(ctx context.Context, c client.Client, state konnector.UninstallState) error {
	for i := range state.HelmReleaseProxies {
		hrp := &state.HelmReleaseProxies[i]
		if hrp.DeletionTimestamp == nil {
			if err := deleteObject(ctx, c, hrp); err != nil {
				return err
			}
			// The delete changed it (deletionTimestamp): read it again so
			// that the finalizer's removal is checked against what is there.
			found, err := get(ctx, c, client.ObjectKeyFromObject(hrp), hrp)
			if err != nil || !found {
				return err
			}
		}
		if err := removeFinalizer(ctx, c, hrp, caaphv1.HelmReleaseProxyFinalizer); err != nil {
			return err
		}
	}
	if hcp := state.HelmChartProxy; hcp != nil {
		return removeFinalizer(ctx, c, hcp, caaphv1.HelmChartProxyFinalizer)
	}
	return nil
}

// removeFinalizer patches one finalizer away, with the object's
// resourceVersion as precondition so that a concurrent change by another
// controller is never overwritten (the conflict fails the call; CAPI retries).
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	base := obj.DeepCopyObject().(client.Object)
	if !controllerutil.RemoveFinalizer(obj, finalizer) {
		return nil
	}
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !isNotFound(err) {
		return fmt.Errorf("removing finalizer %s from %s %s: %w", finalizer, kindName(obj), objectKey(obj), err)
	}
	return nil
}

// deleteObject deletes obj if it is still the object that was read (same UID).
func deleteObject(ctx context.Context, c client.Client, obj client.Object) error {
	uid := obj.GetUID()
	err := c.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy("Background"))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", kindName(obj), objectKey(obj), err)
	}
	return nil
}
