package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// Get reads obj and reports whether it exists; only other errors are
// errors, and they name what was read.
func Get(ctx context.Context, c client.Client, key types.NamespacedName, obj client.Object) (bool, error) {
	err := c.Get(ctx, key, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("reading %s %s: %w", konnector.KindOf(obj), key, err)
	}
}

// Delete deletes obj if it is still the object that was read (same UID),
// in the background; an object already gone is no error.
func Delete(ctx context.Context, c client.Client, obj client.Object) error {
	uid := obj.GetUID()
	err := c.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy("Background"))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", konnector.KindOf(obj), client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// RemoveFinalizer patches one finalizer away, with the resourceVersion as
// precondition so that another controller's concurrent change is never
// overwritten (the conflict fails the call, which is retried).
func RemoveFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	base := obj.DeepCopyObject().(client.Object)
	if !controllerutil.RemoveFinalizer(obj, finalizer) {
		return nil
	}
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer %s from %s %s: %w", finalizer, konnector.KindOf(obj), client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// ListReleaseProxies lists the HelmReleaseProxies CAAPH made from this
// addon's HelmChartProxy for the cluster: CAAPH labels each with both.
func ListReleaseProxies(ctx context.Context, c client.Client, cluster types.NamespacedName) ([]caaphv1.HelmReleaseProxy, error) {
	name := konnector.ObjectName(cluster.Name)
	var list caaphv1.HelmReleaseProxyList
	err := c.List(ctx, &list, client.InNamespace(cluster.Namespace), client.MatchingLabels{
		clusterv1.ClusterNameLabel:      cluster.Name,
		caaphv1.HelmChartProxyLabelName: name,
	})
	if err != nil {
		return nil, fmt.Errorf("listing HelmReleaseProxies of HelmChartProxy %s/%s: %w", cluster.Namespace, name, err)
	}
	return list.Items, nil
}
