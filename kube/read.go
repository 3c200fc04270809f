package kube

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// AddonObjects is what the deploy path reads of one Cluster before deciding
// anything.
type AddonObjects struct {
	// Cluster is nil when it does not exist.
	Cluster *clusterv1.Cluster
	// Current is what exists of the addon's objects, with the
	// HelmReleaseProxies of a previous uninstall.
	Current konnector.Current
	// DefaultSecret is the default-named credentials Secret of the Cluster's
	// namespace, nil when absent. It is read with the rest, before the
	// Cluster says which Secret it uses, because most Clusters use it: that
	// saves a round trip, for one wasted read on the others.
	DefaultSecret *corev1.Secret
}

// ReadAddon reads the Cluster, the addon's objects for it, the
// HelmReleaseProxies of a previous uninstall and the default-named
// credentials Secret in one round of parallel requests: their names follow
// from the Cluster's key and the settings.
func ReadAddon(ctx context.Context, c client.Client, key types.NamespacedName, defaultSecret string) (AddonObjects, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	var (
		read     AddonObjects
		cluster  = &clusterv1.Cluster{}
		hcp      = &caaphv1.HelmChartProxy{}
		crs      = &addonsv1.ClusterResourceSet{}
		secret   = &corev1.Secret{}
		defaults = &corev1.Secret{}
		mu       sync.Mutex
		found    = map[client.Object]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range []struct {
		key types.NamespacedName
		obj client.Object
	}{{key, cluster}, {name, hcp}, {name, crs}, {name, secret}, {types.NamespacedName{Namespace: key.Namespace, Name: defaultSecret}, defaults}} {
		g.Go(func() error {
			ok, err := Get(gctx, c, r.key, r.obj)
			mu.Lock()
			found[r.obj] = ok
			mu.Unlock()
			return err
		})
	}
	g.Go(func() (err error) {
		read.Current.HelmReleaseProxies, err = ListReleaseProxies(gctx, c, key)
		return err
	})
	if err := g.Wait(); err != nil {
		return AddonObjects{}, err
	}
	if found[cluster] {
		read.Cluster = cluster
	}
	if found[hcp] {
		read.Current.HelmChartProxy = hcp
	}
	if found[crs] {
		read.Current.ClusterResourceSet = crs
	}
	if found[secret] {
		read.Current.ResourceSetSecret = secret
	}
	if found[defaults] {
		read.DefaultSecret = defaults
	}
	return read, nil
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

// UninstallObjects is what the uninstall reads of one Cluster.
type UninstallObjects struct {
	// Cluster is nil when it does not exist.
	Cluster *clusterv1.Cluster
	// State is this addon's HelmChartProxy for the Cluster and the
	// HelmReleaseProxies CAAPH made from it; empty when a HelmChartProxy of
	// that name is someone else's.
	State konnector.UninstallState
	// Delivery is this addon's ClusterResourceSet for the Cluster, nil when
	// absent: it stays until the Cluster goes, so it tells whether the agent
	// was ever deployed.
	Delivery *addonsv1.ClusterResourceSet
}

// ReadUninstall reads, in one round of parallel requests, the Cluster, this
// addon's HelmChartProxy and ClusterResourceSet for it, and the
// HelmReleaseProxies CAAPH made from that proxy for that cluster.
func ReadUninstall(ctx context.Context, c client.Client, key types.NamespacedName) (UninstallObjects, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	cluster := &clusterv1.Cluster{}
	hcp := &caaphv1.HelmChartProxy{}
	crs := &addonsv1.ClusterResourceSet{}
	var releases []caaphv1.HelmReleaseProxy
	var clusterFound, hcpFound, crsFound bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		clusterFound, err = Get(gctx, c, key, cluster)
		return err
	})
	g.Go(func() (err error) {
		hcpFound, err = Get(gctx, c, name, hcp)
		return err
	})
	g.Go(func() (err error) {
		crsFound, err = Get(gctx, c, name, crs)
		return err
	})
	g.Go(func() (err error) {
		releases, err = ListReleaseProxies(gctx, c, key)
		return err
	})
	if err := g.Wait(); err != nil {
		return UninstallObjects{}, err
	}
	var read UninstallObjects
	if clusterFound {
		read.Cluster = cluster
	}
	if crsFound && konnector.IsOurs(crs.Labels, key.Name) {
		read.Delivery = crs
	}
	// A proxy of that name without our labels belongs to someone else, and
	// so do the release proxies made from it: never touch them.
	if hcpFound && !konnector.IsOurs(hcp.Labels, key.Name) {
		return read, nil
	}
	read.State.HelmReleaseProxies = releases
	if hcpFound {
		read.State.HelmChartProxy = hcp
	}
	return read, nil
}
