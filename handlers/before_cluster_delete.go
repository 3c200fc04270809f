package handlers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
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
	cluster, state, err := s.readUninstallState(ctx, c, key)
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

	// UninstallDone: nothing of the addon is left.
	if cfg, err := konnector.ReadConfig(&cluster.Spec.Topology, s.settings.DefaultCredentialsSecret); cfg == nil && err == nil {
		return success(fmt.Sprintf("the Konnector Agent addon is not enabled for Cluster %s and none of its objects exist: nothing to uninstall", key))
	}
	message := fmt.Sprintf("Konnector Agent removed from Cluster %s: its HelmChartProxy and HelmReleaseProxies are gone", key)
	s.recordEvent(ctx, c, cluster, corev1.EventTypeNormal, reasonRemoved, message)
	return success(message)
}

// readUninstallState reads, in one round of parallel requests, the Cluster
// (nil when absent), this addon's HelmChartProxy for it and the
// HelmReleaseProxies CAAPH made from that proxy for that cluster.
func (s *Server) readUninstallState(ctx context.Context, c client.Client, key types.NamespacedName) (*clusterv1.Cluster, konnector.UninstallState, error) {
	name := konnector.ObjectName(key.Name)
	cluster := &clusterv1.Cluster{}
	hcp := &caaphv1.HelmChartProxy{}
	releases := &caaphv1.HelmReleaseProxyList{}
	var clusterFound, hcpFound bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		clusterFound, err = get(gctx, c, key, cluster)
		return err
	})
	g.Go(func() (err error) {
		hcpFound, err = get(gctx, c, types.NamespacedName{Namespace: key.Namespace, Name: name}, hcp)
		return err
	})
	g.Go(func() error { return listReleaseProxies(gctx, c, key, releases) })
	if err := g.Wait(); err != nil {
		return nil, konnector.UninstallState{}, err
	}
	if !clusterFound {
		cluster = nil
	}
	// A proxy of that name without our labels belongs to someone else, and so
	// do the release proxies made from it: never touch them.
	if hcpFound && !konnector.IsOurs(hcp.Labels, key.Name) {
		return cluster, konnector.UninstallState{}, nil
	}
	state := konnector.UninstallState{HelmReleaseProxies: releases.Items}
	if hcpFound {
		state.HelmChartProxy = hcp
	}
	return cluster, state, nil
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

// releaseFinalizers removes CAAPH's finalizers from this addon's proxies for
// this cluster, keeping every other finalizer, and deletes the release
// proxies that are not being deleted yet, so that all of them go away.
func (s *Server) releaseFinalizers(ctx context.Context, c client.Client, state konnector.UninstallState) error {
	for i := range state.HelmReleaseProxies {
		hrp := &state.HelmReleaseProxies[i]
		if err := removeFinalizer(ctx, c, hrp, caaphv1.HelmReleaseProxyFinalizer); err != nil {
			return err
		}
		if hrp.DeletionTimestamp == nil {
			if err := deleteObject(ctx, c, hrp); err != nil {
				return err
			}
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
	kept := konnector.WithoutFinalizer(obj.GetFinalizers(), finalizer)
	if len(kept) == len(obj.GetFinalizers()) {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	obj.SetFinalizers(kept)
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
