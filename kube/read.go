package kube

import (
	"context"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// AddonObjects is what the deploy path reads of one Cluster.
type AddonObjects struct {
	// Cluster is nil when it does not exist.
	Cluster *clusterv1.Cluster
	// Current is what exists of the addon's objects, with the
	// HelmReleaseProxies of a previous uninstall.
	Current konnector.Current
	// DefaultSecret is the default-named credentials Secret of the Cluster's
	// namespace, nil when absent. Most Clusters use it, so it is read with
	// the rest: a round trip saved, for a wasted read on the others.
	DefaultSecret *corev1.Secret
}

// ReadAddon reads the Cluster, the addon's objects and the default-named
// credentials Secret in one round of parallel requests. Only when the
// HelmChartProxy is absent does a second request list the HelmReleaseProxies
// a previous uninstall may have left: CAAPH removes a HelmChartProxy only
// after its HelmReleaseProxies, so a call that changes nothing pays nothing.
func ReadAddon(ctx context.Context, c client.Client, key types.NamespacedName, defaultSecret string) (AddonObjects, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	var read AddonObjects
	g, gctx := errgroup.WithContext(ctx)
	goReadClusterAndProxies(g, gctx, c, key, &read.Cluster, &read.Current.HelmChartProxy, &read.Current.ClusterResourceSet)
	g.Go(func() (err error) {
		read.Current.ResourceSetSecret, err = ReadSecret(gctx, c, name)
		return err
	})
	g.Go(func() (err error) {
		read.DefaultSecret, err = ReadSecret(gctx, c, types.NamespacedName{Namespace: key.Namespace, Name: defaultSecret})
		return err
	})
	if err := g.Wait(); err != nil {
		return AddonObjects{}, err
	}
	if read.Cluster != nil && read.Current.HelmChartProxy == nil {
		var err error
		if read.Current.HelmReleaseProxies, err = ListReleaseProxies(ctx, c, key); err != nil {
			return AddonObjects{}, err
		}
	}
	return read, nil
}

// goReadClusterAndProxies starts in g the reads of the Cluster and our
// HelmChartProxy and ClusterResourceSet, each nil when absent.
func goReadClusterAndProxies(g *errgroup.Group, ctx context.Context, c client.Client, key types.NamespacedName,
	cluster **clusterv1.Cluster, hcp **caaphv1.HelmChartProxy, crs **addonsv1.ClusterResourceSet) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	g.Go(func() (err error) {
		*cluster, err = ReadCluster(ctx, c, key)
		return err
	})
	g.Go(func() (err error) {
		*hcp, err = readOrNil[caaphv1.HelmChartProxy](ctx, c, name)
		return err
	})
	g.Go(func() (err error) {
		*crs, err = readOrNil[addonsv1.ClusterResourceSet](ctx, c, name)
		return err
	})
}

// ReadSecret reads a Secret, nil when it does not exist.
func ReadSecret(ctx context.Context, c client.Client, key types.NamespacedName) (*corev1.Secret, error) {
	return readOrNil[corev1.Secret](ctx, c, key)
}

// ReadCluster reads a Cluster, nil when it does not exist.
func ReadCluster(ctx context.Context, c client.Client, key types.NamespacedName) (*clusterv1.Cluster, error) {
	return readOrNil[clusterv1.Cluster](ctx, c, key)
}

func readOrNil[T any, P interface {
	*T
	client.Object
}](ctx context.Context, c client.Client, key types.NamespacedName) (P, error) {
	obj := P(new(T))
	found, err := Get(ctx, c, key, obj)
	if err != nil || !found {
		return nil, err
	}
	return obj, nil
}

// UninstallObjects is what the uninstall reads of one Cluster; nil where
// absent.
type UninstallObjects struct {
	Cluster        *clusterv1.Cluster
	HelmChartProxy *caaphv1.HelmChartProxy
	// HelmReleaseProxies are those CAAPH made from that HelmChartProxy for
	// the Cluster.
	HelmReleaseProxies []caaphv1.HelmReleaseProxy
	// Delivery is the ClusterResourceSet of that name.
	Delivery *addonsv1.ClusterResourceSet
}

// ReadUninstall reads the UninstallObjects in one round of parallel requests.
func ReadUninstall(ctx context.Context, c client.Client, key types.NamespacedName) (UninstallObjects, error) {
	var read UninstallObjects
	g, gctx := errgroup.WithContext(ctx)
	goReadClusterAndProxies(g, gctx, c, key, &read.Cluster, &read.HelmChartProxy, &read.Delivery)
	g.Go(func() (err error) {
		read.HelmReleaseProxies, err = ListReleaseProxies(gctx, c, key)
		return err
	})
	return read, g.Wait()
}
