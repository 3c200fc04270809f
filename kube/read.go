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

// ReadAddon reads what the deploy path decides from, its Config left to
// the caller: the Cluster (nil when it does not exist), the addon's
// objects, and in Secrets the default-named credentials Secret of the
// Cluster's namespace (nil when absent). Most Clusters use that Secret, so
// it is read with the rest: a round trip saved, for a wasted read on the
// others. It is one round of parallel requests; only when the
// HelmChartProxy is absent does a second request list the
// HelmReleaseProxies a previous uninstall may have left: CAAPH removes a
// HelmChartProxy only after its HelmReleaseProxies, so a call that changes
// nothing pays nothing.
func ReadAddon(ctx context.Context, c client.Client, key types.NamespacedName, defaultSecret string) (konnector.DeployFacts, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	secretKey := types.NamespacedName{Namespace: key.Namespace, Name: defaultSecret}
	var read konnector.DeployFacts
	var secret *corev1.Secret
	g, gctx := errgroup.WithContext(ctx)
	goReadClusterAndProxies(g, gctx, c, key, &read.Cluster, &read.Current)
	g.Go(func() (err error) {
		read.Current.ResourceSetSecret, err = ReadSecret(gctx, c, name)
		return err
	})
	g.Go(func() (err error) {
		secret, err = ReadSecret(gctx, c, secretKey)
		return err
	})
	if err := g.Wait(); err != nil {
		return konnector.DeployFacts{}, err
	}
	read.Secrets = map[types.NamespacedName]*corev1.Secret{secretKey: secret}
	if read.Cluster != nil && read.Current.HelmChartProxy == nil {
		var err error
		if read.Current.HelmReleaseProxies, err = ListReleaseProxies(ctx, c, key); err != nil {
			return konnector.DeployFacts{}, err
		}
	}
	return read, nil
}

// goReadClusterAndProxies starts in g the reads of the Cluster and our
// HelmChartProxy and ClusterResourceSet, each nil when absent.
func goReadClusterAndProxies(g *errgroup.Group, ctx context.Context, c client.Client, key types.NamespacedName, cluster **clusterv1.Cluster, current *konnector.Current) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	g.Go(func() (err error) {
		*cluster, err = ReadCluster(ctx, c, key)
		return err
	})
	g.Go(func() (err error) {
		current.HelmChartProxy, err = readOrNil[caaphv1.HelmChartProxy](ctx, c, name)
		return err
	})
	g.Go(func() (err error) {
		current.ClusterResourceSet, err = readOrNil[addonsv1.ClusterResourceSet](ctx, c, name)
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

// ReadUninstall reads what the uninstall decides from in one round of
// parallel requests: the Cluster, our HelmChartProxy, the HelmReleaseProxies
// CAAPH made from it for the Cluster, and the ClusterResourceSet of that
// name; nil where absent, and no resource-set Secret.
func ReadUninstall(ctx context.Context, c client.Client, key types.NamespacedName) (cluster *clusterv1.Cluster, current konnector.Current, err error) {
	g, gctx := errgroup.WithContext(ctx)
	goReadUninstall(g, gctx, c, key, &cluster, &current)
	return cluster, current, g.Wait()
}

// goReadUninstall starts in g the reads of ReadUninstall.
func goReadUninstall(g *errgroup.Group, ctx context.Context, c client.Client, key types.NamespacedName, cluster **clusterv1.Cluster, current *konnector.Current) {
	goReadClusterAndProxies(g, ctx, c, key, cluster, current)
	g.Go(func() (err error) {
		current.HelmReleaseProxies, err = ListReleaseProxies(ctx, c, key)
		return err
	})
}
